"""ClassContrastiveCriterion(M): over ordered pairs i != j, the mean of d_ij^2 over positive pairs
plus the mean of max(0, M - d_ij)^2 over negative pairs; an empty term is 0."""
import numpy as np

from autograder.checks import (
    OwnForward,
    close,
    expect,
    expect_close,
    expect_computes,
    expect_gradient,
    expect_unchanged,
)
from autograder.graders.support import RNG_SEED
from autograder.graders.support_act import expect_criterion_computes, right_on
from autograder.graders.support_adv import contrastive_inputs, contrastive_mistakes, expect_fast_enough
from autograder.i18n import _, code
from autograder.student import StudentFailure

# (N, d, M, labels)
BATCHES = [
    (8, 3, 1.5, [0, 1, 2, 0, 1, 2, 0, 0]),
    (6, 4, 2.0, [3, 3, 1, 1, 7, 7]),
    (7, 2, 1.0, [1, 0, 1, 1, 0, 2, 1]),
]
# batches where one of the two terms has no pairs
EDGE_BATCHES = [
    (6, 3, 1.5, [2, 2, 2, 2, 2, 2], "equal"),
    (5, 3, 1.5, [0, 1, 2, 3, 4], "different"),
]
# forward + backward at N = 500, d = 16: the reference (vectorised NumPy) needs a few hundredths
# of a second of CPU, a Python loop over the 250 000 pairs seconds. Allowed: 20 times the
# reference's CPU time (at least a quarter of a second), measured as CPU time, not wall time.
VECTORISED_N = 500
VECTORISED_FACTOR, VECTORISED_FLOOR = 20, 0.25


REGULAR_LABELS = [0, 1, 0, 1, 2, 2]  # both kinds of pairs: a batch on which the formula shows


def criterion(submission, ref, M):
    return submission.new("ClassContrastiveCriterion", M), ref.ClassContrastiveCriterion(M)


def batch(rng, n, d, M, labels):
    return contrastive_inputs(rng, n, d, M, labels), np.array(labels, dtype=np.int64)


def test_forward(submission, ref, rng):
    """the loss matches the mean over positive and over negative pairs"""
    for n, d, M, labels in BATCHES:
        student, reference = criterion(submission, ref, M)
        x, y = batch(rng, n, d, M, labels)
        expect_close(student.loss(x, y, strict=True), reference.forward(x, y),
                     _("ClassContrastiveCriterion({M}) loss for {n} embeddings of size {d}, labels {labels}",
                       M=M, n=n, d=d, labels=labels),
                     contrastive_mistakes(x, y, M, 0))


def expect_loss(got, expected, x, y, M, what):
    """The loss against the reference; a result that fits a pair-counting mistake is left to the
    forward test, which names it, so that it is not charged twice."""
    mistakes = contrastive_mistakes(x, y, M, 0)
    if any(close(got, prediction()) for _, prediction in mistakes):
        return
    expect_close(got, expected, what)


def test_empty_terms(submission, ref, rng):
    """a term with no pairs (one class only, or all labels different) counts as 0"""
    for n, d, M, labels, case in EDGE_BATCHES:
        student, reference = criterion(submission, ref, M)
        x, y = batch(rng, n, d, M, labels)
        what = _("ClassContrastiveCriterion({M}) loss when all labels equal (no negative pairs)", M=M) \
            if case == "equal" else \
            _("ClassContrastiveCriterion({M}) loss when all labels different (no positive pairs)", M=M)
        loss_right, grad_right = right_on(student, reference, *batch(rng, n, d, M, REGULAR_LABELS[:n]))
        got = student.loss(x, y)
        expect(np.isfinite(got), "contrastive_empty_term", what, _("It returned {got}.", got=got))
        if loss_right:  # else the formula's mistake is the forward test's to charge
            expect_loss(got, reference.forward(x, y), x, y, M, what)
        got = student.backward(x, y)
        expect(np.all(np.isfinite(got)), "contrastive_empty_term", f"{what}: {code('gradInput')}",
               _("It contains NaN or infinity."))
        if grad_right:
            expect_gradient(got, reference.backward(x, y), f"{what}: {code('gradInput')}",
                            own_loss(student, reference, x, y), contrastive_mistakes(x, y, M, 1))
        expect_criterion_computes(student, x, y, what)


def own_loss(student, reference, x, y):
    """The student's own loss as the second oracle of a gradient (see ``checks.expect_gradient``)."""
    try:
        matches = close(student.loss(x, y), reference.forward(x, y))
    except StudentFailure:
        matches = False
    return OwnForward(lambda z: student.loss(z, y), x, None, matches)


