"""Grading many submissions: in parallel, resumable, on this machine or on a Dask cluster.

Each submission is one job, graded in a grading process of its own, forked from a prepared
parent that has imported the graders (:mod:`autograder.grading_processes`): with ``jobs`` at a
time on this machine, or, with a Dask scheduler address, on the cluster's workers (each worker
has its own prepared parent). A grading process that runs out of its memory bound, dies or
hangs costs only its own submission, which is reported as such and not retried. Results come
back as JSON text, are checked here and written here, atomically, signed.

Before anything is graded, each submission's files are read once (no link followed below the
folder the instructor gave: :func:`autograder.submissions.read_files`) and copied into a
private folder; the copy is what is fingerprinted and graded, so the bytes graded are the
bytes fingerprinted. A submission refused at discovery or reading is reported with the reason
and 0 points; two submissions that would share an output folder are refused and nothing is
written for them.

A submission is skipped when its ``results.json`` is signed with the grader's key
(:func:`results_key`: an HMAC that nothing outside the batch's own process can make) and
carries the same *fingerprint*: a hash of the submission's files, the assignment manifest, the
course files and the grading code. So a batch that was interrupted resumes where it stopped,
and a rerun regrades only what changed (a resubmitted notebook, an edited manifest, a fixed
grader) and whatever fails verification (a results.json changed after it was written).
``force=True`` regrades all.
"""
import contextlib
import dataclasses
import gc
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from . import i18n
from .fingerprints import code_version, fingerprint, manifest_digest
from .i18n import _
from .progress import Progress
from .results import BatchStamp, MalformedResults, SubmissionResult, write_submission_results

KEY_FILE = "results-key"
MAX_RESULTS_BYTES = 64 << 20  # a results.json larger than this is not read back
DEADLINE_MARGIN = 120.0  # seconds beyond the manifest's per-notebook budgets before a grading is killed


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Job:
    """One submission to grade; it crosses to a grading process as JSON."""
    name: str  # the output folder's name
    student: str | None  # the submission's identity
    file: str  # the main file, as the instructor's folder has it
    files: dict  # manifest notebook name -> path (str) of the private copy that is graded
    fingerprint: str
    problem: str | None = None  # refused: why (nothing is graded)

    def to_json(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data):
        return cls(**data)


@dataclass
class JobOutcome:
    """How one job of a batch ended, with its result when it has one."""
    job: Job
    status: str  # "graded", "skipped", "failed" (graded, but the submission could not be read or run),
    #              "error" (the grading machinery broke: nothing written), "refused" (nothing written)
    results: dict | None = None
    error: str = ""
    seconds: float = 0.0
    rss_kb: int = 0  # the largest resident memory of the submission's grading process


@dataclass
class BatchReport:
    outcomes: list = field(default_factory=list)  # in the order of the submissions
    distrusted: list = field(default_factory=list)  # (name, why) of results.json files that failed verification
    memory_kb: dict = field(default_factory=dict)  # largest resident memory: "batch", "prepared parent", "grading"

    def count(self, status):
        return sum(o.status == status for o in self.outcomes)

    @property
    def rows(self):
        """(name, results) of every submission that has results, for the summary table."""
        return [(o.job.name, o.results) for o in self.outcomes if o.results is not None]


# -- grading one submission, in a grading process ------------------------------------------------------

_WARM = False
_LOCK = threading.Lock()  # one grading at a time per process (pytest in-process is not thread-safe)


def warm_up():
    """Import every grader once, configure pytest and collect the graders once, start the prepared
    worker every sandbox worker is forked from (where the grader runs as root under bubblewrap),
    and move what is loaded out of the garbage collector's way.

    The prepared parent pays for this (about 2 s) once, before it forks the first grading
    process. ``gc.freeze()`` then keeps the garbage collector from walking the
    hundreds of thousands of objects of NumPy, pytest and the graders on every collection:
    pytest collects garbage several times at the end of each session, which otherwise costs
    about 0.3 s per submission (and, after a fork, would copy every page it touches)."""
    global _WARM
    if _WARM:
        return
    from .grading_session import prepared_session
    from .runner import grader_titles, import_reference_extras, measure_speed_baselines
    from .sandbox.client import start_fork_server

    server = start_fork_server()  # started first where the prepared parent runs this; imports NumPy and SciPy meanwhile
    grader_titles()
    import_reference_extras()
    measure_speed_baselines()
    prepared_session()  # pytest configured and the graders collected, before the prepared parent forks
    if server is not None:
        server.ready()
    gc.collect()
    gc.freeze()
    _WARM = True


