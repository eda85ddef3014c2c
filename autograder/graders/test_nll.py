"""ClassNLLCriterion: log-probabilities and one-hot targets, -sum(y * x) / N, gradient -y / N."""
import numpy as np

from autograder.graders.support_act import (
    check_batch_division,
    check_criterion_grad,
    check_criterion_unchanged,
    check_loss,
    criterion_pair,
    one_hot,
    quiet,
)
from autograder.i18n import _

NAME = "ClassNLLCriterion"
SHAPES = [(4, 3), (6, 5), (1, 4)]


def log_probabilities(rng, shape):
    z = rng.standard_normal(shape) * 2
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@quiet
def loss_mistakes(x, y):
    n, d = x.shape
    total = -np.sum(y * x)
    return [
        ("loss_sign", -total / n),
        ("not_divided_by_batch", total if n > 1 else None),
        ("not_divided_by_batch", total / d if d != n else None),
        ("divided_by_all_elements", total / (n * d)),
        ("nll_takes_log_probabilities", -np.sum(y * np.log(x)) / n),
    ]


@quiet
def grad_mistakes(x, y):
    n, d = x.shape
    return [
        ("gradient_sign", y / n),
        ("not_divided_by_batch", -y if n > 1 else None),
        ("not_divided_by_batch", -y / d if d != n else None),
        ("divided_by_all_elements", -y / (n * d)),
        ("nll_takes_log_probabilities", -y / x / n),
        ("nll_grad_of_probabilities", -y * np.exp(x) / n),
    ]


def test_forward(submission, ref, rng):
    """the loss is -sum(target * input) / N for log-probabilities"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, NAME)
        x, y = log_probabilities(rng, shape), one_hot(rng, *shape)
        check_loss(student, reference, x, y, _("{name} loss for log-probabilities of shape {shape} and one-hot "
                                               "targets", name=student.name, shape=shape), loss_mistakes(x, y))


def test_grad_input(submission, ref, rng):
    """{gradInput} is -target / N"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, NAME)
        x, y = log_probabilities(rng, shape), one_hot(rng, *shape)
        check_criterion_grad(student, reference, x, y, _("{name} {gradInput} for log-probabilities of shape {shape} "
                                                         "and one-hot targets", name=student.name, shape=shape),
                             grad_mistakes(x, y))


def test_batch_size(submission, ref, rng):
    """the loss and its gradient are divided by the batch size"""
    student, _ = criterion_pair(submission, ref, NAME)
    check_batch_division(student, log_probabilities(rng, (3, 4)), one_hot(rng, 3, 4), 4, student.name)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave the input and target arrays unchanged"""
    student, _ = criterion_pair(submission, ref, NAME)
    check_criterion_unchanged(submission, student, log_probabilities(rng, (4, 3)), one_hot(rng, 4, 3), student.name)
