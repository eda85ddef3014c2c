"""Workers forked from the prepared worker: each in a sandbox of its own, as a fresh worker is.

The prepared worker (``autograder/sandbox/forkserver.py``) runs as root inside bubblewrap and
forks every worker of a batch; these attacks come from a worker's cells and check that it
cannot reach the prepared worker, another worker, or anything the classic start hides.
"""
import os
import signal
import time

import pytest

from autograder.sandbox import client
from autograder.sandbox.client import ForkedWorker, Limits, Sandbox, start_fork_server, stop_fork_server

FAST = Limits(cell_seconds=10, call_seconds=5, cpu_seconds=60, submission_seconds=60, start_seconds=20, disk_mb=16)


@pytest.fixture(scope="module")
def server():
    stop_fork_server()
    started = start_fork_server(FAST)
    if started is None:
        pytest.skip("workers are forked only where bubblewrap works and the grader runs as root")
    yield started
    stop_fork_server()


def run(box, source):
    """Run one cell; its printed output, or the error it raised (as text)."""
    report = box.run_cells([("attack", source)])[0]
    assert report.ok, f"{report.error}\n{report.output}"
    return report.output


def outer_pid(host_pid):
    """A process's pid in the prepared worker's PID namespace (as a worker's /proc shows it)."""
    return client._namespace_pids(host_pid)[1]


def test_a_forked_worker_is_unprivileged_and_finds_numpy_and_scipy_imported(server):
    with Sandbox(FAST) as box:
        assert isinstance(box.process, ForkedWorker)
        out = run(box, """
import os, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print(os.getuid(), os.getgid(), os.getgroups(), os.getpid(), "scipy.special" in sys.modules,
      [int(status[k].split()[0], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")],
      status["NoNewPrivs"].strip(), sorted(os.listdir("/tmp")))
""")
        # /tmp is fresh: it holds only the way to this Python, where it is installed under /tmp
        kept = sorted({folder.split("/")[2] for folder in client._python_folders_under_tmp()})
        assert out.split() == [str(box.uid), str(box.uid), "[]", "2", "True", "[0,", "0,", "0,", "0,", "0]", "1",
                               *(str(kept).split() if kept else ["[]"])]
        for folder in client._python_folders_under_tmp():  # carried over read-only
            assert "refused" in run(box, f"""
try:
    open({folder + '/written-by-a-worker'!r}, "w")
    print("wrote")
except OSError:
    print("refused")
""")


def test_a_forked_worker_cannot_reach_the_prepared_worker(server):
    with Sandbox(FAST) as box:
        out = run(box, """
import os, signal
found, itself = [], int(os.readlink("/proc/self"))  # its pid as this /proc numbers it
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            if b"forkserver.py" in open(f"/proc/{entry}/cmdline", "rb").read() and int(entry) != itself:
                found.append(int(entry))
        except OSError:
            pass
reached = []
for pid in found:
    for name in ("mem", "environ", "maps"):
        try:
            open(f"/proc/{pid}/{name}", "rb").read(1)
            reached.append(f"{pid}/{name}")
        except OSError:
            pass
    for name in ("root", "cwd", "fd"):
        try:
            os.listdir(f"/proc/{pid}/{name}")
            reached.append(f"{pid}/{name}")
        except OSError:
            pass
print("seen", len(found), "reached", reached)
for number in range(1, 64):  # the numbers are this namespace's: the init and itself, never the prepared worker
    if number != os.getpid():
        try:
            os.kill(number, signal.SIGKILL)
        except OSError:
            pass
""")
        # bubblewrap's init, the prepared worker, the child it forked and the init of its namespace
        assert "seen 4 reached []" in out, out
    assert server.alive()
    with Sandbox(FAST) as box:  # and it still forks workers
        assert isinstance(box.process, ForkedWorker)
        assert run(box, "print(6 * 7)").strip() == "42"


