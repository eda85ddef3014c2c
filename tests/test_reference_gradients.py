"""Every reference gradient agrees with central finite differences in float64."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_impl as ref
from autograder.gradcheck import directional_derivative, numerical_gradient, numerical_vjp

RTOL, ATOL = 1e-6, 1e-8


def away_from_zero(rng, shape, margin=0.05):
    """Random values with no element within ``margin`` of 0, where the activations have kinks."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def distinct_values(rng, shape):
    """A permutation of well separated values, so no max-pooling window has a near tie."""
    return rng.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) * 0.1


def flat(arrays):
    """Sequential returns per-layer lists of arrays; a layer returns the arrays themselves."""
    return [a for item in arrays for a in (flat(item) if isinstance(item, list) else [item])]


def check_module(module, x, seed_before_forward=None):
    """Input gradient and every parameter gradient of ``module`` against finite differences."""
    rng = np.random.default_rng(1)

    def forward(z):
        if seed_before_forward is not None:
            np.random.seed(seed_before_forward)
        return module.forward(z)

    g = rng.standard_normal(forward(x).shape)
    module.zeroGradParameters()
    forward(x)
    grad_input = module.backward(x, g)
    np.testing.assert_allclose(
        grad_input, numerical_vjp(forward, x.copy(), g), rtol=RTOL, atol=ATOL,
        err_msg=f"{module!r}: gradInput for input shape {x.shape}",
    )
    for index, (param, grad) in enumerate(zip(flat(module.getParameters()), flat(module.getGradParameters()))):
        expected = numerical_gradient(lambda _: np.sum(forward(x) * g), param)
        np.testing.assert_allclose(
            grad, expected, rtol=RTOL, atol=ATOL,
            err_msg=f"{module!r}: gradient of parameter {index} (shape {param.shape})",
        )


def check_criterion(criterion, x, target):
    criterion.forward(x, target)
    grad = criterion.backward(x, target)
    expected = numerical_gradient(lambda z: criterion.forward(z, target), x.copy())
    np.testing.assert_allclose(grad, expected, rtol=RTOL, atol=ATOL,
                               err_msg=f"{criterion!r}: gradInput, input shape {x.shape}")


SHAPES = [(1, 3), (4, 5), (7, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "make",
    [
        lambda n: ref.SoftMax(),
        lambda n: ref.LogSoftMax(),
        lambda n: ref.ReLU(),
        lambda n: ref.LeakyReLU(),
        lambda n: ref.LeakyReLU(slope=0.2),
        lambda n: ref.ELU(),
        lambda n: ref.ELU(alpha=0.5),
        lambda n: ref.SoftPlus(),
        lambda n: ref.ChannelwiseScaling(n),
        lambda n: ref.Linear(n, 3),
        lambda n: ref.Flatten(),
    ],
    ids=["SoftMax", "LogSoftMax", "ReLU", "LeakyReLU", "LeakyReLU0.2", "ELU", "ELU0.5", "SoftPlus",
         "ChannelwiseScaling", "Linear", "Flatten"],
)
def test_elementwise_and_dense_modules(make, shape):
    np.random.seed(0)
    rng = np.random.default_rng(0)
    check_module(make(shape[1]), away_from_zero(rng, shape) * 2)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 6), seed=st.integers(0, 2**31))
def test_linear_any_shape(n, n_in, n_out, seed):
    np.random.seed(seed % 2**32)
    rng = np.random.default_rng(seed)
    check_module(ref.Linear(n_in, n_out), rng.standard_normal((n, n_in)))


