"""The reference implementation agrees with PyTorch (float64), forward and backward.

Every module of docs/module-contract.md is run on the same data in ``reference_impl`` and in PyTorch; the
input gradient and every parameter gradient of the reference are compared with
PyTorch's autograd for a random upstream gradient. Skipped when torch is absent
(``make test EXTRAS=dev,crosscheck`` installs it).
"""
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

import reference_impl as ref  # noqa: E402

RTOL, ATOL = 1e-10, 1e-12


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _seed_everything():
    """Module constructors and Dropout draw from NumPy's global RNG; seed it and torch's."""
    np.random.seed(0)
    torch.manual_seed(0)


def make_rng(*params):
    """A NumPy generator seeded from the test parameters, so every case has its own data."""
    return np.random.default_rng(zlib.crc32(repr(params).encode()))


def tt(array, grad=False):
    """A float64 torch copy of ``array`` (never sharing memory with the reference's arrays)."""
    tensor = torch.tensor(np.array(array, dtype=np.float64), dtype=torch.float64)
    return tensor.requires_grad_(grad)


def npy(tensor):
    return tensor.detach().cpu().numpy()


def close(actual, expected, what, rtol=RTOL, atol=ATOL):
    """``assert_allclose`` naming the module, shape and quantity on failure."""
    expected = npy(expected) if isinstance(expected, torch.Tensor) else expected
    assert np.shape(actual) == np.shape(expected), (
        f"{what}: reference shape {np.shape(actual)} != torch shape {np.shape(expected)}"
    )
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=f"{what} (reference vs torch)")


def check_module_vs_torch(module, torch_fn, x, name, rtol=RTOL, atol=ATOL, rng=None):
    """Forward and input gradient of a parameter-free ``module`` against ``torch_fn``."""
    rng = rng if rng is not None else make_rng(name, x.shape)
    x_before = x.copy()
    out = module.forward(x)
    xt = tt(x, grad=True)
    yt = torch_fn(xt)
    close(out, yt, f"{name}: forward output, input shape {x.shape}", rtol, atol)

    g = rng.standard_normal(yt.shape)
    grad_input = module.backward(x, g)
    yt.backward(tt(g))
    close(grad_input, xt.grad, f"{name}: gradInput, input shape {x.shape}", rtol, atol)
    np.testing.assert_array_equal(x, x_before, err_msg=f"{name}: the input was modified in place")


def one_hot(labels, n_classes):
    target = np.zeros((len(labels), n_classes))
    target[np.arange(len(labels)), labels] = 1.0
    return target


# --------------------------------------------------------------------------- Linear

LINEAR_SHAPES = [(1, 1, 1), (4, 3, 5), (16, 10, 7), (7, 32, 2), (64, 20, 20)]  # (N, n_in, n_out)


@pytest.mark.parametrize("n, n_in, n_out", LINEAR_SHAPES)
def test_linear(n, n_in, n_out):
    rng = make_rng("Linear", n, n_in, n_out)
    layer = ref.Linear(n_in, n_out)
    assert layer.W.shape == (n_out, n_in) and layer.b.shape == (n_out,)
    Wt, bt = tt(layer.W, grad=True), tt(layer.b, grad=True)
    layer.zeroGradParameters()
    shape = f"N={n}, n_in={n_in}, n_out={n_out}"

    # two backward passes: both frameworks accumulate parameter gradients
    for call in range(2):
        x = rng.standard_normal((n, n_in))
        g = rng.standard_normal((n, n_out))
        out = layer.forward(x)
        xt = tt(x, grad=True)
        yt = F.linear(xt, Wt, bt)
        close(out, yt, f"Linear: forward output, {shape}, call {call}")
        grad_input = layer.backward(x, g)
        yt.backward(tt(g))
        close(grad_input, xt.grad, f"Linear: gradInput, {shape}, call {call}")
        close(layer.gradW, Wt.grad, f"Linear: gradW (accumulated over {call + 1} backward), {shape}")
        close(layer.gradb, bt.grad, f"Linear: gradb (accumulated over {call + 1} backward), {shape}")


# --------------------------------------------------------------------------- SoftMax / LogSoftMax

ROW_SHAPES = [(1, 1), (1, 5), (5, 3), (8, 10), (3, 100)]
ROW_INPUTS = {
    "normal": lambda rng, shape: rng.standard_normal(shape),
    # entries up to 1e4 in magnitude: overflow without the max shift
    "uniform_1e4": lambda rng, shape: rng.uniform(-1e4, 1e4, shape),
    # all entries near 1e4 with an O(1) spread: the shift must be per row
    "offset_1e4": lambda rng, shape: 1e4 + 3 * rng.standard_normal(shape),
    "negative_offset_1e4": lambda rng, shape: -1e4 + 3 * rng.standard_normal(shape),
    # a row of equal entries
    "constant": lambda rng, shape: np.full(shape, 7.0),
}


