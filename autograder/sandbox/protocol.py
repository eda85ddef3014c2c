"""The trusted side of the wire format described in ``worker.py``.

Nothing received is executed or unpickled: JSON is parsed, arrays are read with
``allow_pickle=False`` and must be plain numeric arrays, and every frame has a size cap.
The student's code runs in the worker, so it can write anything at all on the reply pipe:
:func:`check_reply` verifies the shape of every reply before anything else reads it, and the
caps below bound what one reply can cost this process in memory.
"""
import io
import json
import struct

import numpy as np

# The graders exchange arrays of kilobytes; the worker refuses to send more than 64 MB of
# arrays in one reply (the student sees "an array too large to send"), so these caps are
# only ever reached by a reply the student's code forged on the pipe.
MAX_FRAME = 128 << 20  # one array
MAX_HEADER = 8 << 20  # the JSON part of a reply (an honest one is a few kilobytes)
MAX_REPLY = 128 << 20  # all the frames of one reply together
MAX_ARRAYS = 10_000
MAX_DEPTH = 16  # nesting of values in a reply (the worker sends at most 7)
NUMERIC_KINDS = "biufc"


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply."""


def pack(header, arrays=()):
    frames = [json.dumps(dict(header, n_arrays=len(arrays))).encode()]
    for array in arrays:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
        frames.append(buffer.getvalue())
    return b"".join(struct.pack(">Q", len(f)) + f for f in frames)


def frame_length(prefix, limit=MAX_FRAME):
    (length,) = struct.unpack(">Q", prefix)
    if length > limit:
        raise ProtocolError(f"a reply frame of {length} bytes is over the limit of {limit}")
    return length


def parse_header(payload):
    try:
        header = json.loads(payload)
    # ValueError covers JSON errors and integers of too many digits; RecursionError, nesting
    except (ValueError, RecursionError) as error:
        raise ProtocolError(f"reply is not JSON: {type(error).__name__}") from None
    if not isinstance(header, dict) or type(header.get("n_arrays", 0)) is not int:
        raise ProtocolError("reply header is not an object")
    if not 0 <= header.get("n_arrays", 0) <= MAX_ARRAYS:
        raise ProtocolError("too many arrays in a reply")
    return header


def parse_array(payload):
    try:
        array = np.load(io.BytesIO(payload), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any malformed payload is a protocol error
        raise ProtocolError(f"reply array is not valid .npy data: {error}") from None
    if type(array) is not np.ndarray or array.dtype.kind not in NUMERIC_KINDS:
        raise ProtocolError(f"reply array has dtype {array.dtype}")
    return array


class Unsendable:
    """A value the worker could not send as numbers, e.g. a student's method returned a string-less object."""

    def __init__(self, description):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"


class Handle:
    """An object that lives in the worker."""

    def __init__(self, number, generation):
        self.number, self.generation = number, generation

    def wire(self):
        return {"$h": self.number}


def encode(value, arrays):
    """Arguments for the worker: arrays become ``{"$a": i}``, handles ``{"$h": id}``."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return {"$a": len(arrays) - 1}
    if isinstance(value, Handle):
        return value.wire()
    if isinstance(value, (list, tuple)):
        return [encode(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"$d": {str(k): encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def _is_list_of_str(value):
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# The fields a reply may carry besides values, and the type each must have.
FIELD_CHECKS = {
    "ok": lambda v: isinstance(v, bool),
    "n_arrays": lambda v: type(v) is int,
    "output": lambda v: isinstance(v, str),
    "notes": _is_list_of_str,
    "functions": _is_list_of_str,
    "same_arrays": lambda v: isinstance(v, bool),
    "via": lambda v: isinstance(v, str),
    "count": lambda v: type(v) is int,
    "background": lambda v: isinstance(v, dict) and all(type(n) is int for n in v.values()),
    "error": lambda v: isinstance(v, dict) and all(
        isinstance(v.get(k, ""), str) for k in ("type", "message")
    ) and _is_list_of_str(v.get("frames", [])) and (v.get("function") is None or isinstance(v["function"], str)),
    "classes": lambda v: isinstance(v, dict) and all(
        isinstance(info, dict) and _is_list_of_str(info.get("attributes", [])) and _is_list_of_str(info.get("bases", []))
        for info in v.values()
    ),
}
VALUE_FIELDS = ("result", "args_after", "kept")


def _check_value(value, n_arrays, depth=0):
    if depth > MAX_DEPTH:
        raise ProtocolError("reply values are nested too deeply")
    if isinstance(value, list):
        for item in value:
            _check_value(item, n_arrays, depth + 1)
    elif isinstance(value, dict):
        if len(value) != 1:
            raise ProtocolError("reply has an unknown object")
        (key, inner), = value.items()
        if key == "$a" and type(inner) is int and 0 <= inner < n_arrays:
            return
        if key == "$h" and type(inner) is int:
            return
        if key == "$x" and isinstance(inner, str):
            return
        if key == "$d" and isinstance(inner, dict):
            for item in inner.values():
                _check_value(item, n_arrays, depth + 1)
            return
        raise ProtocolError("reply has an unknown object")
    elif not (value is None or isinstance(value, (bool, int, float, str))):
        raise ProtocolError("reply has an unknown value")


def check_reply(header):
    """Raise :class:`ProtocolError` unless every field the trusted side reads has the expected
    type and every value is well formed, so that nothing later can fail on a forged reply."""
    for key, value in header.items():
        check = FIELD_CHECKS.get(key)
        if check is not None and not check(value):
            raise ProtocolError(f"reply field {key!r} is malformed")
        if key in VALUE_FIELDS:
            _check_value(value, header.get("n_arrays", 0))
    return header


def decode(value, arrays, generation):
    """A reply value: plain JSON, arrays, handles, dicts, or :class:`Unsendable`."""
    if isinstance(value, list):
        return [decode(v, arrays, generation) for v in value]
    if isinstance(value, dict):
        if "$a" in value:
            index = value["$a"]
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise ProtocolError("reply refers to a missing array")
            return arrays[index]
        if "$h" in value:
            return Handle(int(value["$h"]), generation)
        if "$d" in value and isinstance(value["$d"], dict):
            return {str(k): decode(v, arrays, generation) for k, v in value["$d"].items()}
        if "$x" in value:
            return Unsendable(str(value["$x"])[:200])
        raise ProtocolError("reply has an unknown object")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ProtocolError("reply has an unknown value")