def grade_job(assignment, job):
    """Grade one submission in this process; returns its :class:`~autograder.results.SubmissionResult`."""
    from .runner import grade_submission

    with _LOCK:
        result = grade_submission(assignment, {notebook: Path(path) for notebook, path in job.files.items()})
    return stamp(result, job)


def stamp(result, job):
    """The batch's own record of whose results these are, over whatever the grading said."""
    result.stamp = BatchStamp(job.name, job.student, job.file, job.fingerprint)
    return result


@dataclass
class _Ungraded:
    """A test that was not run, for :func:`failure_results`."""
    item: str
    test: str
    message: str
    diagnosis: str | None
    passed: bool = False

    @property
    def title(self):
        return self.test


def failure_results(assignment, job, reason, diagnosis=None, resumable=True):
    """Results for a submission that was not graded: every test 0 with ``reason``. ``resumable``
    False leaves out the fingerprint, so that a rerun grades it again. In the assignment's language
    (``reason`` is given in it)."""
    with i18n.language(assignment.language):
        message = _("The submission could not be graded: {reason}", reason=reason)
    outcomes = [_Ungraded(item.name, key, message, diagnosis)
                for item in assignment.items.values() for key in item.tests]
    result = stamp(SubmissionResult.build(assignment, outcomes, {"error": reason}), job)
    if not resumable:
        result.stamp.fingerprint = ""
    return result


def _need(condition, what):
    if not condition:
        raise MalformedResults(what)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- results this grader wrote: signed -----------------------------------------------------------------

class ResultsKeyError(Exception):
    """The key file is not one this grader can trust; the message says what to do."""


def key_path():
    """Where the key that signs results lives: ``$XDG_CONFIG_HOME/autograder/results-key`` (by
    default ``~/.config/autograder/results-key``), outside every output folder, so that sharing an
    output folder never shares the key."""
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "autograder" / KEY_FILE


def results_key():
    """The secret key that signs results (:func:`key_path`, mode 0600, made on first use). Only the
    batch's own process reads it: no grading process, sandbox worker or Dask worker gets it."""
    path = key_path()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.path.lexists(path):
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE}.")  # mode 0600
            try:
                with os.fdopen(fd, "w", encoding="ascii") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
                os.link(temporary, path)  # fails if another batch made one meanwhile: theirs is used
            except FileExistsError:
                pass
            finally:
                os.unlink(temporary)
    except OSError as error:
        raise ResultsKeyError(f"cannot make the key that signs results at {path} ({error.strerror}); set "
                              "XDG_CONFIG_HOME to a private folder this user can write") from None
    return read_key(path)