@pytest.mark.parametrize("kind", sorted(ROW_INPUTS))
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_softmax(shape, kind):
    rng = make_rng("SoftMax", shape, kind)
    x = ROW_INPUTS[kind](rng, shape)
    check_module_vs_torch(ref.SoftMax(), lambda t: F.softmax(t, dim=1), x, f"SoftMax[{kind}]", rng=rng)


@pytest.mark.parametrize("kind", sorted(ROW_INPUTS))
@pytest.mark.parametrize("shape", ROW_SHAPES)
def test_logsoftmax(shape, kind):
    rng = make_rng("LogSoftMax", shape, kind)
    x = ROW_INPUTS[kind](rng, shape)
    check_module_vs_torch(ref.LogSoftMax(), lambda t: F.log_softmax(t, dim=1), x, f"LogSoftMax[{kind}]", rng=rng)


# --------------------------------------------------------------------------- element-wise activations

ELEMENTWISE_SHAPES = [(1, 1), (4, 7), (32, 16), (2, 3, 4, 5)]


def with_kinks(rng, shape, scale=1.0):
    """Random values plus some exact zeros and small integers, where the activations have kinks."""
    x = scale * rng.standard_normal(shape)
    ints = rng.integers(-2, 3, size=shape).astype(np.float64)
    return np.where(rng.random(shape) < 0.2, ints, x)


@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_relu(shape):
    rng = make_rng("ReLU", shape)
    # at 0 both give output 0 and gradient 0
    check_module_vs_torch(ref.ReLU(), F.relu, with_kinks(rng, shape), "ReLU", rng=rng)


@pytest.mark.parametrize("slope", [0.03, 0.2, 1.5])
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_leaky_relu(shape, slope):
    rng = make_rng("LeakyReLU", shape, slope)
    x = with_kinks(rng, shape)
    check_module_vs_torch(
        ref.LeakyReLU(slope), lambda t: F.leaky_relu(t, negative_slope=slope), x, f"LeakyReLU(slope={slope})", rng=rng
    )


def test_leaky_relu_default_slope():
    assert ref.LeakyReLU().slope == 0.03
    rng = make_rng("LeakyReLU default")
    x = with_kinks(rng, (6, 5))
    check_module_vs_torch(ref.LeakyReLU(), lambda t: F.leaky_relu(t, 0.03), x, "LeakyReLU()", rng=rng)


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e3])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_elu(shape, alpha, scale):
    rng = make_rng("ELU", shape, alpha, scale)
    x = with_kinks(rng, shape, scale)
    if scale >= 1e3:  # make sure the extremes are present
        x.flat[0], x.flat[-1] = 1e3, -1e3
    check_module_vs_torch(
        ref.ELU(alpha), lambda t: F.elu(t, alpha=alpha), x, f"ELU(alpha={alpha}), |x| ~ {scale}", rng=rng
    )


def softplus_oracle(t):
    # F.softplus switches to the identity above threshold=20 (an approximation of ~2e-9
    # at x = 20); logaddexp(0, x) is exact for every x, and its gradient is sigmoid(x).
    return torch.logaddexp(torch.zeros_like(t), t)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
@pytest.mark.parametrize("shape", ELEMENTWISE_SHAPES)
def test_softplus(shape, scale):
    rng = make_rng("SoftPlus", shape, scale)
    x = with_kinks(rng, shape, scale)
    if x.size >= 2:
        x.flat[0], x.flat[-1] = 1e3 if scale >= 1e3 else 20.0, -1e3 if scale >= 1e3 else -40.0
    check_module_vs_torch(ref.SoftPlus(), softplus_oracle, x, f"SoftPlus, |x| ~ {scale}", rng=rng)


def test_softplus_oracle_agrees_with_F_softplus_below_threshold():
    """Sanity check of the oracle itself where F.softplus is exact (|x| well below 20)."""
    x = tt(np.linspace(-15, 15, 101))
    close(npy(softplus_oracle(x)), F.softplus(x), "SoftPlus oracle vs F.softplus")


# --------------------------------------------------------------------------- Flatten


@pytest.mark.parametrize("shape", [(1, 7), (2, 3, 4, 5), (3, 1, 1, 1), (5, 2, 6), (4, 3, 8, 8)])
def test_flatten(shape):
    rng = make_rng("Flatten", shape)
    x = rng.standard_normal(shape)
    # reshapes only: the results must be bit-identical
    check_module_vs_torch(ref.Flatten(), lambda t: torch.flatten(t, 1), x, "Flatten", rtol=0, atol=0, rng=rng)


# --------------------------------------------------------------------------- ChannelwiseScaling


