"""The student's classes and functions, seen from the trusted process through the sandbox.

Every value that comes back is checked here before a grader sees it: arrays are plain
float arrays, a missing method or a stub is reported in plain words, and every call's
inputs are read back from the shared arena after the call, here, to catch in-place
modification: what the worker says about itself is never evidence.
"""
import re
from dataclasses import dataclass

import numpy as np

from . import markdown
from .i18n import _
from .sandbox.client import SandboxError, StudentError, WorkerDied, WorkerTimeout
from .sandbox.protocol import Unsendable, decode

# Where a class keeps its parameters, for the dialect-independent fallback when its
# parameter getter does not hand them out.
PARAMETER_ATTRIBUTES = {
    "Linear": (["W", "b"], ["gradW", "gradb"]),
    "Conv2d": (["W", "b"], ["gradW", "gradb"]),
    "ChannelwiseScaling": (["gamma", "beta"], ["gradGamma", "gradBeta"]),
}


# A method that hangs, or kills the worker, this many times is not called again for this
# submission: each costs a worker restart (and a hang a full call limit too).
TIMEOUTS_BEFORE_GIVING_UP = 2


class StudentFailure(AssertionError):
    """A test fails because of the student's code; ``str()`` is the message for the student.
    ``functions``: where the student's code raised, the names of its functions on the stack."""

    def __init__(self, message, diagnosis=None, functions=()):
        super().__init__(message)
        self.diagnosis = diagnosis
        self.functions = tuple(functions)

    def raised_in(self, function):
        return function in self.functions


def explain(error, where, unfinished=lambda class_name: ()):
    """Plain words for a sandbox failure during ``where`` (e.g. ``Linear.forward``). The
    student's own text (the exception, its traceback) goes only into a fenced code block.
    ``unfinished(class_name)`` gives the class's other stubs, named with the one that raised."""
    if isinstance(error, StudentError):
        if error.type == "NotImplementedError":
            plain = where.replace("(...)", "")
            method = plain.split(".")[0] + "." + error.function if error.function and "." in plain else plain
            return not_implemented(method, unfinished(method.split(".")[0]) if "." in method else ())
        detail = _("{where} raised {error}:\n\n{traceback}", where=where, error=markdown.name(error.type),
                   traceback=markdown.block(error.traceback_text()))
        functions = [match.group(1) for frame in error.frames for match in [FRAME_FUNCTION.search(frame)] if match]
        return StudentFailure(detail, "raised", functions)
    if isinstance(error, WorkerTimeout):
        return StudentFailure(_("{where} {error}: look for an endless loop or very slow code.", where=where,
                                error=error), "timeout")
    if isinstance(error, WorkerDied):
        return StudentFailure(_("While running {where}, {error}. The grader restarted it and went on.", where=where,
                                error=error), "crashed")
    return StudentFailure(f"{where}: {error}", "sandbox")


FRAME_FUNCTION = re.compile(r", in (\w+)")


def not_implemented(method, others=()):
    """The failure of a stub: ``method`` (``Linear.updateOutput``) raised NotImplementedError;
    ``others``, the class's other methods that still do, are named with it, so that the student
    sees every method left to write, not only the first one a test reached."""
    class_name = method.split(".")[0]
    names = list(dict.fromkeys([method] + [f"{class_name}.{m}" for m in others if m.isidentifier()]))
    if len(names) == 1:
        return StudentFailure(_("{method} is not implemented yet: it still raises NotImplementedError.",
                                method=markdown.name(method)), "not_implemented")
    return StudentFailure(_("{methods} are not implemented yet: they still raise NotImplementedError.",
                            methods=", ".join(map(markdown.name, names))), "not_implemented")


def flatten(items):
    if isinstance(items, list):
        return [leaf for item in items for leaf in flatten(item)]
    return [items]


