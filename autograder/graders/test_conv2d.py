"""Conv2d: "same" cross-correlation, stride 1, zero padding k // 2; W (out, in, k, k), b (out,)."""
import numpy as np

from autograder.checks import expect, expect_computes
from autograder.graders.support import (
    RNG_SEED,
    check_accumulation,
    check_forward,
    check_grad_input,
    check_inputs_unchanged,
    check_param_grads,
    check_parameters_by_reference,
    check_zeroing,
    own_output,
    pair,
)
from autograder.graders.support_adv import (
    conv_forward,
    conv_grad_input,
    conv_grad_weight,
    expect_fast_enough,
    expect_per_sample,
)
from autograder.i18n import _, code

NAMES = ["gradW", "gradb"]
# (batch, in_channels, out_channels, kernel_size, H, W): kernels 1, 3, 5, H != W, in != out
FORWARD_SHAPES = [(2, 2, 3, 3, 5, 4), (3, 1, 2, 1, 4, 4), (2, 3, 2, 5, 6, 7), (1, 2, 2, 3, 4, 6)]
# small enough for per-element finite differences
GRAD_SHAPES = [(2, 2, 3, 3, 5, 4), (1, 3, 2, 5, 5, 6), (2, 2, 2, 3, 4, 3)]


def layer(n_in, n_out, k):
    return f"Conv2d({n_in}, {n_out}, {k})"


def forward_mistakes(x, W, b):
    k = W.shape[-1]
    mistakes = []
    if k > 1:
        mistakes.append(("conv_flipped_kernel", lambda: conv_forward(x, W, b, flip=True)))
    for pad in (0, k - 1, k):  # "valid", "full", one too many
        if pad != k // 2:
            mistakes.append(("conv_wrong_padding", lambda pad=pad: conv_forward(x, W, b, pad=pad)))
    return mistakes


def test_forward(submission, ref, rng):
    """output is the cross-correlation of the zero-padded input with W, plus b"""
    for batch, n_in, n_out, k, h, w in FORWARD_SHAPES:
        student, reference = pair(submission, ref, "Conv2d", n_in, n_out, k)
        x = rng.standard_normal((batch, n_in, h, w))
        check_forward(student, reference, x, _("{layer} output for an input of shape {shape}",
                                               layer=layer(n_in, n_out, k), shape=x.shape),
                      mistakes=forward_mistakes(x, reference.W.copy(), reference.b.copy()))


def test_grad_input(submission, ref, rng):
    """{gradInput} matches the reference (the full convolution of {gradOutput} with W)"""
    for batch, n_in, n_out, k, h, w in GRAD_SHAPES:
        student, reference = pair(submission, ref, "Conv2d", n_in, n_out, k)
        x, g = rng.standard_normal((batch, n_in, h, w)), rng.standard_normal((batch, n_out, h, w))
        W = reference.W.copy()
        check_grad_input(student, reference, x, g, _("{layer} {gradInput} for an input of shape {shape}",
                                                     layer=layer(n_in, n_out, k), shape=x.shape),
                         mistakes=[("conv_grad_input_kernel", lambda: conv_grad_input(g, W, flip=False)),
                                   ("conv_grad_input_kernel", lambda: conv_grad_input(g, W, swap=False)),
                                   ("conv_grad_input_kernel", lambda: conv_grad_input(g, W, flip=False, swap=False))])


def test_grad_params(submission, ref, rng):
    """{gradW} and {gradb} after one backward pass"""
    for batch, n_in, n_out, k, h, w in GRAD_SHAPES:
        student, reference = pair(submission, ref, "Conv2d", n_in, n_out, k)
        x, g = rng.standard_normal((batch, n_in, h, w)), rng.standard_normal((batch, n_out, h, w))
        mistakes = [("conv_grad_weight_flipped", lambda: conv_grad_weight(x, g, k)[:, :, ::-1, ::-1])] if k > 1 else []
        check_param_grads(student, reference, x, g, NAMES, f"{layer(n_in, n_out, k)}", mistakes=mistakes)


def test_accumulates(submission, ref, rng):
    """{gradW} and {gradb} accumulate over backward calls"""
    inputs = [(rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 3, 5, 4))) for _ in range(2)]
    check_accumulation(submission, ref, "Conv2d", (2, 3, 3), inputs, NAMES, "Conv2d(2, 3, 3)")


def test_zero_grad(submission, ref, rng):
    """{zeroGradParameters} sets {gradW} and {gradb} to zero"""
    student, reference = pair(submission, ref, "Conv2d", 2, 3, 3)
    check_zeroing(student, [p.shape for p in reference.getParameters()], NAMES, "Conv2d(2, 3, 3)")


