"""The student's classes and functions, seen from the trusted process through the sandbox.

Every value that comes back is checked here before a grader sees it: arrays are plain
float arrays, a missing method or a stub is reported in plain words, and every call's
inputs are compared after the call to catch in-place modification.
"""
from dataclasses import dataclass

import numpy as np

from .sandbox.client import SandboxError, StudentError, WorkerDied, WorkerTimeout
from .sandbox.protocol import Unsendable, decode, encode

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
    """A test fails because of the student's code; ``str()`` is the message for the student."""

    def __init__(self, message, diagnosis=None):
        super().__init__(message)
        self.diagnosis = diagnosis


def explain(error, where):
    """Plain words for a sandbox failure during ``where`` (e.g. ``Linear.forward``)."""
    if isinstance(error, StudentError):
        if error.type == "NotImplementedError":
            plain = where.replace("(...)", "")
            method = plain.split(".")[0] + "." + error.function if error.function and "." in plain else plain
            return StudentFailure(f"{method} is not implemented yet: it still raises NotImplementedError.", "not_implemented")
        detail = f"{where} raised {error}"
        if error.frames:
            detail += "\n\n```\n" + error.traceback_text() + "\n```"
        return StudentFailure(detail, "raised")
    if isinstance(error, WorkerTimeout):
        return StudentFailure(f"{where} {error}: look for an endless loop or very slow code.", "timeout")
    if isinstance(error, WorkerDied):
        return StudentFailure(f"While running {where}, {error}. The grader restarted it and went on.", "crashed")
    return StudentFailure(f"{where}: {error}", "sandbox")


def flatten(items):
    if isinstance(items, list):
        return [leaf for item in items for leaf in flatten(item)]
    return [items]


def as_array(value, where, allow_scalar=False):
    """A student's return value as a float64 array, or a clear failure."""
    if value is None:
        raise StudentFailure(f"{where} returned None: it must return the result (e.g. `return self.output`).", "returns_none")
    if isinstance(value, Unsendable):
        raise StudentFailure(f"{where} returned {value.description}, not a NumPy array.", "not_an_array")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if allow_scalar:
            return np.float64(value)
        raise StudentFailure(f"{where} returned a number, not an array.", "not_an_array")
    if isinstance(value, list):
        raise StudentFailure(f"{where} returned a list, not a NumPy array.", "not_an_array")
    if not isinstance(value, np.ndarray):
        raise StudentFailure(f"{where} returned {type(value).__name__}, not a NumPy array.", "not_an_array")
    if value.dtype.kind == "c":
        raise StudentFailure(f"{where} returned complex numbers.", "wrong_dtype")
    return value.astype(np.float64)


@dataclass
class FunctionCall:
    result: object
    args_after: list
    same_arrays: bool  # False when the function replaced arrays in the lists it was given


