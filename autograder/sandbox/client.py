"""The trusted side of the sandbox: starts the worker, sends it requests, enforces limits.

The worker runs under bubblewrap when ``bwrap`` works on this machine (no network, read-only
system, only size-limited private folders writable, the project's source invisible), always
with resource limits, and every request has a wall-clock deadline. A worker that dies,
overruns or leaves something running after a request is killed and started again; only the
request in flight is lost.

The student's code never runs as root. A grader running as root gives each worker an
unprivileged uid of its own (:func:`worker_uid`): under bubblewrap the worker drops to it
before it reads anything of the submission; without bubblewrap the child drops to it before
it starts Python, where an unprivileged user can run this Python at all (else the worker
runs as root and ``Sandbox.user`` says so).

Everything the worker sends is untrusted: the student's code runs there and can write
anything on the reply pipe. Replies are size-capped and checked (``protocol.check_reply``),
writes to the worker never block past the deadline, and the worker's processes are counted
and killed through a ``pids`` cgroup where one can be made.
"""
import ctypes
import itertools
import json
import mmap
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import i18n  # the words of the failures a student reads, in the feedback's language
from . import protocol
from .limits import Limits  # noqa: F401 - the sandbox's limits, imported from here by the graders' side

WORKER_SOURCES = (Path(__file__).with_name("worker.py"), Path(__file__).with_name("reader.py"))
PROJECT_PACKAGES = ("autograder", "reference_impl")
ARENA_BYTES = 64 << 20  # shared memory for the arrays of requests (a whole grading uses about 2 MB)
# Far above any account and any range of subordinate uids: a uid that owns nothing on the machine.
UNPRIVILEGED_UID_BASE = 3_000_000_000


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
        # the reader's reason in parts (template, params), kept only as plain text and whole numbers
        self.template = error.get("template") if type(error.get("template")) is str else None
        params = error.get("params") if type(error.get("params")) is dict else {}
        self.params = {str(k)[:100]: v if type(v) is int else str(v)[:1000] for k, v in list(params.items())[:10]}
        super().__init__(f"{self.type}: {self.message}" if self.message else self.type)

    def traceback_text(self):
        return "\n".join(self.frames + [str(self)])


def reader_reason(error):
    """Why the reader could not read a file, in the feedback's language: the worker sends the
    reason's parts, and only a template of the reader's own (never one the worker made up) is
    filled in here; anything else is shown as the worker wrote it."""
    from .reader import TEMPLATES

    if error.template in TEMPLATES:
        try:
            return i18n.translate(error.template).format(**error.params)
        except (KeyError, IndexError, ValueError):  # parts that do not fit the template
            pass
    return error.message


@dataclass
class CellReport:
    name: str
    ok: bool
    error: StudentError | SandboxError | None = None
    output: str = ""
    seconds: float = 0.0


# -- shared memory for request arrays -----------------------------------------------------------

