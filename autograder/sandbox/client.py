"""The trusted side of the sandbox: starts the worker, sends it requests, enforces limits.

The worker runs under bubblewrap when ``bwrap`` works on this machine (no network, read-only
system, only a private copy of the submission writable, the project's source invisible),
always with resource limits, and every request has a wall-clock deadline. A worker that
dies or overruns is killed and started again; only the request in flight is lost.
"""
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
    processes: int = 256
    file_size_mb: int = 64
    start_seconds: float = 30.0


class SandboxError(Exception):
    """The student's code could not be run to an answer; the message says why, in plain words."""


class WorkerTimeout(SandboxError):
    pass


class WorkerDied(SandboxError):
    pass


class StudentError(SandboxError):
    """The student's code raised an exception."""

    def __init__(self, error):
        self.type = str(error.get("type", "Exception"))
        self.message = str(error.get("message", ""))
        self.frames = [str(f) for f in error.get("frames", [])]
        self.function = str(error["function"]) if error.get("function") else None
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


@lru_cache(maxsize=1)
def bubblewrap_works():
    """True when ``bwrap`` is installed and can start a process here (it needs user namespaces)."""
    if shutil.which("bwrap") is None:
        return False
    try:
        probe = subprocess.run(
            _bwrap_prefix(Path(tempfile.gettempdir())) + [sys.executable, "-I", "-c", "pass"],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _bwrap_prefix(workdir):
    args = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    ]
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
    args += ["--bind", str(workdir), "/submission", "--chdir", "/submission"]
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
    """One submission's worker. Use as a context manager, or call :meth:`close`."""

    def __init__(self, limits=Limits(), files=(), isolation=None):
        self.limits = limits
        self.isolation = isolation or ("full" if bubblewrap_works() else "reduced")
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-")
        self.workdir = Path(self._tmp.name) / "submission"
        self.workdir.mkdir()
        for file in files:
            shutil.copy(file, self.workdir / Path(file).name)
        shutil.copy(WORKER_SOURCE, Path(self._tmp.name) / "worker.py")
        self.process = None
        self.generation = 0
        self.restarts = 0
        self.cells = []  # (name, source) of the cells that ran without dying or hanging
        self.deadline = time.monotonic() + limits.submission_seconds
        self._start()

    # -- process ------------------------------------------------------------------------------

    def _command(self):
        worker = str(Path(self._tmp.name) / "worker.py")
        if self.isolation == "full":
            return _bwrap_prefix(self.workdir) + ["--ro-bind", worker, "/worker.py", sys.executable, "-I", "/worker.py"]
        return [sys.executable, "-I", worker]

    def _set_limits(self):
        limits = self.limits
        mb = 1 << 20
        for name, value in [
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_mb * mb),
            (resource.RLIMIT_NPROC, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
            (resource.RLIMIT_CORE, 0),
        ]:
            resource.setrlimit(name, (value, value))

    def _start(self):
        self.generation += 1
        self.process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.workdir, env=_worker_environment(), preexec_fn=self._set_limits,
            start_new_session=True,
        )
        self._buffer = b""
        self._starting = True
        try:
            self.request("ping", timeout=self.limits.start_seconds)
        finally:
            self._starting = False

    def _kill(self):
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.process.wait()
        self.process = None

    def restart(self):
        """A fresh worker that has run the same cells again (those that had not died or hung)."""
        self._kill()
        self.restarts += 1
        self._start()
        for name, source in self.cells:
            try:
                self.request("exec", timeout=self.limits.cell_seconds, name=name, source=source)
            except StudentError:
                pass

    def close(self):
        self._kill()
        self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- requests -----------------------------------------------------------------------------

    def _read(self, n, deadline):
        fd = self.process.stdout.fileno()
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("timeout")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, max(n - len(self._buffer), 1 << 16))
            if not chunk:
                raise WorkerDied("eof")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _read_frame(self, deadline):
        return self._read(protocol.frame_length(self._read(8, deadline)), deadline)

    def _death_reason(self):
        code = self.process.poll() if self.process else None
        if code is None:
            try:
                code = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return "stopped answering"
        if code < 0:
            sig = -code
            reasons = {
                signal.SIGKILL: "was killed (signal 9; often the memory limit)",
                signal.SIGXCPU: "used up its CPU time limit",
                signal.SIGXFSZ: "wrote a file larger than the limit",
                signal.SIGSEGV: "crashed (segmentation fault)",
            }
            return reasons.get(sig, f"was ended by signal {sig}")
        return f"exited with code {code} (sys.exit, os._exit or a crash)"

    def request(self, op, timeout=None, arrays=None, **fields):
        """Send one request and return ``(reply, arrays)``.

        Raises :class:`StudentError` when the student's code raised, :class:`WorkerTimeout`
        or :class:`WorkerDied` (after restarting the worker) when it hung or died.
        """
        timeout = self.limits.call_seconds if timeout is None else timeout
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerTimeout(f"could not run: the submission used up its {self.limits.submission_seconds:g} s "
                                "grading time")
        timeout = min(timeout, remaining)
        arrays = list(arrays or [])
        message = protocol.pack(dict(fields, op=op), arrays)
        deadline = time.monotonic() + timeout
        try:
            self.process.stdin.write(message)
            self.process.stdin.flush()
            header = protocol.parse_header(self._read_frame(deadline))
            n_arrays = header.get("n_arrays", 0)
            if not 0 <= n_arrays <= 10_000:
                raise protocol.ProtocolError("too many arrays in a reply")
            reply_arrays = [protocol.parse_array(self._read_frame(deadline)) for _ in range(n_arrays)]
        except WorkerTimeout:
            self._after_failure()
            raise WorkerTimeout(f"did not finish within {timeout:g} s") from None
        except (WorkerDied, BrokenPipeError, OSError, protocol.ProtocolError) as error:
            reason = self._death_reason() if not isinstance(error, protocol.ProtocolError) else f"sent a malformed reply ({error})"
            self._after_failure()
            raise WorkerDied(f"the worker process {reason}") from None
        self.last_output = str(header.get("output", ""))
        if not header.get("ok"):
            error = header.get("error")
            raise StudentError(error if isinstance(error, dict) else {"type": "Error"})
        return header, reply_arrays

    def _after_failure(self):
        if self._starting:  # a worker that cannot even start is not started again and again
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
