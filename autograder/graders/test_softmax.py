"""SoftMax: row-wise exp(x) / sum(exp(x)), stable for entries up to 1e4 in magnitude."""

from autograder.analyser import context_for
from autograder.checks import expect_close
from autograder.graders.support import check_inputs_unchanged
from autograder.graders.support_act import (
    LARGE,
    backward_softmaxes,
    check_module_grad,
    check_stable,
    quiet,
    row_softmax,
    softmax_grad,
    softmax_mistakes,
)
from autograder.i18n import _

# non-square first, then a square batch (where a maximum without keepdims still broadcasts), one row
SHAPES = [(4, 5), (3, 3), (1, 6)]


@quiet
def grad_mistakes(x, g):
    s = row_softmax(x)
    return [
        ("softmax_grad_diagonal", s * (1 - s) * g),
        ("softmax_grad_sum_wrong_axis", s * (g - (g * s).sum(axis=0, keepdims=True))),
        ("softmax_grad_uses_input", x * (g - (g * x).sum(axis=1, keepdims=True))),
    ]


def grad_terms(x, g):
    s = row_softmax(x)
    return {_("the term -s * sum({gradOutput} * s) over each row"): -s * (g * s).sum(axis=1, keepdims=True)}


def test_forward(submission, ref, rng):
    """output matches the row-wise softmax"""
    for shape in SHAPES:
        x = rng.standard_normal(shape) * 2
        got = submission.new("SoftMax").forward(x, strict=True)
        expect_close(got, ref.SoftMax().forward(x), _("SoftMax output for an input of shape {shape}",
                                                      shape=shape),
                     softmax_mistakes(x), context=context_for(x))


def test_grad_input(submission, ref, rng):
    """{gradInput} is s * ({gradOutput} - sum({gradOutput} * s, axis=1))"""
    for shape in SHAPES:
        x, g = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
        check_module_grad(submission.new("SoftMax"), ref.SoftMax(), x, g,
                          _("SoftMax {gradInput} for an input of shape {shape}", shape=shape), grad_mistakes(x, g),
                          terms=grad_terms(x, g))


def test_stable(submission, ref, rng):
    """forward and backward stay finite and correct for inputs as large as 1e4"""
    x = LARGE.copy()
    g = rng.standard_normal(x.shape)
    student, reference = submission.new("SoftMax"), ref.SoftMax()
    what = _("SoftMax for an input with entries from -1e4 to 1e4 (rows near +1e4, near -1e4, moderate, mixed)")
    predictions = [(key, softmax_grad(s, g)) for key, s in backward_softmaxes(x)]
    check_stable(student, reference, x, g, what, "softmax_overflow", softmax_mistakes(x),
                 predictions + grad_mistakes(x, g), shifted=x - x.max(axis=1, keepdims=True))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    x, g = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    check_inputs_unchanged(submission, submission.new("SoftMax"), x, g, "SoftMax")
