"""Hostile and broken submissions: grading keeps working, loses nothing and leaks nothing.

Each case of ``tests/hostile_cases.py`` is graded on a manifest restricted to three items
(Linear is the one attacked; SoftMax and MSECriterion are bystanders) with short limits. For
every case the test asserts that grading finished within its time bound, that exactly the
attacked tests failed and every other test passed, that the report says what happened, that
no file outside the sandbox changed and no process of it survived, that nothing of the
reference, the graders, the gradebook or another student's submission appears in what the
student gets back, and that the grader's own memory stayed bounded.

Then: a batch of 20 submissions with hostile ones mixed in, killed with SIGKILL midway and
resumed; and three gradings of one submission that must give the same results.json.
Cases that only bubblewrap (or a ``pids`` cgroup) can defeat are skipped, with the reason,
where it is missing. The slowest case, the count and the peak memory are kept in pytest's
cache (``pytest --cache-show 'hostile/*'``).
"""
import dataclasses
import hashlib
import json
import os
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder import manifest
from autograder.results import SubmissionResult
from autograder.runner import grade
from autograder.sandbox.client import (
    PIDS_ROOT,
    Limits,
    PidsGroup,
    bubblewrap_works,
    start_fork_server,
    stop_fork_server,
    unprivileged_python_works,
)
from autograder.selftest.reference_submission import reference_source
from tests import hostile_cases
from tests.hostile_cases import CASES, build
from tests.test_markdown import outside_code

PROJECT = Path(__file__).resolve().parents[1]
ITEMS = ("Linear", "SoftMax", "MSECriterion")
LIMITS = Limits(cell_seconds=3, call_seconds=1.5, cpu_seconds=30, submission_seconds=45, memory_mb=1536,
                processes=48, file_size_mb=16, start_seconds=20, disk_mb=64)
BASE = manifest.load("modules")
ASSIGNMENT = dataclasses.replace(BASE.main_only(), items={k: BASE.items[k] for k in ITEMS}, limits=LIMITS,
                                 notebook_limits={})
TIME_BOUND = LIMITS.submission_seconds + 15  # the budget, and closing the last worker
MEMORY_BOUND_MB = 400  # growth of the grader's resident memory while grading one case
SECRET_ENV = "AUTOGRADER_HOSTILE_SECRET"
# Text that only the reference package, the graders or their support modules contain: the
# solution a student hands in is the reference without its relative imports.
FINGERPRINTS = ("from .base import", "def test_forward(submission, ref, rng)", "from autograder.",
                "import reference_impl", "check_forward(student, reference")


def _cgroup_available():
    group = PidsGroup.create(4)
    if group is None:
        return False
    group.remove()
    return True


CGROUP = _cgroup_available()
PROCESS_LIMIT = CGROUP or os.geteuid() != 0
SKIPS = {
    "bwrap": (not bubblewrap_works(), "needs bubblewrap: without it the worker can reach the file system, "
              "the network and the grader's processes (reduced isolation)"),
    "cgroup": (not CGROUP, "needs a writable pids cgroup (/sys/fs/cgroup/pids, as root) to see and kill the "
               "processes a submission leaves behind"),
    "process_limit": (not PROCESS_LIMIT, "needs a process limit that binds: a pids cgroup, or grading as a "
                      "non-root user (RLIMIT_NPROC does not apply to root)"),
    "unprivileged": (os.geteuid() == 0 and not bubblewrap_works() and not unprivileged_python_works(),
                     "needs a worker that runs unprivileged: bubblewrap, or a Python an unprivileged user can run "
                     "(without either, a grader running as root runs the worker as root, and says so)"),
}


def skip_marks(case):
    if case.needs is None:
        return []
    condition, reason = SKIPS[case.needs]
    return [pytest.mark.skipif(condition, reason=reason)]


# -- the world around the grader: a course folder, a server, secrets ------------------------------

@pytest.fixture(scope="module", params=["fresh", "forked"])
def workers(request):
    """How workers start: each a new Python under bubblewrap, or forked from the prepared worker
    (what a batch does when it grades as root)."""
    if request.param == "forked":
        if start_fork_server(LIMITS) is None:
            pytest.skip("workers are forked only where bubblewrap works and the grader runs as root")
        yield request.param
        stop_fork_server()
    else:
        stop_fork_server()
        yield request.param