def as_array(value, where, allow_scalar=False):
    """A student's return value as a float64 array, or a clear failure."""
    if value is None:
        raise StudentFailure(_("{where} returned None: it must return the result (e.g. `return self.output`).",
                               where=where), "returns_none")
    if isinstance(value, Unsendable):
        raise StudentFailure(_("{where} returned {value}, not a NumPy array.", where=where, value=value.description),
                             "not_an_array")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if allow_scalar:
            return np.float64(value)
        raise StudentFailure(_("{where} returned a number, not an array.", where=where), "not_an_array")
    if isinstance(value, list):
        raise StudentFailure(_("{where} returned a list, not a NumPy array.", where=where), "not_an_array")
    if not isinstance(value, np.ndarray):
        raise StudentFailure(_("{where} returned {value}, not a NumPy array.", where=where,
                               value=type(value).__name__), "not_an_array")
    if value.dtype.kind == "c":
        raise StudentFailure(_("{where} returned complex numbers.", where=where), "wrong_dtype")
    return value.astype(np.float64)


@dataclass
class FunctionCall:
    result: object
    args_after: list  # the arguments' values after the call, as the worker sends them (the student's values)
    in_place: list  # the arguments with every array as the call left it in memory, read here

class GradingError(Exception):
    """The grader itself could not observe what it needs (not the student's fault)."""


def read_back(value, shared, arena):
    """``value`` (what was sent) with each array replaced by what the arena holds now."""
    current = {id(original): arena.read(descriptor) for descriptor, original in shared}

    def walk(item):
        if isinstance(item, np.ndarray):
            if id(item) not in current:
                raise GradingError("an argument did not go through shared memory")
            return current[id(item)]
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        return item
    return walk(value)


