"""Shared by the activation and criterion graders (SoftMax, LogSoftMax, LeakyReLU, ELU, SoftPlus,
MSECriterion and the two NLL criterions).

Values are compared with ``expect_close``: a predicted mistake may contain NaN or infinity (an
overflowing or unclipped formula), and a result that is not finite where the expected one is
gets a named diagnosis (``nonfinite_key``, an overflow) instead of the generic one.
"""
import functools

import numpy as np

from autograder.checks import close, expect_close, expect_unchanged, fail
from autograder.student import StudentFailure


def quiet(function):
    """Predicting an overflowing mistake overflows too: no NumPy warnings while doing so."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)
    return wrapper


def matches_own_derivative(loss, x, got, directions=4, h=1e-6):
    """Does ``got`` match the derivative of the student's own scalar ``loss`` at ``x``? Checked along a
    few fixed random directions (two calls each) rather than element by element, to keep the
    number of calls into the sandbox small."""
    x = np.array(x, dtype=np.float64)
    scale = np.linalg.norm(got)
    for d in np.random.default_rng(11).standard_normal((directions,) + x.shape):
        numeric = (loss(x + h * d) - loss(x - h * d)) / (2 * h)
        analytic = float(np.sum(got * d))
        if not np.isfinite(numeric) or abs(numeric - analytic) > 1e-5 * (abs(analytic) + scale * np.linalg.norm(d)) + 1e-7:
            return False
    return True


def _consistent_with_own_forward(forward, x, g, got, elementwise, h=1e-6):
    try:
        with np.errstate(all="ignore"):
            if elementwise:
                numeric = g * (forward(x + h) - forward(x - h)) / (2 * h)
                return close(got, numeric, 1e-4, 1e-6)
            return matches_own_derivative(lambda z: float(np.sum(forward(z) * g)), x, got)
    except (StudentFailure, ValueError):
        return False  # the forward pass fails or has the wrong shape: that is the forward test's finding


def check_module_grad(student, reference, x, g, what, mistakes=(), seed=0, elementwise=False):
    """gradInput of a layer: the reference, or else the derivative of the student's own forward
    (so a forward mistake is charged to the forward test only). For an element-wise layer the
    derivative is taken for all elements at once (two calls). ``mistakes`` may be a callable
    taking the student's gradient and returning the list of mistakes."""
    reference.forward(x)
    expected = reference.backward(x, g)
    student.forward(x, seed=seed)
    got = student.backward(x, g, seed=seed)
    if close(got, expected):
        return
    if got.shape == expected.shape and np.all(np.isfinite(got)) and _consistent_with_own_forward(
            lambda z: student.forward(z, seed=seed), x, g, got, elementwise):
        return
    expect_close(got, expected, what, mistakes(got) if callable(mistakes) else mistakes)


# -- criterions ---------------------------------------------------------------------------------

def criterion_pair(submission, ref, canonical):
    return submission.new(canonical), getattr(ref, canonical)()


def check_loss(student, reference, x, y, what, mistakes=(), nonfinite_key="nonfinite"):
    expect_close(student.loss(x, y), reference.forward(x, y), what, mistakes, nonfinite_key=nonfinite_key)


def criterion_gradient(student, x, y):
    """The student's gradInput after a forward pass on the same arguments, as in a training loop;
    a forward that fails does not stop the gradient from being graded."""
    try:
        student.loss(x, y)
    except StudentFailure:
        pass
    return student.backward(x, y)


def check_criterion_grad(student, reference, x, y, what, mistakes=(), nonfinite_key="nonfinite", finite_differences=True):
    """gradInput of a criterion: the reference, or else finite differences of the student's own loss."""
    reference.forward(x, y)
    expected = reference.backward(x, y)
    got = criterion_gradient(student, x, y)
    if close(got, expected):
        return
    if finite_differences and got.shape == expected.shape and np.all(np.isfinite(got)):
        try:
            consistent = matches_own_derivative(lambda z: student.loss(z, y), x, got)
        except StudentFailure:
            consistent = False
        if consistent:
            return
    expect_close(got, expected, what, mistakes, nonfinite_key=nonfinite_key)