@pytest.mark.parametrize("n, n_out", [(1, 1), (5, 3), (32, 16), (7, 50)])
def test_channelwise_scaling(n, n_out):
    rng = make_rng("ChannelwiseScaling", n, n_out)
    layer = ref.ChannelwiseScaling(n_out)
    gamma_t, beta_t = tt(layer.gamma, grad=True), tt(layer.beta, grad=True)
    layer.zeroGradParameters()
    shape = f"N={n}, n_out={n_out}"
    for call in range(2):
        x = rng.standard_normal((n, n_out))
        g = rng.standard_normal((n, n_out))
        out = layer.forward(x)
        xt = tt(x, grad=True)
        yt = xt * gamma_t + beta_t
        close(out, yt, f"ChannelwiseScaling: forward output, {shape}")
        grad_input = layer.backward(x, g)
        yt.backward(tt(g))
        close(grad_input, xt.grad, f"ChannelwiseScaling: gradInput, {shape}, call {call}")
        close(layer.gradGamma, gamma_t.grad, f"ChannelwiseScaling: gradGamma (accumulated), {shape}, call {call}")
        close(layer.gradBeta, beta_t.grad, f"ChannelwiseScaling: gradBeta (accumulated), {shape}, call {call}")


# --------------------------------------------------------------------------- Dropout


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(1, 1), (8, 16), (64, 32), (2, 3, 4, 5)])
def test_dropout_train_same_mask(shape, p):
    rng = make_rng("Dropout", shape, p)
    layer = ref.Dropout(p)
    layer.train()
    x = rng.standard_normal(shape)
    x[x == 0] = 1.0  # the mask is recovered as output / input
    out = layer.forward(x)
    mask = out / x
    scale = 1.0 / (1.0 - p)
    is_zero, is_kept = np.isclose(mask, 0.0, atol=1e-15), np.isclose(mask, scale, rtol=1e-14)
    assert np.all(is_zero | is_kept), f"Dropout(p={p}): mask values not in {{0, {scale}}} for shape {shape}"
    mask = np.where(is_kept, scale, 0.0)

    xt = tt(x, grad=True)
    yt = xt * tt(mask)
    close(out, yt, f"Dropout(p={p}): forward with the recovered mask, shape {shape}")
    g = rng.standard_normal(shape)
    grad_input = layer.backward(x, g)
    yt.backward(tt(g))
    close(grad_input, xt.grad, f"Dropout(p={p}): gradInput with the same mask, shape {shape}")

    # a fresh mask each forward: a large input gets a different mask on the second call
    if x.size >= 256:
        layer.forward(x)
        assert not np.array_equal(layer.output / x, mask), f"Dropout(p={p}): the mask was reused across forwards"


@pytest.mark.parametrize("shape", [(1, 1), (8, 16), (2, 3, 4, 5)])
def test_dropout_p0_is_identity(shape):
    rng = make_rng("Dropout p=0", shape)
    layer = ref.Dropout(0.0)
    layer.train()
    check_module_vs_torch(
        layer, lambda t: F.dropout(t, p=0.0, training=True), rng.standard_normal(shape),
        "Dropout(p=0) train", rtol=0, atol=0, rng=rng,
    )


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
@pytest.mark.parametrize("shape", [(1, 1), (8, 16), (2, 3, 4, 5)])
def test_dropout_eval_is_identity(shape, p):
    rng = make_rng("Dropout eval", shape, p)
    layer = ref.Dropout(p)
    layer.train()
    layer.forward(rng.standard_normal(shape))  # leave a training mask behind
    layer.evaluate()
    check_module_vs_torch(
        layer, lambda t: F.dropout(t, p=p, training=False), rng.standard_normal(shape),
        f"Dropout(p={p}) eval", rtol=0, atol=0, rng=rng,
    )


# --------------------------------------------------------------------------- BatchNormalization

BN_EPS = 1e-3
BN_SHAPES = [(2, 1), (2, 3), (5, 1), (8, 5), (64, 10), (13, 32)]


def bn_input(rng, shape):
    """Features with different means and scales, including a nearly constant one."""
    n, f = shape
    x = rng.standard_normal(shape) * rng.uniform(0.01, 5.0, f) + rng.uniform(-3, 3, f)
    if f > 1:
        x[:, 0] = 0.5 + 1e-3 * rng.standard_normal(n)  # variance far below EPS
    return x


@pytest.mark.parametrize("shape", BN_SHAPES)
def test_batchnorm_train_forward_backward(shape):
    rng = make_rng("BatchNormalization train", shape)
    assert ref.BatchNormalization.EPS == BN_EPS
    layer = ref.BatchNormalization(alpha=0.9)
    layer.train()
    check_module_vs_torch(
        layer,
        lambda t: F.batch_norm(t, None, None, training=True, eps=BN_EPS),
        bn_input(rng, shape),
        "BatchNormalization train",
        rng=rng,
    )


