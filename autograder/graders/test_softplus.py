"""SoftPlus: log(1 + exp(x)), stable for large |x|; gradient g * sigmoid(x)."""
import numpy as np

from autograder.analyser import context_for
from autograder.checks import expect_close
from autograder.graders.support import check_inputs_unchanged
from autograder.graders.support_act import check_module_grad, check_stable, quiet
from autograder.i18n import _
from reference_impl.activations import expit

LARGE = np.array([
    [1000.0, -1000.0, 800.0, -800.0],
    [1e4, -1e4, 50.0, -50.0],
    [710.0, -710.0, 0.5, -0.5],
])


@quiet
def forward_mistakes(x):
    return [("softplus_overflow", np.log(1 + np.exp(x)))]


@quiet
def grad_mistakes(x, g):
    return [
        ("softplus_grad_exp", g * np.exp(x)),
        ("softplus_overflow", g * np.exp(x) / (1 + np.exp(x))),
        ("gradient_sign", -g * expit(x)),
        ("softplus_grad_is_softplus", g * np.logaddexp(0, x)),
        ("softplus_grad_sign", g * expit(-x)),
    ]


def test_forward(submission, ref, rng):
    """output matches log(1 + exp(x))"""
    for shape in [(5, 4), (2, 7)]:
        x = rng.standard_normal(shape) * 3
        expect_close(submission.new("SoftPlus").forward(x, strict=True), ref.SoftPlus().forward(x),
                     _("SoftPlus output for an input of shape {shape}", shape=shape), forward_mistakes(x),
                     context=context_for(x))


def test_grad_input(submission, ref, rng):
    """{gradInput} is {gradOutput} * sigmoid(x)"""
    for shape in [(5, 4), (2, 7)]:
        x, g = rng.standard_normal(shape) * 3, rng.standard_normal(shape)
        check_module_grad(submission.new("SoftPlus"), ref.SoftPlus(), x, g,
                          _("SoftPlus {gradInput} for an input of shape {shape}", shape=shape), grad_mistakes(x, g),
                          elementwise=True)


def test_stable(submission, ref, rng):
    """forward and backward stay finite and correct for inputs as large as 1e4 in magnitude"""
    x, g = LARGE.copy(), rng.standard_normal(LARGE.shape)
    student, reference = submission.new("SoftPlus"), ref.SoftPlus()
    what = _("SoftPlus for inputs from -1e4 to 1e4 (including 710, 800, 1000, where exp overflows)")
    moderate = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    check_stable(student, reference, x, g, what, "softplus_overflow", forward_mistakes(x), grad_mistakes(x, g),
                 moderate=moderate)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    check_inputs_unchanged(submission, submission.new("SoftPlus"), x, g, "SoftPlus")