class Submission:
    """A running submission: its sandbox, dialect and the names it defines."""

    def __init__(self, sandbox, dialect, classes, functions):
        self.sandbox = sandbox
        self.dialect = dialect
        self.classes = classes
        self.functions = set(functions)
        self.mutations = []  # notes on inputs changed in place, read by the graders
        self.timeouts = {}  # "Class.method" -> how many calls ran out of time
        self.crashes = {}  # "Class.method" -> how many calls killed the worker or broke its protocol
        self.cache = {}  # results that several grader tests share (e.g. a trained model's accuracy)

    def name_of(self, canonical):
        return self.dialect.name_of(canonical) if self.dialect else canonical

    def defines(self, canonical):
        name = self.name_of(canonical)
        return name in self.classes or name in self.functions

    def require(self, canonical):
        if not self.defines(canonical):
            raise StudentFailure(f"`{self.name_of(canonical)}` is not defined in the submission.", "missing")

    def _request(self, where, op, **fields):
        try:
            return self.sandbox.request(op, **fields)
        except SandboxError as error:
            if isinstance(error, WorkerTimeout):
                self.timeouts[where] = self.timeouts.get(where, 0) + 1
            elif isinstance(error, WorkerDied):
                self.crashes[where] = self.crashes.get(where, 0) + 1
            raise explain(error, where) from None

    def _send(self, where, op, values, **fields):
        arrays = []
        wire = encode(values, arrays)
        reply, reply_arrays = self._request(where, op, args=wire, arrays=arrays, **fields)
        generation = self.sandbox.generation
        decoded = {key: decode(reply[key], reply_arrays, generation) for key in ("result", "args_after", "kept") if key in reply}
        return reply, decoded

    def give_up_if_hung(self, where):
        """A method or constructor that hung or crashed too often is not called again."""
        if self.timeouts.get(where, 0) >= TIMEOUTS_BEFORE_GIVING_UP:
            raise StudentFailure(f"{where} was not run again: it did not finish within the time limit "
                                 f"{TIMEOUTS_BEFORE_GIVING_UP} times already.", "timeout")
        if self.crashes.get(where, 0) >= TIMEOUTS_BEFORE_GIVING_UP:
            raise StudentFailure(f"{where} was not run again: it made the worker process restart "
                                 f"{TIMEOUTS_BEFORE_GIVING_UP} times already.", "crashed")

    def new(self, canonical, *args, **kwargs):
        """Construct the student's class; ``args`` are numbers (and handles)."""
        self.require(canonical)
        name = self.name_of(canonical)
        self.give_up_if_hung(f"{name}(...)")
        _, decoded = self._send(f"{name}(...)", "new", list(args), **{"class": name, "kwargs": kwargs, "seed": 0})
        return StudentModule(self, canonical, decoded["result"])

    def variable(self, name, canonical="Sequential"):
        """The object the student's notebook left in the variable ``name``, driven as ``canonical``."""
        _, decoded = self._send(f"the variable `{name}`", "lookup", [], name=name)
        return StudentModule(self, canonical, decoded["result"])

    def probe(self, kind, *args):
        """A module of known behaviour built on the student's base class (see the worker)."""
        base = "Module"
        _, decoded = self._send("the Module base class", "probe", list(args), base=base, kind=kind,
                                hooks=self.dialect.probe_hooks())
        return StudentModule(self, "Probe", decoded["result"])

    def new_dict(self):
        _, decoded = self._send("state", "new_dict", [])
        return decoded["result"]

    def call_function(self, canonical, *args, seed=0):
        """Call one of the student's functions with copies of ``args``: what it returned, the
        arguments as the call left them, and whether their arrays are still the same objects."""
        self.require(canonical)
        name = self.name_of(canonical)
        reply, decoded = self._send(f"{name}(...)", "call", list(args), function=name, return_args=True, seed=seed)
        return FunctionCall(decoded["result"], decoded["args_after"], bool(reply.get("same_arrays", True)))

    def get(self, handle, name, where):
        reply, arrays = self._request(where, "getattr", target=handle.wire(), name=name)
        return decode(reply["result"], arrays, self.sandbox.generation)


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
            raise StudentFailure(f"{where} could not run: the worker was restarted after an earlier failure.", "crashed")

    def call(self, method, *args, seed=0, check_inputs=True):
        """Call a method; returns its (decoded) result. Records any argument changed in place."""
        where = f"{self.name}.{method}"
        self._check_alive(where)
        self.submission.give_up_if_hung(where)
        _, decoded = self.submission._send(where, "call", list(args), target=self.handle.wire(), method=method,
                                           return_args=check_inputs, seed=seed)
        if check_inputs:
            for position, (before, after) in enumerate(zip(args, decoded["args_after"])):
                if isinstance(before, np.ndarray) and (
                    not isinstance(after, np.ndarray) or after.shape != before.shape
                    or not np.array_equal(after, before, equal_nan=True)
                ):
                    self.submission.mutations.append(f"{where} changed its argument {position + 1} in place")
        return decoded["result"]

    def call_kept(self, method, *args, seed=0):
        """Call a method whose result stays in the worker (e.g. ``seq[i]``); returns it as a module."""
        where = f"{self.name}.{method}"
        self._check_alive(where)
        _, decoded = self.submission._send(where, "call", list(args), target=self.handle.wire(), method=method,
                                           keep_result=True, seed=seed)
        return StudentModule(self.submission, "Probe", decoded["kept"])

    # The public API, the same in every dialect
    def forward(self, x, seed=0):
        return as_array(self.call("forward", x, seed=seed), f"{self.name}.forward")

    def backward(self, x, grad_output, seed=0):
        return as_array(self.call("backward", x, grad_output, seed=seed), f"{self.name}.backward")

    def loss(self, x, target):
        """A criterion's forward: one number (a float or an array of size 1 are both accepted)."""
        value = as_array(self.call("forward", x, target), f"{self.name}.forward", allow_scalar=True)
        if value.size != 1:
            raise StudentFailure(
                f"{self.name}.forward must return one number (the loss), got an array of shape {value.shape}.",
                "not_scalar",
            )
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
            raise StudentFailure(f"{where} returned None: it must return a list of arrays.", "returns_none")
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
        where = f"setting the parameters of {self.name}"
        self._check_alive(where)
        names = PARAMETER_ATTRIBUTES.get(self.canonical, ([], []))[0]
        wire_arrays = []
        values = encode(self._from_canonical(arrays), wire_arrays)
        reply, _ = self.submission._request(where, "write_arrays", target=self.handle.wire(), values=values,
                                            arrays=wire_arrays, getter=self.dialect.get_parameters, attributes=names)
        return reply.get("via")

    def nudge_parameters(self, delta):
        """Subtract ``delta`` in place from the arrays the parameter getter returns (an optimizer step)."""
        self._check_alive(f"{self.name}.{self.dialect.get_parameters}")
        reply, _ = self.submission._request(f"{self.name}.{self.dialect.get_parameters}", "nudge",
                                            target=self.handle.wire(), getter=self.dialect.get_parameters, delta=delta)
        return reply.get("count", 0)

    def set_attribute(self, name, value):
        arrays = []
        wire = encode(value, arrays)
        self.submission._request(f"setting {self.name}.{name}", "setattr", target=self.handle.wire(), name=name,
                                 value=wire, arrays=arrays)