@pytest.mark.parametrize("alpha", [0.9, 0.5, 0.0])
def test_batchnorm_moving_statistics(alpha):
    """EMA of the batch statistics, starting like torch from mean 0, variance 1."""
    rng = make_rng("BatchNormalization moving", alpha)
    n_features = 6
    layer = ref.BatchNormalization(alpha=alpha)
    layer.train()
    momentum = 1.0 - alpha  # torch: running = (1 - momentum) * running + momentum * batch
    running_mean = torch.zeros(n_features, dtype=torch.float64)
    running_var = torch.ones(n_features, dtype=torch.float64)
    biased_ema = torch.ones(n_features, dtype=torch.float64)  # by hand, from torch's batch variance
    reconstructed = torch.ones(n_features, dtype=torch.float64)  # the same, from torch's running_var
    for step, n in enumerate([8, 5, 16, 2, 11, 32, 3]):  # the batch size changes between calls
        x = bn_input(rng, (n, n_features))
        out = layer.forward(x)
        previous_running_var = running_var.clone()
        expected = F.batch_norm(tt(x), running_mean, running_var, training=True, momentum=momentum, eps=BN_EPS)
        what = f"BatchNormalization(alpha={alpha}) step {step} (N={n})"
        close(out, expected, f"{what}: train forward with running stats")
        close(layer.moving_mean, running_mean, f"{what}: moving_mean vs torch running_mean")

        # torch's running_var follows the UNBIASED batch variance, the reference's the biased
        # one. (a) the biased EMA by hand from torch's biased batch variance:
        biased_ema = alpha * biased_ema + (1 - alpha) * torch.var(tt(x), dim=0, unbiased=False)
        close(layer.moving_variance, biased_ema, f"{what}: moving_variance vs biased EMA of torch.var")
        # (b) torch's own update, undone and redone with the factor (N - 1) / N:
        unbiased_batch_var = (running_var - (1 - momentum) * previous_running_var) / momentum
        reconstructed = alpha * reconstructed + (1 - alpha) * unbiased_batch_var * (n - 1) / n
        close(
            layer.moving_variance, reconstructed,
            f"{what}: moving_variance vs torch running_var corrected by (N-1)/N per step",
            rtol=1e-9,  # undoing the EMA divides rounding errors by momentum
        )


@pytest.mark.parametrize("eval_n", [1, 3, 20])
@pytest.mark.parametrize("alpha", [0.9, 0.0])
def test_batchnorm_eval_forward_backward(alpha, eval_n):
    """Eval mode against F.batch_norm(training=False) with the reference's moving statistics."""
    rng = make_rng("BatchNormalization eval", alpha, eval_n)
    n_features = 7
    layer = ref.BatchNormalization(alpha=alpha)
    layer.train()
    for n in [10, 4, 25]:
        layer.forward(bn_input(rng, (n, n_features)))
    layer.evaluate()
    running_mean, running_var = tt(layer.moving_mean), tt(layer.moving_variance)
    check_module_vs_torch(
        layer,
        lambda t: F.batch_norm(t, running_mean, running_var, training=False, eps=BN_EPS),
        bn_input(rng, (eval_n, n_features)),
        f"BatchNormalization(alpha={alpha}) eval, N_eval={eval_n}",
        rng=rng,
    )
    # eval mode leaves the moving statistics alone
    close(layer.moving_mean, running_mean, "BatchNormalization eval: moving_mean changed", rtol=0, atol=0)
    close(layer.moving_variance, running_var, "BatchNormalization eval: moving_variance changed", rtol=0, atol=0)


# --------------------------------------------------------------------------- criterions


def check_criterion_vs_torch(criterion, loss_fn, x, target, name):
    """Loss value and gradient of ``criterion`` against ``loss_fn(x_tensor)`` in autograd."""
    x_before = x.copy()
    value = criterion.forward(x, target)
    assert np.ndim(value) == 0, f"{name}: the loss is not a scalar (shape {np.shape(value)})"
    xt = tt(x, grad=True)
    loss = loss_fn(xt)
    close(float(value), loss.item(), f"{name}: loss value, input shape {x.shape}")
    grad = criterion.backward(x, target)
    loss.backward()
    close(grad, xt.grad, f"{name}: gradInput, input shape {x.shape}")
    np.testing.assert_array_equal(x, x_before, err_msg=f"{name}: the input was modified in place")


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (20, 10), (64, 1), (4, 3, 2)])
def test_mse_criterion(shape):
    rng = make_rng("MSECriterion", shape)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    n = shape[0]
    check_criterion_vs_torch(
        ref.MSECriterion(), lambda t: F.mse_loss(t, tt(y), reduction="sum") / n, x, y, "MSECriterion"
    )


CLASS_SHAPES = [(1, 2), (5, 3), (16, 10), (64, 4), (3, 1)]  # (N, n_classes)


@pytest.mark.parametrize("scale", [1.0, 100.0])
@pytest.mark.parametrize("n, n_classes", CLASS_SHAPES)
def test_class_nll_criterion(n, n_classes, scale):
    rng = make_rng("ClassNLLCriterion", n, n_classes, scale)
    log_probs = npy(F.log_softmax(tt(scale * rng.standard_normal((n, n_classes))), dim=1))
    labels = rng.integers(0, n_classes, n)
    check_criterion_vs_torch(
        ref.ClassNLLCriterion(),
        lambda t: F.nll_loss(t, torch.tensor(labels, dtype=torch.long)),  # mean over the batch
        log_probs,
        one_hot(labels, n_classes),
        f"ClassNLLCriterion (logits scale {scale})",
    )


