"""LogSoftMax: row-wise x - logsumexp(x), stable for entries up to 1e4 in magnitude."""
import numpy as np

from autograder.analyser import context_for
from autograder.checks import expect_close
from autograder.graders.support import check_inputs_unchanged
from autograder.graders.support_act import (
    LARGE,
    backward_softmaxes,
    check_module_grad,
    check_stable,
    log_softmax_grad,
    log_softmax_mistakes,
    quiet,
    row_softmax,
)
from autograder.i18n import _

SHAPES = [(4, 5), (3, 3), (1, 6)]


@quiet
def grad_mistakes(x, g):
    s = row_softmax(x)
    return [
        ("softmax_grad_diagonal", g * (1 - s)),
        ("softmax_grad_sum_wrong_axis", g - s * g.sum(axis=0, keepdims=True)),
        ("logsoftmax_grad_log_probabilities", g - np.log(s) * g.sum(axis=1, keepdims=True)),
    ]


def test_forward(submission, ref, rng):
    """output matches x - logsumexp(x) row-wise"""
    for shape in SHAPES:
        x = rng.standard_normal(shape) * 2
        got = submission.new("LogSoftMax").forward(x, strict=True)
        expect_close(got, ref.LogSoftMax().forward(x), _("LogSoftMax output for an input of shape {shape}",
                                                         shape=shape),
                     log_softmax_mistakes(x), context=context_for(x))


def test_grad_input(submission, ref, rng):
    """{gradInput} is {gradOutput} - softmax(x) * sum({gradOutput}, axis=1)"""
    for shape in SHAPES:
        x, g = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
        check_module_grad(submission.new("LogSoftMax"), ref.LogSoftMax(), x, g,
                          _("LogSoftMax {gradInput} for an input of shape {shape}", shape=shape), grad_mistakes(x, g))


def test_stable(submission, ref, rng):
    """forward and backward stay finite and correct for inputs as large as 1e4"""
    x = LARGE.copy()
    g = rng.standard_normal(x.shape)
    student, reference = submission.new("LogSoftMax"), ref.LogSoftMax()
    what = _("LogSoftMax for an input with entries from -1e4 to 1e4 (rows near +1e4, near -1e4, moderate, mixed)")
    predictions = [(key, log_softmax_grad(s, g)) for key, s in backward_softmaxes(x)]
    check_stable(student, reference, x, g, what, "softmax_overflow", log_softmax_mistakes(x),
                 predictions + grad_mistakes(x, g), shifted=x - x.max(axis=1, keepdims=True))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check_inputs_unchanged(submission, submission.new("LogSoftMax"), x, g, "LogSoftMax")