def test_parameters_by_reference(submission, ref, rng):
    """{getParameters} returns W and b themselves, so an optimizer can update them"""
    student, reference = pair(submission, ref, "Conv2d", 2, 3, 3)
    check_parameters_by_reference(submission, student, reference, rng.standard_normal((2, 2, 5, 4)),
                                  "Conv2d(2, 3, 3)", ("Conv2d", 2, 3, 3))


def test_initialisation(submission, ref):
    """W and b have the right shapes and are drawn from U(-1/sqrt(in_channels), 1/sqrt(in_channels))"""
    n_in, n_out, k = 4, 6, 3
    what = layer(n_in, n_out, k)
    params = submission.new("Conv2d", n_in, n_out, k).parameters()
    expect(len(params) == 2, "parameters_not_returned", f"{what}.{code('getParameters')}()",
           _("It returned {count} arrays; expected 2 (W and b).", count=len(params)))
    W, b = params
    expect(W.shape == (n_out, n_in, k, k), "wrong_shape", f"{what}.W",
           _("Expected shape {expected} (out_channels, in_channels, k, k), got {shape}.",
             expected=(n_out, n_in, k, k), shape=W.shape))
    expect(b.shape == (n_out,), "wrong_shape", f"{what}.b", _("Expected shape {expected}, got {got}.",
                                                              expected=(n_out,), got=b.shape))
    bound = 1 / np.sqrt(n_in)
    for name, p in (("W", W), ("b", b)):
        expect(np.all(np.abs(p) <= bound + 1e-12) and np.ptp(p) > bound / 2, "wrong_initialisation",
               f"{what}.{name}", _("Values should be drawn uniformly from [-{bound:.3g}, {bound:.3g}]; got values "
                                   "from {low:.3g} to {high:.3g}.", bound=bound, low=p.min(), high=p.max()))


# A batch of 8 images, 8 -> 8 channels, 16 x 16, kernel 3. Allowed: 25 times the reference's CPU
# time (at least half a second): loops over samples and channels calling scipy.signal pass
# easily, Python loops over every pixel do not.
LARGE = (8, 8, 8, 3, 16, 16)
SPEED_FACTOR, SPEED_FLOOR = 25, 0.5


def larger_input_what(x):
    _batch, n_in, n_out, k, _h, _w = LARGE
    return _("{layer} forward and backward for an input of shape {shape}", layer=layer(n_in, n_out, k),
             shape=x.shape)


def speed_baselines(ref):
    """What :func:`test_larger_input` measures of the reference, ``{what: run}``, on the inputs it
    makes: a prepared parent measures it once for every grading process it forks."""
    batch, n_in, n_out, k, h, w = LARGE
    reference, rng = ref.Conv2d(n_in, n_out, k), np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((batch, n_in, h, w))
    g = rng.standard_normal(reference.forward(x).shape)
    return {larger_input_what(x): lambda: (reference.forward(x), reference.backward(x, g))}


def test_larger_input(submission, ref, rng):
    """forward and backward on a batch of 8 images, 8 -> 8 channels, 16 x 16, kernel 3, take little CPU time"""
    # Speed only: the values are judged by the tests above, on small inputs.
    batch, n_in, n_out, k, h, w = LARGE
    student, reference = pair(submission, ref, "Conv2d", n_in, n_out, k)
    x = rng.standard_normal((batch, n_in, h, w))
    # gradOutput of the shape of the student's own output, so that a mistake in the output's shape
    # (the padding, judged by the forward test) does not stop the speed from being judged
    g = rng.standard_normal(own_output(student, x).shape if own_output(student, x) is not None
                            else (batch, n_out, h, w))

    def run(module):
        out = module.forward(x)
        return out, module.backward(x, g if np.shape(out) == g.shape else rng.standard_normal(np.shape(out)))

    what = larger_input_what(x)
    output, grad = expect_fast_enough(submission, lambda: run(student), lambda: run(reference), what, SPEED_FACTOR,
                                      SPEED_FLOOR)
    expect_computes(_("{what}: output", what=what), [output], [x], rows=True)
    expect_computes(f"{what}: {code('gradInput')}", [grad], [g], rows=True)
    # each image is its own computation: the batch in reverse order gives the outputs in reverse order
    expect_per_sample(student.forward(x[::-1]), output, _("{what}: output", what=what))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    student, _reference = pair(submission, ref, "Conv2d", 2, 3, 3)
    check_inputs_unchanged(submission, student, rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 3, 5, 4)),
                           "Conv2d(2, 3, 3)")
