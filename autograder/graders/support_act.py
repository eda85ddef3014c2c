"""Shared by the activation and criterion graders (SoftMax, LogSoftMax, LeakyReLU, ELU, SoftPlus,
MSECriterion and the two NLL criterions).

Values are compared with ``expect_close``: a predicted mistake may contain NaN or infinity (an
overflowing or unclipped formula), and a result that is not finite where the expected one is
gets a named diagnosis (``nonfinite_key``, an overflow) instead of the generic one.
"""
import functools

import numpy as np

from autograder.analyser import context_for
from autograder.checks import (
    OwnForward,
    check_mistakes,
    close,
    expect_close,
    expect_computes,
    expect_gradient,
    expect_unchanged,
    fail,
    where_nonfinite,
)
from autograder.graders.support import own_output
from autograder.i18n import _, code
from autograder.student import StudentFailure


def quiet(function):
    """Predicting an overflowing mistake overflows too: no NumPy warnings while doing so."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)
    return wrapper


def check_module_grad(student, reference, x, g, what, mistakes=(), seed=0, elementwise=False, terms=None,
                      constants=None):
    """gradInput of a layer against the reference (or the finite differences of the student's
    forward where that forward agrees with the reference's on ``x``). ``mistakes`` may be a
    callable taking the student's gradient and returning the list of mistakes."""
    reference_output = reference.forward(x)
    expected = reference.backward(x, g)
    output = own_output(student, x, seed)
    got = student.input_gradient(x, g, seed=seed)
    if close(got, expected):
        return
    own = OwnForward(lambda z: student.forward(z, seed=seed), x, g,
                     output is not None and close(output, reference_output))
    context = context_for(x, constants=constants)
    context.terms.update(terms or {})
    expect_gradient(got, expected, what, own, mistakes(got) if callable(mistakes) else mistakes, context=context)


def check_stable(student, reference, x, g, what, key, forward_mistakes=(), grad_mistakes=(), moderate=None,
                 shifted=None):
    """Stability for inputs as large as ``x``'s, judged once: the results must be finite (a
    result with NaN or infinity is named under ``key``, or by the first mistake that predicts
    it), and right. "Right" is judged so that a mistake in the formula itself is charged to
    the forward and gradient tests only: for a layer whose result does not change when each
    row is shifted (softmaxes), against the student's own result for ``shifted``, the same
    rows moved to moderate values; otherwise against the reference, where the student's code
    is right on the ``moderate`` input ``(x, g)``."""
    out, grad = student.forward(x), student.backward(x, g)
    for name, got, mistakes in ((_("output"), out, forward_mistakes), (code("gradInput"), grad, grad_mistakes)):
        if not np.all(np.isfinite(got)):
            check_mistakes(got, f"{what}: {name}", mistakes)
            fail(key, f"{what}: {name}", where_nonfinite(got, context_for(x)))
    smaller = x * 1e-3  # the same input, scaled down: a result that ignores its input gives the same
    expect_computes(_("{what}: output", what=what), [out, student.forward(smaller)], [x, smaller], rows=True)
    if shifted is not None:
        # right on the rows shifted to moderate values, the student's own result there is the
        # expected one for the large rows too (shifting a row does not change a softmax)
        if close(student.forward(shifted), reference.forward(shifted)):
            expect_close(out, student.forward(shifted), _("{what}: output (against your own output for the same rows "
                                                          "shifted to moderate values, which must not change it)",
                                                          what=what))
        if close(student.backward(shifted, g), reference.backward(shifted, g)):
            expect_close(grad, student.backward(shifted, g), _("{what}: {gradInput} (against your own for the same "
                                                               "rows shifted to moderate values)", what=what))
        return
    small_x, small_g = moderate
    if close(student.forward(small_x), reference.forward(small_x)):
        expect_close(out, reference.forward(x), _("{what}: output", what=what), forward_mistakes, nonfinite_key=key,
                     context=context_for(x))
    if close(student.backward(small_x, small_g), reference.backward(small_x, small_g)):
        expect_close(grad, reference.backward(x, g), f"{what}: {code('gradInput')}", grad_mistakes, nonfinite_key=key,
                     context=context_for(x))


# -- criterions ---------------------------------------------------------------------------------

def criterion_pair(submission, ref, canonical):
    return submission.new(canonical), getattr(ref, canonical)()


def check_loss(student, reference, x, y, what, mistakes=(), nonfinite_key="nonfinite"):
    expect_close(student.loss(x, y, strict=True), reference.forward(x, y), what, mistakes, nonfinite_key=nonfinite_key,
                 context=context_for(x, criterion=True))


def criterion_gradient(student, x, y):
    """The student's gradInput after a forward pass on the same arguments, as in a training loop;
    a forward that fails does not stop the gradient from being graded."""
    try:
        student.loss(x, y)
    except StudentFailure:
        pass
    return student.backward(x, y)


def check_criterion_grad(student, reference, x, y, what, mistakes=(), nonfinite_key="nonfinite",
                         finite_differences=True):
    """gradInput of a criterion against the reference (or the finite differences of the student's
    own loss, where that loss agrees with the reference's on ``x``)."""
    reference_loss = reference.forward(x, y)
    expected = reference.backward(x, y)
    try:
        loss = student.loss(x, y)
    except StudentFailure:
        loss = None  # a forward that fails does not stop the gradient from being graded
    got = student.backward(x, y, strict=True)
    if close(got, expected):
        return
    own = OwnForward(lambda z: student.loss(z, y), x, None, loss is not None and close(loss, reference_loss)) \
        if finite_differences else None
    expect_gradient(got, expected, what, own, mistakes, nonfinite_key=nonfinite_key,
                    context=context_for(x, criterion=True))


def right_on(student, reference, x, y):
    """``(loss right, gradient right)`` of a criterion on a regular input: an edge test judges the
    values at its edge only where the formula itself is right, so that a mistake in the formula
    is charged to the forward and gradient tests alone (the edge test then judges finiteness)."""
    try:
        loss_right = close(student.loss(x, y), reference.forward(x, y))
    except StudentFailure:
        loss_right = False
    try:
        reference.forward(x, y)
        grad_right = close(criterion_gradient(student, x, y), reference.backward(x, y))
    except StudentFailure:
        grad_right = False
    return loss_right, grad_right


def expect_criterion_computes(student, x, y, what):
    """The loss and gradient of ``x`` and of ``x`` halved (same target) must differ: an edge test
    judges finiteness on the student's own results, and code that computes nothing earns nothing."""
    half = x * 0.5
    expect_computes(_("{what}: loss", what=what), [student.loss(x, y), student.loss(half, y)], [x, half])
    expect_computes(f"{what}: {code('gradInput')}",
                    [criterion_gradient(student, x, y), criterion_gradient(student, half, y)], [x, half])


def check_batch_division(student, x, y, repeats, what):
    """The same rows repeated ``repeats`` times: the loss must not change and each row's gradient
    must shrink by ``repeats``, which holds exactly when the criterion divides by the batch size.
    Judged on the student's own loss and gradient, which must compute from their input."""
    n = x.shape[0]
    (x2, y2), = other_inputs(x, y)
    expect_computes(_("{what}: the loss of {n} rows", what=what, n=n), [student.loss(x, y), student.loss(x2, y)],
                    [x, x2])
    expect_computes(_("{what}: {gradInput} for {n} rows", what=what, n=n), [criterion_gradient(student, x, y),
                                                         criterion_gradient(student, x2, y2)], [x, x2])
    big_x, big_y = np.tile(x, (repeats, 1)), np.tile(y, (repeats, 1))
    small_loss, big_loss = student.loss(x, y), student.loss(big_x, big_y)
    if not np.isfinite(small_loss):
        fail("nonfinite", _("{what}: loss of {n} rows", what=what, n=n), _("The loss was {loss}.", loss=small_loss))
    expect_close(big_loss, small_loss, _("{what}: loss of a batch of {n} rows repeated {repeats} times (it must "
                                         "equal the loss of the {n} rows)", what=what, n=n, repeats=repeats),
                 [("not_divided_by_batch", repeats * small_loss,
                   _("Your loss was {big_loss:.6g} for the {rows} rows and {small_loss:.6g} for the {n} rows: it "
                     "grows with the batch size.", big_loss=big_loss, rows=n * repeats, small_loss=small_loss, n=n))])
    small_grad = criterion_gradient(student, x, y)
    big_grad = criterion_gradient(student, big_x, big_y)
    if big_grad.shape != big_x.shape:
        fail("wrong_shape", _("{what}: {gradInput} for {n} rows", what=what, n=n * repeats),
             _("Expected shape {expected}, got {got}.", expected=big_x.shape, got=big_grad.shape))
    if not np.all(np.isfinite(small_grad)):
        fail("nonfinite", _("{what}: {gradInput} for {n} rows", what=what, n=n))
    expect_close(big_grad[:n], small_grad / repeats,
                 _("{what}: {gradInput} of the first {n} rows of a batch of {n} rows repeated {repeats} times (it must "
                   "be 1/{repeats} of the gradient for the {n} rows alone)", what=what, n=n, repeats=repeats),
                 [("not_divided_by_batch", small_grad)])


def check_criterion_unchanged(submission, student, x, y, what):
    """forward and backward leave input and target unchanged, on two inputs they must compute from."""
    (x2, y2), = other_inputs(x, y)
    losses = [student.loss(x, y), student.loss(x2, y)]  # the loss depends on the input itself
    grads = [student.backward(x, y), student.backward(x2, y2)]  # the gradient at least on input and target
    expect_computes(f"{what}.forward", losses, [x, x2])
    expect_computes(f"{what}.backward", grads, [x, x2])
    expect_unchanged(submission, what)


def other_inputs(x, y):
    """Another input and target of the same kind (rows reversed and shrunk towards 0.1, which
    keeps probabilities probabilities; targets shifted by one column), for :func:`expect_computes`."""
    return [(x[::-1] * 0.5 + 0.1, np.roll(y, 1, axis=1))]


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

