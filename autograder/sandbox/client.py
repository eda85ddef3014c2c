"""The trusted side of the sandbox: starts the worker, sends it requests, enforces limits.

The worker runs under bubblewrap when ``bwrap`` works on this machine (no network, read-only
system, only size-limited private folders writable, the project's source invisible), always
with resource limits, and every request has a wall-clock deadline. A worker that dies,
overruns or leaves something running after a request is killed and started again; only the
request in flight is lost.

Everything the worker sends is untrusted: the student's code runs there and can write
anything on the reply pipe. Replies are size-capped and checked (``protocol.check_reply``),
writes to the worker never block past the deadline, and the worker's processes are counted
and killed through a ``pids`` cgroup where one can be made.
"""
import ctypes
import itertools
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import protocol

WORKER_SOURCE = Path(__file__).with_name("worker.py")
PROJECT_PACKAGES = ("autograder", "reference_impl")


@dataclass(frozen=True)
class Limits:
    cell_seconds: float = 30.0
    call_seconds: float = 5.0
    cpu_seconds: int = 300  # the worker's whole life
    submission_seconds: float = 600.0  # wall clock for everything one submission gets, restarts included
    memory_mb: int = 3072  # address space
    processes: int = 256  # processes and threads together where a cgroup counts them
    file_size_mb: int = 64
    start_seconds: float = 30.0
    disk_mb: int = 256  # under bubblewrap: the size of /tmp and of the submission folder, each


class SandboxError(Exception):
    """The student's code could not be run to an answer; the message says why, in plain words."""


class WorkerTimeout(SandboxError):
    pass


class WorkerDied(SandboxError):
    pass


class StudentError(SandboxError):
    """The student's code raised an exception."""

    def __init__(self, error):
        # The worker sends at most this much; a forged reply could send more, and it ends up
        # in the student's feedback, so it is cut here as well.
        self.type = str(error.get("type", "Exception"))[:200]
        self.message = str(error.get("message", ""))[:2000]
        self.frames = [str(f)[:1000] for f in error.get("frames", [])][-8:]
        self.function = str(error["function"])[:200] if error.get("function") else None
        super().__init__(f"{self.type}: {self.message}" if self.message else self.type)

    def traceback_text(self):
        return "\n".join(self.frames + [str(self)])


@dataclass
class CellReport:
    name: str
    ok: bool
    error: StudentError | SandboxError | None = None
    output: str = ""
    seconds: float = 0.0


# -- processes: a pids cgroup where one can be made --------------------------------------------