class StudentCode:
    """The student's code of one notebook, running in its sandbox: its dialect, the names it
    defines, and the calls the graders make into it (the graders' ``submission`` fixture)."""

    def __init__(self, sandbox, dialect, classes, functions):
        self.sandbox = sandbox
        self.dialect = dialect
        self.classes = classes
        self.functions = set(functions)
        self.mutations = []  # notes on inputs changed in place, read by the graders
        self.timeouts = {}  # "Class.method" -> how many calls ran out of time
        self.crashes = {}  # "Class.method" -> how many calls killed the worker or broke its protocol
        self.cache = {}  # results that several grader tests share (e.g. a trained model's accuracy)
        self._unfinished = {}  # class name -> its methods that still raise NotImplementedError

    def name_of(self, canonical):
        return self.dialect.name_of(canonical) if self.dialect else canonical

    def defines(self, canonical):
        name = self.name_of(canonical)
        return name in self.classes or name in self.functions

    def require(self, canonical):
        if not self.defines(canonical):
            raise StudentFailure(_("`{name}` is not defined in the submission.", name=self.name_of(canonical)),
                                 "missing")

    def _request(self, where, op, shared=None, **fields):
        try:
            return self.sandbox.request(op, shared=shared, **fields)
        except SandboxError as error:
            if isinstance(error, WorkerTimeout):
                self.timeouts[where] = self.timeouts.get(where, 0) + 1
            elif isinstance(error, WorkerDied):
                self.crashes[where] = self.crashes.get(where, 0) + 1
            raise explain(error, where, self.unfinished) from None

    def unfinished(self, class_name):
        """The methods of the student's class ``class_name`` that are still stubs, asked of the
        worker once per class (read from their bytecode; none when the worker cannot say)."""
        if class_name not in self._unfinished:
            try:
                reply, _ = self.sandbox.request("unfinished", requires=("unfinished",), **{"class": class_name})
                self._unfinished[class_name] = [m for m in reply["unfinished"] if m.isidentifier()]
            except SandboxError:
                self._unfinished[class_name] = []
        return self._unfinished[class_name]

    def _send(self, where, op, values, shared=None, **fields):
        """Send ``values`` as the call's arguments; returns ``(reply, result)``."""
        reply, reply_arrays = self._request(where, op, shared=shared, args=list(values), **fields)
        return reply, decode(reply.get("result"), reply_arrays)

    def _keep(self, where, op, values, **fields):
        """A request whose result the worker keeps under a handle chosen here."""
        handle = self.sandbox.new_handle()
        self._send(where, op, values, handle=handle.number, **fields)
        return handle

    def cpu_seconds(self, action):
        """Run ``action()`` (calls into the worker) and return the worker's CPU time for it, as
        this side reads it from /proc, with ``action``'s result."""
        before = self.sandbox.cpu_seconds()
        result = action()
        after = self.sandbox.cpu_seconds()
        if before is None or after is None:
            raise GradingError("the worker's CPU time cannot be read on this machine")
        return after - before, result

    def give_up_if_hung(self, where):
        """A method or constructor that hung or crashed too often is not called again."""
        if self.timeouts.get(where, 0) >= TIMEOUTS_BEFORE_GIVING_UP:
            raise StudentFailure(_("{where} was not run again: it did not finish within the time limit {count} times "
                                   "already.", where=where, count=TIMEOUTS_BEFORE_GIVING_UP), "timeout")
        if self.crashes.get(where, 0) >= TIMEOUTS_BEFORE_GIVING_UP:
            raise StudentFailure(_("{where} was not run again: it made the worker process restart {count} times "
                                   "already.", where=where, count=TIMEOUTS_BEFORE_GIVING_UP), "crashed")

    def new(self, canonical, *args, **kwargs):
        """Construct the student's class; ``args`` are numbers (and handles)."""
        self.require(canonical)
        name = self.name_of(canonical)
        self.give_up_if_hung(f"{name}(...)")
        handle = self._keep(f"{name}(...)", "new", args, **{"class": name, "kwargs": kwargs, "seed": 0})
        return StudentModule(self, canonical, handle)

    def variable(self, name, canonical="Sequential"):
        """The object the student's notebook left in the variable ``name``, driven as ``canonical``."""
        return StudentModule(self, canonical, self._keep(_("the variable `{name}`", name=name), "lookup", [],
                                                         name=name))

    def probe(self, kind, *args):
        """A module of known behaviour built on the student's base class (see the worker)."""
        handle = self._keep(_("the Module base class"), "probe", args, base="Module", kind=kind,
                            hooks=self.dialect.probe_hooks())
        return StudentModule(self, "Probe", handle)

    def new_dict(self):
        return self._keep("state", "new_dict", [])

    def value(self, handle, where):
        """The current value of an object kept in the worker (a ``state`` dictionary, say)."""
        reply, arrays = self._request(where, "value", target=handle)
        return decode(reply["result"], arrays)

    def call_function(self, canonical, *args, seed=0):
        """Call one of the student's functions with ``args``: what it returned, the values its
        arguments hold after the call (as the worker sends them: used to judge values against the
        reference), and the arguments with every array as the call left it in memory, read here
        from the shared arena (an array the function replaced in a list instead of changing it
        is seen unchanged: the evidence for in-place updates)."""
        self.require(canonical)
        name = self.name_of(canonical)
        shared = []
        reply, arrays = self._request(f"{name}(...)", "call", shared=shared, args=list(args), function=name, seed=seed,
                                      return_args=True, requires=("args_after",))
        return FunctionCall(decode(reply["result"], arrays), decode(reply["args_after"], arrays),
                            read_back(list(args), shared, self.sandbox.arena))

    def get(self, handle, name, where):
        reply, arrays = self._request(where, "getattr", target=handle, name=name)
        return decode(reply["result"], arrays)