@pytest.mark.parametrize("shape", [(2, 3), (5, 4), (16, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization(shape, training):
    rng = np.random.default_rng(0)
    layer = ref.BatchNormalization(alpha=0.5)
    layer.forward(rng.standard_normal(shape) * 3 + 1)  # gives the moving statistics a value
    if not training:
        layer.evaluate()
    check_module(layer, rng.standard_normal(shape) * 2 - 1)


@pytest.mark.parametrize("shape", [(3, 4), (10, 6)])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.7])
def test_dropout_with_a_fixed_mask(shape, p):
    rng = np.random.default_rng(0)
    check_module(ref.Dropout(p), rng.standard_normal(shape), seed_before_forward=123)


@pytest.mark.parametrize(
    "n,c_in,c_out,h,w,k",
    [(1, 1, 1, 3, 3, 1), (2, 2, 3, 4, 5, 3), (1, 3, 2, 5, 4, 5), (2, 1, 2, 6, 6, 3)],
)
def test_conv2d(n, c_in, c_out, h, w, k):
    np.random.seed(0)
    rng = np.random.default_rng(0)
    check_module(ref.Conv2d(c_in, c_out, k), rng.standard_normal((n, c_in, h, w)))


@pytest.mark.parametrize("shape,k", [((1, 1, 2, 2), 2), ((2, 3, 4, 6), 2), ((1, 2, 6, 3), 3)])
def test_max_pool(shape, k):
    check_module(ref.MaxPool2d(k), distinct_values(np.random.default_rng(0), shape))


def test_sequential_chains_the_gradients():
    np.random.seed(0)
    model = ref.Sequential()
    for layer in [ref.Linear(4, 6), ref.BatchNormalization(0.9), ref.ChannelwiseScaling(6), ref.ELU(),
                  ref.Linear(6, 5), ref.SoftPlus(), ref.Linear(5, 3), ref.LogSoftMax()]:
        model.add(layer)
    x = np.random.default_rng(0).standard_normal((5, 4))
    check_module(model, x)
    assert [len(layer_params) for layer_params in model.getParameters()] == [2, 0, 2, 0, 2, 0, 2, 0]


@pytest.mark.parametrize("shape", SHAPES)
def test_mse(shape):
    rng = np.random.default_rng(0)
    check_criterion(ref.MSECriterion(), rng.standard_normal(shape), rng.standard_normal(shape))


def one_hot_targets(rng, n, c):
    return np.eye(c)[rng.integers(0, c, n)]


@pytest.mark.parametrize("shape", SHAPES)
def test_nll(shape):
    rng = np.random.default_rng(0)
    check_criterion(ref.ClassNLLCriterion(), ref.activations.log_softmax(rng.standard_normal(shape)),
                    one_hot_targets(rng, *shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_nll_unstable(shape):
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.05, 0.95, shape)  # inside the clipping range
    check_criterion(ref.ClassNLLCriterionUnstable(), probabilities, one_hot_targets(rng, *shape))


@pytest.mark.parametrize("labels", [[0, 0, 1, 1, 2], [0, 1, 2, 3], [1, 1, 1], [0, 1, 0, 1, 0, 1, 2, 2]])
@pytest.mark.parametrize("margin", [0.5, 3.0])
def test_contrastive(labels, margin):
    rng = np.random.default_rng(0)
    labels = np.array(labels)
    x = rng.standard_normal((len(labels), 3))
    criterion = ref.ClassContrastiveCriterion(margin)
    check_criterion(criterion, x, labels)


def test_contrastive_ignores_coincident_negative_pairs():
    x = np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 0.0]])
    criterion = ref.ClassContrastiveCriterion(1.5)
    grad = criterion.backward(x, np.array([0, 1, 1]))
    assert np.all(np.isfinite(grad))
    # the coincident negative pair (0, 1) adds nothing; pair (0, 2) is beyond the margin,
    # so x0 receives no gradient at all
    np.testing.assert_array_equal(grad[0], 0.0)


@pytest.mark.parametrize("seed", range(3))
def test_random_direction_check_on_a_large_conv(seed):
    """The check the graders use on large tensors: one random direction instead of every element."""
    np.random.seed(seed)
    rng = np.random.default_rng(seed)
    layer = ref.Conv2d(4, 5, 3)
    x = rng.standard_normal((3, 4, 10, 10))
    g = rng.standard_normal((3, 5, 10, 10))
    layer.forward(x)
    grad_input = layer.backward(x, g)
    direction = rng.standard_normal(x.shape)
    numeric = directional_derivative(lambda z: np.sum(layer.forward(z) * g), x, direction)
    np.testing.assert_allclose(np.sum(grad_input * direction), numeric, rtol=1e-7)
