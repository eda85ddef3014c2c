"""The trusted side of the wire format described in ``worker.py``.

Nothing received is executed or unpickled: JSON is parsed, arrays are plain numeric data
described by a fixed prefix (:func:`array_frame`), and every frame has a size cap.
The student's code runs in the worker, so it can write anything at all on the reply pipe:
:func:`check_reply` verifies the shape of every reply before anything else reads it, and the
caps below bound what one reply can cost this process in memory.
"""
import json
import math
import re
import struct

import numpy as np

# The graders exchange arrays of kilobytes; the worker refuses to send more than 16 MB of
# arrays in one reply (the student sees "an array too large to send"), so these caps are
# only ever reached by a reply the student's code forged on the pipe.
MAX_FRAME = 32 << 20  # one array
MAX_HEADER = 8 << 20  # the JSON part of a reply (a few kilobytes, or a notebook's code for "read")
MAX_REPLY = 32 << 20  # all the frames of one reply together
MAX_ARRAYS = 10_000
MAX_DEPTH = 16  # nesting of values in a reply (the worker sends at most 7)
NUMERIC_KINDS = "biufc"
SAFE_TEXT = re.compile(r"[\w .,()<>=:\-]*")  # sanitized later for HTML


class ProtocolError(Exception):
    """The worker sent something that is not a well-formed reply."""


# An array frame: the dtype as 4 bytes of ASCII (``numpy.dtype.str``, padded with spaces), the
# number of dimensions as one byte, each dimension as 8 bytes big-endian, then the elements in
# C order. Only plain numeric dtypes can be written this way: nothing else can be read back.
ARRAY_DTYPE = re.compile(rb"[<>|][biufc][0-9]{1,2} *")
MAX_DIMENSIONS = 32


def array_frame(array):
    array = np.asarray(array)
    shape = array.shape  # tobytes() writes C order whatever the array's own layout
    prefix = array.dtype.str.encode().ljust(4) + struct.pack(f">B{len(shape)}Q", len(shape), *shape)
    return prefix + array.tobytes()


def pack(header, arrays=()):
    frames = [json.dumps(dict(header, n_arrays=len(arrays))).encode()]
    frames += [array_frame(array) for array in arrays]
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
    """The array of one frame (see :func:`array_frame`), as a new writable array."""
    if len(payload) < 5 or not ARRAY_DTYPE.fullmatch(payload[:4]) or payload[4] > MAX_DIMENSIONS:
        raise ProtocolError("reply array frame has no valid dtype and dimensions")
    try:
        dtype = np.dtype(payload[:4].decode().strip())
    except TypeError:
        raise ProtocolError(f"reply array has dtype {payload[:4]!r}") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.subdtype is not None or dtype.fields is not None:
        raise ProtocolError(f"reply array has dtype {dtype}")
    ndim = payload[4]
    start = 5 + 8 * ndim
    if len(payload) < start:
        raise ProtocolError("reply array frame is cut short")
    shape = struct.unpack(f">{ndim}Q", payload[5:start])
    if math.prod(shape) * dtype.itemsize != len(payload) - start:
        raise ProtocolError("reply array frame's size does not match its shape")
    try:
        return np.frombuffer(payload, dtype, offset=start).reshape(shape).copy()
    except ValueError:  # an empty array with a dimension NumPy cannot hold
        raise ProtocolError(f"reply array frame has an impossible shape {shape}") from None


class Unsendable:
    """A value the worker could not send as numbers, e.g. a student's method returned a string-less object."""

    def __init__(self, description):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"


class Handle:
    """An object that lives in the worker, under a number the trusted side chose."""

    def __init__(self, number, generation):
        self.number, self.generation = number, generation

    def wire(self):
        return {"$h": self.number}