class Arena:
    """A memory file shared with one worker: the arrays of requests are written here, and the
    trusted side reads them back itself after a call, so that what the student's code did to
    its inputs is observed here, not reported by the worker. Each place is written once (a
    bump allocator): an array the student's code keeps stays as it was given."""

    ALIGN = 64

    def __init__(self, size=ARENA_BYTES):
        self.size = size
        if hasattr(os, "memfd_create"):
            self.fd = os.memfd_create("autograder-arena", 0)
        else:  # pragma: no cover - not Linux
            handle = tempfile.TemporaryFile()
            self.fd = os.dup(handle.fileno())
            handle.close()
        os.ftruncate(self.fd, size)
        self.memory = mmap.mmap(self.fd, size)
        self.used = 0

    def put(self, array):
        """``{"$s": [offset, dtype, shape]}`` for a copy of ``array`` in the arena, or None when full."""
        array = np.ascontiguousarray(array)
        if array.dtype.kind not in protocol.NUMERIC_KINDS or array.dtype.hasobject:
            return None
        start = -(-self.used // self.ALIGN) * self.ALIGN
        if start + array.nbytes > self.size:
            return None
        self.memory[start:start + array.nbytes] = array.tobytes()
        self.used = start + array.nbytes
        return {"$s": [start, array.dtype.str, list(array.shape)]}

    def read(self, descriptor):
        """A copy of what the arena holds now where ``descriptor`` (from :meth:`put`) points."""
        offset, dtype, shape = descriptor["$s"]
        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        data = self.memory[offset:offset + count * dtype.itemsize]
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()

    def holds(self, descriptor, array):
        """Whether the arena holds, where ``descriptor`` points, exactly the bytes of ``array``
        (what was put there has not been changed)."""
        offset, _dtype, _shape = descriptor["$s"]
        data = array.tobytes()
        return self.memory[offset:offset + len(data)] == data

    def close(self):
        try:
            self.memory.close()
        except (BufferError, ValueError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


# -- users: the worker never runs as root -------------------------------------------------------

_uid_numbers = itertools.count()


def worker_uid():
    """An unprivileged uid of its own for the next worker, when this process runs as root
    (else None: the worker runs as this user, who is not root). Unique among the workers of
    this process, and among concurrent graders by their pids, so that no two workers can
    signal or read each other."""
    if os.geteuid() != 0:
        return None
    return UNPRIVILEGED_UID_BASE + (os.getpid() % (1 << 22)) * 64 + next(_uid_numbers) % 64


def become(uid):
    """In a child between fork and exec: become ``uid`` with its own group and no other groups."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


@lru_cache(maxsize=1)
def unprivileged_python_works():
    """Can an unprivileged user run this Python with NumPy? Not when it lives in a folder only
    root may enter (``/root/.pyenv``, say): then a worker without bubblewrap runs as root."""
    if os.geteuid() != 0:
        return True
    uid = worker_uid()
    try:
        probe = subprocess.run([sys.executable, "-I", "-c", "import numpy"], capture_output=True, timeout=60,
                               cwd="/", env=_worker_environment(), preexec_fn=lambda: become(uid))
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def process_uids(pids):
    """The real uid of each of ``pids`` that still exists, read from /proc (the trusted side's
    own view of the worker's processes)."""
    uids = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                line = next(line for line in status if line.startswith("Uid:"))
            uids[pid] = int(line.split()[1])
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return uids


def _parent_pid(pid):
    """The parent of ``pid`` as /proc says, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _process_name(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def descendants(pid):
    """Every process below ``pid``, found through the parent pids in /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            parent = _parent_pid(entry)
            if parent is not None:
                children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


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
        self._current = None  # a descriptor of pids.current, kept open: it reads afresh at offset 0

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
        self.add(os.getpid())

    def add(self, pid):
        """Place ``pid`` in the group (raw system calls only: :meth:`enter` runs between fork and exec)."""
        fd = os.open(self.procs_file, os.O_WRONLY)
        try:
            os.write(fd, str(pid).encode())
        finally:
            os.close(fd)

    def pids(self):
        try:  # raw system calls: this runs after every request
            fd = os.open(self.procs_file, os.O_RDONLY)
            try:
                data = b"".join(iter(lambda: os.read(fd, 1 << 16), b""))
            finally:
                os.close(fd)
            return {int(pid) for pid in data.split()}
        except (OSError, ValueError):
            return set()

    def tasks(self):
        """How many processes and threads the group holds (``pids.current``), or None: one
        system call, a first look before :meth:`pids`, which lists the processes."""
        try:
            if self._current is None:
                self._current = os.open(self.path / "pids.current", os.O_RDONLY)
            return int(os.pread(self._current, 32, 0))
        except (OSError, ValueError):
            return None

    def kill_all(self, seconds=5.0):
        """SIGKILL every process in the group until none is left (a fork bomb may still be forking)."""
        deadline, pause = time.monotonic() + seconds, 0.0005
        while time.monotonic() < deadline:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(pause)  # a killed process is gone within a millisecond or so; a fork bomb takes longer
            pause = min(2 * pause, 0.01)
        return False

    def remove(self):
        self.kill_all()
        if self._current is not None:
            os.close(self._current)
            self._current = None
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

_BWRAP_STARTED = []  # a worker of this process has started under bubblewrap: it works here


def _bubblewrap_untried():
    """bubblewrap is installed, and neither probed nor used yet by this process."""
    return not _BWRAP_STARTED and bubblewrap_works.cache_info().currsize == 0 and shutil.which("bwrap") is not None


@lru_cache(maxsize=1)
def bubblewrap_works():
    """True when ``bwrap`` is installed and can start a worker here as it would for grading
    (it needs user namespaces, or root), with the worker's drop to an unprivileged uid."""
    if _BWRAP_STARTED:
        return True
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="autograder-probe-") as empty:
        os.chmod(empty, 0o755)
        uid = worker_uid()
        check = "import numpy" if uid is None else (
            f"import os; os.setgroups([]); os.setgid({uid}); os.setuid({uid}); import numpy")
        try:
            probe = subprocess.run(
                _bwrap_prefix(Path(empty), 1 << 20, privileged=uid is not None) + [sys.executable, "-I", "-c", check],
                capture_output=True, timeout=60,
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


def _python_prefixes():
    """The folders of this Python (its base and its environment, as named and as resolved)."""
    return {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}


def _bwrap_prefix(workdir, disk_bytes, privileged=False):
    """The bubblewrap command up to the program. ``privileged``: the grader runs as root, so
    bubblewrap makes its namespaces without a user namespace (one would map the worker to the
    host's root) and leaves the worker only the capabilities to change user, which it uses at
    once to become an unprivileged uid (:func:`worker.drop_privileges`)."""
    if privileged:
        args = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args = ["bwrap", "--unshare-all", "--cap-drop", "ALL"]
    args += ["--die-with-parent", "--new-session", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
             "--dev", "/dev"]
    size = ["--size", str(disk_bytes)] if _bwrap_can_size() else []
    args += ["--perms", "1777"] + size + ["--tmpfs", "/tmp"]
    for top in ("/usr", "/bin", "/lib", "/lib64", "/sbin"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    made = set()
    for prefix in sorted(_python_prefixes()):
        if not prefix.startswith("/usr"):
            # the folders above it, open to all (bubblewrap makes them private when run as root)
            for parent in reversed(Path(prefix).parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    args += ["--perms", "0755", "--dir", str(parent)]
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
        args += ["--perms", "1777"] + size + ["--tmpfs", "/submission"]
        for file in sorted(workdir.iterdir()):
            args += ["--ro-bind", str(file), f"/submission/{file.name}"]
    else:  # an older bubblewrap: the private copy on disk, each file within RLIMIT_FSIZE
        args += ["--bind", str(workdir), "/submission"]
    args += ["--chdir", "/submission"]
    return args


# -- the prepared worker -------------------------------------------------------------------------

# Modules a student's notebook commonly imports besides NumPy: every worker forked from the
# prepared worker finds them imported (none of the project's own code is among them).
PRELOAD = ("scipy.special", "scipy.spatial.distance")
FORK_SERVER_SOURCE = Path(__file__).with_name("forkserver.py")
MAX_FORKED_FILES = 48  # the prepared worker reads at most 64 descriptors (forkserver.MAX_FDS) and 64 KiB per request
# the machines whose system calls the forked worker's seccomp filter knows (forkserver.SYSCALLS)
FORK_SERVER_MACHINES = ("x86_64", "aarch64")


def _python_folders_under_tmp():
    """The folders of this Python that bubblewrap binds under /tmp (:func:`_bwrap_prefix`): a
    forked worker mounts a fresh /tmp, and carries these over it."""
    return sorted(prefix for prefix in _python_prefixes() if prefix.startswith("/tmp/"))


def _namespace_pids(pid):
    """The pids of ``pid`` in its PID namespace and each above it, outermost first (``NSpid``)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            line = next(line for line in status if line.startswith("NSpid:"))
        return [int(value) for value in line.split()[1:]]
    except (OSError, StopIteration, ValueError):
        return []


class ForkedWorker:
    """One worker forked by the prepared worker, seen from here as a ``subprocess.Popen`` is:
    ``pid`` (the host's pid of the forked child, whose process group holds the worker),
    ``stdin`` and ``stdout`` (the request and reply pipes), :meth:`poll` and :meth:`wait`. Its
    status comes from the prepared worker, which reaps it; it is trusted code that no student's
    code can reach (it runs as root, the worker as a uid of its own in namespaces of its own).

    The prepared worker reaps the child as soon as it ends, before this process may know, and
    its pid may then be another process's (another worker's): it is signalled only through
    ``pidfd``, which names the child itself and never a process that has its pid later."""

    def __init__(self, pid, stdin, stdout, answers, lifeline):
        self.pid, self.stdin, self.stdout, self.answers = pid, stdin, stdout, answers
        self.lifeline = lifeline  # while this end is open the worker may live; it dies when it closes
        self.pidfd = None
        self.returncode = None

    def kill(self):
        """SIGKILL the child (the init of its PID namespace dies with it, and every process
        there with that), if it has not ended; never whatever has its pid now."""
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:  # it has ended
                pass

    def close_pidfd(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def go(self):
        """It is in its cgroup: it may fork its init and worker now."""
        os.write(self.stdin.fileno(), b"g")

    def cut_lifeline(self):
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None

    def poll(self):
        return self.wait(timeout=0, quiet=True)

    def wait(self, timeout=None, quiet=False):
        if self.returncode is None:
            ready, _, _ = select.select([self.answers], [], [], timeout)
            if ready:
                try:
                    status = json.loads(self.answers.recv(1 << 10) or b"{}").get("status")
                except (OSError, ValueError, AttributeError):
                    status = None
                if type(status) is not int:  # the prepared worker has gone: so has the worker
                    status = signal.SIGKILL
                self.returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
                self.answers.close()
                self.close_pidfd()
            elif not quiet:
                raise subprocess.TimeoutExpired("worker", timeout)
        return self.returncode


class ForkServer:
    """The prepared worker of this process: a Python with NumPy and :data:`PRELOAD` imported,
    under bubblewrap as every worker is, from which each worker is forked into namespaces and
    folders of its own (``forkserver.py`` says how), instead of starting a new Python.

    Used only when the grader runs as root, where each worker gets a uid of its own: two workers
    forked from one prepared worker then share no uid, no process, no folder, no network and
    no memory. A grading process forked from the process that started it uses it too.
    """

    def __init__(self, limits):
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-forkserver-")
        root = Path(self._tmp.name)
        (root / "empty").mkdir()
        (root / "worker").mkdir()
        for source in WORKER_SOURCES + (FORK_SERVER_SOURCE,):
            shutil.copyfile(source, root / "worker" / source.name)
            os.chmod(root / "worker" / source.name, 0o644)
        for folder in (root, root / "empty", root / "worker"):
            os.chmod(folder, 0o755)
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        command = (_bwrap_prefix(root / "empty", 1 << 20, privileged=True)
                   + ["--ro-bind", str(root / "worker"), "/autograder-worker",
                      sys.executable, "-I", "/autograder-worker/forkserver.py", *PRELOAD])
        self.process = subprocess.Popen(command, stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        cwd="/", env=_worker_environment(), start_new_session=True,
                                        preexec_fn=_die_with_parent)
        theirs.close()
        self.owner = os.getpid()
        self.start_seconds = limits.start_seconds
        self.host_pid = None  # known once it is ready
        self.failed = False

    def ready(self):
        """Wait until it has imported what it imports (it does so while this process goes on);
        True when it did. Called before the prepared parent forks, so that its grading processes
        inherit a prepared worker that is ready."""
        if self.host_pid is None and not self.failed:
            ready, _, _ = select.select([self.control], [], [], self.start_seconds)
            if ready and self.control.recv(1 << 10) == b'{"ready": true}':
                self.host_pid = next((pid for pid in descendants(self.process.pid) if _process_name(pid) != "bwrap"),
                                     None)
            self.failed = self.host_pid is None  # never waited for again: workers start afresh
        return not self.failed

    def alive(self):
        if os.getpid() == self.owner:
            return self.process.poll() is None
        return self.host_pid is not None and _pid_alive(self.host_pid)  # in a grading process forked from the owner

    def fork(self, uid, limits, rlimits, arena, workdir, start_seconds):
        """A worker for the files of ``workdir``: a :class:`ForkedWorker`, started and placed in
        nothing yet (the caller places it, then calls :meth:`go`)."""
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        lifeline_r, lifeline_w = os.pipe()
        answers, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        names = sorted(file.name for file in workdir.iterdir())
        files = [os.open(workdir / name, os.O_RDONLY | os.O_NOFOLLOW) for name in names]
        request = {"uid": uid, "disk_bytes": limits.disk_mb << 20, "files": names, "rlimits": rlimits,
                   "arena_size": arena.size, "kept": _python_folders_under_tmp()}
        try:
            socket.send_fds(self.control, [json.dumps(request).encode()],
                            [theirs.fileno(), requests_r, replies_w, arena.fd, lifeline_r, *files])
        finally:
            for fd in [theirs.fileno(), requests_r, replies_w, lifeline_r, *files]:
                os.close(fd)
            theirs.detach()
        child = ForkedWorker(None, os.fdopen(requests_w, "wb", buffering=0), os.fdopen(replies_r, "rb", buffering=0),
                             answers, lifeline_w)
        ready, _, _ = select.select([answers], [], [], start_seconds)
        try:
            pid = json.loads(answers.recv(1 << 10)).get("pid") if ready else None
        except (OSError, ValueError, AttributeError):
            pid = None
        child.pid, child.pidfd = self._host_pid(pid) if type(pid) is int else (None, None)
        if child.pid is None:
            for stream in (child.stdin, child.stdout):
                stream.close()
            answers.close()
            child.cut_lifeline()
            raise WorkerDied("the prepared worker did not fork a worker")
        return child

    def _children(self):
        """The prepared worker's children as /proc lists them (every process where the kernel
        does not keep that list): candidates, each checked by its parent pid."""
        try:
            with open(f"/proc/{self.host_pid}/task/{self.host_pid}/children", "rb") as children:
                return children.read().decode().split()
        except OSError:
            return os.listdir("/proc")

    def _host_pid(self, pid):
        """The host's pid of the prepared worker's child whose pid there is ``pid``, and a pidfd
        of it (``(None, None)`` when there is none): it is still that child once the pidfd is
        open, so the pidfd cannot name a process that took the pid after the child ended."""
        for entry in self._children():
            if entry.isdigit() and _parent_pid(int(entry)) == self.host_pid:
                if _namespace_pids(int(entry))[1:2] == [pid]:
                    try:
                        pidfd = os.pidfd_open(int(entry))
                    except OSError:
                        return None, None
                    if (_parent_pid(int(entry)) == self.host_pid and _namespace_pids(int(entry))[1:2] == [pid]
                            and not select.select([pidfd], [], [], 0)[0]):
                        return int(entry), pidfd
                    os.close(pidfd)
                    return None, None
        return None, None

    def close(self):
        try:
            self.control.close()
        except OSError:
            pass
        if os.getpid() == self.owner:
            if self.process.returncode is None:  # not reaped yet: its pid is still its own
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            self.process.wait()
        self._tmp.cleanup()


def _die_with_parent():
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


_FORK_SERVER = {}  # "server": the ForkServer of the process that started it


def fork_server():
    """The prepared worker that :func:`start_fork_server` started in this process (or in the one
    this process was forked from), while it runs; else None: workers are started afresh."""
    server = _FORK_SERVER.get("server")
    if server is not None and server.alive() and server.ready():
        return server
    return None


def stop_fork_server():
    """Stop this process's prepared worker, if it started one: later workers start afresh."""
    server = _FORK_SERVER.pop("server", None)
    if server is not None:
        server.close()


def start_fork_server(limits=None):
    """Start the prepared worker where workers can be forked from one: bubblewrap works here and
    the grader runs as root. A process that grades many submissions calls this once; a single
    submission is not worth it (the prepared worker's start costs what a worker's does, and
    more: it imports :data:`PRELOAD`). Returns it (it gets ready while this process goes on:
    see :meth:`ForkServer.ready`), or None."""
    server = _FORK_SERVER.get("server")
    not_waited_for = server is not None and server.host_pid is None and not server.failed
    if server is not None and (server.alive() or not_waited_for):  # one that ended unready: ready() says so
        return server
    # No probe sandbox first (0.15 to 0.25 s before the prepared worker could start): its own start
    # is the probe. Where bubblewrap cannot start it, it never gets ready (:meth:`ForkServer.ready`)
    # and workers start afresh, the first of them probing bubblewrap as it does without one.
    if (os.environ.get("AUTOGRADER_ISOLATION") == "reduced" or os.geteuid() != 0
            or os.uname().machine not in FORK_SERVER_MACHINES or shutil.which("bwrap") is None):
        return None
    try:
        _FORK_SERVER["server"] = ForkServer(limits or Limits())
    except OSError:
        return None
    return _FORK_SERVER["server"]


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


OUTPUT_BUDGET = 200_000  # characters of cell output kept for one submission, all cells together


class Sandbox:
    """One submission's worker. Use as a context manager, or call :meth:`close`.

    ``files`` are the submission's own files and the course's public files, as paths or as a
    mapping from the name they get in the sandbox's folder to their path; nothing else of the
    machine is in that folder.

    ``process_limit`` says what bounds the number of the worker's processes: ``"cgroup"``
    (pids.max; also what kills every one of them), ``"rlimit"`` (RLIMIT_NPROC, per user), or
    ``"none"`` (running as root without a writable pids cgroup: RLIMIT_NPROC does not bind root).
    ``user`` says who the student's code runs as: ``"unprivileged"`` or ``"root"`` (only when the
    grader runs as root, without bubblewrap, and an unprivileged user cannot run this Python).
    """

    def __init__(self, limits=Limits(), files=(), isolation=None):
        self.limits = limits
        # AUTOGRADER_ISOLATION=reduced grades without bubblewrap even where it works (to see
        # what a machine without it does); nothing can ask for more than the machine has
        forced = os.environ.get("AUTOGRADER_ISOLATION") == "reduced"
        # The first worker of a process where bubblewrap is installed but not yet probed is
        # started under it at once: its start is the probe (see _start_first).
        untried = isolation is None and not forced and _bubblewrap_untried()
        self.isolation = isolation or ("full" if not forced and (untried or bubblewrap_works()) else "reduced")
        self._choose_user()
        # ignore_cleanup_errors: in reduced isolation the student's code could make files undeletable
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-", ignore_cleanup_errors=True)
        self.workdir = Path(self._tmp.name) / "submission"
        self.workdir.mkdir()
        named = files.items() if isinstance(files, dict) else ((Path(f).name, f) for f in files)
        for name, file in named:
            shutil.copyfile(file, self.workdir / name)  # contents only: no link, no mode of the original
            os.chmod(self.workdir / name, 0o644)
        self.code_dir = Path(self._tmp.name) / "worker"
        self.code_dir.mkdir()
        for source in WORKER_SOURCES:
            shutil.copyfile(source, self.code_dir / source.name)
            os.chmod(self.code_dir / source.name, 0o644)
        os.chmod(self.code_dir, 0o755)
        self._give_workdir_to_worker()
        self.arena = None
        self.handles = itertools.count(1)
        self.output_budget = OUTPUT_BUDGET
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
            self._start_first(untried)
        except BaseException:
            self.close()
            raise

    def _choose_user(self):
        self.uid = worker_uid()
        if self.uid is not None and self.isolation == "reduced" and not unprivileged_python_works():
            self.uid = None
        self.user = "root" if os.geteuid() == 0 and self.uid is None else "unprivileged"

    def _give_workdir_to_worker(self):
        if self.uid is not None and self.isolation == "reduced":
            # the worker's own uid owns its private copy (and nothing else); others may not enter
            os.chmod(self._tmp.name, 0o711)
            os.chown(self.workdir, self.uid, self.uid)
            for file in self.workdir.iterdir():
                os.chown(file, self.uid, self.uid)

    def _start_first(self, untried):
        """Start the first worker. ``untried``: bubblewrap has not been probed in this process,
        and this worker is started under it as the probe would be (the same command, dropping to
        an unprivileged uid, importing NumPy), which saves the probe's own start. Should it fail,
        the probe (:func:`bubblewrap_works`) decides: bubblewrap does not work here, and the worker
        starts in reduced isolation as it would have; or it does, and the failure stands."""
        try:
            self._start()
        except (SandboxError, OSError):
            if not untried or bubblewrap_works():
                raise
            self.isolation = "reduced"
            self._choose_user()
            self._give_workdir_to_worker()
            self._start()
        else:
            if untried and self.isolation == "full":
                _BWRAP_STARTED.append(True)

    # -- process ------------------------------------------------------------------------------

    def _command(self):
        options = ["--arena", str(self.arena.fd), "--arena_size", str(self.arena.size)]
        if self.isolation == "full":
            if self.uid is not None:  # bubblewrap started as root: the worker drops to its uid at once
                options += ["--uid", str(self.uid)]
            return (_bwrap_prefix(self.workdir, self.limits.disk_mb << 20, privileged=self.uid is not None)
                    + ["--ro-bind", str(self.code_dir), "/autograder-worker",
                       sys.executable, "-I", "/autograder-worker/worker.py"] + options)
        return [sys.executable, "-I", str(self.code_dir / "worker.py")] + options

    def _prepare_child(self):
        """Runs in the child between fork and exec (so: system calls only, nothing that locks)."""
        if self.pids_group is not None:
            self.pids_group.enter()
        if self.uid is not None and self.isolation == "reduced":
            become(self.uid)  # before the death signal: a change of user clears it
        _die_with_parent()
        for name, soft, hard in self._rlimits():
            resource.setrlimit(name, (soft, hard))

    def _rlimits(self):
        limits = self.limits
        mb = 1 << 20
        return [
            # SIGXCPU at the limit (a clear reason), SIGKILL a second later if it is ignored
            (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
            (resource.RLIMIT_AS, limits.memory_mb * mb, limits.memory_mb * mb),
            (resource.RLIMIT_NPROC, limits.processes, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_size_mb * mb, limits.file_size_mb * mb),
            (resource.RLIMIT_CORE, 0, 0),
        ]

    def _start(self):
        self._kill()  # nothing of an earlier worker, not even its cgroup, is left
        self.generation += 1
        self.pids_group = PidsGroup.create(self.limits.processes)
        self.process_limit = "cgroup" if self.pids_group else ("rlimit" if self.user != "root" else "none")
        self.arena = Arena(min(ARENA_BYTES, (self.limits.memory_mb << 20) // 4))
        forkable = self.isolation == "full" and self.uid is not None and self._fits_a_fork_request()
        server = fork_server() if forkable else None
        if server is not None:
            self.process = server.fork(self.uid, self.limits, self._rlimits(), self.arena, self.workdir,
                                       self.limits.start_seconds)
            if self.pids_group is not None:
                self.pids_group.add(self.process.pid)
            self.process.go()
        else:
            self.process = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                cwd=self.workdir, env=_worker_environment(), preexec_fn=self._prepare_child,
                start_new_session=True, pass_fds=(self.arena.fd,),
            )
        # Requests are written without blocking, so that a worker that stops reading its pipe
        # cannot hold the grader past the deadline.
        os.set_blocking(self.process.stdin.fileno(), False)
        self._buffer = bytearray()
        self._own_pids = self._own_tasks = None
        self._starting = True
        try:
            self.request("ping", timeout=self.limits.start_seconds)
        finally:
            self._starting = False
        # The worker's own processes (bwrap's and Python's); anything else in the group later
        # was started by the student's code.
        self._own_pids = self.pids_group.pids() if self.pids_group else set()
        self._own_tasks = self.pids_group.tasks() if self.pids_group else None
        self.worker_pid = self._find_worker()
        if self.uid is not None:
            self._check_unprivileged()

    def _fits_a_fork_request(self):
        """The prepared worker takes at most ``MAX_FORKED_FILES`` files (one descriptor each, in one
        message); a submission with more starts its worker afresh."""
        files = list(self.workdir.iterdir())
        return len(files) <= MAX_FORKED_FILES and sum(len(file.name.encode()) + 8 for file in files) < 32 << 10

    def _find_worker(self):
        """The pid of the Python process that runs the student's code (under bubblewrap, the
        process below bubblewrap's own), seen from here."""
        if self.isolation != "full":
            return self.process.pid
        if isinstance(self.process, ForkedWorker):  # below the init of its PID namespace: pid 2 there
            return next((pid for pid in descendants(self.process.pid) if _namespace_pids(pid)[2:] == [2]), None)
        return next((pid for pid in descendants(self.process.pid) if _process_name(pid) not in ("bwrap", "")), None)

    def cpu_seconds(self):
        """The CPU time the worker has used so far (its own and that of the children it waited
        for), read from /proc on this side; None where it cannot be read. Unlike the wall
        clock, the machine's other load does not change it."""
        try:
            with open(f"/proc/{self.worker_pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, TypeError):
            return None
        return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def _check_unprivileged(self):
        """Seen from here, not reported by the worker: no process of the worker but bubblewrap's
        own runs as root, and the worker runs as its uid. Checked before any student code runs."""
        pids = [self.process.pid] + descendants(self.process.pid)
        uids = process_uids(pids)
        privileged = [pid for pid, uid in uids.items() if uid != self.uid and _process_name(pid) != "bwrap"]
        if privileged or self.uid not in uids.values():
            self._kill()
            raise WorkerDied("the worker process could not be started as an unprivileged user")

    def _kill(self):
        if self.process is not None:
            if isinstance(self.process, ForkedWorker):
                self.process.kill()  # by its pidfd: the prepared worker may have reaped it already
            elif self.process.returncode is None:  # not reaped yet: its pid and group are still its own
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
            if isinstance(self.process, ForkedWorker):
                self.process.cut_lifeline()
            self.process.wait()
            self.process = None
        if self.pids_group is not None:
            self.pids_group.remove()
            self.pids_group = None
        if self.arena is not None:
            self.arena.close()
            self.arena = None

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
                for index, (name, source, line) in enumerate(self.cells):
                    try:
                        self.request("exec", timeout=self.limits.cell_seconds, name=name, source=source, line=line)
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
            try:  # a request of a few kilobytes fits in the pipe at once: no wait
                view = view[os.write(fd, view[:1 << 16]):]
                continue
            except BlockingIOError:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeout("timeout")
            select.select([], [fd], [], remaining)

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

    def _read_reply(self, deadline, op, requires=()):
        payload = self._read(protocol.frame_length(self._read(8, deadline), protocol.MAX_HEADER), deadline)
        header = protocol.check_reply(protocol.parse_header(payload), op, requires)
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
            return i18n._("could not be started")
        code = self.process.poll()
        if code is None:
            try:
                code = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                return i18n._("stopped answering")
        sig = -code if code < 0 else code - 128 if self.isolation == "full" and code > 128 else None
        if sig is not None:
            reasons = {
                signal.SIGKILL: i18n._("was killed (signal 9: by its own code, or by the system when memory ran out)"),
                signal.SIGXCPU: i18n._("used up its CPU time limit"),
                signal.SIGXFSZ: i18n._("wrote a file larger than the limit"),
                signal.SIGSEGV: i18n._("crashed (segmentation fault; very deep recursion does this)"),
            }
            return reasons.get(sig, i18n._("was ended by signal {signal}", signal=sig))
        return i18n._("exited with code {code} (sys.exit, os._exit or a crash)", code=code)

    def _leftovers(self, header):
        """What the student's code left running after the request returned, in words, or None."""
        background = header.get("background", {})
        found = []
        if background.get("busy_new"):
            found.append(i18n._("{count} thread(s) running in the background that kept using the CPU",
                           count=background["busy_new"]))
        if background.get("busy_old"):
            found.append(i18n._("a background thread, started earlier, that began to use the CPU"))
        if self.pids_group is not None and self._own_pids is not None and not self._no_more_tasks():
            extra, wait_until = self.pids_group.pids() - self._own_pids, time.monotonic() + 0.3
            while extra and time.monotonic() < wait_until:  # a child that is just ending
                time.sleep(0.02)
                extra = self.pids_group.pids() - self._own_pids
            if extra:
                found.append(i18n._("{count} process(es) still running", count=len(extra)))
        return i18n._(" and ").join(found) or None

    def _no_more_tasks(self):
        """Whether the group holds no more tasks than the worker's own when it started: its own
        processes live as long as it does and are never fewer, so then nothing else can be
        there, and the list of processes need not be read (a thread the student's code left
        makes every later request read it)."""
        tasks = self.pids_group.tasks()
        return tasks is not None and self._own_tasks is not None and tasks <= self._own_tasks

    def new_handle(self):
        """A number for an object the worker is to keep: chosen here, never by the worker."""
        return protocol.Handle(next(self.handles), self.generation)

    def request(self, op, timeout=None, shared=None, requires=(), **fields):
        """Send one request and return ``(reply, arrays)``. Arrays anywhere in ``fields`` go
        through the shared arena; ``shared``, when given, receives ``(descriptor, array)`` for
        each, so that the caller can read back what the call left there (:meth:`Arena.read`).

        Raises :class:`StudentError` when the student's code raised, :class:`WorkerTimeout`
        or :class:`WorkerDied` (after restarting the worker) when it hung, died, left threads
        or processes running, or sent a reply that is malformed or lacks what ``op`` answers.
        """
        timeout = self.limits.call_seconds if timeout is None else timeout
        if self.process is None:
            raise WorkerDied(i18n._("the worker process could not be started again"))
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WorkerTimeout(i18n._("could not run: the submission used up its {seconds:g} s grading time",
                                  seconds=self.limits.submission_seconds))
        timeout = min(timeout, remaining)
        frames, placed = [], [] if shared is None else shared
        wire = {key: protocol.encode(value, frames, self.arena, placed) if key in protocol.VALUE_REQUEST_FIELDS
                else value for key, value in fields.items()}
        message = protocol.pack(dict(wire, op=op), frames)
        deadline = time.monotonic() + timeout
        failure = None
        try:
            self._discard_stale()
            self._write(message, deadline)
            header, reply_arrays = self._read_reply(deadline, op, requires)
        except WorkerTimeout:
            failure = WorkerTimeout(i18n._("did not finish within {seconds:g} s", seconds=timeout))
        except (WorkerDied, OSError, protocol.ProtocolError) as error:
            reason = (self._death_reason() if not isinstance(error, protocol.ProtocolError)
                      else i18n._("sent a malformed reply ({error})", error=error))
            failure = WorkerDied(i18n._("the worker process {reason}", reason=reason))
        if failure is not None:
            # Raised here, outside the except clause, so that it carries no __context__: the
            # original error's traceback holds the frames that read the reply (up to 128 MB),
            # and the graders keep every failure until the submission is done.
            self._after_failure()
            raise failure
        leftover = self._leftovers(header)
        if leftover:
            self._after_failure()
            raise WorkerDied(i18n._("the worker process was stopped because the code left {leftover} after it returned "
                               "(nothing may keep running between calls)", leftover=leftover))
        self.last_output = header.get("output", "")[:50_000]
        if not header.get("ok"):
            raise StudentError(header["error"])
        return header, reply_arrays

    def _after_failure(self):
        if self._starting or self._replaying:  # restart() decides what to do next: never a recursion
            self._kill()
            return
        self.restart()

    # -- cells --------------------------------------------------------------------------------

    def read(self, name):
        """The code cells of the file ``name`` of the sandbox's folder, read by the worker before
        any student code runs (``reader.py``): ``[(name, source, line)]``. Raises
        :class:`~autograder.sandbox.reader.UnreadableNotebook` when it is not a readable submission."""
        from .reader import UnreadableNotebook

        try:
            reply, _arrays = self.request("read", timeout=self.limits.cell_seconds, path=name)
        except StudentError as error:
            if error.type in ("UnreadableNotebook", "MemoryError", "RecursionError"):
                detail = (reader_reason(error) if error.type == "UnreadableNotebook"
                          else i18n._("it is too large or too deeply nested"))
                raise UnreadableNotebook(i18n._("{name} could not be read: {detail}", name=name,
                                                detail=detail)) from None
            raise UnreadableNotebook(i18n._("{name} could not be read ({kind}).", name=name, kind=error.type)) from None
        except SandboxError as error:
            raise UnreadableNotebook(i18n._("{name} could not be read: the reader {error}.", name=name,
                                            error=error)) from None
        return [(str(name), str(source), int(line)) for name, source, line in reply["cells"]]

    def run_cells(self, cells):
        """Run ``(name, source, line)`` cells in order, like a kernel: a failing cell does not stop
        the rest. What the cells print is kept up to :data:`OUTPUT_BUDGET` characters in all."""
        reports = []
        for name, source, *rest in cells:
            line = rest[0] if rest else 1
            start = time.monotonic()
            try:
                self.request("exec", timeout=self.limits.cell_seconds, name=name, source=source, line=line)
                reports.append(CellReport(name, True, output=self._keep_output()))
                self.cells.append((name, source, line))
            except StudentError as error:
                reports.append(CellReport(name, False, error, output=self._keep_output()))
                self.cells.append((name, source, line))  # it may still define things before failing
            except SandboxError as error:
                reports.append(CellReport(name, False, error))
            reports[-1].seconds = time.monotonic() - start
        return reports

    def _keep_output(self):
        kept = self.last_output[:max(self.output_budget, 0)]
        self.output_budget -= len(kept)
        return kept
