"""What the grader modules share: pairs of student and reference layers with the same
parameters, and finite differences through the student's own code."""
import numpy as np

from autograder.checks import (
    OwnForward, close, expect, expect_close, expect_computes, expect_gradient, expect_unchanged, fail,
)
from autograder.analyser import Context, batch_constants, context_for
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
    expect_close(student.forward(x), reference.forward(x), what, mistakes, context=context_for(x), **tol)


def check_grad_input(student, reference, x, g, what, mistakes=(), seed=0):
    """gradInput against the reference (or the finite differences of the student's forward, where
    that forward agrees with the reference's on ``x``: see :func:`checks.expect_gradient`)."""
    reference_output = reference.forward(x)
    expected = reference.backward(x, g)
    output = student.forward(x, seed=seed)
    got = student.backward(x, g, seed=seed)
    own = OwnForward(lambda z: student.forward(z, seed=seed), x, g, close(output, reference_output))
    expect_gradient(got, expected, what, own, mistakes, context=context_for(x))


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
    matches = close(student.forward(x), reference.forward(x))
    for index, (name, got_grad, expected_grad) in enumerate(zip(names, got, expected)):
        def forward_of_param(value, index=index):
            trial = [p.copy() for p in params]
            trial[index] = value
            student.set_parameters(trial)
            try:
                return student.forward(x)
            finally:
                student.set_parameters(params)

        expect_gradient(got_grad, expected_grad, f"{what}: {name}", OwnForward(forward_of_param, params[index], g, matches),
                        mistakes, context=parameter_context(x))


def parameter_context(x):
    """A parameter gradient sums over the batch: the batch size is a factor it can be off by."""
    return Context(constants=batch_constants(np.shape(x)[0]), layout=None)


def check_accumulation(submission, ref, canonical, args, inputs, names, what):
    """Backward calls without zeroing in between give the sum of the gradients each gives alone, on
    fresh layers with the same parameters (so neither zeroGradParameters nor a wrong gradient
    formula is charged here)."""
    alone = []
    for x, g in inputs:
        student, _ = pair(submission, ref, canonical, *args)
        student.forward(x)
        student.backward(x, g)
        alone.append(student.grad_parameters())
    for index, name in enumerate(names):
        expect_computes(f"{what}: {name} after one backward call", [grads[index] for grads in alone if len(grads) > index],
                        [x for x, _ in inputs])
    student, _ = pair(submission, ref, canonical, *args)
    for x, g in inputs:
        student.forward(x)
        student.backward(x, g)
    together = student.grad_parameters()
    expect(len(together) == len(names), "parameters_not_returned", what,
           f"The gradient getter returned {len(together)} arrays; expected {len(names)} ({', '.join(names)}).")
    for index, name in enumerate(names):
        total = sum(grads[index] for grads in alone)
        expect_close(together[index], total, f"{what}: {name} after {len(inputs)} backward calls",
                     [("grad_overwritten", alone[-1][index])])


def check_zeroing(student, x, g, names, what):
    """Gradients that a backward pass made non-zero are zero after zeroGradParameters()."""
    student.forward(x)
    student.backward(x, g)
    before = student.grad_parameters()
    expect_computes(f"{what}: the parameter gradients after backward, before zeroGradParameters()",
                    [np.concatenate([a.ravel() for a in before])] if before else [np.zeros(0)], [x])
    student.zero_grad()
    grads = student.grad_parameters()
    expect(len(grads) == len(names), "parameters_not_returned", what,
           f"The gradient getter returned {len(grads)} arrays; expected {len(names)} ({', '.join(names)}).")
    for name, grad in zip(names, grads):
        expect(not np.any(grad), "grad_not_zeroed", f"{what}: {name} after zeroGradParameters()")


def check_parameters_by_reference(submission, student, reference, x, what, constructor):
    """An optimizer changes the arrays the getter returns; the layer must see the change. Judged
    against the student's own forward with the changed parameters set directly (so a forward
    mistake is charged to the forward test only)."""
    before = student.forward(x)
    count = student.nudge_parameters(0.25)
    after = student.forward(x)
    expected_count = len(reference.getParameters())
    expect(count == expected_count, "parameters_not_returned", what,
           f"The parameter getter returned {count} arrays; expected {expected_count}.")
    expect(not np.allclose(after, before), "parameters_not_returned", what,
           "Subtracting 0.25 from the arrays it returned did not change the output.")
    twin = submission.new(*constructor)
    twin.set_parameters([p - 0.25 for p in reference.getParameters()])
    expect_close(after, twin.forward(x), f"{what}: output after an in-place optimizer step")


def check_inputs_unchanged(submission, student, x, g, what, identity_ok=False):
    """forward and backward leave their inputs unchanged, on two inputs that they must compute
    from (code that computes nothing cannot earn this property)."""
    outputs, grads = [], []
    for scale in (1.0, -0.5):
        xs, gs = x * scale + 0.25, g * (1.5 - scale)
        outputs.append(student.forward(xs))
        grads.append(student.backward(xs, gs))
    expect_computes(f"{what}.forward", outputs, [x * s + 0.25 for s in (1.0, -0.5)], identity_ok=identity_ok)
    expect_computes(f"{what}.backward", grads, [g * (1.5 - s) for s in (1.0, -0.5)], identity_ok=identity_ok)
    expect_unchanged(submission, what)