def read_key(path):
    """The key in ``path``: a regular file (not a link) of this user's, that no one else may read or
    write, holding 64 hexadecimal digits; else :class:`ResultsKeyError`."""
    problem = None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise ResultsKeyError(f"{path}: {error.strerror}; delete it to start over (every submission is then "
                              "regraded)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            problem = "is not a regular file"
        elif info.st_uid != os.geteuid():
            problem = "belongs to another user"
        elif info.st_mode & 0o077:
            problem = "can be read or written by other users (it must be mode 0600)"
        text = os.read(fd, 200).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    if problem is None and (len(text) != 64 or any(c not in "0123456789abcdef" for c in text)):
        problem = "is not a key this grader made"
    if problem:
        raise ResultsKeyError(f"{path} {problem}; delete it to start over (every submission is then regraded)")
    return bytes.fromhex(text)


def _signature(results, key):
    payload = {k: v for k, v in results.items() if k != "signature"}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("ascii")
    return "hmac-sha256:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()


def sign(results, key):
    """``results`` with its ``signature``: the HMAC-SHA256, with ``key``, of the rest as canonical JSON."""
    return {**{k: v for k, v in results.items() if k != "signature"}, "signature": _signature(results, key)}


def verified(results, key):
    """True when ``results`` carries this key's HMAC of its canonical JSON."""
    signature = results.get("signature") if isinstance(results, dict) else None
    return isinstance(signature, str) and hmac.compare_digest(signature, _signature(results, key))


def write_results(folder, result, key):
    """Write ``feedback.md`` then the signed ``results.json``, each atomically; first remove what a
    killed earlier run may have left half-way: its temporary files (``write_atomic`` names them
    ``.<name>.<random>``)."""
    folder = Path(folder)
    for pattern in (".results.json.*", ".feedback.md.*"):
        for stale in folder.glob(pattern):
            stale.unlink(missing_ok=True)
    write_submission_results(folder, result, lambda data: sign(data, key))
    return result


def previous_results(out, job, key):
    """``(results, distrust)``: the results already written for ``job`` when they verify and are
    current (same fingerprint), else None; ``distrust`` says why a file that exists failed
    verification (None when it verified, or there was none)."""
    if not job.fingerprint or job.problem:
        return None, None
    path = Path(out) / job.name / "results.json"
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RESULTS_BYTES + 1)
    except OSError:
        return None, None
    try:
        data = json.loads(data) if len(data) <= MAX_RESULTS_BYTES else None
    except ValueError:
        data = None
    if data is None or not verified(data, key):
        return None, "results.json is not signed by this grader (changed after grading, or written elsewhere)"
    try:
        result = SubmissionResult.from_json(data)
    except MalformedResults:
        return None, None
    if result.stamp is None or result.stamp.fingerprint != job.fingerprint:
        return None, None
    try:
        feedback = (path.parent / "feedback.md").read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None, None
    if feedback != result.to_markdown():
        return None, "feedback.md does not match results.json"
    return result, None



def run_local_job(assignment, job, out, key=None):
    """Grade one submission in this process and write its results under ``out``; never raises.
    (What a grading process does, in the caller's process: for measurements, not for batches.)"""
    start = time.monotonic()
    try:
        result = write_results(Path(out) / job.name, grade_job(assignment, job), key or results_key())
        return JobOutcome(job, result.status, result, seconds=time.monotonic() - start)
    except Exception:  # a fault of the grading machinery, not of the submission: nothing is written
        return JobOutcome(job, "error", None, traceback.format_exc(), seconds=time.monotonic() - start)


def _private_folder(folder, private):
    """The job's private folder on a Dask worker, with the held-out set the client sent (mode
    0600 in a folder of mode 0700, outside anything the sandbox sees); without one, an empty
    folder: the final-model tests then report the missing set, never use the worker's own files."""
    from .heldout import FILE_NAME

    target = Path(folder) / "private"
    target.mkdir(mode=0o700)
    if private is not None:
        descriptor = os.open(target / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private)
    return target


# -- the batch ---------------------------------------------------------------------------------------

def make_jobs(assignment, submissions, private=None):
    """One job per submission, its files read once into ``private`` (a folder only this process
    uses; by default a new temporary one, removed when the process exits) and fingerprinted
    there. A submission refused at discovery or reading becomes a job with its ``problem``."""
    from .submissions import RefusedFile, read_files

    private = Path(private) if private is not None else _temporary_folder()
    digest = manifest_digest(assignment)
    version = code_version()
    jobs = []
    for number, sub in enumerate(submissions):
        problem = sub.problem
        files = {}
        if problem is None:
            try:
                contents = read_files(sub, assignment)
            except RefusedFile as error:
                problem = str(error)
            else:
                folder = private / str(number)
                folder.mkdir()
                for notebook, (name, data) in contents.items():
                    (folder / name).write_bytes(data)
                    files[notebook] = str(folder / name)
        fp = fingerprint(files, digest, version) if problem is None else ""
        jobs.append(Job(sub.name, sub.student, str(sub.path), files, fp, problem))
    return jobs


