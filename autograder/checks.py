"""Comparisons that speak to the student: what was compared, the shapes, the largest error and
where it is, and, when the numbers fit a known mistake, the name of that mistake."""
from dataclasses import dataclass

import numpy as np

from . import analyser
from .diagnoses import DIAGNOSES
from .gradcheck import directional_derivative, numerical_gradient
from .i18n import _, fill, translate
from .student import StudentFailure

RTOL, ATOL = 1e-6, 1e-8


def close(got, expected, rtol=RTOL, atol=ATOL):
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=False))


def fail(key, what, detail=""):
    """Fail the test with the diagnosis ``key``: ``what`` was compared, the diagnosis's words (in
    the feedback's language, naming the code in the student's dialect), then ``detail``."""
    message = f"{what}: {fill(translate(DIAGNOSES[key]))}"
    if detail:
        message += f" {detail}"
    raise StudentFailure(message, key)


def where_it_differs(got, expected):
    """"largest difference 0.53 at index (2, 1): got 1.2, expected 0.67"."""
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    values = dict(difference=float(diff[index]), got=float(got[index]), expected=float(expected[index]))
    if index:
        return _("Largest difference {difference:.3g} at index {index}: got {got:.6g}, expected {expected:.6g}.",
                 index=tuple(int(i) for i in index), **values)
    return _("Largest difference {difference:.3g}: got {got:.6g}, expected {expected:.6g}.", **values)


def check_mistakes(got, what, mistakes, rtol=RTOL, atol=ATOL, expected=None):
    """Fail with the first mistake whose predicted result ``got`` matches.

    ``mistakes`` holds ``(key, prediction)`` or ``(key, prediction, detail)``. A prediction may be
    a callable, evaluated only when needed, and may be or return None where the mistake cannot
    apply. Without a detail of its own, the message says where ``got`` differs from ``expected``.
    """
    for key, prediction, *detail in mistakes:
        with np.errstate(all="ignore"):  # predicting an overflowing formula overflows too
            predicted = prediction() if callable(prediction) else prediction
        # NaN matches NaN here: an overflow mistake predicts NaN where it breaks
        if predicted is not None and np.shape(got) == np.shape(predicted) and bool(
                np.allclose(got, predicted, rtol=rtol, atol=atol, equal_nan=True)):
            if detail and detail[0]:
                fail(key, what, detail[0])
            if expected is not None and np.shape(expected) == np.shape(got):
                fail(key, what, where_it_differs(got, expected))
            fail(key, what)


def expect_close(got, expected, what, mistakes=(), rtol=RTOL, atol=ATOL, nonfinite_key="nonfinite", context=None):
    """``got`` equals ``expected``, or the failure names the first matching mistake, else a
    result that is not finite (under ``nonfinite_key``, e.g. a named overflow), else the
    relationship the analyser finds between the two (``analyser.relation``, helped by
    ``context``), else where the values differ."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        check_mistakes(got, what, mistakes, rtol, atol)
        explain_relation(got, expected, what, context)
        fail("wrong_shape", what, _("Expected shape {expected}, got {got}.", expected=expected.shape, got=got.shape))
    if close(got, expected, rtol, atol):
        return
    check_mistakes(got, what, mistakes, rtol, atol, expected)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        fail(nonfinite_key, what, where_nonfinite(got, context))
    explain_relation(got, expected, what, context)
    fail("wrong_values", what, f"{analyser.localise(got, expected)} {where_it_differs(got, expected)}")


def explain_relation(got, expected, what, context):
    """Fail with the analyser's finding, when it has one: the relationship leads, the numbers follow."""
    finding = analyser.relation(got, expected, context)
    if finding is None:
        return
    numbers = where_it_differs(got, expected) if got.shape == expected.shape else ""
    raise StudentFailure(f"{what}: {finding.text} {numbers}".rstrip(), finding.key)


def where_nonfinite(got, context=None):
    """Where a result holds NaN or infinity, and how large the input is there."""
    bad = ~np.isfinite(got)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    text = _("{bad} of {size} elements, the first at index {first}.", bad=int(bad.sum()), size=bad.size, first=first)
    x = getattr(context, "x", None)
    if x is not None and np.shape(x) == got.shape:
        magnitude = np.abs(np.asarray(x, dtype=np.float64))
        text += " " + _("The input there is up to {there:.4g} in magnitude, where the finite results have inputs up "
                        "to {elsewhere:.4g}: something overflows for large inputs.", there=float(magnitude[bad].max()),
                        elsewhere=float(magnitude[~bad].max()) if (~bad).any() else 0.0)
    return text


@dataclass
class OwnForward:
    """The student's own forward pass at ``x``, to localise a wrong gradient: ``function`` maps an
    input to the output (or, for a criterion, to the loss), ``grad_output`` weighs the outputs,
    and ``matches`` says whether its output at ``x`` agreed with the reference's."""
    function: object
    x: np.ndarray
    grad_output: np.ndarray | None
    matches: bool


