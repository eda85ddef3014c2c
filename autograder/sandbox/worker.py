"""The sandbox worker: runs a student's cells, then answers requests about the objects they define.

This file runs *inside* the sandbox, started as ``python -I worker.py``. It imports nothing
from the project (the project is not visible there) and trusts nothing the student defines.
It never judges anything: it only executes and returns numbers to the trusted grader process.

Wire format, both directions: a message is a JSON frame followed by ``n_arrays`` array frames;
every frame is an 8-byte big-endian length and its payload. An array frame is the dtype's
``str`` as 4 ASCII bytes (padded with spaces), the number of dimensions as one byte, each
dimension as 8 bytes big-endian, then the elements in C order. Inside the JSON,
``{"$a": i}`` is the i-th array frame, ``{"$s": [offset, dtype, shape]}`` an array in the
shared arena (below), ``{"$h": id}`` an object kept in this worker under a number the trusted
side chose, ``{"$d": {...}}`` a dict, and ``{"$x": "..."}`` a value that could not be sent.

The arena is a memory file the trusted side made and mapped before this process started
(``--arena FD``). The trusted side writes the arrays of a request into it and this worker
hands the student views of them; after the call the trusted side reads the same memory
itself. So whether the student's code changed an input, or updated an optimizer's variables
in place, is seen by the trusted side directly, never reported by this process (whose code
the student can replace). The trusted side never writes to a place of the arena twice, so
an array the student keeps (``self.input = input``) stays as it was given.

When the grader runs as root it starts this process as root inside bubblewrap with only the
capabilities to change user (``--uid``); :func:`drop_privileges` gives them up for an
unprivileged uid of its own before anything else happens, so the student's code never runs
as root, whatever the grader runs as.

The student's code shares this interpreter, so this worker protects the little it needs to
keep answering (see :meth:`Worker.student`): Python's builtins and ``sys.stdout`` are put
back after each cell or call, garbage is collected once at the end of each request that ran
the student's code, before everything is put back once more (a hanging ``__del__`` is charged
to the request that made the garbage, not to a later one), timers it set are cancelled, and
threads it left behind are reported. Processes it forks never answer requests. The trusted
side checks everything anyway; these only keep an honest part of a submission gradable.
"""
import ast
import builtins
import dis
import gc
import io
import json
import mmap
import operator
import os
import random
import signal
import struct
import sys
import threading
import time
import traceback
import types

import numpy as np

MAX_FRAME = 1 << 30
OUTPUT_KEEP = 20_000  # characters of printed output kept per cell or call
MAX_REPLY_ARRAYS = 16 << 20  # bytes of arrays in one reply (the trusted side refuses more)
MAX_REPLY_JSON = 7 << 20  # bytes of JSON in one reply (the trusted side refuses more than 8 MB)
MAX_VALUE_JSON = 1 << 20  # bytes of JSON for one value (a returned list, say)
MAX_NAMES = 2000  # classes and functions reported by inspect, and attributes per class
MAX_ATTRIBUTES = 50_000  # attribute names reported by inspect, all classes together
BUILTINS_DICT = vars(builtins)  # the dictionary itself: it stays the same object
BUILTINS = dict(BUILTINS_DICT)
BUILTIN_NAMES, BUILTIN_VALUES = tuple(BUILTINS), tuple(BUILTINS.values())
# What the check of the builtins calls, bound now: the student's code may replace the builtins themselves
_ALL, _LEN, _MAP, _IS = all, len, map, operator.is_
RECURSION_LIMIT = sys.getrecursionlimit()
_dumps, _loads, _pack, _unpack = json.dumps, json.loads, struct.pack, struct.unpack


class BoundedText(io.TextIOBase):
    """Stands in for stdout/stderr: keeps the first characters written, counts the rest."""

    def __init__(self):
        self.parts, self.kept, self.dropped = [], 0, 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = OUTPUT_KEEP - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters of output not shown]"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


