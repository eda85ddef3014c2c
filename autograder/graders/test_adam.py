"""adam_optimizer(variables, gradients, config, state): t += 1; m, v moving averages of g and g^2;
var -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps), in place; m, v, t in ``state``."""
import numpy as np

from autograder.checks import close, expect, fail
from autograder.graders.support_adv import (
    adam_run,
    concat,
    expect_gradients_unchanged,
    expect_in_place,
    expect_state_kept,
    expect_update,
    expect_updated,
    expect_uses_gradients,
    optimizer_problem,
    run_optimizer,
    state_values,
)
from autograder.i18n import _

CONFIG = {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
NAME = "adam_optimizer"
# The variables are compared with atol 1e-6 (steps are about 1e-2): adding epsilon to
# sqrt(v_hat) (the bias-corrected v) instead of to sqrt(v) is the other common form of Adam;
# with gradients of at least 0.2 in magnitude it moves a variable by less than 1e-7.
TOL = dict(rtol=1e-6, atol=1e-6)


def variants(variables, gradient_steps):
    """What the usual mistakes give after each step."""
    return [
        ("adam_no_bias_correction", adam_run(variables, gradient_steps, CONFIG, correct_m=False, correct_v=False)[0]),
        ("adam_no_bias_correction", adam_run(variables, gradient_steps, CONFIG, correct_m=False)[0]),
        ("adam_no_bias_correction", adam_run(variables, gradient_steps, CONFIG, correct_v=False)[0]),
        ("optimizer_state_not_kept", adam_run(variables, gradient_steps, CONFIG, keep_moments=False)[0]),
        ("optimizer_state_not_kept", adam_run(variables, gradient_steps, CONFIG, keep_t=False)[0]),
        ("adam_betas_swapped", adam_run(variables, gradient_steps, CONFIG, betas_swapped=True)[0]),
        ("adam_step_count", adam_run(variables, gradient_steps, CONFIG, t_late=True)[0]),
        ("adam_epsilon_inside_root", adam_run(variables, gradient_steps, CONFIG, epsilon="inside")[0]),
    ]


def test_first_step(submission, rng):
    """one step matches Adam with bias correction, epsilon added to the root of v"""
    variables, gradient_steps = optimizer_problem(rng, 1)
    (step,) = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    what = _("{name}: the variables after one step", name=NAME)
    expect_updated(step, what)
    mistakes = [(key, concat(history[0])) for key, history in variants(variables, gradient_steps)
                if key != "optimizer_state_not_kept"]  # the state shows from the second step on
    expect_update(step, concat(adam_run(variables, gradient_steps, CONFIG)[0][0]), what, mistakes, CONFIG, **TOL)
    # Gradients of about 1e-5, whose v is far below epsilon: where epsilon goes shows. Either
    # standard form (epsilon added to sqrt(v) or to sqrt(v_hat)) is right; inside the root is not.
    tiny = [[g * 1e-5 for g in layer] for layer in gradient_steps[0]]
    (step,) = run_optimizer(submission, NAME, variables, [tiny], CONFIG)
    what = _("{name}: the variables after one step with gradients of about 1e-5", name=NAME)
    forms = [concat(adam_run(variables, [tiny], CONFIG, epsilon=form)[0][0]) for form in ("sqrt_v", "sqrt_v_hat")]
    if not any(close(concat(step.after), form, **TOL) for form in forms):
        expect_update(step, forms[0], what,
                      [("adam_epsilon_inside_root",
                        concat(adam_run(variables, [tiny], CONFIG, epsilon="inside")[0][0]))],
                      CONFIG, **TOL)


def test_several_steps(submission, rng):
    """several steps match Adam: moving averages m and v, step count t, bias correction"""
    variables, gradient_steps = optimizer_problem(rng, 4)
    steps = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expected, _state = adam_run(variables, gradient_steps, CONFIG)
    wrong = variants(variables, gradient_steps)
    for number, step in enumerate(steps, start=1):
        what = _("{name}: the variables after step {number} of {count}", name=NAME, number=number, count=len(steps))
        expect_updated(step, what)
        right = concat(expected[number - 1])
        if not np.allclose(concat(step.after), right, **TOL):
            expect(bool(step.state), "optimizer_state_not_kept", what,
                   _("The `state` dictionary was still empty after the call."))
        expect_update(step, right, what, [(key, concat(history[number - 1])) for key, history in wrong], CONFIG,
                      **TOL)


def test_state(submission, rng):
    """the state dictionary holds t and the moving averages m and v, one set per optimizer"""
    variables, gradient_steps = optimizer_problem(rng, 2)
    steps = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    _history, (m, v, t) = adam_run(variables, gradient_steps, CONFIG)
    state = steps[-1].state
    what = _("{name}: the `state` dictionary after 2 steps", name=NAME)
    expect(bool(state), "optimizer_state_not_kept", what, _("It is empty."))
    missing = [key for key in ("t", "m", "v") if key not in state]
    expect(not missing, "optimizer_state_not_kept", what,
           _("It has no {missing} (it has {present}).", missing=", ".join(repr(k) for k in missing),
             present=", ".join(repr(k) for k in state) or _("nothing")))
    got_t = state["t"]
    if isinstance(got_t, np.ndarray) and got_t.size == 1:
        got_t = got_t.item()
    is_number = isinstance(got_t, (int, float)) and not isinstance(got_t, bool)
    expect(is_number and got_t == t, "optimizer_state_not_kept", f"{what}: state['t']",
           _("Expected {t} (one per call), got {got_t!r}.", t=t, got_t=got_t))
    for key, expected in (("m", m), ("v", v)):
        got = state_values(state[key])
        expect(got is not None and len(got) == len(expected), "optimizer_state_not_kept", f"{what}: state[{key!r}]",
               _("Expected a dictionary with one array per variable ({count}), keyed by the variable's index.",
                 count=len(expected)))
        for index, (got_array, expected_array) in enumerate(zip(got, expected.values())):
            if got_array.shape != expected_array.shape or not np.allclose(got_array, expected_array):
                fail("optimizer_state_not_kept", _("{what}: state[{key!r}], variable {index}",
                                                   what=what, key=key, index=index),
                     _("It does not hold the moving average m of the gradients after 2 steps (it must be updated "
                       "in the dictionary, not in a local copy).") if key == "m" else
                     _("It does not hold the moving average v of their squares after 2 steps (it must be updated "
                       "in the dictionary, not in a local copy)."))
    expect_state_kept(submission, NAME, CONFIG, rng)


def test_in_place(submission, rng):
    """the variables are updated in place, so the model sees the change"""
    variables, gradient_steps = optimizer_problem(rng, 1)
    (step,) = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expect_in_place(step, _("{name}: the variable arrays after one step", name=NAME))
    expect_uses_gradients(submission, NAME, CONFIG, rng, NAME)


def test_input_unchanged(submission, rng):
    """the gradients are left unchanged"""
    variables, gradient_steps = optimizer_problem(rng, 2)
    steps = run_optimizer(submission, NAME, variables, gradient_steps, CONFIG)
    expect_uses_gradients(submission, NAME, CONFIG, rng, NAME)  # an optimizer that computes nothing earns nothing
    for step, gradients in zip(steps, gradient_steps):
        expect_gradients_unchanged(step, gradients, NAME)
