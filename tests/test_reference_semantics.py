"""The reference follows docs/module-contract.md beyond its gradients: accumulation, modes, statistics,
stability, errors."""
import numpy as np
import pytest

import reference_impl as ref


def parametric_layers():
    np.random.seed(0)
    return [
        (ref.Linear(4, 3), (5, 4)),
        (ref.ChannelwiseScaling(4), (5, 4)),
        (ref.Conv2d(2, 3, 3), (2, 2, 4, 4)),
    ]


@pytest.mark.parametrize("layer,shape", parametric_layers(), ids=repr)
def test_parameter_gradients_accumulate_until_zeroed(layer, shape):
    rng = np.random.default_rng(0)
    x1, x2 = rng.standard_normal(shape), rng.standard_normal(shape)
    g1 = rng.standard_normal(layer.forward(x1).shape)
    g2 = rng.standard_normal(g1.shape)

    layer.zeroGradParameters()
    layer.forward(x1)
    layer.backward(x1, g1)
    first = [grad.copy() for grad in layer.getGradParameters()]
    layer.zeroGradParameters()
    layer.forward(x2)
    layer.backward(x2, g2)
    second = [grad.copy() for grad in layer.getGradParameters()]

    layer.zeroGradParameters()
    assert all(np.all(grad == 0) for grad in layer.getGradParameters())
    for x, g in [(x1, g1), (x2, g2)]:
        layer.forward(x)
        layer.backward(x, g)
    for total, a, b in zip(layer.getGradParameters(), first, second):
        np.testing.assert_allclose(total, a + b, rtol=1e-12)


@pytest.mark.parametrize("layer,shape", parametric_layers(), ids=repr)
def test_parameters_are_returned_by_reference(layer, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    before = layer.forward(x).copy()
    for param in layer.getParameters():
        param += 1.0  # what an optimizer does
    assert not np.allclose(layer.forward(x), before)
    grads = layer.getGradParameters()
    assert [g.shape for g in grads] == [p.shape for p in layer.getParameters()]
    layer.backward(x, np.ones_like(before))
    assert all(a is b for a, b in zip(grads, layer.getGradParameters()))


def test_initialisation_ranges_and_shapes():
    np.random.seed(0)
    linear = ref.Linear(16, 7)
    assert linear.W.shape == (7, 16) and linear.b.shape == (7,)
    assert np.abs(linear.W).max() <= 1 / 4 and np.abs(linear.W).max() > 0.2
    conv = ref.Conv2d(9, 4, 3)
    assert conv.W.shape == (4, 9, 3, 3) and conv.b.shape == (4,)
    assert np.abs(conv.W).max() <= 1 / 3 and np.abs(conv.W).max() > 0.3


def test_linear_formula():
    layer = ref.Linear(2, 3)
    layer.W[...] = [[1, 2], [3, 4], [5, 6]]
    layer.b[...] = [0.5, -1, 2]
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, -1.0]])), [[-0.5, -2, 1]])


class Recorder(ref.Module):
    """Adds a constant and remembers what it was called with."""

    def __init__(self, shift):
        super().__init__()
        self.shift, self.seen_forward, self.seen_backward = shift, [], []

    def updateOutput(self, input):
        self.seen_forward.append(input.copy())
        self.output = input + self.shift
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.seen_backward.append(input.copy())
        self.gradInput = gradOutput * 2
        return self.gradInput


def test_sequential_gives_each_module_its_own_input():
    model = ref.Sequential()
    layers = [Recorder(1.0), Recorder(10.0), Recorder(100.0)]
    for layer in layers:
        model.add(layer)
    x = np.zeros((2, 3))
    np.testing.assert_array_equal(model.forward(x), 111.0)
    np.testing.assert_array_equal(model.backward(x, np.ones((2, 3))), 8.0)
    for layer, expected_input in zip(layers, [0.0, 1.0, 11.0]):
        np.testing.assert_array_equal(layer.seen_forward[-1], expected_input)
        np.testing.assert_array_equal(layer.seen_backward[-1], expected_input)
    assert model[1] is layers[1] and len(model) == 3