class StudentModule:
    """One of the student's layers or criterions, driven through its dialect."""

    def __init__(self, submission, canonical, handle):
        self.submission = submission
        self.canonical = canonical
        self.handle = handle
        self.name = submission.name_of(canonical)
        self.dialect = submission.dialect

    def _check_alive(self, where):
        if self.handle.generation != self.submission.sandbox.generation:
            raise StudentFailure(_("{where} could not run: the worker was restarted after an earlier failure.",
                                   where=where), "crashed")

    def call(self, method, *args, seed=0, check_inputs=True):
        """Call a method; returns its (decoded) result. Records any argument changed in place."""
        where = f"{self.name}.{method}"
        self._check_alive(where)
        self.submission.give_up_if_hung(where)
        shared = []
        try:
            _, result = self.submission._send(where, "call", args, shared=shared, target=self.handle, method=method,
                                              seed=seed)
        except StudentFailure as failure:
            if check_inputs and failure.diagnosis in ("raised", "not_implemented"):  # the worker lives on
                self._record_mutations(where, args, shared)
            raise
        if check_inputs:
            self._record_mutations(where, args, shared)
        return result

    def _record_mutations(self, where, args, shared):
        """Compare each array argument, as the arena holds it after the call, with what was sent."""
        arena = self.submission.sandbox.arena
        read = {id(original): (descriptor, original) for descriptor, original in shared}
        for position, arg in enumerate(args):
            if not isinstance(arg, np.ndarray):
                continue
            if id(arg) not in read:
                raise GradingError("an argument did not go through shared memory")
            descriptor, original = read[id(arg)]
            if not arena.holds(descriptor, original) and not np.array_equal(arena.read(descriptor), original,
                                                                            equal_nan=True):
                self.submission.mutations.append(_("{where} changed its argument {position} in place", where=where,
                                                   position=position + 1))

    def call_kept(self, method, *args, seed=0):
        """Call a method whose result stays in the worker (e.g. ``seq[i]``); returns it as a module."""
        where = f"{self.name}.{method}"
        self._check_alive(where)
        handle = self.submission._keep(where, "call", args, target=self.handle, method=method, seed=seed)
        return StudentModule(self.submission, "Probe", handle)

    # The public API, the same in every dialect
    def forward(self, x, seed=0, strict=False):
        """The output of ``forward``; where forward returns None, the output it stored, unless
        ``strict`` (the forward tests): a missing ``return`` is charged to the forward test alone."""
        result = self.call("forward", x, seed=seed)
        if result is None and not strict:
            result = self.stored(self.dialect.output_attr)
        return as_array(result, f"{self.name}.forward")

    def backward(self, x, grad_output, seed=0, strict=False):
        """gradInput as ``backward`` returns it, or as it stored it unless ``strict`` (the tests of
        gradInput)."""
        result = self.call("backward", x, grad_output, seed=seed)
        if result is None and not strict:
            result = self.stored(self.dialect.grad_input_attr)
        return as_array(result, f"{self.name}.backward")

    def stored(self, name):
        try:
            return self.attribute(name)
        except StudentFailure:
            return None

    def prepare(self, x, seed=0):
        """``forward`` for what it leaves in the layer, before a backward pass: a forward that
        raises or returns nothing is charged to the forward test, not to the tests of backward."""
        try:
            self.call("forward", x, seed=seed)
        except StudentFailure as failure:
            if failure.diagnosis in ("timeout", "crashed"):
                raise

    def input_gradient(self, x, grad_output, seed=0):
        """gradInput, as ``backward`` returns it; where ``backward`` fails inside the parameter
        gradient's hook, from the input gradient's hook alone, so that a mistake in the
        parameter gradients is charged to their tests only."""
        try:
            return self.backward(x, grad_output, seed=seed, strict=True)
        except StudentFailure as failure:
            if not failure.raised_in(self.dialect.grad_params_hook) or failure.raised_in(self.dialect.grad_input_hook):
                raise
        where = f"{self.name}.{self.dialect.grad_input_hook}"
        result = self.call(self.dialect.grad_input_hook, x, grad_output, seed=seed)
        return as_array(result if result is not None else self.attribute(self.dialect.grad_input_attr), where)

    def accumulate(self, x, grad_output, seed=0):
        """``backward`` for its parameter gradients; where it fails inside the input gradient's
        hook, the parameter gradient's hook alone, so that a mistake in gradInput is charged to
        its test only."""
        try:
            self.call("backward", x, grad_output, seed=seed)
        except StudentFailure as failure:
            if not failure.raised_in(self.dialect.grad_input_hook) or failure.raised_in(self.dialect.grad_params_hook):
                raise
            self.call(self.dialect.grad_params_hook, x, grad_output, seed=seed)

    def loss(self, x, target, strict=False):
        """A criterion's forward: one number (a float or an array of size 1 are both accepted);
        where forward returns None, the loss it stored, unless ``strict`` (the forward tests)."""
        result = self.call("forward", x, target)
        if result is None and not strict:
            result = self.stored(self.dialect.output_attr)
        value = as_array(result, f"{self.name}.forward", allow_scalar=True)
        if value.size != 1:
            raise StudentFailure(_("{name}.forward must return one number (the loss), got an array of shape {shape}.",
                                   name=self.name, shape=value.shape), "not_scalar")
        return float(value.reshape(-1)[0])

    def train(self):
        self.call("train", check_inputs=False)

    def evaluate(self):
        self.call("evaluate", check_inputs=False)

    def zero_grad(self):
        self.call(self.dialect.zero_grad, check_inputs=False)

    # Parameters, in the canonical (torch-legacy) layout whatever the dialect
    def _to_canonical(self, arrays):
        arrays = list(arrays)
        if self.canonical == "Linear" and self.dialect.linear_weight_is_in_by_out and arrays and arrays[0].ndim == 2:
            arrays[0] = arrays[0].T
        if self.canonical == "ChannelwiseScaling" and self.dialect.scaling_parameters_are_rows:
            arrays = [a.reshape(-1) for a in arrays]
        return arrays

    def _from_canonical(self, arrays):
        arrays = list(arrays)
        if self.canonical == "Linear" and self.dialect.linear_weight_is_in_by_out and arrays:
            arrays[0] = arrays[0].T.copy()
        if self.canonical == "ChannelwiseScaling" and self.dialect.scaling_parameters_are_rows:
            arrays = [a.reshape(1, -1) for a in arrays]
        return arrays

    def _arrays_from(self, method):
        where = f"{self.name}.{method}"
        value = self.call(method, check_inputs=False)
        if value is None:
            raise StudentFailure(_("{where} returned None: it must return a list of arrays.", where=where),
                                 "returns_none")
        leaves = flatten(value) if isinstance(value, list) else [value]
        return [as_array(leaf, where) for leaf in leaves]

    def parameters(self):
        return self._to_canonical(self._arrays_from(self.dialect.get_parameters))

    def grad_parameters(self):
        return self._to_canonical(self._arrays_from(self.dialect.get_grad_parameters))

    def attribute(self, name):
        return self.submission.get(self.handle, name, f"{self.name}.{name}")

    def set_parameters(self, arrays):
        """Give the student's layer these parameter values (in place where the getter allows)."""
        self._write(arrays, self.dialect.get_parameters, 0, "parameters")

    def set_grad_parameters(self, arrays):
        """Give the student's layer these parameter gradients (in place where the getter allows)."""
        self._write(arrays, self.dialect.get_grad_parameters, 1, "parameter gradients")

    def _write(self, arrays, getter, kind, words):
        where = _("setting the parameters of {name}", name=self.name) if words == "parameters" else \
            _("setting the parameter gradients of {name}", name=self.name)
        self._check_alive(where)
        names = [self.dialect.attribute_names.get(name, name)  # snake's Scaling: grad_gamma, grad_beta
                 for name in PARAMETER_ATTRIBUTES.get(self.canonical, ([], []))[kind]]
        self.submission._request(where, "write_arrays", target=self.handle, values=self._from_canonical(arrays),
                                 getter=getter, attributes=names)

    def nudge_parameters(self, delta):
        """Subtract ``delta`` in place from the arrays the parameter getter returns (an optimizer step)."""
        self._check_alive(f"{self.name}.{self.dialect.get_parameters}")
        reply, _ = self.submission._request(f"{self.name}.{self.dialect.get_parameters}", "nudge",
                                            target=self.handle, getter=self.dialect.get_parameters, delta=delta)
        return reply["count"]

    def set_attribute(self, name, value):
        self.submission._request(_("setting {name}", name=f"{self.name}.{name}"), "setattr", target=self.handle,
                                 name=name, value=value)