NLL_EPS = 1e-15


def unstable_nll_oracle(target, n):
    return lambda t: -(tt(target) * torch.log(torch.clamp(t, NLL_EPS, 1 - NLL_EPS))).sum() / n


@pytest.mark.parametrize("n, n_classes", CLASS_SHAPES)
def test_class_nll_criterion_unstable(n, n_classes):
    rng = make_rng("ClassNLLCriterionUnstable", n, n_classes)
    # probabilities strictly inside [EPS, 1 - EPS], where clipping is inactive
    probs = npy(F.softmax(tt(rng.standard_normal((n, n_classes))), dim=1))
    probs = np.clip(probs, 1e-12, 1 - 1e-12)
    labels = rng.integers(0, n_classes, n)
    target = one_hot(labels, n_classes)
    check_criterion_vs_torch(
        ref.ClassNLLCriterionUnstable(), unstable_nll_oracle(target, n), probs, target, "ClassNLLCriterionUnstable"
    )


def test_class_nll_criterion_unstable_clipped_probabilities():
    """Probabilities 0 and 1: the loss stays finite and equals torch's clamped formula.

    The contract's backward is ``-y / clip(p) / N`` (the derivative of log at the clipped
    value), whereas autograd through ``clamp`` gives 0 where the clamp is active; so
    the gradient is compared with the contract's formula evaluated in torch, and with autograd
    only on the unclipped entries.
    """
    probs = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0], [0.25, 0.0, 0.75]])
    labels = np.array([0, 1, 0, 2])  # row 0: the true class has probability 0
    target = one_hot(labels, 3)
    n = len(labels)
    crit = ref.ClassNLLCriterionUnstable()
    value = crit.forward(probs, target)
    grad = crit.backward(probs, target)

    xt = tt(probs, grad=True)
    loss = unstable_nll_oracle(target, n)(xt)
    loss.backward()
    close(float(value), loss.item(), "ClassNLLCriterionUnstable: loss with p in {0, 1}")
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    clipped = torch.clamp(tt(probs), NLL_EPS, 1 - NLL_EPS)
    close(grad, -tt(target) / clipped / n, "ClassNLLCriterionUnstable: gradient -y / clip(p) / N with p in {0, 1}")
    active = (probs > NLL_EPS) & (probs < 1 - NLL_EPS)
    close(grad[active], npy(xt.grad)[active], "ClassNLLCriterionUnstable: gradient on unclipped entries vs autograd")


# --------------------------------------------------------------------------- ClassContrastiveCriterion


def contrastive_oracle(labels, margin):
    """Straightforward torch formulation on the explicit list of ordered pairs i != j."""
    labels = np.asarray(labels)
    same = labels[:, None] == labels[None, :]
    pos_i, pos_j = np.nonzero(same & ~np.eye(len(labels), dtype=bool))
    neg_i, neg_j = np.nonzero(~same)

    def loss(x):
        total = x.new_zeros(())
        if len(pos_i):
            d = torch.linalg.vector_norm(x[pos_i] - x[pos_j], dim=1)
            total = total + (d**2).mean()
        if len(neg_i):
            d = torch.linalg.vector_norm(x[neg_i] - x[neg_j], dim=1)
            total = total + (torch.relu(margin - d) ** 2).mean()
        return total

    return loss


CONTRASTIVE_CASES = [
    # (N, dim, n_classes, margin)
    (2, 1, 2, 1.0),
    (5, 2, 2, 1.0),
    (8, 3, 3, 2.0),
    (16, 4, 4, 0.5),  # many negative pairs beyond the margin (hinge inactive)
    (20, 5, 3, 10.0),  # every negative pair inside the margin
    (12, 2, 12, 3.0),  # every label differs: no positive pair
    (9, 3, 1, 3.0),  # one class: no negative pair
    (2, 3, 1, 1.0),
]


@pytest.mark.parametrize("n, dim, n_classes, margin", CONTRASTIVE_CASES)
def test_class_contrastive_criterion(n, dim, n_classes, margin):
    rng = make_rng("ClassContrastiveCriterion", n, dim, n_classes, margin)
    x = rng.standard_normal((n, dim))  # no two points coincide (torch's sqrt' is nan at 0)
    if n_classes == n:
        labels = rng.permutation(n)
    else:
        labels = rng.integers(0, n_classes, n)
        labels[:n_classes] = np.arange(n_classes)  # every class present
    name = f"ClassContrastiveCriterion(M={margin}), {n_classes} classes"
    check_criterion_vs_torch(
        ref.ClassContrastiveCriterion(margin), contrastive_oracle(labels, margin), x, labels, name
    )


