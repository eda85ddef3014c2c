"""Sequential, judged with probe modules of known behaviour built on the student's own Module
base class (``square``: x^2 + x; ``scale``: x * w), so no other layer of the student's is involved."""
import numpy as np

from autograder.checks import OwnForward, close, expect, expect_close, expect_gradient, fail
from autograder.graders.support import check_inputs_unchanged
from autograder.graders.support_state import build_sequential, chain, describe_structure, item_of, probe_forward
from autograder.i18n import _
from autograder.student import StudentFailure


def four_modules():
    """The Sequential most tests build, in the feedback's words."""
    return _("Sequential of four test modules (x*x + x, x*w1, x*x + x, x*w2)")


def specs_for(rng, d):
    return [("square",), ("scale", rng.uniform(0.5, 1.5, d)), ("square",), ("scale", rng.uniform(-1.5, -0.5, d))]


def test_forward(submission, ref, rng):
    """forward applies every module in order"""
    for n, d in ((4, 3), (2, 5)):
        specs = specs_for(rng, d)
        seq, _probes = build_sequential(submission, specs)
        x = rng.uniform(-1, 1, (n, d))
        expected, _gradient, _grads = chain(specs, x, np.ones_like(x))
        expect_close(seq.forward(x, strict=True), expected, _("{sequential}: forward for an input of shape {shape}",
                                                              sequential=four_modules(), shape=x.shape),
                     mistakes=[("sequential_first_module_only", probe_forward("square", x))])
    seq, _probes = build_sequential(submission, [("scale", np.full(3, 2.0))])
    x = rng.uniform(-1, 1, (2, 3))
    expect_close(seq.forward(x, strict=True), 2 * x, _("Sequential with a single module (x * 2): forward"))


def test_backward(submission, ref, rng):
    """backward differentiates module i at its own input, the output of module i - 1, in reverse order"""
    n, d = 3, 4
    specs = specs_for(rng, d)
    # then modules that change the width (3 -> 4 -> 2), where the order of the modules shows, and a
    # Sequential inside the Sequential, whose output its container reads as the next module's input
    widths = [("matrix", rng.uniform(-1, 1, (3, 4))), ("square",), ("matrix", rng.uniform(-1, 1, (4, 2)))]
    nested = [("square",), ("sequential", [("scale", rng.uniform(0.5, 1.5, d)), ("square",)]),
              ("scale", rng.uniform(-1.5, -0.5, d))]
    cases = [(four_modules(), specs, d, d), (_("Sequential of x*M1 (3 -> 4), x*x + x, x*M2 (4 -> 2)"), widths, 3, 2),
             (_("Sequential of x*x + x, a Sequential (x*w1, x*x + x), x*w2"), nested, d, d)]
    for what, chain_specs, width_in, width_out in cases:
        seq, _probes = build_sequential(submission, chain_specs)
        x, g = rng.uniform(-1, 1, (n, width_in)), rng.standard_normal((n, width_out))
        output, expected, _grads = chain(chain_specs, x, g)
        mistakes = []
        if width_in == width_out:
            mistakes.append(("sequential_container_input", chain(chain_specs, x, g, at_container_input=True)[1]))
        own = OwnForward(seq.forward, x, g, close(seq.forward(x), output))
        got = seq.backward(x, g, strict=True)
        expect_gradient(got, expected, _("{what}: {gradInput} from backward", what=what), own, mistakes)


def test_grad_params(submission, ref, rng):
    """the modules' parameter gradients are taken at the inputs they saw in forward"""
    n, d = 5, 3
    specs = specs_for(rng, d)
    seq, probes = build_sequential(submission, specs)
    x, g = rng.uniform(-1, 1, (n, d)), rng.standard_normal((n, d))
    _output, _gradient, expected = chain(specs, x, g)
    _output, _gradient, at_input = chain(specs, x, g, at_container_input=True)
    seq.forward(x)
    seq.backward(x, g)
    scales = [i for i, (kind, *_) in enumerate(specs) if kind == "scale"]
    for index, want, wrong in zip(scales, expected, at_input):
        got = probes[index].grad_parameters()[0]
        expect_close(got, want, _("{sequential}: after backward, the weight gradient of module {index} (x*w)",
                                  sequential=four_modules(), index=index),
                     mistakes=[("sequential_container_input", wrong)])