@pytest.fixture(scope="module")
def world(tmp_path_factory, workers):
    token = "SECRET" + secrets.token_hex(8)
    course = tmp_path_factory.mktemp("course")
    (course / "gradebook.db").write_bytes(b"SQLite format 3\x00" + f"grades of everyone {token}-gradebook".encode())
    other = course / "submitted" / "bob" / "modules"
    other.mkdir(parents=True)
    (other / "modules.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": f"# {token}-bob"}]}))
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.01)
    old_env = os.environ.get(SECRET_ENV)
    os.environ[SECRET_ENV] = f"{token}-environment"
    digits = str(secrets.randbelow(10 ** 9)).zfill(9)
    placeholders = {"@TOKEN@": token, "@DIGITS@": digits, "@COURSE@": str(course), "@PROJECT@": str(PROJECT),
                    "@PORT@": str(server.getsockname()[1])}

    def fill(text):
        for key, value in placeholders.items():
            text = text.replace(key, value)
        return text

    yield {"token": token, "digits": digits, "course": course, "server": server, "fill": fill,
           "folder": tmp_path_factory.mktemp("submissions"), "stats": {}}
    server.close()
    if old_env is None:
        os.environ.pop(SECRET_ENV, None)
    else:
        os.environ[SECRET_ENV] = old_env


def snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def forbidden_paths(token):
    """Where the hostile cases try to write outside the sandbox."""
    return [PROJECT / "reference_impl" / f"pwned_{token}.py", PROJECT / "autograder" / "graders" / f"pwned_{token}.py",
            Path("/tmp") / f"pwned_{token}", Path.home() / f"pwned_{token}"]


def processes_with(text):
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def our_cgroups():
    return sorted(PIDS_ROOT.glob(f"autograder-{os.getpid()}-*")) if CGROUP else []


class MemoryWatch:
    """Samples this process's resident memory while grading runs (the grader is this process)."""

    def __init__(self):
        self.start = self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss():
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
        return 0

    def _run(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.rss())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def assignment_for(case):
    """The three usual items, or the case's own."""
    if case.items is None:
        return ASSIGNMENT
    return dataclasses.replace(BASE.main_only(), items={k: BASE.items[k] for k in case.items}, limits=LIMITS,
                               notebook_limits={})


def grade_file(path, assignment=ASSIGNMENT):
    outcomes, info = grade(assignment, path)
    results = SubmissionResult.build(assignment, outcomes, info)
    return results.to_json(), results.to_markdown()


def student_text(results, feedback):
    """Everything the student gets back."""
    return json.dumps(results) + "\n" + feedback


def failed_tests(results):
    failed = {}
    for test in results["tests"]:
        if test["status"] != "passed":
            failed.setdefault(test["tags"][0], set()).add(test["extra_data"]["test"])
    return failed


def expected_failures(case, assignment=ASSIGNMENT):
    if case.unreadable:
        return {item: set(assignment.items[item].tests) for item in assignment.items}
    return {item: set(assignment.items[item].tests) if tests == "*" else set(tests)
            for item, tests in case.lost.items() if tests}


# -- the corpus ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def honest(world):
    """The untouched solution gets full marks on this manifest (and warms up the grader)."""
    path = world["folder"] / "honest.py"
    path.write_text(reference_source())
    results, _ = grade_file(path)
    assert results["score"] == ASSIGNMENT.max_score, results["output"]
    return results


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


