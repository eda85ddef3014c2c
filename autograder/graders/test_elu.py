"""ELU(alpha=1.0): x where x > 0, alpha * (exp(x) - 1) elsewhere; finite for large |x|."""
import numpy as np

from autograder.analyser import context_for
from autograder.checks import expect_close
from autograder.graders.support import away_from_kinks, check_inputs_unchanged
from autograder.graders.support_act import check_module_grad, check_stable, quiet
from autograder.i18n import _, code

ALPHA = 0.5
# exp overflows above about 709.78; the large positive entries are where an unguarded exp fails
LARGE = np.array([
    [1000.0, -1000.0, 800.0, -800.0],
    [1e4, -1e4, 30.0, -30.0],
    [0.5, -0.5, 710.0, -710.0],
])


@quiet
def masked_sum_forward(x, alpha):
    """ELU written as mask * x + mask * alpha * (exp(x) - 1): 0 * inf = nan where x is large."""
    return (x > 0) * x + (x <= 0) * alpha * (np.exp(x) - 1)


@quiet
def masked_sum_grad(x, g, alpha):
    return g * ((x > 0) + (x <= 0) * alpha * np.exp(x))


@quiet
def forward_mistakes(x, alpha, constructed_with):
    mistakes = [("elu_overflow", masked_sum_forward(x, alpha)),
                ("elu_alpha_misplaced",
                 np.where(x > 0, x, alpha * np.exp(np.minimum(x, 0)) - 1) if alpha != 1 else None)]
    if constructed_with is not None:
        mistakes.append(("elu_alpha_ignored", np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
                         _("ELU({constructed_with}) computed exp(x) - 1 for the negative inputs, without the factor "
                           "alpha = {constructed_with}.", constructed_with=constructed_with)))
    return mistakes


@quiet
def grad_mistakes(x, g, alpha, constructed_with):
    mistakes = [("elu_overflow", masked_sum_grad(x, g, alpha))]
    if constructed_with is not None:
        mistakes.append(("elu_alpha_ignored", g * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
                         _("ELU({constructed_with}) {gradInput} leaves out the factor alpha = {constructed_with} for "
                           "the negative inputs.", constructed_with=constructed_with)))
    return mistakes


def test_forward(submission, ref, rng):
    """output with the default alpha 1.0"""
    for shape in [(5, 4), (2, 7)]:
        x = away_from_kinks(rng, shape)
        expect_close(submission.new("ELU").forward(x, strict=True), ref.ELU().forward(x),
                     _("ELU() output for an input of shape {shape}", shape=shape), forward_mistakes(x, 1.0, None),
                     context=context_for(x))


def test_grad_input(submission, ref, rng):
    """{gradInput} with the default alpha 1.0"""
    for shape in [(5, 4), (2, 7)]:
        x, g = away_from_kinks(rng, shape), rng.standard_normal(shape)
        check_module_grad(submission.new("ELU"), ref.ELU(), x, g, _("ELU() {gradInput} for an input of shape {shape}",
                                                                    shape=shape),
                          grad_mistakes(x, g, 1.0, None), elementwise=True)


def test_alpha(submission, ref, rng):
    """the alpha given to the constructor is used in forward and backward"""
    x, g = away_from_kinks(rng, (5, 4)), rng.standard_normal((5, 4))
    student, reference = submission.new("ELU", ALPHA), ref.ELU(ALPHA)
    expect_close(student.forward(x), reference.forward(x), _("ELU({alpha}) output", alpha=ALPHA),
                 forward_mistakes(x, ALPHA, ALPHA), context=context_for(x, constants={f"alpha = {ALPHA}": ALPHA}))
    check_module_grad(student, reference, x, g, f"ELU({ALPHA}) {code('gradInput')}", grad_mistakes(x, g, ALPHA, ALPHA),
                      elementwise=True)


def test_stable(submission, ref, rng):
    """forward and backward stay finite and correct for inputs as large as 1e4 in magnitude"""
    x, g = LARGE.copy(), rng.standard_normal(LARGE.shape)
    student, reference = submission.new("ELU"), ref.ELU()
    what = _("ELU() for inputs from -1e4 to 1e4 (including 710, 800, 1000, where exp overflows)")
    moderate = away_from_kinks(rng, (5, 4)), rng.standard_normal((5, 4))
    check_stable(student, reference, x, g, what, "elu_overflow", forward_mistakes(x, 1.0, None),
                 grad_mistakes(x, g, 1.0, None), moderate=moderate)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    x, g = away_from_kinks(rng, (5, 4)), rng.standard_normal((5, 4))
    check_inputs_unchanged(submission, submission.new("ELU"), x, g, "ELU()")