def test_sequential_propagates_modes_and_zeroing():
    np.random.seed(0)
    model = ref.Sequential()
    inner = ref.Sequential()
    inner.add(ref.Dropout(0.5))
    model.add(ref.Linear(3, 4))
    model.add(inner)
    model.add(ref.BatchNormalization())
    model.evaluate()
    assert not model.training and not inner.training and not inner[0].training and not model[2].training
    model.train()
    assert model.training and inner[0].training and model[0].training
    x = np.ones((4, 3))
    model.forward(x)
    model.backward(x, np.ones((4, 4)))
    assert np.any(model[0].gradW != 0)
    model.zeroGradParameters()
    assert np.all(model[0].gradW == 0) and np.all(model[0].gradb == 0)
    assert model.getParameters()[0][0] is model[0].W
    assert model.getGradParameters()[0][1] is model[0].gradb


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p):
    np.random.seed(0)
    layer = ref.Dropout(p)
    x = np.ones((400, 500))
    out = layer.forward(x)
    zero_share = np.mean(out == 0)
    sigma = np.sqrt(p * (1 - p) / x.size)
    assert abs(zero_share - p) < 5 * sigma, f"share zeroed {zero_share}, expected {p}"
    np.testing.assert_allclose(out[out != 0], 1 / (1 - p))
    # the mask is per element: rows and columns are not all-or-nothing
    assert 0 < np.mean(out[0] == 0) < 1 and 0 < np.mean(out[:, 0] == 0) < 1
    # backward reuses this forward's mask
    g = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(x, g), g * out)
    # a fresh mask at every forward
    assert not np.array_equal(layer.forward(x) == 0, out == 0)


def test_dropout_is_identity_in_eval_mode_and_with_p_zero():
    x = np.random.default_rng(0).standard_normal((6, 7))
    g = np.random.default_rng(1).standard_normal((6, 7))
    for layer in [ref.Dropout(0.0), ref.Dropout(0.5)]:
        if layer.p:
            layer.evaluate()
        np.testing.assert_array_equal(layer.forward(x), x)
        np.testing.assert_array_equal(layer.backward(x, g), g)
    with pytest.raises(ValueError, match="Dropout probability"):
        ref.Dropout(1.0)


def test_batch_normalization_statistics_and_modes():
    rng = np.random.default_rng(0)
    layer = ref.BatchNormalization(alpha=0.7)
    a = rng.standard_normal((8, 3)) * 4 + 2
    out = layer.forward(a)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), a.var(axis=0) / (a.var(axis=0) + layer.EPS))  # biased variance
    m1, v1 = layer.moving_mean.copy(), layer.moving_variance.copy()
    b = rng.standard_normal((5, 3)) - 1  # another batch size
    layer.forward(b)
    np.testing.assert_allclose(layer.moving_mean, 0.7 * m1 + 0.3 * b.mean(axis=0))
    np.testing.assert_allclose(layer.moving_variance, 0.7 * v1 + 0.3 * b.var(axis=0))

    layer.evaluate()
    moving = layer.moving_mean.copy(), layer.moving_variance.copy()
    c = rng.standard_normal((2, 3))  # eval batch of yet another size
    expected = (c - moving[0]) / np.sqrt(moving[1] + layer.EPS)
    np.testing.assert_allclose(layer.forward(c), expected)
    np.testing.assert_allclose(layer.backward(c, np.ones((2, 3))), np.ones((2, 3)) / np.sqrt(moving[1] + layer.EPS))
    np.testing.assert_array_equal(layer.moving_mean, moving[0])  # eval does not update
    layer.train()
    single = layer.forward(np.array([[1.0, 2.0, 3.0]]))  # a batch of one is all zeros, not NaN
    np.testing.assert_array_equal(single, 0)


def test_batch_normalization_alpha_zero_keeps_only_the_last_batch():
    layer = ref.BatchNormalization()
    x = np.random.default_rng(0).standard_normal((6, 2))
    layer.forward(x)
    np.testing.assert_allclose(layer.moving_mean, x.mean(axis=0))
    np.testing.assert_allclose(layer.moving_variance, x.var(axis=0))


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_softmax_family_is_stable(scale):
    x = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, -3.0]]) * scale
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = ref.SoftMax().forward(x)
        log_s = ref.LogSoftMax().forward(x)
        ref.SoftMax().backward(x, np.ones_like(x))
        ref.LogSoftMax().backward(x, np.ones_like(x))
    np.testing.assert_allclose(s.sum(axis=1), 1)
    np.testing.assert_allclose(log_s[0], [0, -scale, -2 * scale])
    np.testing.assert_allclose(log_s[1, :2], -np.log(2))


