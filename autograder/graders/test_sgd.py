"""sgd_momentum(variables, gradients, config, state): v = momentum * v + learning_rate * grad;
var -= v, in place; v kept in ``state`` between calls."""
import numpy as np

from autograder.checks import expect
from autograder.graders.support_adv import (
    concat,
    expect_gradients_unchanged,
    expect_in_place,
    expect_state_kept,
    expect_update,
    expect_updated,
    expect_uses_gradients,
    optimizer_problem,
    run_optimizer,
    sgd_run,
)
from autograder.i18n import _

CONFIG = {"learning_rate": 0.1, "momentum": 0.9}
NAME = "sgd_momentum"


def title(submission):
    return submission.name_of(NAME)


def test_first_step(submission, rng):
    """one step updates every variable by learning_rate * gradient"""
    variables, gradient_steps = optimizer_problem(rng, 1)
    (step,) = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    what = _("{name}: the variables after one step", name=title(submission))
    expect_updated(step, what)
    expect_update(step, concat(sgd_run(variables, gradient_steps, CONFIG)[0]), what, config=CONFIG)


def test_momentum(submission, rng):
    """over several steps the update accumulates momentum * previous update + learning_rate * gradient"""
    variables, gradient_steps = optimizer_problem(rng, 3)
    steps = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expected = sgd_run(variables, gradient_steps, CONFIG)
    no_momentum = sgd_run(variables, gradient_steps, CONFIG, momentum=False)
    for number, (step, right, wrong) in enumerate(zip(steps, expected, no_momentum), start=1):
        what = _("{name}: the variables after step {number} of 3", name=title(submission), number=number)
        expect_updated(step, what)
        if not np.allclose(concat(step.after), concat(right)):
            expect(bool(step.state), "optimizer_state_not_kept", what,
                   _("The `state` dictionary was still empty after the call."))
        expect_update(step, concat(right), what, [("sgd_no_momentum", concat(wrong))], CONFIG)


def test_state_kept(submission, rng):
    """the momentum is kept in the `state` dictionary passed in, one per optimizer"""
    expect_state_kept(submission, NAME, CONFIG, rng)


def test_in_place(submission, rng):
    """the variables are updated in place, so the model sees the change"""
    variables, gradient_steps = optimizer_problem(rng, 1)
    (step,) = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expect_in_place(step, _("{name}: the variable arrays after one step", name=title(submission)))
    expect_uses_gradients(submission, NAME, CONFIG, rng, title(submission))


def test_input_unchanged(submission, rng):
    """the gradients are left unchanged"""
    variables, gradient_steps = optimizer_problem(rng, 2)
    steps = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expect_uses_gradients(submission, NAME, CONFIG, rng, title(submission))  # computing nothing earns nothing
    for step, gradients in zip(steps, gradient_steps):
        expect_gradients_unchanged(step, gradients, f"{title(submission)}")
