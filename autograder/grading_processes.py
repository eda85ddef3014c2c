"""One grading process per submission, forked from a prepared parent.

A batch (or a Dask worker) starts one *prepared parent*: a fresh interpreter
(``python -m autograder.grading_processes``) that imports the graders once and then forks a
*grading process* for each submission it is asked to grade. Forking keeps the start-up cheap
(the graders are already imported) and gives every submission a process of its own, so a
submission that makes its grading process hold too much memory, crash or hang costs only its
own grade:

- each grading process has a hard bound on its address space (``RLIMIT_AS``): its size when
  it was forked plus :data:`GRADING_MEMORY_MB`. It ends early, and says so, when it runs out
  (a ``MemoryError``) or comes within :data:`HEADROOM_MB` of the bound (an allocation may have
  failed somewhere its graders caught it);
- the kernel's OOM killer picks it and its sandbox workers first (``oom_score_adj`` 1000), not
  the batch;
- it dies with the prepared parent (``PR_SET_PDEATHSIG``), which dies when its own parent
  closes the request pipe, and it is killed at a backstop deadline the request gives;
- it is never retried: whatever ends it is reported for that submission alone.

The prepared parent never forks while it has a thread (BLAS thread pools are limited to one
thread in its environment, and it counts its threads before every fork): the grading process
runs pytest in-process, and a fork taken while another thread holds a lock can deadlock.

Everything crosses as JSON in frames of an 8-byte length, except the assignment, which the
parent sends its own prepared parent as a pickle: configuration the instructor's process
made, never anything a submission or a worker produced. A grading process sends its results
as JSON text, which the parent checks before writing (``SubmissionResult.from_json``).
"""
import base64
import ctypes
import importlib
import json
import os
import pickle
import resource
import select
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field

GRADING_MEMORY_MB = 1024  # beyond the prepared parent's size; an honest grading needs about 150 MB
HEADROOM_MB = 256  # a grading that came this close to its bound may have had an allocation fail
MAX_RESULTS = 64 << 20  # one submission's results.json
MAX_ERROR = 64 << 10  # a traceback sent back by a grading process that broke
EXIT_MEMORY, EXIT_ERROR = 3, 4
SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
PR_SET_PDEATHSIG = 1


class GradingServerError(Exception):
    """The prepared parent could not be started or stopped answering."""


# -- frames -------------------------------------------------------------------------------------------

def write_frame(fd, payload):
    data = struct.pack(">Q", len(payload)) + payload
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd, n):
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, limit=None):
    prefix = read_exact(fd, 8)
    if prefix is None:
        return None
    (length,) = struct.unpack(">Q", prefix)
    if limit is not None and length > limit:
        raise GradingServerError(f"a frame of {length} bytes (at most {limit})")
    return read_exact(fd, length)


def send_json(fd, value):
    write_frame(fd, json.dumps(value).encode())


# -- the batch's side ---------------------------------------------------------------------------------

def function_reference(function):
    """``module:name`` of a module-level function, checked to import back to the same function."""
    reference = f"{function.__module__}:{function.__qualname__}"
    if resolve(reference) is not function:
        raise ValueError(f"{reference} is not importable by name; a grading process could not call it")
    return reference


def resolve(reference):
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Reply:
    """What the prepared parent reports about one grading process."""
    id: str
    status: str  # "done", "memory", "died", "timeout", "error"
    results_text: str | None = None  # "done": the grading process's results, as JSON text (unchecked)
    error: str = ""
    rss_kb: int = 0  # the grading process's largest resident set
    server_rss_kb: int = 0  # the prepared parent's
    seconds: float = 0.0
    memory_mb: int = 0  # the grading process's address-space bound

    def to_json(self):
        return dict(self.__dict__)