def test_class_contrastive_criterion_coincident_negative_pair():
    """A negative pair at distance 0 contributes M^2 to the loss and nothing to the gradient.

    ``torch.linalg.vector_norm`` uses the subgradient 0 at the origin, so autograd agrees.
    """
    rng = make_rng("ClassContrastiveCriterion coincident")
    x = rng.standard_normal((6, 3))
    x[3] = x[0]
    labels = np.array([0, 1, 1, 2, 0, 2])  # 0 and 3 coincide with different labels
    check_criterion_vs_torch(
        ref.ClassContrastiveCriterion(2.0), contrastive_oracle(labels, 2.0), x, labels,
        "ClassContrastiveCriterion, coincident negative pair",
    )


# --------------------------------------------------------------------------- Conv2d

CONV_CASES = [
    # (N, C_in, C_out, H, W)
    (1, 1, 1, 5, 7),
    (2, 3, 4, 6, 4),
    (3, 2, 5, 9, 8),
    (2, 4, 2, 3, 11),
    (1, 1, 3, 2, 3),  # smaller than a 5x5 kernel
]


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("n, c_in, c_out, h, w", CONV_CASES)
def test_conv2d(n, c_in, c_out, h, w, k):
    rng = make_rng("Conv2d", n, c_in, c_out, h, w, k)
    layer = ref.Conv2d(c_in, c_out, k)
    assert layer.W.shape == (c_out, c_in, k, k) and layer.b.shape == (c_out,)
    Wt, bt = tt(layer.W, grad=True), tt(layer.b, grad=True)
    layer.zeroGradParameters()
    shape = f"input {(n, c_in, h, w)}, {c_in}->{c_out} channels, kernel {k}"
    for call in range(2):  # gradW / gradb accumulate like torch's .grad
        x = rng.standard_normal((n, c_in, h, w))
        out = layer.forward(x)
        xt = tt(x, grad=True)
        yt = F.conv2d(xt, Wt, bt, padding=k // 2)
        close(out, yt, f"Conv2d: forward output, {shape}, call {call}")
        g = rng.standard_normal(yt.shape)
        grad_input = layer.backward(x, g)
        yt.backward(tt(g))
        close(grad_input, xt.grad, f"Conv2d: gradInput, {shape}, call {call}")
        close(layer.gradW, Wt.grad, f"Conv2d: gradW (accumulated over {call + 1} backward), {shape}")
        close(layer.gradb, bt.grad, f"Conv2d: gradb (accumulated over {call + 1} backward), {shape}")


# --------------------------------------------------------------------------- MaxPool2d

POOL_INPUTS = {
    "continuous": lambda rng, shape: rng.standard_normal(shape),
    "ties": lambda rng, shape: rng.integers(0, 3, size=shape).astype(np.float64),  # many equal maxima
    "binary_ties": lambda rng, shape: rng.integers(0, 2, size=shape).astype(np.float64),
    "constant": lambda rng, shape: np.full(shape, -1.5),  # every element of every window ties
}
POOL_CASES = [
    # (k, (N, C, H, W))
    (1, (2, 3, 4, 5)),
    (2, (1, 1, 2, 2)),
    (2, (2, 3, 4, 6)),
    (2, (3, 2, 8, 4)),
    (3, (2, 2, 6, 9)),
    (4, (1, 3, 8, 12)),
]


@pytest.mark.parametrize("kind", sorted(POOL_INPUTS))
@pytest.mark.parametrize("k, shape", POOL_CASES)
def test_maxpool2d(k, shape, kind):
    rng = make_rng("MaxPool2d", k, shape, kind)
    x = POOL_INPUTS[kind](rng, shape)
    name = f"MaxPool2d(k={k}) [{kind}]"
    layer = ref.MaxPool2d(k)
    out = layer.forward(x)
    xt = tt(x, grad=True)
    yt, indices = F.max_pool2d(xt, kernel_size=k, stride=k, return_indices=True)
    close(out, yt, f"{name}: forward output, input shape {shape}", rtol=0, atol=0)

    # a nonzero upstream gradient everywhere, so a zero gradInput entry means "not routed here"
    g = rng.uniform(0.5, 1.5, yt.shape) * rng.choice([-1.0, 1.0], yt.shape)
    grad_input = layer.backward(x, g)
    yt.backward(tt(g))
    # torch's CPU kernel routes each window's gradient to its first maximum in row-major order
    close(grad_input, xt.grad, f"{name}: gradInput, input shape {shape}", rtol=0, atol=0)

    n, c, h, w = shape
    windows = grad_input.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5)
    windows = windows.reshape(n, c, h // k, w // k, k * k)
    nonzero = np.count_nonzero(windows, axis=-1)
    assert np.all(nonzero == 1), f"{name}: windows whose gradient went to {sorted(set(nonzero.ravel()))} elements"
    # the routed element is the one torch's argmax picks, and it carries g unchanged
    routed = np.zeros(n * c * h * w)
    plane_offsets = (np.arange(n * c) * h * w).reshape(n, c, 1, 1)  # torch's indices are per (n, c) plane
    routed[(npy(indices) + plane_offsets).ravel()] = g.ravel()
    close(grad_input, routed.reshape(shape), f"{name}: gradInput vs torch's return_indices", rtol=0, atol=0)


# --------------------------------------------------------------------------- Sequential


def build_pair(sizes, log_softmax=True):
    """Linear/ReLU/Linear[/LogSoftMax] in the reference and the same network in torch.nn,
    the torch parameters copied from the reference's."""
    n_in, hidden, n_out = sizes
    model = ref.Sequential()
    model.add(ref.Linear(n_in, hidden))
    model.add(ref.ReLU())
    model.add(ref.Linear(hidden, n_out))
    layers = [torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)]
    if log_softmax:
        model.add(ref.LogSoftMax())
        layers.append(torch.nn.LogSoftmax(dim=1))
    net = torch.nn.Sequential(*layers).double()
    with torch.no_grad():
        for index in (0, 2):
            net[index].weight.copy_(torch.from_numpy(model[index].W))
            net[index].bias.copy_(torch.from_numpy(model[index].b))
    # matching (reference array, torch parameter, name), in getParameters() order
    pairs = [
        (model[i].getParameters()[j], param, f"{name} of module {i}")
        for i in (0, 2)
        for j, (param, name) in enumerate([(net[i].weight, "W"), (net[i].bias, "b")])
    ]
    return model, net, pairs