class Channel:
    def __init__(self, read_fd, write_fd):
        self.reader = os.fdopen(read_fd, "rb", buffering=0)
        self.writer = os.fdopen(write_fd, "wb", buffering=0)
        self.buffer = bytearray()  # read ahead: a request's frames usually come in one read

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.reader.read(max(n - len(self.buffer), 1 << 16))
            if not chunk:
                raise EOFError
            self.buffer += chunk
        with memoryview(self.buffer) as view:
            data = bytes(view[:n])
        del self.buffer[:n]
        return data

    def _read_frame(self):
        (length,) = _unpack(">Q", self._read_exact(8))
        if length > MAX_FRAME:
            raise ValueError("frame too large")
        return self._read_exact(length)

    def receive(self):
        header = _loads(self._read_frame())
        arrays = [read_array(self._read_frame()) for _ in range(header.get("n_arrays", 0))]
        return header, arrays

    def send(self, header, arrays=()):
        frames = [_dumps(dict(header, n_arrays=len(arrays))).encode()]
        if len(frames[0]) > MAX_REPLY_JSON:  # values are capped on their own; this is a last resort
            error = {"type": "ReplyTooLarge", "message": "the reply was too large to send", "frames": []}
            frames, arrays = [_dumps({"ok": False, "error": error, "output": "", "n_arrays": 0}).encode()], ()
        frames += [array_frame(array) for array in arrays]
        self.writer.write(b"".join(_pack(">Q", len(f)) + f for f in frames))


def array_frame(array):
    array = np.asarray(array)
    shape = array.shape  # tobytes() writes C order whatever the array's own layout
    return array.dtype.str.encode().ljust(4) + _pack(f">B{len(shape)}Q", len(shape), *shape) + array.tobytes()


def read_array(frame):
    """An array frame from the trusted side (only numeric arrays, which it checked, are sent)."""
    ndim = frame[4]
    start = 5 + 8 * ndim
    shape = _unpack(f">{ndim}Q", frame[5:start])
    return np.frombuffer(frame, np.dtype(frame[:4].decode().strip()), offset=start).reshape(shape).copy()