def encode(value, arrays, arena=None, shared=None):
    """Values for the worker: arrays go into the shared ``arena`` (``{"$s": ...}``, and
    ``(descriptor, array)`` is appended to ``shared``), or where it is full into frames
    (``{"$a": i}``); handles become ``{"$h": id}``."""
    if isinstance(value, np.ndarray):
        descriptor = arena.put(value) if arena is not None else None
        if descriptor is not None:
            if shared is not None:
                shared.append((descriptor, value))
            return descriptor
        arrays.append(value)
        return {"$a": len(arrays) - 1}
    if isinstance(value, Handle):
        return value.wire()
    if isinstance(value, (list, tuple)):
        return [encode(v, arrays, arena, shared) for v in value]
    if isinstance(value, dict):
        return {"$d": {str(k): encode(v, arrays, arena, shared) for k, v in value.items()}}
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
    "unfinished": _is_list_of_str,
    "via": lambda v: isinstance(v, str),
    "count": lambda v: type(v) is int,
    "background": lambda v: isinstance(v, dict) and all(type(n) is int for n in v.values()),
    "error": lambda v: isinstance(v, dict) and all(
        isinstance(v.get(k, ""), str) for k in ("type", "message")
    ) and _is_list_of_str(v.get("frames", [])) and (v.get("function") is None or isinstance(v["function"], str)),
    "classes": lambda v: isinstance(v, dict) and all(
        isinstance(info, dict) and _is_list_of_str(info.get("attributes", []))
        and _is_list_of_str(info.get("bases", []))
        for info in v.values()
    ),
    "cells": lambda v: isinstance(v, list) and all(
        isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) and isinstance(c[1], str) and type(c[2]) is int
        and c[2] >= 1 for c in v
    ),
}
VALUE_FIELDS = ("result", "args_after")
# The fields of a request that carry values (arrays, handles, nested lists and dicts); the
# others are plain JSON that the worker reads as they are.
VALUE_REQUEST_FIELDS = ("args", "kwargs", "values", "value", "target")
# What a successful reply to each request must carry besides ``ok``: a reply that leaves one
# out is malformed (the student's code forged it), never a reason for the grader to fail.
REQUIRED = {
    "call": ("result",), "getattr": ("result",), "value": ("result",), "inspect": ("classes", "functions"),
    "read": ("cells",), "nudge": ("count",), "write_arrays": ("via",), "unfinished": ("unfinished",),
}


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
        if key == "$x" and isinstance(inner, str):
            return
        if key == "$d" and isinstance(inner, dict):
            for item in inner.values():
                _check_value(item, n_arrays, depth + 1)
            return
        raise ProtocolError("reply has an unknown object")
    elif not (value is None or isinstance(value, (bool, int, float, str))):
        raise ProtocolError("reply has an unknown value")


def check_reply(header, op=None, requires=()):
    """Raise :class:`ProtocolError` unless the reply has every field ``op``'s reply must carry
    (and those of ``requires``), every field the trusted side reads has the expected type and
    every value is well formed, so that nothing later can fail on a forged reply."""
    if "ok" not in header:
        raise ProtocolError("reply has no status")
    required = REQUIRED.get(op, ()) + tuple(requires) if header["ok"] is True else ("error",)
    missing = [key for key in required if key not in header]
    if missing:
        raise ProtocolError(f"reply lacks {', '.join(missing)}")
    for key, value in header.items():
        check = FIELD_CHECKS.get(key)
        if check is not None and not check(value):
            raise ProtocolError(f"reply field {key!r} is malformed")
        if key in VALUE_FIELDS:
            _check_value(value, header.get("n_arrays", 0))
    return header


def decode(value, arrays):
    """A reply value: plain JSON, arrays, dicts, or :class:`Unsendable`."""
    if isinstance(value, list):
        return [decode(v, arrays) for v in value]
    if isinstance(value, dict):
        if "$a" in value:
            index = value["$a"]
            if not isinstance(index, int) or not 0 <= index < len(arrays):
                raise ProtocolError("reply refers to a missing array")
            return arrays[index]
        if "$d" in value and isinstance(value["$d"], dict):
            return {str(k): decode(v, arrays) for k, v in value["$d"].items()}
        if "$x" in value:
            description = str(value["$x"])[:200]
            # it names the student's types: only plain words reach the feedback
            return Unsendable(description if SAFE_TEXT.fullmatch(description) else "a value that could not be sent")
        raise ProtocolError("reply has an unknown object")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ProtocolError("reply has an unknown value")
