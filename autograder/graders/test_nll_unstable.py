"""ClassNLLCriterionUnstable: probabilities and one-hot targets, -sum(y * log(clip(p, EPS, 1 - EPS))) / N,
gradient -y / clip(p) / N, EPS = 1e-15."""
import numpy as np

from autograder.checks import expect_close
from autograder.graders.support_act import (
    check_batch_division,
    check_criterion_grad,
    check_criterion_unchanged,
    check_loss,
    criterion_gradient,
    criterion_pair,
    expect_criterion_computes,
    one_hot,
    quiet,
    right_on,
    row_softmax,
)
from autograder.i18n import _, code

NAME = "ClassNLLCriterionUnstable"
EPS = 1e-15
SHAPES = [(4, 3), (6, 5), (1, 4)]
# Exact zeros and ones: a zero probability on the target (row 0), a probability of one (row 1),
# zeros off the target (rows 0 and 2), where 0 * log(0) is nan unless the input is clipped.
EDGE_P = np.array([
    [0.0, 0.5, 0.5, 0.0],
    [1.0, 0.0, 0.0, 0.0],
    [0.2, 0.3, 0.0, 0.5],
])
EDGE_Y = np.eye(4)[[0, 0, 3]]


def probabilities(rng, shape):
    """Rows of a softmax, every entry well inside (EPS, 1 - EPS), so finite differences are exact."""
    return row_softmax(rng.standard_normal(shape))


@quiet
def loss_mistakes(p, y):
    n, d = p.shape
    total = -np.sum(y * np.log(np.clip(p, EPS, 1 - EPS)))
    return [
        ("loss_sign", -total / n),
        ("not_divided_by_batch", total if n > 1 else None),
        ("not_divided_by_batch", total / d if d != n else None),
        ("divided_by_all_elements", total / (n * d)),
        ("nll_unstable_needs_log", -np.sum(y * p) / n),
        ("nll_no_clipping", -np.sum(y * np.log(p)) / n),
    ]


@quiet
def grad_mistakes(p, y):
    n, d = p.shape
    grad = -y / np.clip(p, EPS, 1 - EPS)
    return [
        ("gradient_sign", -grad / n),
        ("not_divided_by_batch", grad if n > 1 else None),
        ("not_divided_by_batch", grad / d if d != n else None),
        ("divided_by_all_elements", grad / (n * d)),
        ("nll_no_clipping", -y / p / n),
        ("nll_grad_not_divided_by_probability", -y / n),
    ]


def test_forward(submission, ref, rng):
    """the loss is -sum(target * log(input)) / N for probabilities"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, NAME)
        p, y = probabilities(rng, shape), one_hot(rng, *shape)
        check_loss(student, reference, p, y, _("{name} loss for probabilities of shape {shape} and one-hot targets",
                                               name=student.name, shape=shape), loss_mistakes(p, y))


def test_grad_input(submission, ref, rng):
    """{gradInput} is -target / input / N"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, NAME)
        p, y = probabilities(rng, shape), one_hot(rng, *shape)
        check_criterion_grad(student, reference, p, y, _("{name} {gradInput} for probabilities of shape {shape} and "
                                                         "one-hot targets", name=student.name, shape=shape),
                             grad_mistakes(p, y))


def test_clipping(submission, ref, rng):
    """probabilities of exactly 0 and 1 are clipped to [EPS, 1 - EPS]: loss and gradient stay finite"""
    student, reference = criterion_pair(submission, ref, NAME)
    p, y = EDGE_P.copy(), EDGE_Y.copy()
    what = (_("{name} with probabilities of exactly 0 and 1 (row 0 gives its target class probability 0, which "
              "counts as -log(EPS) = -log(1e-15) = {value:.4g})", name=student.name, value=-np.log(EPS)))
    loss_right, grad_right = right_on(student, reference, probabilities(rng, p.shape), y)
    loss, grad = student.loss(p, y), criterion_gradient(student, p, y)
    reference.forward(p, y)
    for name, got, expected, mistakes, right in (
            ("loss", loss, reference.forward(p, y), loss_mistakes(p, y), loss_right),
            (code("gradInput"), grad, reference.backward(p, y), grad_mistakes(p, y), grad_right)):
        if right or not np.all(np.isfinite(got)):
            expect_close(got, expected, f"{what}: {name}", mistakes, nonfinite_key="nll_no_clipping")
    expect_criterion_computes(student, p, y, what)


def test_batch_size(submission, ref, rng):
    """the loss and its gradient are divided by the batch size"""
    student, _ = criterion_pair(submission, ref, NAME)
    check_batch_division(student, probabilities(rng, (3, 4)), one_hot(rng, 3, 4), 4, student.name)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave the input and target arrays unchanged"""
    student, _ = criterion_pair(submission, ref, NAME)
    check_criterion_unchanged(submission, student, EDGE_P.copy(), EDGE_Y.copy(), student.name)