def _temporary_folder():
    import atexit
    import shutil

    folder = tempfile.mkdtemp(prefix="autograder-batch-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def shared_folders(jobs):
    """Names of output folders that more than one job would write: those jobs are refused."""
    seen = {}
    for job in jobs:
        seen.setdefault(job.name, []).append(job)
    return {name: group for name, group in seen.items() if len(group) > 1}


def grade_batch(assignment, submissions, out, jobs=None, force=False, scheduler=None, progress=False, bar="auto",
                grade=None):
    """Grade ``submissions`` (:class:`~autograder.submissions.SubmissionFile`) into ``out``.

    ``jobs``: gradings at a time on this machine (default: the number of cores); ``scheduler``:
    the address of a Dask scheduler (or a ``distributed.Client``) to grade on instead;
    ``force``: regrade even what is unchanged; ``progress``: report on stderr as it goes, with a
    progress bar when ``bar`` is True, or "auto" and stderr is a terminal; ``grade``: the
    module-level function a grading process calls (default :func:`grade_job`)."""
    out = Path(out)
    key = results_key()
    report = BatchReport()
    with contextlib.ExitStack() as stack:
        # The prepared parent starts while the jobs are made (it is not waited for until then)
        server = None
        if scheduler is None and submissions:
            from .grading_processes import GradingServer

            server = stack.enter_context(GradingServer(grade or grade_job, warm=len(submissions) > 1))
        return _grade_batch(assignment, submissions, out, key, report, jobs, force, scheduler, progress, bar, grade,
                            server)


def _grade_batch(assignment, submissions, out, key, report, jobs, force, scheduler, progress, bar, grade, server):
    with tempfile.TemporaryDirectory(prefix="autograder-batch-") as private:
        with i18n.language(assignment.language):  # a refused file's reason is the student's feedback
            all_jobs = make_jobs(assignment, submissions, private)
        outcomes = {}
        shared = shared_folders(all_jobs)
        for name, group in shared.items():
            where = ", ".join(job.file for job in group)
            for job in group:
                outcomes[id(job)] = JobOutcome(job, "refused", None,
                                            f"{len(group)} submissions would share the output folder {name} ({where}): "
                                            "none of them is graded; give them distinct names")
        for job in all_jobs:
            if id(job) in outcomes or force:
                continue
            results, distrust = previous_results(out, job, key)
            if results is not None:
                outcomes[id(job)] = JobOutcome(job, "skipped", results)
            elif distrust:
                report.distrusted.append((job.name, distrust))
        todo = [job for job in all_jobs if id(job) not in outcomes]
        skipped = sum(o.status == "skipped" for o in outcomes.values())
        meter = Progress(len(todo) + len(outcomes) - skipped, skipped, bar if progress else False, lines=progress)
        for name, why in report.distrusted:
            meter.write(f"{name}: {why}: regraded")
        try:
            for outcome in outcomes.values():
                if outcome.status == "refused":
                    meter.update(outcome)
            for outcome in grade_jobs(assignment, todo, out, key, jobs, scheduler, grade, report, server):
                outcomes[id(outcome.job)] = outcome
                meter.update(outcome)
        finally:
            meter.close()
    report.outcomes = [outcomes[id(job)] for job in all_jobs if id(job) in outcomes]
    report.memory_kb["batch"] = _own_rss_kb()
    report.memory_kb["grading"] = max([o.rss_kb for o in report.outcomes], default=0)
    return report


def _own_rss_kb():
    """The largest resident memory of this process (``VmHWM``: ``ru_maxrss`` would include the
    process this one was started from)."""
    from .grading_processes import status_kb

    return status_kb("VmHWM") or 0


def grade_jobs(assignment, todo, out, key, jobs, scheduler, grade, report, server=None):
    """Yield each job's outcome as it finishes: refused jobs at once, the rest from grading processes
    (``server``: a prepared parent already started for them, else one is started here)."""
    waiting = []
    for job in todo:
        if job.problem:
            results = write_results(Path(out) / job.name, failure_results(assignment, job, job.problem, "unreadable",
                                                                          resumable=False), key)
            yield JobOutcome(job, "failed", results)
        else:
            waiting.append(job)
    if not waiting:
        return
    if scheduler is not None:
        yield from _run_dask(assignment, waiting, out, key, scheduler, report)
    else:
        yield from _run_local(assignment, waiting, out, key, min(jobs or cpu_count(), len(waiting)),
                              grade or grade_job, report, server)


def deadline(assignment):
    """Seconds after which a grading process is killed: the manifest's wall-clock budget of every
    notebook that has items, and a margin. A backstop: the sandbox keeps each notebook within its
    budget, so only a fault of the grading machinery reaches it."""
    notebooks = {assignment.notebook_of(item) for item in assignment.items.values()}
    return sum(assignment.limits_for(n).submission_seconds for n in notebooks) + DEADLINE_MARGIN


def outcome_from_reply(assignment, job, reply, out, key):
    """The outcome of one grading process: its checked results, or what ended it, written for the
    submission (a fault of the grading machinery writes nothing: a rerun retries it), in the
    assignment's language."""
    with i18n.language(assignment.language):
        return _outcome_from_reply(assignment, job, reply, out, key)


def _outcome_from_reply(assignment, job, reply, out, key):
    if reply.status == "done":
        try:
            results = stamp(SubmissionResult.from_json(json.loads(reply.results_text or ""), assignment), job)
        except (ValueError, TypeError) as error:
            return JobOutcome(job, "error", None, f"the grading sent back malformed results: {error}",
                           reply.seconds, reply.rss_kb)
    elif reply.status == "memory":
        results = failure_results(assignment, job, _("grading it needed more memory than a grading process may use "
                                                     "({memory} MB), so it was stopped. Every other submission was "
                                                     "graded as usual.", memory=reply.memory_mb))
    elif reply.status in ("died", "timeout"):
        what = (_("did not finish within its time") if reply.status == "timeout"
                else _("died ({error}: killed, or out of memory)", error=reply.error))
        results = failure_results(assignment, job, _("the process grading it {what}; it was not retried. Every "
                                                     "other submission was graded as usual.", what=what),
                                  resumable=False)
    else:
        return JobOutcome(job, "error", None, reply.error or "the grading broke", reply.seconds, reply.rss_kb)
    results = write_results(Path(out) / job.name, results, key)
    return JobOutcome(job, results.status, results, seconds=reply.seconds, rss_kb=reply.rss_kb)


def _run_local(assignment, todo, out, key, workers, grade, report, server=None):
    """Grade on this machine, ``workers`` grading processes at a time, forked one per submission
    by a prepared parent. Should the prepared parent itself end, the gradings it had in flight are
    reported as failed to grade (a rerun retries them) and a new one grades the rest."""
    from collections import deque

    from .grading_processes import GradingServer, GradingServerError

    pending, limit = deque(todo), deadline(assignment)
    while pending:
        running = {}
        try:
            if server is not None:  # the one started for this batch; its caller closes it
                started, server = server, None
                yield from _serve(assignment, pending, running, workers, limit, out, key, report, started)
            else:
                # one submission: not worth warming a prepared parent up for (see GradingServer)
                with GradingServer(grade, warm=len(pending) > 1) as started:
                    yield from _serve(assignment, pending, running, workers, limit, out, key, report, started)
        except GradingServerError as error:
            for job in running.values():
                yield JobOutcome(job, "error", None, f"{error} while it graded this submission")


def _serve(assignment, pending, running, workers, limit, out, key, report, server):
    while pending or running:
        while pending and len(running) < workers:
            job = pending.popleft()
            running[job.name] = job
            server.submit(assignment, job, limit)
        reply = server.receive()
        report.memory_kb["prepared parent"] = max(report.memory_kb.get("prepared parent", 0), reply.server_rss_kb)
        yield outcome_from_reply(assignment, running.pop(reply.id), reply, out, key)


# -- Dask --------------------------------------------------------------------------------------------

_REMOTE = {}  # the prepared parent of this Dask worker process
_REMOTE_LOCK = threading.Lock()


def run_remote_job(assignment, job, contents, course, limit, private=None):
    """A Dask task: grade one submission from the bytes of its files (``contents``, in the order of
    ``job["files"]``) and of the course files (``course``: name -> bytes), so that the workers need
    the project installed but no access to the instructor's files; ``private``: the bytes of the
    held-out set, written for the graders only (see :func:`_private_folder`). It is graded in a
    grading process of its own, forked by this worker's prepared parent. Returns JSON text only (a
    :class:`~autograder.grading_processes.Reply`): no object of any kind crosses back."""
    from .grading_processes import GradingServer, Reply

    job = Job.from_json(job)
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-job-") as folder:
            folder = Path(folder)
            course_dir = folder / "course"
            course_dir.mkdir()
            for name, data in course.items():
                (course_dir / Path(name).name).write_bytes(data)
            files = {}
            for i, ((notebook, path), data) in enumerate(zip(job.files.items(), contents)):
                target = folder / f"file{i}" / Path(path).name
                target.parent.mkdir()
                target.write_bytes(data)
                files[notebook] = str(target)
            local = dataclasses.replace(assignment, course_dir=course_dir, private_dir=_private_folder(folder, private))
            with _REMOTE_LOCK:
                server = _REMOTE.get("server")
                if server is None or not server.alive():
                    server = _REMOTE["server"] = GradingServer(grade_job)
                reply = server.grade(local, dataclasses.replace(job, files=files), limit)
    except Exception:  # noqa: BLE001 - sent back as text, never as an exception object
        reply = Reply(job.name, "error", error=traceback.format_exc()[-20_000:])
    return json.dumps(reply.to_json())


class RemoteTaskFailed(Exception):
    """A Dask task that failed on its worker. What the worker sent about it is not read."""


def data_only_client(scheduler):
    """A ``distributed.Client`` that reads from workers only data: task results as msgpack (JSON
    text, here), never a pickle; a failed task's exception, a result's type and workers' events
    (which Dask sends as pickles) are dropped unread."""
    from distributed import Client

    class DataOnlyClient(Client):
        def _handle_key_in_memory(self, key=None, type=None, workers=None):
            return super()._handle_key_in_memory(key=key, type=None, workers=workers)

        def _handle_task_erred(self, key=None, exception=None, traceback=None):
            failure = RemoteTaskFailed("the task failed on its Dask worker (what the worker sent about it is not "
                                       "read: nothing from a worker is unpickled)")
            return super()._handle_task_erred(key=key, exception=failure, traceback=None)

        async def _handle_event(self, topic, event):
            return None

    address = scheduler if isinstance(scheduler, str) else scheduler.scheduler.address
    return DataOnlyClient(address, deserializers=["msgpack"], set_as_default=False)


def reply_from_text(text, job):
    """The :class:`~autograder.grading_processes.Reply` a Dask task sent, checked to be one."""
    from .grading_processes import Reply

    if not isinstance(text, str):
        raise MalformedResults(f"the task returned {type(text).__name__}, not JSON text")
    data = json.loads(text)
    _need(isinstance(data, dict) and data.get("id") == job.name, "a reply about another submission")
    _need(data.get("status") in ("done", "memory", "died", "timeout", "error"), "an unknown status")
    _need(data.get("results_text") is None or isinstance(data["results_text"], str), "results that are not text")
    _need(isinstance(data.get("error", ""), str), "an error that is not text")
    for name in ("rss_kb", "server_rss_kb", "memory_mb", "seconds"):
        _need(_number(data.get(name, 0)), f"a malformed {name}")
    return Reply(**{k: v for k, v in data.items() if k in Reply.__dataclass_fields__})


def _run_dask(assignment, todo, out, key, scheduler, report):
    """Yield each job's outcome as the cluster finishes it; the results are checked and written here."""
    try:
        from distributed import as_completed
    except ImportError:
        raise SystemExit("Grading on a Dask cluster needs the dask extra: pip install 'nn-homework-autograder[dask]'")
    client = data_only_client(scheduler)
    try:
        course = {Path(p).name: Path(p).read_bytes() for p in assignment.course_files}
        private = _held_out_bytes(assignment)
        remote_assignment = dataclasses.replace(assignment, course_dir=None, private_dir=None)
        limit = deadline(assignment)
        futures, submitted = {}, []
        for job in todo:
            contents = [Path(path).read_bytes() for path in job.files.values()]  # the private copy
            future = client.submit(run_remote_job, remote_assignment, job.to_json(), contents, course, limit, private,
                                   key=f"grade-{job.name}-{time.time_ns()}", pure=False)
            futures[future.key] = job
            submitted.append(future)
        for future in as_completed(submitted, loop=client.loop):
            job = futures[future.key]
            try:
                reply = reply_from_text(future.result(), job)
            except Exception as error:  # the worker died, the task could not run there, or it sent no reply
                yield JobOutcome(job, "error", None, f"{type(error).__name__}: {error}")
                continue
            yield outcome_from_reply(assignment, job, reply, out, key)
    finally:
        client.close()


def _held_out_bytes(assignment):
    """The held-out set the Dask workers' graders need (None when the assignment has none)."""
    from .heldout import path_of

    path = path_of(assignment)
    return path.read_bytes() if assignment.uses_heldout and path.is_file() else None