def record(request, key, value):
    """Keeps a figure in pytest's cache for `make bench` (nothing when the cache plugin is off)."""
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        cache.set(key, value)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=skip_marks(c)) for c in CASES])
def test_hostile_case(case, world, honest, request):
    token = world["token"]
    course_before = snapshot(world["course"])
    path = build(case, world["folder"], world["fill"])
    started = time.monotonic()
    assignment = assignment_for(case)
    with MemoryWatch() as memory:
        results, feedback = grade_file(path, assignment)
    seconds = time.monotonic() - started
    world["stats"][case.id] = {"seconds": round(seconds, 2), "memory_mb": memory.peak - memory.start}
    record(request, "hostile/cases", world["stats"])
    text = student_text(results, feedback)

    # bounded time
    assert seconds <= TIME_BOUND, f"grading took {seconds:.1f} s"
    # exactly the attacked tests failed; every other one kept its points
    assert failed_tests(results) == expected_failures(case, assignment), text[-3000:]
    # the report says what happened
    if case.says:
        assert re.search(case.says, feedback + "\n".join(t["output"] for t in results["tests"])
                         + results["output"], re.S), feedback
    # nothing leaked into what the student reads, and none of the submission's text is HTML there
    for secret in (token, *FINGERPRINTS):
        assert secret not in text, f"{secret!r} leaked into the student's results"
    for markdown in [feedback, results["output"]] + [t["output"] for t in results["tests"]]:
        prose = outside_code(markdown)
        assert "<" not in prose and "](" not in prose, f"raw HTML or a link in the feedback: {prose[:500]}"
    # nothing changed outside the sandbox, nothing of it still runs
    assert snapshot(world["course"]) == course_before
    assert [p for p in forbidden_paths(token) if p.exists()] == []
    try:
        world["server"].accept()[0].close()
        pytest.fail("the submission reached a server on the grader's loopback")
    except TimeoutError:
        pass
    assert processes_with(f"1000.{world['digits']}") == []
    assert our_cgroups() == []
    # the grader's own memory stayed bounded
    bound = case.memory_mb or MEMORY_BOUND_MB
    assert memory.peak - memory.start <= bound, f"the grader grew by {memory.peak - memory.start} MB"


def test_a_worker_that_stops_reading_cannot_block_the_grader():
    """A call that forges a reply and then spins leaves the worker not reading its pipe: the
    next request, larger than the pipe's buffer, must still end at its deadline."""
    from autograder.sandbox.client import Sandbox, WorkerTimeout

    trick = hostile_cases.code("""
        import os, stat, struct, json
        def trick():
            frame = json.dumps({"ok": True, "result": None, "n_arrays": 0}).encode()
            for fd in range(3, 16):
                try:
                    if stat.S_ISFIFO(os.fstat(fd).st_mode):
                        os.write(fd, struct.pack(">Q", len(frame)) + frame)
                except OSError:
                    pass
            while True:
                pass
        """)
    with Sandbox(Limits(cell_seconds=3, call_seconds=2, start_seconds=20)) as box:
        assert box.run_cells([("cell 1", trick)])[0].ok
        box.request("call", function="trick", args=[])  # answered by the forgery
        started = time.monotonic()
        with pytest.raises(WorkerTimeout):
            box.request("call", function="trick", args=["x" * (1 << 20)])  # more than the pipe holds
        assert time.monotonic() - started < 5


def test_determinism(world):
    """Three gradings of one submission (a planted mistake, an exit, a lying subclass) give the
    same results.json, timings aside."""
    source = reference_source([("linear.py", "self.gradW += gradOutput.T @ input",
                                "self.gradW = gradOutput.T @ input")])
    path = world["folder"] / "determinism.py"
    path.write_text(source + "\n\n\nimport os\nif False:\n    os._exit(0)\n\n\nimport sys\ntry:\n    sys.exit(2)\n"
                    "except SystemExit:\n    pass\n")
    runs = []
    for _ in range(3):
        results, _ = grade_file(path)
        results["extra_data"].pop("seconds")
        for cell in results["extra_data"]["cells"]:
            cell.pop("seconds")
        runs.append(json.dumps(results, sort_keys=True))
    assert runs[0] == runs[1] == runs[2]
    assert json.loads(runs[0])["extra_data"]["items"]["Linear"]["score"] < ASSIGNMENT.items["Linear"].max_score


# -- a batch, killed and resumed ------------------------------------------------------------------

MANIFEST = """
[assignment]
name = "modules"
notebooks = ["modules.ipynb"]
main_notebook = "modules.ipynb"

[limits]
{limits}

[items.Linear]
grader = "test_linear"
tests = {linear}

[items.SoftMax]
grader = "test_softmax"
tests = {softmax}

[items.MSECriterion]
grader = "test_mse"
tests = {mse}
"""


