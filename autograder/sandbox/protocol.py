"""The trusted side of the wire format described in ``worker.py``.

Nothing received is executed or unpickled: JSON is parsed, arrays are read with
``allow_pickle=False`` and must be plain numeric arrays, and every frame has a size cap.
"""
import io
import json
import struct

import numpy as np

MAX_FRAME = 512 << 20
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


def frame_length(prefix):
    (length,) = struct.unpack(">Q", prefix)
    if length > MAX_FRAME:
        raise ProtocolError(f"a reply frame of {length} bytes is over the limit")
    return length


def parse_header(payload):
    try:
        header = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProtocolError(f"reply is not JSON: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("n_arrays", 0), int):
        raise ProtocolError("reply header is not an object")
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
