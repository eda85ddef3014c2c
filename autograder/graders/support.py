"""What the grader modules share: pairs of student and reference layers with the same
parameters, and finite differences through the student's own code."""
import copy

import numpy as np

from autograder.checks import expect, expect_close, expect_gradient, expect_unchanged, fail
from autograder.gradcheck import numerical_gradient


def pair(submission, ref, canonical, *args, rng=None, **kwargs):
    """The student's and the reference's ``canonical`` layer, with the same random parameters."""
    student = submission.new(canonical, *args, **kwargs)
    reference = getattr(ref, canonical)(*args, **kwargs)
    params = reference.getParameters()
    if params:
        rng = rng or np.random.default_rng(7)
        for p in params:
            p[...] = rng.uniform(-1, 1, p.shape)
        student.set_parameters([p.copy() for p in params])
    return student, reference


def away_from_kinks(rng, shape, margin=0.05, scale=2.0):
    """Inputs with no element within ``margin`` of 0, where ReLU-like functions have kinks."""
    x = rng.standard_normal(shape) * scale
    return np.where(np.abs(x) < margin, np.copysign(margin, x) + x, x)


def check_forward(student, reference, x, what, mistakes=(), **tol):
    expect_close(student.forward(x), reference.forward(x), what, mistakes, **tol)


def check_grad_input(student, reference, x, g, what, mistakes=(), seed=0):
    """gradInput against the reference, or against finite differences of the student's forward."""
    reference.forward(x)
    expected = reference.backward(x, g)
    student.forward(x, seed=seed)
    got = student.backward(x, g, seed=seed)
    expect_gradient(got, expected, what, own_forward=lambda z: student.forward(z, seed=seed), x=x,
                    grad_output=g, mistakes=mistakes)


def check_param_grads(student, reference, x, g, names, what, mistakes=()):
    """Parameter gradients after one backward from zero, against the reference or finite differences."""
    reference.zeroGradParameters()
    reference.forward(x)
    reference.backward(x, g)
    student.zero_grad()
    student.forward(x)
    student.backward(x, g)
    got = student.grad_parameters()
    expected = reference.getGradParameters()
    if len(got) != len(expected):
        fail("parameters_not_returned", what,
             f"The gradient getter returned {len(got)} arrays; expected {len(expected)} ({', '.join(names)}).")
    params = [p.copy() for p in reference.getParameters()]
    for index, (name, got_grad, expected_grad) in enumerate(zip(names, got, expected)):
        def own_forward_of_param(value, index=index):
            trial = [p.copy() for p in params]
            trial[index] = value
            student.set_parameters(trial)
            return np.sum(student.forward(x) * g)

        def numeric(index=index):
            result = numerical_gradient(own_forward_of_param, params[index].copy())
            student.set_parameters(params)
            return result

        if got_grad.shape == expected_grad.shape and not np.allclose(got_grad, expected_grad, rtol=1e-6, atol=1e-8):
            if np.allclose(got_grad, numeric(), rtol=1e-4, atol=1e-6):
                continue
        expect_close(got_grad, expected_grad, f"{what}: {name}", mistakes)


def check_accumulation(student, reference, inputs, names, what):
    """Backward calls without zeroing in between add up their parameter gradients."""
    reference.zeroGradParameters()
    student.zero_grad()
    for x, g in inputs:
        reference.forward(x)
        reference.backward(x, g)
        student.forward(x)
        student.backward(x, g)
    last_only = copy.deepcopy(reference)
    last_only.zeroGradParameters()
    x, g = inputs[-1]
    last_only.forward(x)
    last_only.backward(x, g)
    for name, got, expected, last in zip(names, student.grad_parameters(), reference.getGradParameters(),
                                         last_only.getGradParameters()):
        expect_close(got, expected, f"{what}: {name} after {len(inputs)} backward calls", [("grad_overwritten", last)])


def check_zeroing(student, x, g, names, what):
    student.forward(x)
    student.backward(x, g)
    student.zero_grad()
    grads = student.grad_parameters()
    expect(len(grads) == len(names), "parameters_not_returned", what,
           f"The gradient getter returned {len(grads)} arrays; expected {len(names)} ({', '.join(names)}).")
    for name, grad in zip(names, grads):
        expect(not np.any(grad), "grad_not_zeroed", f"{what}: {name} after zeroGradParameters()")


def check_parameters_by_reference(student, reference, x, what):
    """An optimizer changes the arrays the getter returns; the layer must see the change."""
    before = student.forward(x)
    count = student.nudge_parameters(0.25)
    for p in reference.getParameters():
        p -= 0.25
    after = student.forward(x)
    expect(count == len(reference.getParameters()) and not np.allclose(after, before), "parameters_not_returned", what)
    expect_close(after, reference.forward(x), f"{what}: output after an in-place optimizer step")


def check_inputs_unchanged(submission, student, x, g, what):
    student.forward(x)
    student.backward(x, g)
    expect_unchanged(submission, what)