PIDS_ROOT = Path("/sys/fs/cgroup/pids")  # cgroup v1 pids controller
_group_numbers = itertools.count()


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class PidsGroup:
    """A cgroup of the ``pids`` controller holding one worker and everything it starts.

    ``pids.max`` bounds its processes and threads even when grading runs as root, where
    RLIMIT_NPROC does not apply; and every process in it can be listed and killed, including
    those that left the worker's process group with ``setsid()``. One group per worker start,
    so that a killed fork bomb's remains never count against the next worker.
    """

    def __init__(self, path):
        self.path = path
        self.procs_file = str(path / "cgroup.procs")

    @classmethod
    def create(cls, max_tasks):
        """A new group, or None where this machine has no writable cgroup v1 ``pids`` hierarchy."""
        if not (PIDS_ROOT / "cgroup.procs").is_file():
            return None
        cls.remove_stale()
        path = PIDS_ROOT / f"autograder-{os.getpid()}-{next(_group_numbers)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_tasks))
        except OSError:
            try:
                path.rmdir()
            except OSError:
                pass
            return None
        return cls(path)

    @classmethod
    def remove_stale(cls):
        """Groups left by a grader that was killed (its pid is in the name) are emptied and removed."""
        for path in PIDS_ROOT.glob("autograder-*-*"):
            try:
                owner = int(path.name.split("-")[1])
            except ValueError:
                continue
            if not _pid_alive(owner):
                cls(path).remove()

    def enter(self):
        """Called in the child between fork and exec: only raw system calls there."""
        fd = os.open(self.procs_file, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def pids(self):
        try:
            return {int(pid) for pid in (self.path / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            return set()

    def kill_all(self, seconds=5.0):
        """SIGKILL every process in the group until none is left (a fork bomb may still be forking)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)
        return False

    def remove(self):
        self.kill_all()
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)


try:  # prctl(PR_SET_PDEATHSIG) in the child: a worker never outlives the grader that started it
    _LIBC = ctypes.CDLL(None, use_errno=True)
    _LIBC.prctl  # noqa: B018 - only Linux has it
except (OSError, AttributeError):
    _LIBC = None
PR_SET_PDEATHSIG = 1


# -- bubblewrap --------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def bubblewrap_works():
    """True when ``bwrap`` is installed and can start a process here (it needs user namespaces)."""
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as empty:
        try:
            probe = subprocess.run(
                _bwrap_prefix(Path(empty), 1 << 20) + [sys.executable, "-I", "-c", "pass"],
                capture_output=True, timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


@lru_cache(maxsize=1)
def _bwrap_can_size():
    """bubblewrap 0.7 and later can limit the size of a tmpfs (``--size``)."""
    try:
        usage = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in usage.stdout + usage.stderr


def _bwrap_prefix(workdir, disk_bytes):
    args = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--proc", "/proc", "--dev", "/dev",
    ]
    size = ["--size", str(disk_bytes)] if _bwrap_can_size() else []
    args += size + ["--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    prefixes = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    for prefix in sorted(prefixes):
        if not prefix.startswith("/usr"):
            args += ["--ro-bind", prefix, prefix]
    # An installed copy of the project in site-packages is hidden behind empty folders.
    site = Path(sysconfig.get_paths()["purelib"])
    for name in PROJECT_PACKAGES:
        if (site / name).is_dir():
            args += ["--tmpfs", str(site / name)]
    if size:
        # The submission folder is a size-limited tmpfs holding read-only views of the
        # sandbox's private copies: whatever the student's code writes stays in memory,
        # within disk_mb, and is gone when the worker is restarted or closed.
        args += size + ["--tmpfs", "/submission"]
        for file in sorted(workdir.iterdir()):
            args += ["--ro-bind", str(file), f"/submission/{file.name}"]
    else:  # an older bubblewrap: the private copy on disk, each file within RLIMIT_FSIZE
        args += ["--bind", str(workdir), "/submission"]
    args += ["--chdir", "/submission"]
    return args


def _worker_environment():
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }


class Sandbox:
    """One submission's worker. Use as a context manager, or call :meth:`close`.

    ``process_limit`` says what bounds the number of the worker's processes: ``"cgroup"``
    (pids.max; also what kills every one of them), ``"rlimit"`` (RLIMIT_NPROC, per user), or
    ``"none"`` (running as root without a writable pids cgroup: RLIMIT_NPROC does not bind root).
    """

    def __init__(self, limits=Limits(), files=(), isolation=None):
        self.limits = limits
        self.isolation = isolation or ("full" if bubblewrap_works() else "reduced")
        # ignore_cleanup_errors: in reduced isolation the student's code could make files undeletable
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-", ignore_cleanup_errors=True)
        self.workdir = Path(self._tmp.name) / "submission"
        self.workdir.mkdir()
        for file in files:
            shutil.copy(file, self.workdir / Path(file).name)
        shutil.copy(WORKER_SOURCE, Path(self._tmp.name) / "worker.py")
        self.process = None
        self.pids_group = None
        self.process_limit = None
        self.generation = 0
        self.restarts = 0
        self.cells = []  # (name, source) of the cells that ran without dying, hanging or leaving anything running
        self.last_output = ""
        self.deadline = time.monotonic() + limits.submission_seconds
        self._starting = self._replaying = False
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- process ------------------------------------------------------------------------------

    def _command(self):
        worker = str(Path(self._tmp.name) / "worker.py")
        if self.isolation == "full":
            return (_bwrap_prefix(self.workdir, self.limits.disk_mb << 20)
                    + ["--ro-bind", worker, "/worker.py", sys.executable, "-I", "/worker.py"])
        return [sys.executable, "-I", worker]

    def _prepare_child(self):
        """Runs in the child between fork and exec (so: system calls only, nothing that locks)."""
        if self.pids_group is not None:
            self.pids_group.enter()
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        limits = self.limits
        mb = 1 << 20
        for name, soft, hard in [
            # SIGXCPU at the limit (a clear reason), SIGKILL a second later if it is ignored
            (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
            (resource.RLIMIT_AS, limits.memory_mb * mb, limits.memory_mb * mb),
            (resource.RLIMIT_NPROC, limits.processes, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_size_mb * mb, limits.file_size_mb * mb),
            (resource.RLIMIT_CORE, 0, 0),
        ]:
            resource.setrlimit(name, (soft, hard))

    def _start(self):
        self._kill()  # nothing of an earlier worker, not even its cgroup, is left
        self.generation += 1
        self.pids_group = PidsGroup.create(self.limits.processes)
        self.process_limit = "cgroup" if self.pids_group else ("rlimit" if os.geteuid() != 0 else "none")
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.workdir, env=_worker_environment(), preexec_fn=self._prepare_child,
            start_new_session=True,
        )
        # Requests are written without blocking, so that a worker that stops reading its pipe
        # cannot hold the grader past the deadline.
        os.set_blocking(self.process.stdin.fileno(), False)
        self._buffer = bytearray()
        self._own_pids = None
        self._starting = True
        try:
            self.request("ping", timeout=self.limits.start_seconds)
        finally:
            self._starting = False
        # The worker's own processes (bwrap's and Python's); anything else in the group later
        # was started by the student's code.
        self._own_pids = self.pids_group.pids() if self.pids_group else set()

    def _kill(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            if self.pids_group is not None:  # also what escaped the process group with setsid()
                self.pids_group.kill_all()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process.wait()
            self.process = None
        if self.pids_group is not None:
            self.pids_group.remove()
            self.pids_group = None

    def restart(self):
        """A fresh worker that has run the same cells again (those that had not died, hung or
        left something running). A cell that does one of these only when it is run again is
        dropped as well, and the replay starts over without it: a loop, never a recursion."""
        self.restarts += 1
        while True:
            self._kill()
            self._start()
            self._replaying = True
            try:
                for index, (name, source) in enumerate(self.cells):
                    try:
                        self.request("exec", timeout=self.limits.cell_seconds, name=name, source=source)
                    except StudentError:
                        pass
                    except SandboxError:
                        del self.cells[index]
                        break
                else:
                    return
            finally:
                self._replaying = False

    def close(self):
        self._kill()
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests -----------------------------------------------------------------------------

    def _write(self, data, deadline):
        fd = self.process.stdin.fileno()
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("timeout")
            _, ready, _ = select.select([], [fd], [], remaining)
            if not ready:
                continue
            try:
                view = view[os.write(fd, view[:1 << 16]):]
            except BlockingIOError:
                continue

    def _read(self, n, deadline):
        fd = self.process.stdout.fileno()
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("timeout")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, min(max(n - len(self._buffer), 1 << 16), 1 << 20))
            if not chunk:
                raise WorkerDied("eof")
            self._buffer += chunk
        with memoryview(self._buffer) as view:  # one copy, not two, of a frame that may be large
            data = bytes(view[:n])
        del self._buffer[:n]
        return data

    def _discard_stale(self):
        """Bytes the worker sent outside a request (a forged reply, say) are thrown away, so
        that they cannot be read as the answer to the next request."""
        fd = self.process.stdout.fileno()
        dropped = len(self._buffer)
        self._buffer = bytearray()
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # the worker has gone: the request will find out and say why
                return
            dropped += len(chunk)
            if dropped > protocol.MAX_REPLY:
                raise protocol.ProtocolError("the worker keeps writing outside of requests")

    def _read_reply(self, deadline):
        payload = self._read(protocol.frame_length(self._read(8, deadline), protocol.MAX_HEADER), deadline)
        header = protocol.check_reply(protocol.parse_header(payload))
        total = len(payload)
        arrays = []
        for _ in range(header.get("n_arrays", 0)):
            length = protocol.frame_length(self._read(8, deadline))
            total += length
            if total > protocol.MAX_REPLY:
                raise protocol.ProtocolError(f"a reply of more than {protocol.MAX_REPLY >> 20} MB")
            arrays.append(protocol.parse_array(self._read(length, deadline)))
        return header, arrays

    def _death_reason(self):
        if self.process is None:
            return "could not be started"
        code = self.process.poll()
        if code is None:
            try:
                code = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return "stopped answering"
        sig = -code if code < 0 else code - 128 if self.isolation == "full" and code > 128 else None
        if sig is not None:
            reasons = {
                signal.SIGKILL: "was killed (signal 9: by its own code, or by the system when memory ran out)",
                signal.SIGXCPU: "used up its CPU time limit",
                signal.SIGXFSZ: "wrote a file larger than the limit",
                signal.SIGSEGV: "crashed (segmentation fault; very deep recursion does this)",
            }
            return reasons.get(sig, f"was ended by signal {sig}")
        return f"exited with code {code} (sys.exit, os._exit or a crash)"

    def _leftovers(self, header):
        """What the student's code left running after the request returned, in words, or None."""
        background = header.get("background", {})
        found = []
        if background.get("busy_new"):
            found.append(f"{background['busy_new']} thread(s) running in the background that kept using the CPU")
        if background.get("busy_old"):
            found.append("a background thread, started earlier, that began to use the CPU")
        if self.pids_group is not None and self._own_pids is not None:
            extra, wait_until = self.pids_group.pids() - self._own_pids, time.monotonic() + 0.3
            while extra and time.monotonic() < wait_until:  # a child that is just ending
                time.sleep(0.02)
                extra = self.pids_group.pids() - self._own_pids
            if extra:
                found.append(f"{len(extra)} process(es) still running")
        return " and ".join(found) or None

    def request(self, op, timeout=None, arrays=None, **fields):
        """Send one request and return ``(reply, arrays)``.

        Raises :class:`StudentError` when the student's code raised, :class:`WorkerTimeout`
        or :class:`WorkerDied` (after restarting the worker) when it hung, died or left
        threads or processes running.
        """
        timeout = self.limits.call_seconds if timeout is None else timeout
        if self.process is None:
            raise WorkerDied("the worker process could not be started again")
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerTimeout(f"could not run: the submission used up its {self.limits.submission_seconds:g} s "
                                "grading time")
        timeout = min(timeout, remaining)
        arrays = list(arrays or [])
        message = protocol.pack(dict(fields, op=op), arrays)
        deadline = time.monotonic() + timeout
        failure = None
        try:
            self._discard_stale()
            self._write(message, deadline)
            header, reply_arrays = self._read_reply(deadline)
        except WorkerTimeout:
            failure = WorkerTimeout(f"did not finish within {timeout:g} s")
        except (WorkerDied, OSError, protocol.ProtocolError) as error:
            reason = self._death_reason() if not isinstance(error, protocol.ProtocolError) else f"sent a malformed reply ({error})"
            failure = WorkerDied(f"the worker process {reason}")
        if failure is not None:
            # Raised here, outside the except clause, so that it carries no __context__: the
            # original error's traceback holds the frames that read the reply (up to 128 MB),
            # and the graders keep every failure until the submission is done.
            self._after_failure()
            raise failure
        leftover = self._leftovers(header)
        if leftover:
            self._after_failure()
            raise WorkerDied(f"the worker process was stopped because the code left {leftover} after it returned "
                             "(nothing may keep running between calls)")
        self.last_output = header.get("output", "")[:50_000]
        if not header.get("ok"):
            raise StudentError(header.get("error") or {"type": "Error"})
        return header, reply_arrays

    def _after_failure(self):
        if self._starting or self._replaying:  # restart() decides what to do next: never a recursion
            self._kill()
            return
        self.restart()

    # -- cells --------------------------------------------------------------------------------

    def run_cells(self, cells):
        """Run ``(name, source)`` cells in order, like a kernel: a failing cell does not stop the rest."""
        reports = []
        for name, source in cells:
            start = time.monotonic()
            try:
                self.request("exec", timeout=self.limits.cell_seconds, name=name, source=source)
                reports.append(CellReport(name, True, output=self.last_output))
                self.cells.append((name, source))
            except StudentError as error:
                reports.append(CellReport(name, False, error, output=self.last_output))
                self.cells.append((name, source))  # it may still define things before failing
            except SandboxError as error:
                reports.append(CellReport(name, False, error))
            reports[-1].seconds = time.monotonic() - start
        return reports