def _toml_tests(item):
    return "{ " + ", ".join(f"{k} = {v}" for k, v in ASSIGNMENT.items[item].tests.items()) + " }"


def write_manifest(path):
    limits = "\n".join(f"{k} = {v}" for k, v in dataclasses.asdict(LIMITS).items())
    path.write_text(MANIFEST.format(limits=limits, linear=_toml_tests("Linear"), softmax=_toml_tests("SoftMax"),
                                    mse=_toml_tests("MSECriterion")))
    return path


BATCH_HOSTILE = ["hang_top_level", "hang_forward", "os_exit_cell", "memory_bomb", "kill_itself_in_forward",
                 "thread_spinning_after_cell", "invalid_json", "forged_reply_nested_json"]


def batch_submissions(folder):
    """20 submissions and, for each, the score every item must get."""
    full = {item: ASSIGNMENT.items[item].max_score for item in ITEMS}
    expected = {}
    for number in range(12):
        source, scores = reference_source(), dict(full)
        missing = ITEMS[number % 4] if number % 4 < 3 else None
        if missing:
            source = source.replace(f"class {missing}(", f"class {missing}Draft(")
            scores[missing] = 0
        name = f"honest{number:02d}"
        if number % 2:
            (folder / f"{name}.py").write_text(source)
        else:
            hostile_cases.write_notebook(folder / f"{name}.ipynb", [c for c in source.split("\n\n\n") if c.strip()])
        expected[name] = scores
    by_id = {case.id: case for case in CASES}
    for name in BATCH_HOSTILE:
        case = by_id[name]
        build(case, folder, lambda text: text)
        lost = expected_failures(case)
        expected[name] = {item: ASSIGNMENT.items[item].max_score - sum(
            ASSIGNMENT.items[item].tests[t] for t in lost.get(item, ())) for item in ITEMS}
    return expected