PER_ELEMENT_LIMIT = 64  # inputs up to this size are differentiated element by element, larger along directions
DIRECTIONS = 6


def follows_own_forward(got, own):
    """Is ``got`` the derivative of the student's own forward pass at ``own.x``? Central finite
    differences (``gradcheck.py``), element by element for small inputs and along a few fixed
    random directions for larger ones, to keep the calls into the sandbox few; None when the
    forward fails there."""
    x = np.array(own.x, dtype=np.float64)
    weigh = (lambda z: float(np.sum(own.function(z) * own.grad_output))) if own.grad_output is not None else \
        (lambda z: float(own.function(z)))
    try:
        with np.errstate(all="ignore"):
            if x.size <= PER_ELEMENT_LIMIT:
                return close(got, numerical_gradient(weigh, x), 1e-4, 1e-6)
            scale = float(np.linalg.norm(got))
            for direction in np.random.default_rng(11).standard_normal((DIRECTIONS,) + x.shape):
                numeric = directional_derivative(weigh, x, direction)
                analytic = float(np.sum(got * direction))
                if not np.isfinite(numeric) or abs(numeric - analytic) > 1e-4 * (
                        abs(analytic) + scale * np.linalg.norm(direction)) + 1e-6:
                    return False
            return True
    except (StudentFailure, ValueError):
        return None


def expect_gradient(got, expected, what, own=None, mistakes=(), rtol=RTOL, atol=ATOL, nonfinite_key="nonfinite",
                    context=None):
    """A gradient earns its points only by agreeing with the reference's, or with the finite
    differences of the student's own forward pass where that forward agreed with the reference
    on the same input (:class:`OwnForward`, ``matches``). A gradient that is merely consistent
    with a forward that differs from the reference earns nothing: the failure then says that
    the gradient follows the student's own (wrong) forward pass, so that the mistake is found
    where it is."""
    got = np.asarray(got, dtype=np.float64)
    if close(got, expected, rtol, atol):
        return
    follows = follows_own_forward(got, own) if own is not None and got.shape == np.shape(expected) and \
        np.all(np.isfinite(got)) else None
    if follows and own.matches:
        return
    check_mistakes(got, what, mistakes, rtol, atol, np.asarray(expected, dtype=np.float64))
    if follows and not own.matches:
        fail("gradient_of_wrong_forward", what, where_it_differs(got, np.asarray(expected, dtype=np.float64)))
    expect_close(got, expected, what, (), rtol, atol, nonfinite_key, context)


def expect_computes(what, results, inputs, identity_ok=False, rows=False):
    """``results`` of one method for the different ``inputs`` must show that it computes them
    from its input: not only zeros, not only NaN or infinity, not one result whatever the input,
    and not the input handed back (unless ``identity_ok``: the right result may be the input).
    With ``rows``, the rows of one batch count as different inputs too. (Some NaN or infinity
    among finite values is a wrong result, for the tests of values to charge, not no result.)

    The tests of a property (inputs unchanged, gradients that accumulate or are zeroed, the
    batch size, speed) judge it on the student's own results, so that a mistake elsewhere is
    not charged again; this makes sure that code which computes nothing earns none of them."""
    arrays = [np.asarray(r, dtype=np.float64) for r in results]
    if not any(np.any(np.isfinite(a)) for a in arrays):
        fail("degenerate", what, _("It returned only NaN or infinity."))
    if not any(np.any(a) for a in arrays):
        fail("degenerate", what, _("It returned only zeros."))
    if len(arrays) > 1 and all(a.shape == arrays[0].shape and np.array_equal(a, arrays[0], equal_nan=True)
                               for a in arrays[1:]):
        fail("degenerate", what, _("It returned the same result for different inputs."))
    if rows:
        for a, x in zip(arrays, inputs):
            x = np.asarray(x)
            if a.ndim and len(a) > 1 and all(np.array_equal(a[0], r) for r in a[1:]) and not all(
                    np.array_equal(x[0], r) for r in x[1:]):
                fail("degenerate", what,
                     _("It returned the same result for every sample of a batch of different samples."))
    if not identity_ok and all(a.shape == np.shape(x) and np.array_equal(a, np.asarray(x, dtype=np.float64))
                               for a, x in zip(arrays, inputs)):
        fail("degenerate", what, _("It returned its input unchanged."))


def expect(condition, key, what, detail=""):
    if not condition:
        fail(key, what, detail)


def expect_unchanged(submission, what):
    """No call so far changed an input array in place."""
    if submission.mutations:
        notes = "; ".join(dict.fromkeys(submission.mutations))
        submission.mutations.clear()
        fail("input_mutated", what, f"({notes})")