def test_two_forked_workers_share_no_user_folder_process_or_socket(server):
    with Sandbox(FAST) as first, Sandbox(FAST) as second:
        assert first.uid != second.uid
        run(first, """
import socket
open("/tmp/left-by-first", "w").write("x")
open("/submission/left-by-first", "w").write("x")
listener = socket.socket(socket.AF_UNIX)
listener.bind("\\0autograder-forked-worker")
listener.listen(1)
""")
        pid = outer_pid(first.worker_pid)
        out = run(second, f"""
import os, socket
print(os.path.exists("/tmp/left-by-first"), os.path.exists("/submission/left-by-first"))
reached = []
for name in ("mem", "environ", "maps"):
    try:
        open("/proc/{pid}/" + name, "rb").read(1)
        reached.append(name)
    except OSError:
        pass
print("reached", reached)
try:
    socket.socket(socket.AF_UNIX).connect("\\0autograder-forked-worker")
    print("connected")
except OSError:
    print("refused")
""")
        assert out.split() == ["False", "False", "reached", "[]", "refused"], out
        assert run(first, "print(listener.fileno() > 0)").strip() == "True"  # the first one was not disturbed


def test_the_submission_files_are_read_only_and_proc_sys_is_not_writable(server, tmp_path):
    given = tmp_path / "given.py"
    given.write_text("x = 1\n")
    with Sandbox(FAST, files=[given]) as box:
        out = run(box, """
import os
for path in ("/submission/given.py", "/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches"):
    try:
        open(path, "w").write("2")
        print("wrote", path)
    except OSError:
        print("refused")
try:
    os.chmod("/submission/given.py", 0o666)
    print("chmod")
except OSError:
    print("refused")
print(open("/submission/given.py").read().strip())
""")
        assert out.split() == ["refused"] * 4 + ["x", "=", "1"], out


def test_a_forked_worker_that_dies_is_forked_again_with_its_cells(server):
    with Sandbox(FAST) as box:
        run(box, "kept = 41")
        report = box.run_cells([("dies", "import os\nos._exit(3)")])[0]
        assert not report.ok and "exited with code 3" in str(report.error)
        assert isinstance(box.process, ForkedWorker) and box.restarts == 1
        assert run(box, "print(kept + 1)").strip() == "42"


def test_a_forked_worker_ends_with_the_grading_that_asked_for_it(server):
    """A grading process killed in the middle of a call (its backstop deadline) leaves nothing running."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # a grading process
        try:
            os.close(read_end)
            box = Sandbox(FAST)
            os.write(write_end, str(box.worker_pid).encode())
            box.request("exec", timeout=60, name="spin", source="while True: pass")
        finally:
            os._exit(0)
    os.close(write_end)
    worker = int(os.read(read_end, 64))
    os.close(read_end)
    time.sleep(0.3)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{worker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{worker}"), "the worker outlived the grading that started it"


def test_workers_start_afresh_when_the_prepared_worker_has_gone(server):
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    try:
        with Sandbox(FAST) as box:
            assert not isinstance(box.process, ForkedWorker)
            assert run(box, "print(6 * 7)").strip() == "42"
    finally:
        stop_fork_server()
        assert start_fork_server(FAST) is not None


def test_a_prepared_worker_that_never_gets_ready_leaves_workers_starting_afresh(tmp_path, monkeypatch):
    broken = tmp_path / "forkserver.py"
    broken.write_text("raise SystemExit(1)\n")
    monkeypatch.setattr(client, "FORK_SERVER_SOURCE", broken)
    stop_fork_server()
    try:
        started_first = start_fork_server(FAST)
        assert started_first is not None
        time.sleep(0.5)  # it has ended by now, unready: asked again, the same one, not a second start
        assert start_fork_server(FAST) is started_first
        for _ in range(2):  # waited for once, never again
            started = time.monotonic()
            with Sandbox(FAST) as box:
                assert not isinstance(box.process, ForkedWorker)
                assert run(box, "print(6 * 7)").strip() == "42"
            assert time.monotonic() - started < FAST.start_seconds
        assert client.fork_server() is None
    finally:
        stop_fork_server()


def test_a_submission_of_many_files_starts_its_worker_afresh(server, tmp_path):
    """More files than one request to the prepared worker can carry: graded all the same."""
    assert start_fork_server(FAST) is not None  # (an earlier test may have stopped the module's)
    files = []
    for index in range(client.MAX_FORKED_FILES + 12):
        files.append(tmp_path / f"part{index:03d}.py")
        files[-1].write_text(f"value = {index}\n")
    with Sandbox(FAST, files=files) as box:
        assert not isinstance(box.process, ForkedWorker)
        assert run(box, "import part059\nprint(part059.value)").strip() == "59"
    with Sandbox(FAST, files=files[:3]) as box:
        assert isinstance(box.process, ForkedWorker)
