"""LeakyReLU(slope=0.03): x where x > 0, slope * x elsewhere."""
import numpy as np

from autograder.analyser import context_for
from autograder.checks import expect_close
from autograder.graders.support import away_from_kinks, check_inputs_unchanged
from autograder.graders.support_act import check_module_grad, quiet
from autograder.i18n import _, code

DEFAULT_SLOPE = 0.03
CUSTOM_SLOPE = 0.2


def leaky(x, slope):
    return np.where(x > 0, x, slope * x)


def fitted_slope(got, x, base=None):
    """The factor the student's result applies to ``base`` (the input, or gradOutput) where the
    input is negative, if it is one number."""
    base = x if base is None else base
    negative = x < 0
    if got.shape != x.shape or not negative.any():
        return None
    with np.errstate(all="ignore"):
        ratios = got[negative] / base[negative]
    if not np.all(np.isfinite(ratios)) or np.ptp(ratios) > 1e-9 * max(1.0, np.abs(ratios).max()):
        return None
    return float(ratios[0])


@quiet
def forward_mistakes(got, x, slope, constructed_with):
    mistakes = [("leakyrelu_positive_side", np.where(x > 0, slope * x, x))]
    if constructed_with is not None:
        mistakes.append(("leakyrelu_slope_ignored", leaky(x, DEFAULT_SLOPE),
                         _("LeakyReLU({constructed_with}) multiplied the negative inputs by {default}, the "
                           "default, instead of {constructed_with}.",
                           constructed_with=constructed_with, default=DEFAULT_SLOPE)))
    found = fitted_slope(got, x)
    if found is not None and not np.isclose(found, slope):
        key = "leakyrelu_slope_ignored" if constructed_with is not None else "leakyrelu_default_slope"
        mistakes.append((key, leaky(x, found), _("Your layer multiplies the negative inputs by {found:.6g}; expected "
                                                 "{slope}.", found=found + 0.0, slope=slope)))
    return mistakes


@quiet
def grad_mistakes(x, g, slope, constructed_with):
    def mistakes(got):
        found = fitted_slope(got, x, g)
        result = [("leakyrelu_positive_side", np.where(x > 0, slope * g, g))]
        if constructed_with is not None:
            result.append(("leakyrelu_slope_ignored", np.where(x > 0, g, DEFAULT_SLOPE * g)))
        if found is not None:
            key = "leakyrelu_slope_ignored" if constructed_with is not None else "leakyrelu_default_slope"
            result.append((key, np.where(x > 0, g, found * g),
                           _("Your {gradInput} multiplies {gradOutput} by {found:.6g} where the input is negative; "
                             "expected {slope}.", found=found + 0.0, slope=slope)))
        return result
    return mistakes


def test_forward(submission, ref, rng):
    """output with the default slope 0.03"""
    for shape in [(5, 4), (2, 7)]:
        x = away_from_kinks(rng, shape)
        got = submission.new("LeakyReLU").forward(x, strict=True)
        expect_close(got, ref.LeakyReLU().forward(x), _("LeakyReLU() output for an input of shape {shape}",
                                                        shape=shape),
                     forward_mistakes(got, x, DEFAULT_SLOPE, None), context=context_for(x))


def test_grad_input(submission, ref, rng):
    """{gradInput} with the default slope 0.03"""
    for shape in [(5, 4), (2, 7)]:
        x, g = away_from_kinks(rng, shape), rng.standard_normal(shape)
        check_module_grad(submission.new("LeakyReLU"), ref.LeakyReLU(), x, g,
                          _("LeakyReLU() {gradInput} for an input of shape {shape}",
                            shape=shape),
                          grad_mistakes(x, g, DEFAULT_SLOPE, None), elementwise=True)


def test_slope(submission, ref, rng):
    """the slope given to the constructor is used in forward and backward"""
    x, g = away_from_kinks(rng, (5, 4)), rng.standard_normal((5, 4))
    student, reference = submission.new("LeakyReLU", CUSTOM_SLOPE), ref.LeakyReLU(CUSTOM_SLOPE)
    got = student.forward(x)
    expect_close(got, reference.forward(x), _("LeakyReLU({slope}) output", slope=CUSTOM_SLOPE),
                 forward_mistakes(got, x, CUSTOM_SLOPE, CUSTOM_SLOPE), context=context_for(x))
    check_module_grad(student, reference, x, g, f"LeakyReLU({CUSTOM_SLOPE}) {code('gradInput')}",
                      grad_mistakes(x, g, CUSTOM_SLOPE, CUSTOM_SLOPE), elementwise=True)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    x, g = away_from_kinks(rng, (5, 4)), rng.standard_normal((5, 4))
    check_inputs_unchanged(submission, submission.new("LeakyReLU"), x, g, "LeakyReLU()")