class Worker:
    def __init__(self, channel, arena=None):
        self.channel = channel
        self.arena = arena  # the shared memory of the trusted side's arrays, or None
        self.student_files = set()  # the file names of the student's compiled cells, for tracebacks
        # display() exists in every notebook kernel; here it shows nothing
        self.namespace = {"__name__": "__main__", "__builtins__": builtins, "display": lambda *a, **k: None}
        self.objects = {}  # handle number (chosen by the trusted side) -> object
        self.output = BoundedText()
        sys.stdout = sys.stderr = self.output
        self.pid = os.getpid()
        self.idle_threads = {}  # thread id -> CPU ticks when it was last seen idle
        self.ran_student = False

    # -- running the student's code -----------------------------------------------------------

    def student(self, function, *args, **kwargs):
        """Call the student's code, then put back what the worker itself relies on."""
        self.ran_student = True
        try:
            return function(*args, **kwargs)
        finally:
            self.restore()

    def restore(self):
        sys.settrace(None)  # first: a tracer would run on everything below
        sys.setprofile(None)
        sys.setrecursionlimit(RECURSION_LIMIT)
        restore_builtins()
        sys.stdout = sys.stderr = self.output
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(timer, 0)  # a timer would fire during a later request

    def settle(self):
        """Once per request that ran the student's code: collect its garbage, so that every
        ``__del__`` runs (and is charged) now, then put everything back once more, as a
        ``__del__`` is the student's code too.

        What survives is set aside (``gc.freeze``): no later collection, automatic or here,
        examines it again, so each costs what the request made, not everything kept since the
        cells ran (about 0.15 s of a grading's CPU time otherwise). A cycle of such objects that
        a later request drops is never collected: its memory counts against the worker's limit
        and its ``__del__`` never runs, so no ``__del__`` runs outside a request."""
        if self.ran_student:
            self.ran_student = False
            try:
                gc.collect()
                gc.freeze()
            finally:
                self.restore()

    def background(self):
        """Threads the student's code left running: ``busy_new`` those new since the last
        request that use the CPU, ``busy_old`` idle ones seen before that have started to.
        Idle threads (a pool waiting for work) are tolerated."""
        reap_children()
        ticks = thread_ticks()
        for tid in list(self.idle_threads):
            if tid not in ticks:
                del self.idle_threads[tid]
        new = [tid for tid in ticks if tid not in self.idle_threads]
        wait_until = time.monotonic() + 0.2
        while new and time.monotonic() < wait_until:  # threads that are just finishing
            time.sleep(0.01)
            ticks = thread_ticks()
            new = [tid for tid in new if tid in ticks]
        busy_new = 0
        if new:
            # 15 clock ticks while this thread sleeps: a spinning thread takes most of them even
            # on a busy machine, one waiting for work takes none
            time.sleep(0.15)
            after = thread_ticks()
            for tid in new:
                if tid in after:
                    if after[tid] - ticks[tid] >= 2:
                        busy_new += 1
                    else:
                        self.idle_threads[tid] = after[tid]
            ticks = after
        # an idle thread that has used 0.3 s of CPU since it was found idle is no longer idle
        busy_old = sum(1 for tid, seen in self.idle_threads.items() if ticks.get(tid, seen) - seen >= 30)
        return {"threads": len(ticks), "busy_new": busy_new, "busy_old": busy_old}

    # -- values -------------------------------------------------------------------------------

    def keep(self, request, obj):
        """Keep ``obj`` under the handle number the trusted side chose for it."""
        handle = request["handle"]
        if type(handle) is not int:
            raise ValueError("a request to keep an object must give its handle number")
        self.objects[handle] = obj

    def encode(self, value, arrays, notes, depth=0):
        """Turn a student's value into JSON plus arrays; anything odd becomes a note, not a crash."""
        if depth > 6:
            return {"$x": "a value nested too deeply"}
        if value is None or isinstance(value, (bool, int, float, str)) and type(value) in (bool, int, float, str):
            return value
        if (type(value) is np.ndarray or isinstance(value, (np.ndarray, np.generic))
                or hasattr(type(value), "__array__")):
            kind = type(value).__name__
            try:
                array = np.array(value, subok=False, copy=True)
            except Exception as error:  # noqa: BLE001 - the student's __array__ may raise anything
                return {"$x": f"a {kind} that could not be turned into an array ({type(error).__name__})"}
            if type(value) is not np.ndarray and not isinstance(value, np.generic):
                notes.append(f"returned a {kind}, not a plain numpy.ndarray; it was converted")
            if array.dtype.kind not in "biufc":
                return {"$x": f"an array of dtype {array.dtype}"}
            if sum(a.nbytes for a in arrays) + array.nbytes > MAX_REPLY_ARRAYS:
                return {"$x": f"an array too large to send ({array.nbytes >> 20} MB)"}
            arrays.append(array)
            return {"$a": len(arrays) - 1}
        if type(value) in (list, tuple):
            return [self.encode(item, arrays, notes, depth + 1) for item in value]
        if type(value) is dict:
            return {"$d": {str(k): self.encode(v, arrays, notes, depth + 1) for k, v in value.items()}}
        return {"$x": f"a {type(value).__name__}"}

    def wire(self, value, arrays, notes):
        """:meth:`encode`, with a cap on the JSON it makes (a list of millions of numbers, say)."""
        encoded = self.encode(value, arrays, notes)
        size = len(_dumps(encoded))
        if size > MAX_VALUE_JSON:
            return {"$x": f"a value too large to send ({size >> 10} kB as JSON)"}
        return encoded

    def decode(self, value, arrays):
        if isinstance(value, list):
            return [self.decode(item, arrays) for item in value]
        if isinstance(value, dict):
            if "$a" in value:
                return arrays[value["$a"]].copy()
            if "$s" in value:
                offset, dtype, shape = value["$s"]
                return np.ndarray(tuple(shape), dtype=np.dtype(dtype), buffer=self.arena, offset=offset)
            if "$h" in value:
                return self.objects[value["$h"]]
            if "$d" in value:
                return {k: self.decode(v, arrays) for k, v in value["$d"].items()}
        return value

    # -- requests -----------------------------------------------------------------------------

    def run(self):
        while True:
            try:
                request, arrays = self.channel.receive()
            except EOFError:
                return
            out_arrays = []
            try:
                try:
                    reply = getattr(self, "op_" + request["op"])(request, arrays, out_arrays)
                finally:
                    self.settle()
            except BaseException as error:  # noqa: BLE001 - SystemExit and friends are the student's too
                out_arrays = []
                reply = {"ok": False, "error": describe_error(error, self.student_files)}
            if os.getpid() != self.pid:  # a process the student's code forked: it never answers
                os._exit(0)
            reply["output"] = self.output.take()
            reply["background"] = self.background()
            self.channel.send(reply, out_arrays)

    def op_read(self, request, arrays, out):
        """The code cells of a file of the submission's folder (see ``reader.py``), read before
        any of the student's code runs."""
        cells = READER.read_cells(request["path"], request.get("max_cells", READER.MAX_CELLS),
                                  request.get("max_chars", READER.MAX_SOURCE_CHARS))
        return {"ok": True, "cells": [[cell.name, cell.source, cell.line] for cell in cells]}

    def op_exec(self, request, arrays, out):
        filename = f"<{request['name']}>"
        self.student_files.add(filename)
        line = request.get("line", 1)
        if line > 1:  # a .py file's cell: tracebacks give the file's own line numbers
            tree = ast.parse(request["source"], filename)
            ast.increment_lineno(tree, line - 1)
            code = compile(tree, filename, "exec")
        else:
            code = compile(request["source"], filename, "exec")
        self.student(exec, code, self.namespace)  # noqa: S102 - running the student's cell is this process's job
        self.settle()  # the cell's garbage goes, and what it built (SciPy, the student's classes) is set aside
        return {"ok": True}

    def op_inspect(self, request, arrays, out):
        """The classes and functions the namespace defines. Read through ``type``'s own
        descriptors, so that a metaclass cannot hang or break this; a class that cannot be
        read is left out, not the whole submission."""
        classes, functions, budget = {}, [], MAX_ATTRIBUTES
        for name, value in list(self.namespace.items())[:50_000]:
            if not isinstance(name, str) or len(classes) + len(functions) >= MAX_NAMES:
                continue
            try:
                if isinstance(value, type):
                    mro = TYPE_MRO(value)
                    attributes = set()
                    for klass in mro:
                        if klass is not object:
                            attributes.update(k for k in TYPE_DICT(klass) if isinstance(k, str) and len(k) <= 100)
                    # method-like names first, so that a class with thousands of attributes keeps them
                    ordered = sorted(attributes, key=lambda a: (a.startswith("_"), a))[:min(MAX_NAMES, budget)]
                    budget -= len(ordered)
                    classes[name] = {"attributes": sorted(ordered), "bases": [TYPE_NAME(b) for b in mro[1:]]}
                elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType)) or callable(value):
                    functions.append(name)
            except Exception:  # noqa: BLE001 - a hostile class is skipped
                continue
        return {"ok": True, "classes": classes, "functions": sorted(functions)}

    def op_unfinished(self, request, arrays, out):
        """The methods of a class that are still stubs (their first statement raises
        NotImplementedError), in definition order, read from their bytecode without calling
        anything: feedback names them all, not only the one a test reached first."""
        cls = self.namespace.get(request.get("class"))
        unfinished, seen = [], set()
        for klass in TYPE_MRO(cls) if isinstance(cls, type) else ():
            if klass is object:
                continue
            for name, value in list(TYPE_DICT(klass).items())[:MAX_NAMES]:
                if not isinstance(name, str) or name in seen:
                    continue
                seen.add(name)
                if isinstance(value, types.FunctionType) and raises_not_implemented(value.__code__):
                    unfinished.append(name)
        return {"ok": True, "unfinished": unfinished[:MAX_NAMES]}

    def op_new(self, request, arrays, out):
        cls = self.namespace[request["class"]]
        seed(request.get("seed"))
        obj = self.student(cls, *self.decode(request.get("args", []), arrays),
                           **self.decode(request.get("kwargs", {}), arrays))
        self.keep(request, obj)
        return {"ok": True}

    def op_lookup(self, request, arrays, out):
        """A handle to a variable of the student's namespace (e.g. the trained ``model``)."""
        if request["name"] not in self.namespace:
            raise NameError(f"name {request['name']!r} is not defined")
        self.keep(request, self.namespace[request["name"]])
        return {"ok": True}

    def op_new_dict(self, request, arrays, out):
        self.keep(request, {})
        return {"ok": True}

    def op_value(self, request, arrays, out):
        """A kept object's value (an optimizer's ``state`` dictionary, say)."""
        notes = []
        return {"ok": True, "result": self.wire(self.objects[request["target"]["$h"]], out, notes), "notes": notes}

    def op_call(self, request, arrays, out):
        """Call a method of a kept object (``target`` and ``method``) or a function of the namespace."""
        if request.get("target") is not None:
            target, name = self.objects[request["target"]["$h"]], request["method"]
            find = lambda: getattr(target, name)  # noqa: E731 - the student's attribute lookup
        else:
            function = self.namespace[request["function"]]
            find = lambda: function  # noqa: E731
        args = self.decode(request.get("args", []), arrays)
        kwargs = self.decode(request.get("kwargs", {}), arrays)
        number = request.get("seed")

        def call():  # looked up, then the generators seeded, then called: one stretch of the student's code
            method = find()
            seed(number)
            return method(*args, **kwargs)
        result = self.student(call)
        if request.get("handle") is not None:  # the result stays here (e.g. ``seq[i]``)
            self.keep(request, result)
            return {"ok": True, "result": None, "notes": []}
        notes = []
        reply = {"ok": True, "result": self.wire(result, out, notes), "notes": notes}
        if request.get("return_args"):  # the values the arguments hold now (an optimizer's variables)
            reply["args_after"] = [self.wire(arg, out, []) for arg in args]
        return reply

    def op_getattr(self, request, arrays, out):
        obj = self.objects[request["target"]["$h"]]
        names = request["name"].split(".")
        for name in names:
            obj = obj[name] if isinstance(obj, dict) else self.student(getattr, obj, name)
        notes = []
        return {"ok": True, "result": self.wire(obj, out, notes), "notes": notes}

    def op_setattr(self, request, arrays, out):
        self.student(setattr, self.objects[request["target"]["$h"]], request["name"],
                     self.decode(request["value"], arrays))
        return {"ok": True}

    def op_write_arrays(self, request, arrays, out):
        """Write new values into an object's parameter arrays in place, found through ``getter``;
        where the getter does not give them, set the named attributes instead."""
        obj = self.objects[request["target"]["$h"]]
        values = self.decode(request["values"], arrays)
        try:
            found = self.student(lambda: getattr(obj, request["getter"])()) if request.get("getter") else None
        except Exception:  # noqa: BLE001 - a stubbed or broken getter: fall back to the attributes
            found = None
        flat = flatten(found) if found is not None else []
        if len(flat) == len(values) and all(
            isinstance(p, np.ndarray) and p.shape == v.shape for p, v in zip(flat, values)
        ):
            for p, v in zip(flat, values):
                p[...] = v
            try:  # a getter that hands out copies: the values did not reach the layer
                again = flatten(self.student(lambda: getattr(obj, request["getter"])()))
            except Exception:  # noqa: BLE001
                again = []
            if len(again) == len(values) and all(
                isinstance(p, np.ndarray) and p.shape == v.shape and np.array_equal(p, v) for p, v in zip(again, values)
            ):
                return {"ok": True, "via": "getter"}
        for name, v in zip(request["attributes"], values):
            current = getattr(obj, name, None)
            if isinstance(current, np.ndarray) and current.shape == v.shape:
                current[...] = v
            else:
                self.student(setattr, obj, name, v)
        return {"ok": True, "via": "attributes"}

    def op_nudge(self, request, arrays, out):
        """Subtract ``delta`` in place from every array the getter returns, as an optimizer does."""
        obj = self.objects[request["target"]["$h"]]
        count = 0
        for p in flatten(self.student(lambda: getattr(obj, request["getter"])())):
            if isinstance(p, np.ndarray):
                p -= request["delta"]
                count += 1
        return {"ok": True, "count": count}

    def op_probe(self, request, arrays, out):
        base = self.namespace[request["base"]]
        probe_class = make_probe_class(base, request["hooks"], request["kind"])
        self.keep(request, self.student(probe_class, *self.decode(request.get("args", []), arrays)))
        return {"ok": True}

    def op_ping(self, request, arrays, out):
        return {"ok": True}