class GradingServer:
    """The batch's handle on a prepared parent: :meth:`submit` a job, :meth:`receive` replies in
    the order the gradings end. ``grade`` is the module-level function a grading process calls as
    ``grade(assignment, job)`` to get the results (a dict). ``warm``: the prepared parent imports
    the graders before it forks (``batch.warm_up``), so that every grading process has them;
    for a single submission it does not, and that grading process imports them itself while its
    sandbox runs the cells (``runner.import_graders_meanwhile``)."""

    def __init__(self, grade, warm=True):
        request_read, self._requests = os.pipe()
        self._replies, reply_write = os.pipe()
        env = dict(os.environ, **SINGLE_THREADED)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.grading_processes", str(request_read), str(reply_write)],
                pass_fds=(request_read, reply_write), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        finally:
            os.close(request_read)
            os.close(reply_write)
        send_json(self._requests, {"grade": function_reference(grade), "sys_path": sys.path, "warm": warm})
        self._ready = False  # its answer to the hello is read when the first job is submitted

    def _await_ready(self):
        """The prepared parent's answer to the hello: it starts (and, warm, imports the graders)
        while the batch makes its jobs, and is waited for only when there is a job to grade."""
        if self._ready:
            return
        hello = self._receive_json()
        if not hello.get("ready"):
            self.close()
            raise GradingServerError(hello.get("error") or "the prepared parent did not start")
        self._ready = True

    def _receive_json(self):
        try:
            frame = read_frame(self._replies, MAX_RESULTS + (1 << 20))
        except OSError as error:
            frame, cause = None, error
        else:
            cause = None
        if frame is None:
            raise GradingServerError(self._ended() + (f": {cause}" if cause else ""))
        return json.loads(frame)

    def _ended(self):
        """How the prepared parent ended, in words."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the prepared parent stopped answering"
        return f"the prepared parent ended ({f'killed by signal {-code}' if code < 0 else f'exit status {code}'})"

    def submit(self, assignment, job, deadline):
        """Start grading ``job`` (a :class:`~autograder.batch.Job`) in a new grading process,
        killed after ``deadline`` seconds."""
        self._await_ready()
        try:
            send_json(self._requests, {
                "id": job.name, "job": job.to_json(), "deadline": deadline,
                "assignment": base64.b64encode(pickle.dumps(assignment)).decode("ascii"),
            })
        except OSError as error:
            raise GradingServerError(f"{self._ended()}: {error}") from None

    def receive(self):
        """The next :class:`Reply`, waiting for a grading to end."""
        reply = self._receive_json()
        return Reply(**{k: v for k, v in reply.items() if k in Reply.__dataclass_fields__})

    def grade(self, assignment, job, deadline):
        """Grade one job and wait for its reply (when nothing else is in flight)."""
        self.submit(assignment, job, deadline)
        return self.receive()

    def alive(self):
        return self.process.poll() is None

    def close(self):
        """Closing the request pipe ends the prepared parent, which kills the gradings in flight."""
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- the prepared parent ------------------------------------------------------------------------------

def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # not Linux
        import threading

        return threading.active_count()


def status_kb(field_name):
    """A ``VmSize``-like field of ``/proc/self/status``, in kB; None where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Grading:
    """One grading process, seen from the prepared parent."""
    id: str
    pid: int
    fd: int
    started: float
    deadline: float
    memory_mb: int
    data: bytearray = field(default_factory=bytearray)
    timed_out: bool = False
    too_large: bool = False


