"""What the grader modules share: pairs of student and reference layers with the same
parameters, and finite differences through the student's own code."""
import numpy as np

from autograder.analyser import Context, batch_constants, context_for
from autograder.checks import (
    OwnForward,
    close,
    expect,
    expect_close,
    expect_computes,
    expect_gradient,
    expect_unchanged,
    fail,
)
from autograder.i18n import _, code
from autograder.student import PARAMETER_ATTRIBUTES, StudentFailure

RNG_SEED = 2024  # every test's generator (the ``rng`` fixture) starts here; ``speed_baselines`` too


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
    """forward's output against the reference; a layer with a bias ``b`` names it as a term."""
    expected = reference.forward(x)
    context = context_for(x)
    bias = getattr(reference, "b", None)
    if bias is not None:
        context.terms[_("the bias b")] = np.broadcast_to(bias.reshape((1, -1) + (1,) * (expected.ndim - 2)),
                                                         expected.shape)
    expect_close(student.forward(x, strict=True), expected, what, mistakes, context=context, **tol)


def check_grad_input(student, reference, x, g, what, mistakes=(), seed=0, terms=None):
    """gradInput against the reference (or the finite differences of the student's forward, where
    that forward agrees with the reference's on ``x``: see :func:`checks.expect_gradient`)."""
    reference_output = reference.forward(x)
    expected = reference.backward(x, g)
    output = own_output(student, x, seed)
    got = student.input_gradient(x, g, seed=seed)
    own = OwnForward(lambda z: student.forward(z, seed=seed), x, g,
                     output is not None and close(output, reference_output))
    context = context_for(x)
    context.terms.update(terms or {})
    expect_gradient(got, expected, what, own, mistakes, context=context)


def check_param_grads(student, reference, x, g, names, what, mistakes=()):
    """Parameter gradients after one backward from zero, against the reference or finite differences."""
    names = [code(name) for name in names]  # the dialect's names of the gradients, for the messages
    reference.zeroGradParameters()
    reference.forward(x)
    reference.backward(x, g)
    student.zero_grad()
    student.prepare(x)
    student.accumulate(x, g)
    got = student.grad_parameters()
    expected = reference.getGradParameters()
    if len(got) != len(expected):
        fail("parameters_not_returned", what,
             _("The gradient getter returned {count} arrays; expected {expected} ({names}).",
               count=len(got), expected=len(expected), names=", ".join(names)))
    params = [p.copy() for p in reference.getParameters()]
    output = own_output(student, x)
    matches = output is not None and close(output, reference.forward(x))
    for index, (name, got_grad, expected_grad) in enumerate(zip(names, got, expected)):
        def forward_of_param(value, index=index):
            trial = [p.copy() for p in params]
            trial[index] = value
            student.set_parameters(trial)
            try:
                return student.forward(x)
            finally:
                student.set_parameters(params)

        expect_gradient(got_grad, expected_grad, f"{what}: {name}",
                        OwnForward(forward_of_param, params[index], g, matches), mistakes,
                        context=parameter_context(x))


def parameter_context(x):
    """A parameter gradient sums over the batch (and an image's pixels): the batch size, and the
    number of pixels, are factors it can be off by."""
    constants = batch_constants(np.shape(x)[0])
    if np.ndim(x) == 4:
        pixels = np.shape(x)[2] * np.shape(x)[3]
        constants[_("1/(H*W) = 1/{pixels}: averaged over the pixels where it must be summed",
                    pixels=pixels)] = 1.0 / pixels
    return Context(constants=constants, layout=None)


def check_accumulation(submission, ref, canonical, args, inputs, names, what):
    """Backward calls without zeroing in between give the sum of the gradients each gives alone, on
    fresh layers with the same parameters (so neither zeroGradParameters nor a wrong gradient
    formula is charged here)."""
    names = [code(name) for name in names]
    alone = []
    for x, g in inputs:
        student, _reference = pair(submission, ref, canonical, *args)
        student.prepare(x)
        student.accumulate(x, g)
        alone.append(student.grad_parameters())
    for index, name in enumerate(names):
        expect_computes(_("{what}: {name} after one backward call", what=what, name=name),
                        [grads[index] for grads in alone if len(grads) > index], [x for x, _ in inputs])
    student, _reference = pair(submission, ref, canonical, *args)
    for x, g in inputs:
        student.prepare(x)
        student.accumulate(x, g)
    together = student.grad_parameters()
    expect(len(together) == len(names), "parameters_not_returned", what,
           _("The gradient getter returned {count} arrays; expected {expected} ({names}).",
             count=len(together), expected=len(names), names=", ".join(names)))
    for index, name in enumerate(names):
        total = sum(grads[index] for grads in alone)
        expect_close(together[index], total, _("{what}: {name} after {count} backward calls",
                                               what=what, name=name, count=len(inputs)),
                     [("grad_overwritten", alone[-1][index])])