# What may come before the ``raise`` of a stub: its exception's name, a message, the call.
STUB_OPS = {"RESUME", "NOP", "CACHE", "PUSH_NULL", "PRECALL", "CALL", "KW_NAMES", "LOAD_CONST", "COPY_FREE_VARS"}


def raises_not_implemented(code):
    """A function whose first statement is ``raise NotImplementedError`` (with or without a
    message): its bytecode loads that name and raises before it does anything else."""
    loaded = False
    for instruction in dis.get_instructions(code):
        if instruction.opname == "RAISE_VARARGS":
            return loaded
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and instruction.argval == "NotImplementedError":
            loaded = True
        elif instruction.opname not in STUB_OPS:
            return False
    return False


def flatten(items):
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in flatten(item)]
    return [items]


def seed(value):
    if value is not None:
        np.random.seed(value)
        random.seed(value)


def restore_builtins():
    """Builtins the student's code replaced or added are put back (compared by identity, so
    that no student ``__eq__`` runs here)."""
    current = BUILTINS_DICT
    if (_LEN(current) != _LEN(BUILTIN_NAMES) or not _ALL(_MAP(_IS, current.values(), BUILTIN_VALUES))
            or not _ALL(_MAP(_IS, current, BUILTIN_NAMES))):
        current.clear()
        current.update(BUILTINS)


