"""MSECriterion: sum((x - y)^2) / N, gradient 2 (x - y) / N."""
import numpy as np

from autograder.graders.support_act import (
    check_batch_division,
    check_criterion_grad,
    check_criterion_unchanged,
    check_loss,
    criterion_pair,
    quiet,
)
from autograder.i18n import _

SHAPES = [(4, 3), (6, 2), (1, 5)]  # N != D, so dividing by the wrong dimension shows


@quiet
def loss_mistakes(x, y):
    n, d = x.shape
    total = np.sum((x - y) ** 2)
    return [
        ("not_divided_by_batch", total if n > 1 else None),
        ("not_divided_by_batch", total / d if d != n else None),
        ("divided_by_all_elements", total / (n * d) if d > 1 else None),
    ]


@quiet
def grad_mistakes(x, y):
    n, d = x.shape
    diff = x - y
    return [
        ("gradient_sign", -2 * diff / n),
        ("not_divided_by_batch", 2 * diff if n > 1 else None),
        ("not_divided_by_batch", 2 * diff / d if d != n else None),
        ("divided_by_all_elements", 2 * diff / (n * d) if d > 1 else None),
        ("mse_grad_factor", diff / n),
        ("mse_grad_squared", diff ** 2 / n),
    ]


def test_forward(submission, ref, rng):
    """the loss is sum((input - target)^2) / N"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, "MSECriterion")
        x, y = rng.standard_normal(shape), rng.standard_normal(shape)
        check_loss(student, reference, x, y, _("MSECriterion loss for input and target of shape {shape}",
                                               shape=shape),
                   loss_mistakes(x, y))


def test_grad_input(submission, ref, rng):
    """{gradInput} is 2 (input - target) / N"""
    for shape in SHAPES:
        student, reference = criterion_pair(submission, ref, "MSECriterion")
        x, y = rng.standard_normal(shape), rng.standard_normal(shape)
        check_criterion_grad(student, reference, x, y, _("MSECriterion {gradInput} for input and target of shape "
                                                         "{shape}", shape=shape),
                             grad_mistakes(x, y))


def test_batch_size(submission, ref, rng):
    """the loss and its gradient are divided by the batch size"""
    student, _ = criterion_pair(submission, ref, "MSECriterion")
    check_batch_division(student, rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), 4, "MSECriterion")


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave the input and target arrays unchanged"""
    student, _ = criterion_pair(submission, ref, "MSECriterion")
    check_criterion_unchanged(submission, student, rng.standard_normal((4, 3)), rng.standard_normal((4, 3)),
                              "MSECriterion")