def test_softmax_normalises_rows_not_columns():
    x = np.array([[1.0, 2.0], [3.0, 7.0], [0.0, 0.0]])
    np.testing.assert_allclose(ref.SoftMax().forward(x).sum(axis=1), 1)
    np.testing.assert_allclose(np.exp(ref.LogSoftMax().forward(x)).sum(axis=1), 1)


def test_elu_and_softplus_are_stable_for_large_inputs():
    x = np.array([[-1e3, -50.0, 0.0, 50.0, 1e3]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        elu = ref.ELU(alpha=2.0)
        np.testing.assert_allclose(elu.forward(x), [[-2, 2 * np.expm1(-50), 0, 50, 1e3]])
        np.testing.assert_allclose(elu.backward(x, np.ones_like(x)), [[0, 2 * np.exp(-50), 2, 1, 1]])
        softplus = ref.SoftPlus()
        np.testing.assert_allclose(softplus.forward(x), [[0, np.log1p(np.exp(-50)), np.log(2), 50, 1e3]],
                                   rtol=1e-15, atol=1e-300)
        np.testing.assert_allclose(softplus.backward(x, np.ones_like(x)), [[0, np.exp(-50), 0.5, 1, 1]], rtol=1e-12)


def test_leaky_relu_default_slope():
    out = ref.LeakyReLU().forward(np.array([[-2.0, 3.0]]))
    np.testing.assert_allclose(out, [[-0.06, 3.0]])


def test_flatten_round_trip():
    x = np.arange(24.0).reshape(2, 3, 4)
    layer = ref.Flatten()
    assert layer.forward(x).shape == (2, 12)
    assert layer.backward(x, np.ones((2, 12))).shape == (2, 3, 4)


def test_criterions_divide_by_batch_size():
    x = np.array([[0.0, 1.0], [2.0, 0.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert ref.MSECriterion().forward(x, y) == pytest.approx((1 + 1 + 4 + 1) / 2)
    assert ref.ClassNLLCriterion().forward(np.log([[0.5, 0.5], [0.25, 0.75]]), y) == pytest.approx(
        -(np.log(0.5) + np.log(0.75)) / 2)
    unstable = ref.ClassNLLCriterionUnstable()
    assert np.isfinite(unstable.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])))
    assert unstable.forward(np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])) == pytest.approx(-np.log(1e-15))


def test_contrastive_loss_value_and_empty_terms():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    criterion = ref.ClassContrastiveCriterion(M=2.0)
    # positives: (0, 2) at distance 1; negatives: (0, 1) at 5, (1, 2) at sqrt(18)
    assert criterion.forward(x, np.array([0, 1, 0])) == pytest.approx(1.0 + 0.0)
    # no positive pair: only the hinge term, here 0 beyond the margin
    assert criterion.forward(x, np.array([0, 1, 2])) == pytest.approx(np.mean([0, 1, 0]))
    # no negative pair
    assert criterion.forward(x, np.array([4, 4, 4])) == pytest.approx(np.mean([25, 1, 18]))
    with pytest.raises(ValueError, match="integer labels"):
        criterion.forward(x, np.eye(3))


def test_max_pool_gradient_goes_to_the_first_maximum_only():
    x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
    layer = ref.MaxPool2d(2)
    np.testing.assert_array_equal(layer.forward(x), [[[[3.0, 2.0]]]])
    grad = layer.backward(x, np.array([[[[5.0, 7.0]]]]))
    np.testing.assert_array_equal(grad, [[[[0, 5, 7, 0], [0, 0, 0, 0]]]])


@pytest.mark.parametrize(
    "build,shape,message",
    [
        (lambda: ref.MaxPool2d(2), (1, 1, 3, 4), "divisible"),
        (lambda: ref.MaxPool2d(2), (4, 4), "4-D"),
        (lambda: ref.Conv2d(2, 1, 3), (1, 3, 4, 4), "input channels"),
        (lambda: ref.Linear(3, 2), (2, 4), "input features"),
        (lambda: ref.Linear(3, 2), (3,), "2-D"),
        (lambda: ref.SoftMax(), (3,), "2-D"),
    ],
)
def test_clear_errors_for_bad_shapes(build, shape, message):
    with pytest.raises(ValueError, match=message):
        build().forward(np.zeros(shape))