def thread_ticks():
    """CPU clock ticks of every thread of this process but the main one, by thread id."""
    ticks = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:  # not Linux: threads are not watched
        return ticks
    for tid in tids:
        if int(tid) == MAIN_TID:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            ticks[int(tid)] = int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return ticks


def reap_children():
    """Children the student's code started and that have ended are reaped (no zombies)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def describe_error(error, student_files=()):
    try:
        return _describe_error(error, student_files)
    except BaseException:  # noqa: BLE001 - a hostile exception whose attributes raise
        return {"type": "Exception", "message": "(the error could not be described)", "frames": [], "function": None}


def _describe_error(error, student_files):
    """The exception and the student's own frames only (those of the cells it ran)."""
    student_frames = [frame for frame in traceback.extract_tb(error.__traceback__) if frame.filename in student_files]
    frames = [
        f"  {frame.filename[1:-1]}, line {frame.lineno}, in {frame.name}"
        + (f"\n    {frame.line}" if frame.line else "")
        for frame in student_frames
    ]
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a hostile __str__
        message = "(the exception's message could not be shown)"
    innermost = student_frames[-1].name if student_frames else None
    described = {"type": TYPE_NAME(type(error)), "message": message[:2000], "frames": [f[:1000] for f in frames[-8:]],
                 "function": innermost}
    if READER is not None and type(error) is READER.UnreadableNotebook:  # the reader's own reason, in parts
        described["template"] = error.template
        described["params"] = {k: v if type(v) is int else str(v)[:1000] for k, v in error.params.items()}
    return described