def check_zeroing(student, shapes, names, what):
    """Parameter gradients that hold non-zero values are zero after zeroGradParameters(). The
    values are written into the gradient arrays here, not made by a backward pass, so that a
    mistake in backward is not charged to this test."""
    names = [code(name) for name in names]
    student.set_grad_parameters([np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape) for shape in shapes])
    student.zero_grad()
    grads = student.grad_parameters()
    expect(len(grads) == len(names), "parameters_not_returned", what,
           _("The gradient getter returned {count} arrays; expected {expected} ({names}).",
             count=len(grads), expected=len(names), names=", ".join(names)))
    for name, grad in zip(names, grads):
        expect(not np.any(grad), "grad_not_zeroed", _("{what}: {name} after {zeroGradParameters}()",
                                                      what=what, name=name))


def check_parameters_by_reference(submission, student, reference, x, what, constructor):
    """An optimizer changes the arrays the getter returns; the layer must see the change. Where
    the layer keeps its parameters under the names of the specification (``W``, ``b``), they
    are read back after the optimizer's step, so no other method is involved; else the change
    is judged on the student's own forward with the changed parameters set directly (so a
    forward mistake is charged to the forward test only)."""
    names = PARAMETER_ATTRIBUTES.get(student.canonical, ([], []))[0]
    held = attributes_of(student, names)
    count = student.nudge_parameters(0.25)
    expected_count = len(reference.getParameters())
    if held is not None:
        for name, old in zip(names, held):
            now = attributes_of(student, [name])
            expect(now is not None and now[0].shape == old.shape and bool(np.allclose(now[0], old - 0.25)),
                   "parameters_not_returned", f"{what}.{name}",
                   _("Subtracting 0.25 from the arrays that the parameter getter returned did not change `{name}` "
                     "(the getter returned {count} arrays; expected {expected_count}).", name=name, count=count,
                     expected_count=expected_count) if count != expected_count else
                   _("Subtracting 0.25 from the arrays that the parameter getter returned did not change `{name}` "
                     "(the getter returned copies).", name=name))
        return
    after = student.forward(x)
    student.nudge_parameters(-0.25)  # and back, to see whether the step changed the output
    before = student.forward(x)
    expect(count == expected_count, "parameters_not_returned", what,
           _("The parameter getter returned {count} arrays; expected {expected_count}.",
             count=count, expected_count=expected_count))
    expect(not np.allclose(after, before), "parameters_not_returned", what,
           _("Subtracting 0.25 from the arrays it returned did not change the output."))
    twin = submission.new(*constructor)
    twin.set_parameters([p - 0.25 for p in reference.getParameters()])
    expect_close(after, twin.forward(x), _("{what}: output after an in-place optimizer step", what=what))


def attributes_of(student, names):
    """The arrays the layer holds under ``names``, or None when one cannot be read as an array."""
    found = []
    for name in names:
        try:
            value = student.attribute(name)
        except StudentFailure:
            return None
        if not isinstance(value, np.ndarray):
            return None
        found.append(value.astype(np.float64))
    return found or None


def own_output(student, x, seed=0):
    """The student's forward output at ``x`` (or what forward stored), or None where forward
    fails: that is the forward test's to charge."""
    try:
        return student.forward(x, seed=seed, strict=False)
    except StudentFailure as failure:
        if failure.diagnosis in ("timeout", "crashed"):
            raise
        return None


def check_inputs_unchanged(submission, student, x, g, what, identity_ok=False):
    """forward and backward leave their inputs unchanged, on two inputs. Judged on what runs: a
    method that raises is charged to its own tests (and is still watched for changes made
    before it raised), but one of the two must compute something from its input, so that
    code which computes nothing earns nothing."""
    results = {"forward": [], "backward": []}
    inputs = [(x * scale + 0.25, g * (1.5 - scale)) for scale in (1.0, -0.5)]
    failures = []
    for xs, gs in inputs:
        for method, run in (("forward", lambda: student.forward(xs, strict=False)),
                            ("backward", lambda: student.backward(xs, gs, strict=False))):
            try:
                results[method].append(run())
            except StudentFailure as failure:
                if failure.diagnosis in ("timeout", "crashed"):
                    raise
                failures.append(failure)
    expect_unchanged(submission, what)
    ran = {method: values for method, values in results.items() if len(values) == len(inputs)}
    if not ran:
        raise failures[0]
    for method, values in ran.items():
        given = [xs for xs, _ in inputs] if method == "forward" else [gs for _, gs in inputs]
        expect_computes(f"{what}.{method}", values, given, identity_ok=identity_ok)