@pytest.mark.parametrize("n, n_in, hidden, n_classes", [(1, 2, 3, 2), (8, 5, 16, 4), (32, 20, 10, 10)])
def test_sequential_mlp(n, n_in, hidden, n_classes):
    rng = make_rng("Sequential", n, n_in, hidden, n_classes)
    model, net, _ = build_pair((n_in, hidden, n_classes))
    shape = f"N={n}, {n_in}->{hidden}->{n_classes}"

    x = rng.standard_normal((n, n_in))
    labels = rng.integers(0, n_classes, n)
    target = one_hot(labels, n_classes)
    model.zeroGradParameters()
    out = model.forward(x)
    xt = tt(x, grad=True)
    yt = net(xt)
    close(out, yt, f"Sequential: forward output, {shape}")

    # an arbitrary upstream gradient, then the training loop's criterion gradient on top
    g = rng.standard_normal((n, n_classes))
    grad_input = model.backward(x, g)
    yt.backward(tt(g))
    close(grad_input, xt.grad, f"Sequential: gradInput, {shape}")

    criterion = ref.ClassNLLCriterion()
    loss = criterion.forward(model.forward(x), target)
    grad_input = model.backward(x, criterion.backward(model.output, target))
    xt.grad = None
    loss_t = F.nll_loss(net(xt), torch.tensor(labels, dtype=torch.long))
    loss_t.backward()
    close(float(loss), loss_t.item(), f"Sequential + ClassNLLCriterion: loss, {shape}")
    close(grad_input, xt.grad, f"Sequential + ClassNLLCriterion: gradInput, {shape}")

    # parameter gradients accumulated over both backward calls, in getParameters order
    torch_params = [[net[0].weight, net[0].bias], [], [net[2].weight, net[2].bias], []]
    for index, (grads, params) in enumerate(zip(model.getGradParameters(), torch_params)):
        assert len(grads) == len(params), f"Sequential: module {index} has {len(grads)} gradients"
        for grad, param, pname in zip(grads, params, ["W", "b"]):
            close(grad, param.grad, f"Sequential: grad{pname} of module {index} ({model[index]!r}), {shape}")


# --------------------------------------------------------------------------- optimizers


def train_side_by_side(ref_step, torch_optimizer, sizes, n_steps, what, rtol, atol):
    """The training loop of the contract in both frameworks on the same batches (a regression
    MLP with the MSE criterion); the parameters are compared after every step."""
    n_in, _, n_out = sizes
    rng = make_rng("optimizer", what)
    model, net, pairs = build_pair(sizes, log_softmax=False)
    opt = torch_optimizer(net.parameters())
    criterion, state = ref.MSECriterion(), {}
    for step in range(n_steps):
        x, y = rng.standard_normal((16, n_in)), rng.standard_normal((16, n_out))
        model.zeroGradParameters()
        pred = model.forward(x)
        criterion.forward(pred, y)
        model.backward(x, criterion.backward(pred, y))
        variables = model.getParameters()
        ids = [id(a) for layer in variables for a in layer]
        ref_step(variables, model.getGradParameters(), state)
        assert [id(a) for layer in model.getParameters() for a in layer] == ids, f"{what}: parameters replaced"

        opt.zero_grad()
        (F.mse_loss(net(tt(x)), tt(y), reduction="sum") / len(x)).backward()
        opt.step()
        for mine, theirs, name in pairs:
            close(mine, theirs, f"{what}: {name} after step {step + 1}", rtol=rtol, atol=atol)
    return state