def peak_of_graders(root_pid, peaks):
    """VmHWM (peak resident memory) of the grading processes: the command and its pool, not
    the sandbox workers or bubblewrap."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                pass
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        stack += children.get(pid, [])
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"worker.py" in cmdline or cmdline.startswith(b"bwrap"):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]) // 1024)


def run_batch(args, kill_when=None, timeout=240):
    """Run ``autograder grade``; with ``kill_when``, SIGKILL it (and its pool) once that is true."""
    process = subprocess.Popen([sys.executable, "-m", "autograder", "grade", *map(str, args)], cwd=PROJECT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    peaks, deadline, killed = {}, time.monotonic() + timeout, False
    try:
        while process.poll() is None:
            peak_of_graders(process.pid, peaks)
            if kill_when is not None and kill_when():
                os.killpg(process.pid, signal.SIGKILL)
                killed = True
                break
            assert time.monotonic() < deadline, "the batch did not finish in time"
            time.sleep(0.1)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, out.decode(), err.decode(), killed, peaks


def test_batch_survives_hostile_submissions_and_a_kill(tmp_path, request):
    folder = tmp_path / "submissions"
    folder.mkdir()
    expected = batch_submissions(folder)
    assert len(expected) == 20
    manifest_path = write_manifest(tmp_path / "modules.toml")
    out = tmp_path / "graded"
    jobs = ["-j", "2"]

    def finished():
        return sorted(p.parent.name for p in out.glob("*/results.json"))

    started = time.monotonic()
    _, _, err, killed, peaks_first = run_batch([manifest_path, folder, "--out", out, *jobs],
                                              kill_when=lambda: len(finished()) >= 6)
    assert killed, f"the batch ended before it could be killed: {err[-2000:]}"
    done_before = {name: (out / name / "results.json").stat().st_mtime_ns for name in finished()}
    assert 0 < len(done_before) < 20
    for path in out.rglob("*"):  # atomic writes: no half-written files, only whole ones
        if path.is_file():
            assert not path.name.startswith("."), f"a temporary file was left: {path}"
            if path.suffix == ".json":
                json.loads(path.read_text())

    code, stdout, err, _, peaks_second = run_batch([manifest_path, folder, "--out", out, *jobs])
    total_seconds = time.monotonic() - started
    assert code == 0, err[-3000:]
    for name, scores in expected.items():
        results = json.loads((out / name / "results.json").read_text())
        got = {item: results["extra_data"]["items"][item]["score"] for item in ITEMS}
        assert got == scores, (name, results["output"], got)
    peak = max([*peaks_first.values(), *peaks_second.values()], default=0)
    record(request, "hostile/batch", {"seconds": round(total_seconds, 1), "peak_grader_mb": peak,
                                      "finished_before_kill": len(done_before)})
    assert peak < 1024, f"a grading process reached {peak} MB"
    if CGROUP:  # the cgroups of the killed batch's workers were emptied and removed by the rerun
        assert [p for pid in peaks_first for p in PIDS_ROOT.glob(f"autograder-{pid}-*")] == []
    regraded = [name for name, mtime in done_before.items()
                if (out / name / "results.json").stat().st_mtime_ns != mtime]
    assert regraded == [], f"finished submissions were graded again: {regraded}"


def test_summary(world, request):
    """Not a check: records the count, the slowest case and this process's peak memory."""
    stats = world["stats"]
    if stats:
        slowest = max(stats, key=lambda k: stats[k]["seconds"])
        summary = {"cases": len(CASES), "graded": len(stats), "slowest": slowest,
                   "slowest_seconds": stats[slowest]["seconds"],
                   "max_memory_growth_mb": max(s["memory_mb"] for s in stats.values()),
                   "pytest_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
        record(request, "hostile/summary", summary)
        print(f"\nhostile corpus: {summary}")


def test_forged_replies_are_refused_before_anything_reads_them():
    from autograder.sandbox import protocol

    good = {"ok": True, "n_arrays": 1, "result": [{"$a": 0}, {"$d": {"k": {"$x": "a thing"}}}, 1.5, None],
            "classes": {"Linear": {"attributes": ["forward"], "bases": ["Module"]}}, "functions": [],
            "background": {"threads": 0}}
    assert protocol.check_reply(good, "call") is good and protocol.check_reply(good, "inspect") is good
    malformed = [{"classes": [1]}, {"classes": {"A": {"attributes": [1]}}}, {"functions": "f"},
                 {"result": {"$a": 5}, "n_arrays": 1}, {"result": {"$h": 1}}, {"result": {"$h": "1"}},
                 {"result": {"$a": 0, "$h": 1}, "n_arrays": 1}, {"result": {"evil": 1}},
                 {"result": [[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]}, {"background": {"busy_new": "1"}},
                 {"output": 12}, {"args_after": {"$d": []}}, {"cells": [["cell 1", "x = 1", 0]]},
                 {"cells": [["cell 1", "x = 1"]]}]
    for forged in malformed:
        with pytest.raises(protocol.ProtocolError):
            protocol.check_reply(dict({"ok": True, "result": None}, **forged), "call")
    # a reply without what its request answers, or a failure without its error, is malformed too
    for forged, op, requires in [
            ({}, "call", ()), ({"ok": "yes", "result": None}, "call", ()), ({"ok": True}, "call", ()),
            ({"ok": True}, "getattr", ()), ({"ok": True, "classes": {}}, "inspect", ()), ({"ok": True}, "read", ()),
            ({"ok": False}, "call", ()), ({"ok": False, "error": {"type": 3}}, "call", ()),
            ({"ok": False, "error": {"frames": [None]}}, "call", ()),
            ({"ok": True, "result": None}, "call", ("args_after",))]:
        with pytest.raises(protocol.ProtocolError):
            protocol.check_reply(forged, op, requires)
    for payload in [b"[" * 100_000, b'{"n": 1' + b"0" * 5000 + b"}", b'{"n_arrays": -1}', b'{"n_arrays": 1e9}',
                    b"\xff"]:
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_header(payload)


def test_the_sandbox_says_what_limits_its_processes():
    from autograder.sandbox.client import Sandbox

    with Sandbox(LIMITS) as box:
        assert box.process_limit == ("cgroup" if CGROUP else "rlimit" if os.geteuid() != 0 else "none")
        if CGROUP:
            assert box.pids_group.path.is_dir() and len(box.pids_group.pids()) >= 1
            group = box.pids_group.path
    if CGROUP:
        assert not group.exists()