def test_conv2d_needs_an_odd_kernel():
    with pytest.raises(ValueError, match="odd"):
        ref.Conv2d(1, 1, 2)


def test_conv2d_gradients_use_the_input_given_to_backward():
    """Nothing is kept from the forward pass: an input changed in place in between, and a
    smaller batch given to backward, still get the gradients of the input passed to backward."""
    rng = np.random.default_rng(5)
    conv = ref.Conv2d(2, 3, 3)
    x = rng.standard_normal((2, 2, 5, 5))
    g = rng.standard_normal((2, 3, 5, 5))

    def gradients_of_a_twin(x, g):
        """A layer with conv's parameters that sees only (x, g), forward then backward."""
        twin = ref.Conv2d(2, 3, 3)
        twin.W[...], twin.b[...] = conv.W, conv.b
        twin.forward(x)
        twin.backward(x, g)
        return twin.gradW, twin.gradInput

    conv.forward(x)
    x *= -2.0
    conv.backward(x, g)
    gradW, gradInput = gradients_of_a_twin(x, g)
    np.testing.assert_allclose(conv.gradW, gradW)
    np.testing.assert_allclose(conv.gradInput, gradInput)

    conv.zeroGradParameters()
    conv.forward(x)
    conv.backward(x[:1], g[:1])
    gradW, gradInput = gradients_of_a_twin(x[:1], g[:1])
    np.testing.assert_allclose(conv.gradW, gradW)
    np.testing.assert_allclose(conv.gradInput, gradInput)


def test_criterion_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shape"):
        ref.MSECriterion().forward(np.zeros((2, 3)), np.zeros((3, 2)))


def every_module_with_input():
    np.random.seed(0)
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((4, 3))
    image = rng.standard_normal((2, 2, 4, 4))
    return [
        (ref.Linear(3, 2), dense), (ref.SoftMax(), dense), (ref.LogSoftMax(), dense),
        (ref.BatchNormalization(0.5), dense), (ref.ChannelwiseScaling(3), dense), (ref.Dropout(0.3), dense),
        (ref.ReLU(), dense), (ref.LeakyReLU(), dense), (ref.ELU(), dense), (ref.SoftPlus(), dense),
        (ref.Flatten(), image), (ref.Conv2d(2, 3, 3), image), (ref.MaxPool2d(2), image),
    ]


@pytest.mark.parametrize("module,x", every_module_with_input(), ids=repr)
def test_inputs_are_never_modified(module, x):
    x_before = x.copy()
    out = module.forward(x)
    g = np.ones_like(out)
    module.backward(x, g)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(g, 1.0)
    assert module.gradInput.shape == x.shape


def test_sgd_momentum_updates_in_place():
    var = np.array([1.0, 2.0])
    grad = np.array([0.5, -1.0])
    config, state = {"learning_rate": 0.1, "momentum": 0.9}, {}
    for expected_velocity in [np.array([0.05, -0.1]), np.array([0.095, -0.19])]:
        before = var.copy()
        ref.sgd_momentum([[var]], [[grad]], config, state)
        np.testing.assert_allclose(state["accumulated_grads"][0], expected_velocity)
        np.testing.assert_allclose(var, before - expected_velocity)


def test_adam_formula_and_state():
    var, grad = np.array([1.0, -1.0]), np.array([0.2, -0.4])
    config = {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    state = {}
    m = np.zeros(2)
    v = np.zeros(2)
    expected = var.copy()
    for t in range(1, 4):
        ref.adam_optimizer([[var]], [[grad]], config, state)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        lr_t = 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        expected -= lr_t * m / (np.sqrt(v) + 1e-8)
        assert state["t"] == t
        np.testing.assert_allclose(state["m"][0], m)
        np.testing.assert_allclose(state["v"][0], v)
        np.testing.assert_allclose(var, expected)


def test_repr_names_the_layer():
    assert "Linear" in repr(ref.Linear(2, 3))
    assert "Conv2d" in repr(ref.Conv2d(1, 2, 3))
    assert repr(ref.ReLU()) == "ReLU()"