def test_parameters(submission, ref, rng):
    """{getParameters} / {getGradParameters} are per-module lists of the modules' own arrays"""
    d = 3
    specs = specs_for(rng, d)
    seq, probes = build_sequential(submission, specs)
    getter, grad_getter = submission.dialect.get_parameters, submission.dialect.get_grad_parameters
    expected_shape = "[[], [array (3,)], [], [array (3,)]]"
    x, g = rng.uniform(-1, 1, (4, d)), rng.standard_normal((4, d))
    for probe in probes:  # give the scale modules non-zero gradients without the container's backward
        probe.forward(x)
        probe.backward(x, g)
    for method, arrays in ((getter, [s[1] for s in specs if s[0] == "scale"]),
                           (grad_getter, [p.grad_parameters()[0] for p, s in zip(probes, specs) if s[0] == "scale"])):
        raw = seq.call(method, check_inputs=False)
        if raw is None:
            fail("returns_none", f"Sequential.{method}()", _("It must return a list with one list per module."))
        picture = describe_structure(raw)
        expect(picture == expected_shape, "sequential_parameters", f"{four_modules()}: {method}()",
               _("Expected one list per module, {expected_shape}; got {picture}.",
                 expected_shape=expected_shape, picture=picture))
        for k, (got, want) in enumerate(zip([leaf for sub in raw for leaf in sub], arrays)):
            expect_close(got, want, _("{sequential}: {method}(): array {number}",
                                      sequential=four_modules(), method=method, number=k + 1))
    count = seq.nudge_parameters(0.25)
    expect(count == 2, "sequential_parameters", f"{four_modules()}: {getter}()",
           _("An optimizer step through it changed {count} arrays; expected the 2 weight vectors of the modules.",
             count=count))
    w = specs[1][1]
    expect_close(probes[1].forward(x), x * (w - 0.25),
                 _("{sequential}: module 1's output after an optimizer step on the arrays of {getter}()",
                   sequential=four_modules(), getter=getter),
                 mistakes=[("sequential_parameters", x * w)])


def test_zero_grad(submission, ref, rng):
    """{zeroGradParameters} zeroes the gradients of every module"""
    d = 3
    specs = specs_for(rng, d)
    seq, probes = build_sequential(submission, specs)
    x, g = rng.uniform(-1, 1, (4, d)), rng.standard_normal((4, d))
    for probe in probes:
        probe.forward(x)
        probe.backward(x, g)
    seq.zero_grad()
    for index, probe in enumerate(probes):
        for grad in probe.grad_parameters():
            expect(not np.any(grad), "grad_not_zeroed",
                   _("{sequential}: {zero_grad}(): the gradient of module {index}",
                     sequential=four_modules(), zero_grad=submission.dialect.zero_grad, index=index))


def test_train_evaluate(submission, ref, rng):
    """train() and evaluate() switch the mode of every module"""
    seq, probes = build_sequential(submission, specs_for(rng, 3))
    for method, value in (("evaluate", False), ("train", True), ("evaluate", False)):
        getattr(seq, method)()
        for index, probe in enumerate(probes):
            mode = probe.attribute("training")
            mode = bool(mode) if isinstance(mode, (bool, np.ndarray)) and np.size(mode) == 1 else mode
            expect(mode is value, "sequential_mode_not_propagated", f"{four_modules()}: {method}()",
                   _("Afterwards module {index} has training = {mode!r}; expected {value}.",
                     index=index, mode=mode, value=value))


def test_getitem(submission, ref, rng):
    """seq[i] is the i-th module added"""
    d = 3
    specs = specs_for(rng, d)
    seq, _probes = build_sequential(submission, specs)
    x = rng.uniform(-1, 1, (2, d))
    for index in (0, 1, 3, -1):
        kind, *w = specs[index]
        what = _("seq[{index}] for a {sequential}", index=index, sequential=four_modules())
        try:
            out = item_of(seq, index).forward(x)
        except StudentFailure as failure:
            if failure.diagnosis in ("not_implemented", "timeout", "crashed"):
                raise
            fail("sequential_getitem", what, _("Calling forward on it failed: {failure}", failure=failure))
        expect(close(out, probe_forward(kind, x, *w)), "sequential_getitem", what,
               _("It does not behave as module {index} ({module}).",
                 index=index, module="x*x + x" if kind == "square" else "x*w"))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    d = 3
    seq, _probes = build_sequential(submission, specs_for(rng, d))
    check_inputs_unchanged(submission, seq, rng.uniform(-1, 1, (4, d)), rng.standard_normal((4, d)), four_modules())
