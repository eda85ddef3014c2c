"""Linear: output = input @ W.T + b, W of shape (n_out, n_in) (the canonical layout: a snake W, of shape
(n_in, n_out), is transposed on its way in and out, and the messages show it as the student writes it)."""
import functools

import numpy as np

from autograder.checks import expect
from autograder.graders.support import (
    check_accumulation,
    check_forward,
    check_grad_input,
    check_inputs_unchanged,
    check_param_grads,
    check_parameters_by_reference,
    check_zeroing,
    pair,
)
from autograder.i18n import _, code

# (batch, n_in, n_out); the square layer comes first, where a transposed W still runs
SHAPES = [(4, 3, 3), (5, 4, 2), (1, 6, 5)]
NAMES = ["gradW", "gradb"]


def test_forward(submission, ref, rng):
    """output matches {linear_forward}"""
    for batch, n_in, n_out in SHAPES:
        student, reference = pair(submission, ref, "Linear", n_in, n_out)
        x = rng.standard_normal((batch, n_in))
        W, b = reference.W, reference.b
        check_forward(student, reference, x, _("Linear({n_in}, {n_out}) output for an input of shape {shape}",
                                               n_in=n_in, n_out=n_out, shape=x.shape),
                      mistakes=[("linear_weight_transposed", lambda: x @ W + b if n_in == n_out else None)])


def test_grad_input(submission, ref, rng):
    """{gradInput} is {linear_grad_input}"""
    for batch, n_in, n_out in SHAPES:
        student, reference = pair(submission, ref, "Linear", n_in, n_out)
        x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
        W = reference.W
        check_grad_input(student, reference, x, g, f"Linear({n_in}, {n_out}) {code('gradInput')}",
                         mistakes=[("linear_weight_transposed", lambda: g @ W.T if n_in == n_out else None)])


def test_grad_params(submission, ref, rng):
    """{gradW} and {gradb} after one backward pass"""
    for batch, n_in, n_out in SHAPES:
        student, reference = pair(submission, ref, "Linear", n_in, n_out)
        x, g = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
        check_param_grads(student, reference, x, g, NAMES, f"Linear({n_in}, {n_out})",
                          mistakes=[("linear_weight_transposed", lambda: x.T @ g if n_in == n_out else None)])


def test_accumulates(submission, ref, rng):
    """{gradW} and {gradb} accumulate over backward calls"""
    inputs = [(rng.standard_normal((5, 4)), rng.standard_normal((5, 3))) for _ in range(2)]
    check_accumulation(submission, ref, "Linear", (4, 3), inputs, NAMES, "Linear(4, 3)")


def test_zero_grad(submission, ref, rng):
    """{zeroGradParameters} sets {gradW} and {gradb} to zero"""
    student, reference = pair(submission, ref, "Linear", 4, 3)
    check_zeroing(student, [p.shape for p in reference.getParameters()], NAMES, "Linear(4, 3)")


def test_parameters_by_reference(submission, ref, rng):
    """{getParameters} returns W and b themselves, so an optimizer can update them"""
    student, reference = pair(submission, ref, "Linear", 4, 3)
    check_parameters_by_reference(submission, student, reference, rng.standard_normal((5, 4)), "Linear(4, 3)",
                                  ("Linear", 4, 3))


def test_initialisation(submission, ref):
    """W and b have the right shapes and are drawn from U(-1/sqrt(n_in), 1/sqrt(n_in))"""
    n_in, n_out = 16, 7
    params = submission.new("Linear", n_in, n_out).parameters()
    expect(len(params) == 2, "parameters_not_returned", f"Linear(16, 7).{code('getParameters')}()",
           _("It returned {count} arrays; expected 2 (W and b).", count=len(params)))
    W, b = params
    own = functools.partial(submission.dialect.own_shape, "Linear", "W")  # shapes as the student writes W
    expect(W.shape != (n_in, n_out), "linear_weight_transposed", "Linear(16, 7).W",
           _("W has shape {shape}; expected {expected}.", shape=own(W.shape), expected=own((n_out, n_in))))
    expect(W.shape == (n_out, n_in), "wrong_shape", "Linear(16, 7).W",
           _("Expected shape {expected}, got {got}.", expected=own((n_out, n_in)), got=own(W.shape)))
    expect(b.shape == (n_out,), "wrong_shape", "Linear(16, 7).b", _("Expected shape {expected}, got {got}.",
                                                                    expected=(n_out,), got=b.shape))
    bound = 1 / np.sqrt(n_in)
    for name, p in (("W", W), ("b", b)):
        expect(np.all(np.abs(p) <= bound + 1e-12) and np.ptp(p) > bound / 2, "wrong_initialisation",
               f"Linear(16, 7).{name}", _("Values should be drawn uniformly from [-{bound:.3g}, {bound:.3g}]; got "
                                          "values from {low:.3g} to {high:.3g}.",
                                          bound=bound, low=p.min(), high=p.max()))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    student, _ = pair(submission, ref, "Linear", 4, 3)
    check_inputs_unchanged(submission, student, rng.standard_normal((5, 4)), rng.standard_normal((5, 3)),
                           "Linear(4, 3)")