def main_thread_id():
    """This thread's id as /proc shows it (which may belong to an outer PID namespace than this
    process's own: a forked worker's does)."""
    try:
        return int(os.readlink("/proc/thread-self").rsplit("/", 1)[1])
    except (OSError, ValueError, IndexError):  # not Linux
        return threading.get_native_id()


MAIN_TID = main_thread_id()
# type's own descriptors: reading a class through them runs none of its metaclass's code
TYPE_MRO = type.__dict__["__mro__"].__get__
TYPE_DICT = type.__dict__["__dict__"].__get__
TYPE_NAME = type.__dict__["__name__"].__get__


def make_probe_class(base, hooks, kind):
    """A small module of known behaviour, built on the student's own base class and hook names,
    so that containers can be tested independently of the student's other layers.

    ``square``: y = x^2 + x, no parameters.  ``scale``: y = x * w with one parameter vector w.
    ``matrix``: y = x @ w with one parameter matrix w (a layer that changes the width).
    """

    def compute(self, input):
        if kind == "square":
            return input * input + input
        return input @ self._w if kind == "matrix" else input * self._w

    def input_grad(self, input, grad):
        if kind == "square":
            return grad * (2 * input + 1)
        return grad @ self._w.T if kind == "matrix" else grad * self._w

    def param_grad(self, input, grad):
        return input.T @ grad if kind == "matrix" else (grad * input).sum(axis=0)

    def store(self, name, value):
        setattr(self, hooks[name + "_attr"], value)
        return value

    namespace = {
        hooks["forward"]: lambda self, input: store(self, "output", compute(self, input)),
        hooks["grad_input"]: lambda self, input, grad: store(self, "grad_input", input_grad(self, input, grad)),
        hooks["grad_params"]: lambda self, input, grad: (
            None if kind == "square" else self._gw.__iadd__(param_grad(self, input, grad))
        ),
        hooks["zero"]: lambda self: None if kind == "square" else self._gw.fill(0),
        hooks["params"]: lambda self: [] if kind == "square" else [self._w],
        hooks["grads"]: lambda self: [] if kind == "square" else [self._gw],
        "__repr__": lambda self: f"Probe{kind.title()}()",
    }

    def __init__(self, *args):
        base.__init__(self)
        if kind in ("scale", "matrix"):
            self._w = np.array(args[0], dtype=float)
            self._gw = np.zeros_like(self._w)

    namespace["__init__"] = __init__
    return type(f"_Probe{kind.title()}", (base,), namespace)