@pytest.mark.parametrize("lr, momentum", [(0.1, 0.9), (0.01, 0.0), (0.5, 0.5), (0.05, 0.99)])
def test_sgd_momentum_vs_torch_sgd(lr, momentum):
    # torch: v = m v + g; p -= lr v.  reference: V = m V + lr g; p -= V.  With a constant lr,
    # V = lr v at every step, so the parameter trajectories coincide up to rounding.
    config = {"learning_rate": lr, "momentum": momentum}
    state = train_side_by_side(
        lambda variables, gradients, state: ref.sgd_momentum(variables, gradients, config, state),
        lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=0.0),
        (4, 8, 3), 6, f"sgd_momentum(lr={lr}, momentum={momentum})", rtol=RTOL, atol=ATOL,
    )
    assert sorted(state["accumulated_grads"]) == [0, 1, 2, 3]


ADAM_CASES = [(1e-3, 0.9, 0.999), (1e-2, 0.5, 0.9), (0.1, 0.0, 0.99)]  # (lr, beta1, beta2)


class RescaledEpsAdam:
    """torch.optim.Adam with eps set to ``eps / sqrt(1 - beta2^t)`` before step ``t``.

    torch divides by ``sqrt(v) / sqrt(1 - beta2^t) + eps``; the reference by
    ``(sqrt(v) + eps) / sqrt(1 - beta2^t)`` (its ``lr_t`` folds that factor in). With the
    rescaled eps the two are algebraically identical, whatever the gradient magnitudes.
    """

    def __init__(self, params, lr, betas, eps):
        self.opt = torch.optim.Adam(params, lr=lr, betas=betas, eps=eps)
        self.eps, self.beta2, self.t = eps, betas[1], 0

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.t += 1
        self.opt.param_groups[0]["eps"] = self.eps / np.sqrt(1 - self.beta2**self.t)
        self.opt.step()


@pytest.mark.parametrize("eps", [1e-8, 1e-12])
@pytest.mark.parametrize("lr, beta1, beta2", ADAM_CASES)
def test_adam_vs_torch_adam_same_formula(lr, beta1, beta2, eps):
    config = {"learning_rate": lr, "beta1": beta1, "beta2": beta2, "epsilon": eps}
    state = train_side_by_side(
        lambda variables, gradients, state: ref.adam_optimizer(variables, gradients, config, state),
        lambda params: RescaledEpsAdam(params, lr=lr, betas=(beta1, beta2), eps=eps),
        (5, 7, 2), 8, f"adam_optimizer(lr={lr}, betas=({beta1}, {beta2}), eps={eps})", rtol=RTOL, atol=ATOL,
    )
    assert state["t"] == 8 and sorted(state["m"]) == sorted(state["v"]) == [0, 1, 2, 3]


@pytest.mark.parametrize("lr, beta1, beta2", ADAM_CASES)
def test_adam_vs_plain_torch_adam(lr, beta1, beta2):
    """Against unmodified torch.optim.Adam, on fixed gradients of order 1 for 6 steps.

    The reference adds eps to sqrt(v) and folds both bias corrections into lr_t; torch adds
    eps to sqrt(v_hat). The reference thus behaves like torch with eps / sqrt(1 - beta2^t):
    with eps = 1e-12 and |g| in [0.5, 2] the relative difference of each step is below
    ~1e-10, so the parameters are compared at rtol 1e-9 (m and v are exactly comparable).
    """
    rng = make_rng("adam plain", lr, beta1, beta2)
    eps, n_steps = 1e-12, 6
    shapes = [[(3, 2), (3,)], [], [(4,)]]  # per-layer lists, one layer without parameters
    variables = [[rng.standard_normal(shape) for shape in layer] for layer in shapes]
    gradients = [
        [rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape) for shape in layer] for layer in shapes
    ]
    flat_vars = [v for layer in variables for v in layer]
    flat_grads = [g for layer in gradients for g in layer]
    params = [tt(v, grad=True) for v in flat_vars]
    opt = torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)
    config = {"learning_rate": lr, "beta1": beta1, "beta2": beta2, "epsilon": eps}
    state = {}
    what = f"adam_optimizer(lr={lr}, betas=({beta1}, {beta2}), eps={eps}) vs plain torch Adam"
    for step in range(n_steps):
        ref.adam_optimizer(variables, gradients, config, state)
        for p, g in zip(params, flat_grads):
            p.grad = tt(g)
        opt.step()
        for index, (v, p) in enumerate(zip(flat_vars, params)):
            close(v, p, f"{what}: variable {index} after step {step + 1}", rtol=1e-9, atol=1e-12)
            close(state["m"][index], opt.state[p]["exp_avg"], f"{what}: m[{index}] vs exp_avg, step {step + 1}")
            close(state["v"][index], opt.state[p]["exp_avg_sq"], f"{what}: v[{index}] vs exp_avg_sq, step {step + 1}")
    assert state["t"] == n_steps
    assert all(a is b for a, b in zip(flat_vars, [v for layer in variables for v in layer])), "variables replaced"