def test_grad_input(submission, ref, rng):
    """{gradInput} matches the reference and the finite differences"""
    for n, d, M, labels in BATCHES[:2]:
        student, reference = criterion(submission, ref, M)
        x, y = batch(rng, n, d, M, labels)
        own = own_loss(student, reference, x, y)
        expect_gradient(student.backward(x, y), reference.backward(x, y),
                        _("ClassContrastiveCriterion({M}) {gradInput} for {n} embeddings of size {d}",
                          M=M, n=n, d=d), own,
                        contrastive_mistakes(x, y, M, 1))


def test_zero_distance(submission, ref, rng):
    """two coincident embeddings with different labels give a finite loss and gradient"""
    M = 1.5
    student, reference = criterion(submission, ref, M)
    x, y = batch(rng, 5, 3, M, [0, 1, 0, 1, 2])
    x[1] = x[0]  # a negative pair at distance 0: its term contributes 0 to the gradient
    what = _("ClassContrastiveCriterion({M}) with two identical embeddings of different labels", M=M)
    loss_right, grad_right = right_on(student, reference, *batch(rng, 5, 3, M, [0, 1, 0, 1, 2]))
    loss = student.loss(x, y)
    expect(np.isfinite(loss), "nonfinite", _("{what}: loss", what=what), _("It returned {got}.", got=loss))
    if loss_right:  # else the formula's mistake is the forward test's to charge
        expect_loss(loss, reference.forward(x, y), x, y, M, _("{what}: loss", what=what))
    got = student.backward(x, y)
    expect(np.all(np.isfinite(got)), "contrastive_zero_distance", f"{what}: {code('gradInput')}")
    # central differences of the student's own loss give 0 for the coincident pair too (the
    # term is symmetric about distance 0), so they are a fair second oracle here
    if grad_right:
        expect_gradient(got, reference.backward(x, y), f"{what}: {code('gradInput')}",
                        own_loss(student, reference, x, y), contrastive_mistakes(x, y, M, 1))
    expect_criterion_computes(student, x, y, what)


def vectorised_case(rng):
    """The embeddings and labels :func:`test_vectorised` times, and what it calls them."""
    M, n = 1.0, VECTORISED_N
    x = rng.standard_normal((n, 16)) * 0.2
    y = rng.integers(0, 10, n)
    return M, x, y, _("ClassContrastiveCriterion({M}) on {n} embeddings of size 16", M=M, n=n)


def speed_baselines(ref):
    """What :func:`test_vectorised` measures of the reference, ``{what: run}``, on the inputs it
    makes: a prepared parent measures it once for every grading process it forks."""
    M, x, y, what = vectorised_case(np.random.default_rng(RNG_SEED))
    reference = ref.ClassContrastiveCriterion(M)
    return {what: lambda: (reference.forward(x, y), reference.backward(x, y))}


def test_vectorised(submission, ref, rng):
    """forward and backward on 500 embeddings take little CPU time (no Python loop over pairs)"""
    M, x, y, what = vectorised_case(rng)
    student, reference = criterion(submission, ref, M)

    def run(module, loss):
        return loss(x, y), module.backward(x, y)

    loss, grad = expect_fast_enough(submission, lambda: run(student, student.loss),
                                    lambda: run(reference, reference.forward), what, VECTORISED_FACTOR,
                                    VECTORISED_FLOOR, "not_vectorised")
    expect_computes(f"{what}: {code('gradInput')}", [grad], [x], rows=True)
    # the loss over all pairs does not depend on the order of the embeddings: the same batch in
    # reverse order gives the same loss and the gradient in reverse order, whatever the formula
    again = student.loss(x[::-1], y[::-1]), student.backward(x[::-1], y[::-1])
    expect(bool(np.isclose(again[0], loss, rtol=1e-6, atol=1e-10)) and again[1].shape == grad.shape
           and bool(np.allclose(again[1], grad[::-1], rtol=1e-6, atol=1e-10)), "degenerate", what,
           _("The same embeddings and labels in reverse order give another loss or gradient: the loss must be "
             "computed from the embeddings it is given."))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave the embeddings and the labels unchanged"""
    student, _ = criterion(submission, ref, 1.5)
    losses, grads, inputs = [], [], []
    for _ in range(2):
        x, y = batch(rng, 6, 3, 1.5, [0, 1, 0, 1, 2, 2])
        losses.append(student.loss(x, y))
        grads.append(student.backward(x, y))
        inputs.append(x)
    expect_computes("ClassContrastiveCriterion(1.5).forward", losses, inputs)
    expect_computes("ClassContrastiveCriterion(1.5).backward", grads, inputs)
    expect_unchanged(submission, "ClassContrastiveCriterion(1.5)")