def drop_privileges(uid):
    """Become ``uid`` (and its own group, no supplementary groups) for good. The grader starts
    this process as root only when it runs as root itself, inside bubblewrap with no
    capability but the two needed here; becoming a non-zero uid clears those too, and
    bubblewrap's no-new-privileges flag keeps set-uid programs from giving any back."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != uid:
        raise SystemExit("the worker could not drop its privileges")
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            effective = next(line for line in status if line.startswith("CapEff:"))
    except (OSError, StopIteration):
        return
    if int(effective.split()[1], 16) != 0:
        raise SystemExit("the worker still holds capabilities")


def load_reader():
    """``reader.py``, which lies beside this file (it is not on the student's import path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_autograder_reader",
                                                  os.path.join(os.path.dirname(__file__), "reader.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_arguments(argv):
    options = {}
    for name, value in zip(argv[::2], argv[1::2]):
        options[name.lstrip("-")] = int(value)
    return options


def main():
    global READER
    options = parse_arguments(sys.argv[1:])
    if "uid" in options:
        drop_privileges(options["uid"])
    READER = load_reader()
    arena = mmap.mmap(options["arena"], options["arena_size"]) if "arena" in options else None
    # Keep the protocol on private descriptors; the student's prints go to a bounded buffer
    # and anything written straight to file descriptors 1 and 2 goes nowhere.
    sys.path.insert(0, os.getcwd())  # as in a kernel: files beside the notebook can be imported
    channel = Channel(os.dup(0), os.dup(1))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if "arena" in options:
        os.close(options["arena"])  # the mapping stays; the student's code gets no descriptor to it
    Worker(channel, arena).run()


READER = None

if __name__ == "__main__":
    main()
