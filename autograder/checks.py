"""Comparisons that speak to the student: what was compared, the shapes, the largest error and
where it is, and, when the numbers fit a known mistake, the name of that mistake."""
import numpy as np

from .diagnoses import DIAGNOSES
from .gradcheck import numerical_vjp
from .student import StudentFailure

RTOL, ATOL = 1e-6, 1e-8


def close(got, expected, rtol=RTOL, atol=ATOL):
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=False))


def fail(key, what, detail=""):
    message = f"{what}: {DIAGNOSES[key]}"
    if detail:
        message += f" {detail}"
    raise StudentFailure(message, key)


def where_it_differs(got, expected):
    """"largest difference 0.53 at index (2, 1): got 1.2, expected 0.67"."""
    diff = np.abs(got - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
    at = f" at index {tuple(int(i) for i in index)}" if index else ""
    return (f"Largest difference {float(diff[index]):.3g}{at}: got {float(got[index]):.6g}, "
            f"expected {float(expected[index]):.6g}.")


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


def expect_close(got, expected, what, mistakes=(), rtol=RTOL, atol=ATOL, nonfinite_key="nonfinite"):
    """``got`` equals ``expected``, or the failure names the first matching mistake, else a
    result that is not finite (under ``nonfinite_key``, e.g. a named overflow), else where
    the values differ most."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        check_mistakes(got, what, mistakes, rtol, atol)
        fail("wrong_shape", what, f"Expected shape {expected.shape}, got {got.shape}.")
    if close(got, expected, rtol, atol):
        return
    check_mistakes(got, what, mistakes, rtol, atol, expected)
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        fail(nonfinite_key, what, f"First at index {bad}.")
    fail("wrong_values", what, where_it_differs(got, expected))


def expect_gradient(got, expected, what, own_forward=None, x=None, grad_output=None, mistakes=(), rtol=RTOL, atol=ATOL):
    """A gradient is right when it matches the reference, or, where the student's forward differs
    from the reference (an accepted variant, or a mistake already charged to the forward test),
    the finite differences of the student's own forward."""
    got = np.asarray(got, dtype=np.float64)
    if close(got, expected, rtol, atol):
        return
    if own_forward is not None and got.shape == np.shape(expected):
        numeric = numerical_vjp(own_forward, np.array(x, dtype=np.float64), grad_output)
        if close(got, numeric, 1e-4, 1e-6):
            return
    expect_close(got, expected, what, mistakes, rtol, atol)


def expect(condition, key, what, detail=""):
    if not condition:
        fail(key, what, detail)


def expect_unchanged(submission, what):
    """No call so far changed an input array in place."""
    if submission.mutations:
        notes = "; ".join(dict.fromkeys(submission.mutations))
        submission.mutations.clear()
        fail("input_mutated", what, f"({notes})")