def check_batch_division(student, x, y, repeats, what):
    """The same rows repeated ``repeats`` times: the loss must not change and each row's gradient
    must shrink by ``repeats``, which holds exactly when the criterion divides by the batch size."""
    n = x.shape[0]
    big_x, big_y = np.tile(x, (repeats, 1)), np.tile(y, (repeats, 1))
    small_loss, big_loss = student.loss(x, y), student.loss(big_x, big_y)
    if not np.isfinite(small_loss):
        fail("nonfinite", f"{what}: loss of {n} rows", f"The loss was {small_loss}.")
    expect_close(big_loss, small_loss, f"{what}: loss of a batch of {n} rows repeated {repeats} times "
                 f"(it must equal the loss of the {n} rows)",
                 [("not_divided_by_batch", repeats * small_loss,
                   f"Your loss was {big_loss:.6g} for the {n * repeats} rows and {small_loss:.6g} for the {n} rows: "
                   f"it grows with the batch size.")])
    small_grad = criterion_gradient(student, x, y)
    big_grad = criterion_gradient(student, big_x, big_y)
    if big_grad.shape != big_x.shape:
        fail("wrong_shape", f"{what}: gradInput for {n * repeats} rows",
             f"Expected shape {big_x.shape}, got {big_grad.shape}.")
    if not np.all(np.isfinite(small_grad)):
        fail("nonfinite", f"{what}: gradInput for {n} rows")
    expect_close(big_grad[:n], small_grad / repeats,
                 f"{what}: gradInput of the first {n} rows of a batch of {n} rows repeated {repeats} times "
                 f"(it must be 1/{repeats} of the gradient for the {n} rows alone)",
                 [("not_divided_by_batch", small_grad)])


def check_criterion_unchanged(submission, student, x, y, what):
    student.loss(x, y)
    student.backward(x, y)
    expect_unchanged(submission, what)


def one_hot(rng, n, d):
    return np.eye(d)[rng.integers(0, d, n)]


def row_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- SoftMax and LogSoftMax: what the usual mistakes compute -------------------------------------

def _normalise(e, axis=1, square_no_keepdims=False):
    total = e.sum(axis=axis)
    return e / (total[None, :] if square_no_keepdims else np.expand_dims(total, axis))


def _log_normalise(s, axis=1, square_no_keepdims=False):
    total = np.log(np.exp(s).sum(axis=axis))
    return s - (total[None, :] if square_no_keepdims else np.expand_dims(total, axis))


def shifted_inputs(x):
    """The input shifted as each maximum mistake shifts it (values may overflow later, as the mistake does)."""
    square = x.shape[0] == x.shape[1]
    shifts = [
        ("softmax_wrong_axis", x - x.max(axis=0, keepdims=True)),
        ("softmax_wrong_axis", x - x.max(axis=1)[None, :] if square else None),
        ("softmax_wrong_axis", x - x.max()),
        ("softmax_overflow", x),
    ]
    return [(key, s) for key, s in shifts if s is not None]


def softmax_mistakes(x):
    """(key, predicted SoftMax output) for the known forward mistakes."""
    square = x.shape[0] == x.shape[1]
    with np.errstate(all="ignore"):
        mistakes = [(key, _normalise(np.exp(s))) for key, s in shifted_inputs(x)]
        row_shifted = np.exp(x - x.max(axis=1, keepdims=True))
        mistakes += [
            ("softmax_sum_wrong_axis", _normalise(row_shifted, axis=0)),
            ("softmax_sum_wrong_axis", _normalise(np.exp(x), axis=0)),
        ]
        if square:
            mistakes.append(("softmax_sum_wrong_axis", _normalise(row_shifted, square_no_keepdims=True)))
    return mistakes


def log_softmax_mistakes(x):
    """(key, predicted LogSoftMax output) for the known forward mistakes."""
    square = x.shape[0] == x.shape[1]
    with np.errstate(all="ignore"):
        mistakes = [(key, _log_normalise(s)) for key, s in shifted_inputs(x)]
        mistakes.append(("logsoftmax_log_of_softmax", np.log(row_softmax(x))))
        row_shifted = x - x.max(axis=1, keepdims=True)
        mistakes += [
            ("softmax_sum_wrong_axis", _log_normalise(row_shifted, axis=0)),
            ("softmax_sum_wrong_axis", _log_normalise(x, axis=0)),
        ]
        if square:
            mistakes.append(("softmax_sum_wrong_axis", _log_normalise(row_shifted, square_no_keepdims=True)))
    return mistakes


def softmax_grad(s, g):
    return s * (g - (g * s).sum(axis=1, keepdims=True))


def log_softmax_grad(s, g):
    return g - s * g.sum(axis=1, keepdims=True)


def backward_softmaxes(x):
    """(key, the softmax a backward pass would use) for the mistakes that recompute it badly."""
    with np.errstate(all="ignore"):
        return [(key, _normalise(np.exp(s))) for key, s in shifted_inputs(x)]


# Rows that tell the mistakes apart: one near +1e4, one near -1e4 (its exponentials underflow
# unless the row's own maximum is subtracted), one moderate, one spanning -1e4 .. 1e4.
LARGE = np.array([
    [1e4 + 0.5, 1e4 - 1.0, 1e4 + 2.0, 1e4],
    [-1e4 + 1.0, -1e4, -1e4 - 0.5, -1e4 + 3.0],
    [0.3, -1.2, 0.8, 2.0],
    [1e4, -1e4, 1e4 - 1.0, 0.0],
])