class PreparedParent:
    """The loop of the prepared parent: read requests, fork a grading process for each, collect
    what each sends back, reap it and reply; kill those past their deadline. Ends, killing the
    gradings in flight, when the batch closes the request pipe."""

    def __init__(self, requests, replies):
        self.requests = requests
        self.replies = replies
        self.gradings = {}  # read fd -> Grading

    def start(self):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle
        hello = json.loads(read_frame(self.requests))
        sys.path[:] = hello["sys_path"]
        warm = hello.get("warm", True)
        try:
            if warm:  # started first: the prepared worker's imports go on while this process makes its own
                from .sandbox.client import start_fork_server

                start_fork_server()
            self.grade = resolve(hello["grade"])
            if warm:
                from .batch import warm_up  # which finds that prepared worker started

                warm_up()
            else:  # what a grading process needs before its sandbox starts (the graders it imports itself)
                from . import runner  # noqa: F401
        except Exception:
            answer = {"ready": False, "error": traceback.format_exc()}
        else:
            answer = {"ready": True}
        try:
            send_json(self.replies, answer)
        except OSError:  # the batch has gone already (it had nothing to grade): end quietly
            return False
        return answer["ready"]

    def serve(self):
        if not self.start():
            return
        try:
            while True:
                now = time.monotonic()
                wait = min([1.0] + [max(0.0, g.deadline - now) for g in self.gradings.values()])
                ready, _, _ = select.select([self.requests] + list(self.gradings), [], [], wait)
                if self.requests in ready:
                    frame = read_frame(self.requests)
                    if frame is None:  # the batch has gone
                        return
                    self.fork(json.loads(frame))
                for fd in ready:
                    if fd in self.gradings:
                        self.read(self.gradings[fd])
                self.check()
        finally:
            for grading in list(self.gradings.values()):
                _kill(grading.pid)
                os.waitpid(grading.pid, 0)

    def fork(self, request):
        threads = thread_count()
        if threads != 1:
            send_json(self.replies, Reply(request["id"], "error", error=f"the prepared parent has {threads} threads; "
                                          "it does not fork then").to_json())
            return
        read_end, write_end = os.pipe()
        memory_mb = GRADING_MEMORY_MB + (status_kb("VmSize") or 0) // 1024
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            for fd in [self.requests, self.replies, *self.gradings]:
                os.close(fd)
            run_grading(self.grade, request, write_end, memory_mb)  # never returns
        os.close(write_end)
        os.set_blocking(read_end, False)
        now = time.monotonic()
        deadline = now + float(request["deadline"])
        self.gradings[read_end] = Grading(request["id"], pid, read_end, now, deadline, memory_mb)

    def read(self, grading):
        while True:
            try:
                chunk = os.read(grading.fd, 1 << 20)
            except BlockingIOError:
                return
            if not chunk:
                return self.finish(grading)
            if len(grading.data) + len(chunk) > MAX_RESULTS:
                grading.too_large = True
                _kill(grading.pid)
                grading.data.clear()
            elif not grading.too_large:
                grading.data += chunk

    def check(self):
        """Kill the gradings past their deadline; finish those that ended without closing their pipe
        (a descendant kept it open)."""
        now = time.monotonic()
        for grading in list(self.gradings.values()):
            if now > grading.deadline and not grading.timed_out:
                grading.timed_out = True
                _kill(grading.pid)
            pid, status, usage = os.wait4(grading.pid, os.WNOHANG)
            if pid:
                self.read_rest(grading)
                self.report(grading, status, usage)

    def read_rest(self, grading):
        try:
            while not grading.too_large:
                chunk = os.read(grading.fd, 1 << 20)
                if not chunk:
                    break
                grading.data += chunk
        except BlockingIOError:
            pass

    def finish(self, grading):
        _, status, usage = os.wait4(grading.pid, 0)
        self.report(grading, status, usage)

    def report(self, grading, status, usage):
        del self.gradings[grading.fd]
        os.close(grading.fd)
        reply = Reply(grading.id, "done", rss_kb=usage.ru_maxrss, memory_mb=grading.memory_mb,
                      server_rss_kb=status_kb("VmHWM") or 0,
                      seconds=time.monotonic() - grading.started)
        text = bytes(grading.data).decode("utf-8", "replace")
        if grading.too_large:
            reply.status, reply.error = "error", f"the grading sent back more than {MAX_RESULTS >> 20} MB of results"
        elif grading.timed_out:
            reply.status = "timeout"
        elif os.WIFSIGNALED(status):
            reply.status, reply.error = "died", f"signal {os.WTERMSIG(status)}"
        elif os.WEXITSTATUS(status) == EXIT_MEMORY:
            reply.status = "memory"
        elif os.WEXITSTATUS(status) == EXIT_ERROR:
            reply.status, reply.error = "error", text[-MAX_ERROR:]
        elif os.WEXITSTATUS(status) != 0:
            reply.status, reply.error = "died", f"exit status {os.WEXITSTATUS(status)}"
        else:
            reply.results_text = text
        send_json(self.replies, reply.to_json())


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- a grading process --------------------------------------------------------------------------------

def run_grading(grade, request, fd, memory_mb):
    """The grading process: grade one job and write its results (JSON) to ``fd``; never returns."""
    code = EXIT_ERROR
    try:
        prepare_grading_process(memory_mb)
        from .batch import Job

        assignment = pickle.loads(base64.b64decode(request["assignment"]))
        results = grade(assignment, Job.from_json(request["job"]))
        if near_bound(memory_mb):
            code = EXIT_MEMORY
        else:
            _write_all(fd, json.dumps(results.to_json()).encode())
            code = 0
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException:  # noqa: BLE001 - a fault of the grading machinery: reported, never raised here
        try:
            _write_all(fd, traceback.format_exc().encode()[-MAX_ERROR:])
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def prepare_grading_process(memory_mb):
    """Die with the prepared parent, be the OOM killer's first choice, and bound the address space
    (the soft limit: the sandbox worker this process starts sets its own, larger bound)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as handle:
            handle.write("1000")
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    bound = memory_mb << 20
    if hard != resource.RLIM_INFINITY:
        bound = min(bound, hard)
    resource.setrlimit(resource.RLIMIT_AS, (bound, hard))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # what the graders print goes nowhere, not into the batch's terminal
    os.close(devnull)


def near_bound(memory_mb):
    peak = status_kb("VmPeak")
    return peak is not None and peak >= (memory_mb - HEADROOM_MB) << 10


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def main(argv):
    """``python -m autograder.grading_processes REQUEST_FD REPLY_FD``: the prepared parent."""
    requests, replies = int(argv[0]), int(argv[1])
    PreparedParent(requests, replies).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
