"""Grading many submissions: in parallel, resumable, on this machine or on a Dask cluster.

Each submission is one job. With ``jobs=1`` the jobs run in this process; with more, in a pool
of worker processes (the runner runs pytest in-process, which is not thread-safe, so the pool
is of processes, started with ``spawn``); with a Dask scheduler address, on the cluster's
workers. A local job writes its submission's ``results.json`` and ``feedback.md`` itself,
atomically; a Dask job sends the results back and this process writes them.

A submission is skipped when its ``results.json`` carries the same *fingerprint*: a hash of
the submission's files, the assignment manifest, the course files and the grading code. So a
batch that was interrupted resumes where it stopped, and a rerun regrades only what changed
(a resubmitted notebook, an edited manifest, a fixed grader). ``force=True`` regrades all.
"""
import dataclasses
import gc
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .results import write_submission_results

PACKAGE = Path(__file__).resolve().parent
# Modules of the package that do not change how a submission is graded: editing them does not
# invalidate earlier results.
NOT_GRADING = {
    "cli.py", "batch.py", "export.py", "report.py", "gradescope.py", "release.py", "nbgrader_plugin.py",
    "__main__.py", "selftest/bank.py", "selftest/mutants.toml", "selftest/dialect_variants.py",
}


def cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@lru_cache(maxsize=1)
def code_version():
    """A hash of the code that grades: the ``autograder`` package (less the modules in
    :data:`NOT_GRADING` and the self-test's alternative solutions) and ``reference_impl``."""
    import reference_impl

    digest = hashlib.sha256()
    roots = [("autograder", PACKAGE), ("reference_impl", Path(reference_impl.__file__).resolve().parent)]
    for label, root in roots:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (not path.is_file() or path.suffix not in {".py", ".toml", ".ini"} or "__pycache__" in relative
                    or (label == "autograder" and (relative in NOT_GRADING or relative.startswith("selftest/alternatives/")))):
                continue
            digest.update(f"{label}/{relative}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def _canonical(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def manifest_digest(assignment):
    """A hash of everything the manifest says (items, tests, points, visibility, limits) and of
    the course files' and the held-out set's contents; not of where they are."""
    from . import heldout

    data = dataclasses.asdict(dataclasses.replace(assignment, course_dir=None, private_dir=None))
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=_canonical).encode())
    for path in assignment.course_files:
        digest.update(f"{Path(path).name}\0".encode())
        digest.update(Path(path).read_bytes())
    if assignment.uses_heldout:
        digest.update(f"{heldout.FILE_NAME}\0{heldout.digest(assignment)}".encode())
    return digest.hexdigest()


def fingerprint(files, assignment_digest, version=None):
    """The fingerprint of one submission: ``files`` maps a manifest notebook name to its file."""
    digest = hashlib.sha256(f"{version or code_version()}\0{assignment_digest}\0".encode())
    for notebook, path in sorted(files.items()):
        digest.update(f"{notebook}\0{Path(path).name}\0".encode())
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Job:
    """One submission to grade; everything in it pickles and travels to a worker."""
    name: str  # the output folder's name
    student: str | None
    file: str  # the main file, as the instructor named it
    files: dict  # manifest notebook name -> path (str)
    fingerprint: str


@dataclass
class Outcome:
    job: Job
    status: str  # "graded", "skipped", "failed" (graded, but the submission could not be read or run), "error"
    results: dict | None = None
    error: str = ""
    seconds: float = 0.0


@dataclass
class BatchReport:
    outcomes: list = field(default_factory=list)  # in the order of the submissions

    def count(self, status):
        return sum(o.status == status for o in self.outcomes)

    @property
    def rows(self):
        """(name, results) of every submission that has results, for the summary table."""
        return [(o.job.name, o.results) for o in self.outcomes if o.results is not None]


# -- grading one submission, in whatever process runs it ----------------------------------------

_WARM = False
_LOCK = threading.Lock()  # one grading at a time per process (pytest in-process is not thread-safe)


def warm_up():
    """Import every grader once and move what is loaded out of the garbage collector's way.

    The first grading in a process pays for importing the graders (about 2 s); a worker pays
    it before its first job. ``gc.freeze()`` then keeps the garbage collector from walking the
    hundreds of thousands of objects of NumPy, pytest and the graders on every collection:
    pytest collects garbage several times at the end of each session, which otherwise costs
    about 0.3 s per submission."""
    global _WARM
    if _WARM:
        return
    from .runner import grader_titles
    from .sandbox.client import bubblewrap_works

    grader_titles()
    bubblewrap_works()
    gc.collect()
    gc.freeze()
    _WARM = True


def grade_job(assignment, job):
    """Grade one submission; returns its results (``results.json`` as a dict)."""
    from .results import build_results
    from .runner import grade

    warm_up()
    with _LOCK:
        outcomes, info = grade(assignment, {notebook: Path(path) for notebook, path in job.files.items()})
    results = build_results(assignment, outcomes, info)
    extra = results["extra_data"]
    extra["submission"] = job.name
    extra["student"] = job.student
    extra["file"] = job.file
    extra["fingerprint"] = job.fingerprint
    return results


def _status(results):
    return "failed" if results["extra_data"].get("error") else "graded"


def write_results(folder, results):
    """Write ``feedback.md`` then ``results.json``, each atomically; first remove what a killed
    earlier run may have left half-way: its temporary files (``write_atomic`` names them
    ``.<name>.<random>``)."""
    folder = Path(folder)
    for pattern in (".results.json.*", ".feedback.md.*"):
        for stale in folder.glob(pattern):
            stale.unlink(missing_ok=True)
    write_submission_results(folder, results)


def run_local_job(assignment, job, out):
    """Grade one submission and write its results under ``out``; never raises."""
    start = time.monotonic()
    try:
        results = grade_job(assignment, job)
        write_results(Path(out) / job.name, results)
        return Outcome(job, _status(results), results, seconds=time.monotonic() - start)
    except Exception:  # a fault of the grading machinery, not of the submission: nothing is written
        return Outcome(job, "error", None, traceback.format_exc(), seconds=time.monotonic() - start)


def run_remote_job(assignment, job, contents, course, private=None):
    """A Dask task: grade one submission from the bytes of its files (``contents``, in the order
    of ``job.files``) and of the course files (``course``: name -> bytes), so that the workers
    need the project installed but no access to the instructor's files. ``private``: the bytes
    of the held-out set, written for the graders only (see :func:`_private_folder`). Returns an
    :class:`Outcome`; the client writes the results."""
    start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="autograder-job-") as folder:
            folder = Path(folder)
            course_dir = folder / "course"
            course_dir.mkdir()
            for name, data in course.items():
                (course_dir / name).write_bytes(data)
            files = {}
            for i, ((notebook, path), data) in enumerate(zip(job.files.items(), contents)):
                target = folder / f"file{i}" / Path(path).name
                target.parent.mkdir()
                target.write_bytes(data)
                files[notebook] = str(target)
            local = dataclasses.replace(assignment, course_dir=course_dir, private_dir=_private_folder(folder, private))
            results = grade_job(local, dataclasses.replace(job, files=files))
        return Outcome(job, _status(results), results, seconds=time.monotonic() - start)
    except Exception:
        return Outcome(job, "error", None, traceback.format_exc(), seconds=time.monotonic() - start)


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


def _pool_init():
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    warm_up()


# -- the batch ---------------------------------------------------------------------------------------

def make_jobs(assignment, submissions):
    digest = manifest_digest(assignment)
    version = code_version()
    jobs = []
    for sub in submissions:
        files = {notebook: str(path) for notebook, path in sub.files(assignment).items()}
        try:
            fp = fingerprint(files, digest, version)
        except OSError:
            fp = ""  # unreadable: never skipped; the grading reports it
        jobs.append(Job(sub.name, sub.student, str(sub.path), files, fp))
    return jobs


def previous_results(out, job):
    """The results already written for ``job`` when they are current (same fingerprint), else None."""
    if not job.fingerprint:
        return None
    path = Path(out) / job.name / "results.json"
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    extra = results.get("extra_data") if isinstance(results, dict) else None
    if not isinstance(extra, dict) or extra.get("fingerprint") != job.fingerprint:
        return None
    if not (path.parent / "feedback.md").is_file():
        return None
    return results


class Progress:
    """What the instructor sees on stderr while a batch runs: a tqdm bar with the running count of
    graded, failed and remaining submissions (on a terminal, or always with ``bar=True``) and a
    line per finished submission (unless ``lines=False``)."""

    def __init__(self, total, skipped, bar="auto", lines=True):
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread beside the pool's processes
        self.lines = lines
        self.total = total
        self.counts = {"graded": 0, "failed": 0, "error": 0}
        enabled = bar is True or (bar == "auto" and lines and sys.stderr.isatty())
        self.bar = tqdm(total=total, file=sys.stderr, disable=not enabled, unit="sub", dynamic_ncols=True,
                        desc="grading", smoothing=0.1)
        if lines and skipped:
            self.write(f"{skipped} submission(s) unchanged since they were graded: skipped (--force regrades them)")
        self._postfix()

    def write(self, line):
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)

    @property
    def status(self):
        done = sum(self.counts.values())
        return (f"graded {self.counts['graded']}, failed {self.counts['failed'] + self.counts['error']}, "
                f"remaining {self.total - done}")

    def _postfix(self):
        self.bar.set_postfix_str(self.status, refresh=False)

    def update(self, outcome):
        self.counts[outcome.status] += 1
        self._postfix()
        self.bar.update(1)
        if self.lines:
            done = sum(self.counts.values())
            if outcome.results is not None:
                results = outcome.results
                extra = results["extra_data"]
                line = (f"{outcome.job.name:30s} {results['score']:7.2f} / {results['max_score']:g}"
                        f"   {extra.get('seconds', 0):5.1f} s   {extra.get('dialect') or '-'}")
                if extra.get("error"):
                    line += f"   could not be graded: {str(extra['error']).splitlines()[0][:60]}"
            else:
                line = f"{outcome.job.name:30s} grading failed: {outcome.error.strip().splitlines()[-1]}"
            if self.bar.disable:
                line = f"[{done}/{self.total}] {line}"
            self.write(line)

    def close(self):
        self.bar.close()
        if self.lines and self.total:
            self.write(f"done: {self.status}")


def grade_batch(assignment, submissions, out, jobs=None, force=False, scheduler=None, progress=False, bar="auto"):
    """Grade ``submissions`` (:class:`~autograder.submissions.SubmissionFile`) into ``out``.

    ``jobs``: parallel gradings on this machine (default: the number of cores); ``scheduler``:
    the address of a Dask scheduler (or a ``distributed.Client``) to grade on instead;
    ``force``: regrade even what is unchanged; ``progress``: report on stderr as it goes, with a
    progress bar when ``bar`` is True, or "auto" and stderr is a terminal."""
    out = Path(out)
    all_jobs = make_jobs(assignment, submissions)
    outcomes = {}
    if not force:
        for job in all_jobs:
            results = previous_results(out, job)
            if results is not None:
                outcomes[job.name] = Outcome(job, "skipped", results)
    todo = [job for job in all_jobs if job.name not in outcomes]
    meter = Progress(len(todo), len(outcomes), bar if progress else False, lines=progress)
    try:
        if scheduler is not None:
            finished = _run_dask(assignment, todo, out, scheduler)
        elif (jobs or cpu_count()) <= 1 or len(todo) <= 1:
            finished = (run_local_job(assignment, job, out) for job in todo)
        else:
            finished = _run_pool(assignment, todo, out, min(jobs or cpu_count(), len(todo)))
        for outcome in finished:
            outcomes[outcome.job.name] = outcome
            meter.update(outcome)
    finally:
        meter.close()
    return BatchReport([outcomes[job.name] for job in all_jobs if job.name in outcomes])


def _run_pool(assignment, todo, out, workers):
    """Yield each job's outcome as it finishes. A worker that dies (killed, out of memory) breaks
    the pool: the jobs it took down are tried once more in a fresh pool, then reported."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    attempts = {job.name: 0 for job in todo}
    pending = list(todo)
    while pending:
        retry = []
        pool = ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_pool_init)
        try:
            futures = {pool.submit(run_local_job, assignment, job, str(out)): job for job in pending}
            for future in as_completed(futures):
                job = futures[future]
                try:
                    yield future.result()
                except BrokenProcessPool:
                    attempts[job.name] += 1
                    if attempts[job.name] < 2:
                        retry.append(job)
                    else:
                        yield Outcome(job, "error", None, "the grading process died twice (killed or out of memory)")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        pending = retry


def _run_dask(assignment, todo, out, scheduler):
    """Yield each job's outcome as the cluster finishes it; the results are written here."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise SystemExit("Grading on a Dask cluster needs the dask extra: pip install 'nn-homework-autograder[dask]'")
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        course = {Path(p).name: Path(p).read_bytes() for p in assignment.course_files}
        private = _held_out_bytes(assignment)
        remote_assignment = dataclasses.replace(assignment, course_dir=None, private_dir=None)
        futures = {}
        for job in todo:
            try:
                contents = [Path(path).read_bytes() for path in job.files.values()]
            except OSError:
                # unreadable here: graded here, where the runner turns the error into a report
                yield run_local_job(assignment, job, out)
                continue
            future = client.submit(run_remote_job, remote_assignment, job, contents, course, private,
                                   key=f"grade-{job.name}-{time.time_ns()}", pure=False)
            futures[future.key] = (future, job)
        for future in as_completed([f for f, _ in futures.values()]):
            job = futures[future.key][1]
            try:
                outcome = future.result()
            except Exception as error:  # the worker died, or the task could not run there
                outcome = Outcome(job, "error", None, f"{type(error).__name__}: {error}")
            if outcome.results is not None:
                write_results(Path(out) / job.name, outcome.results)
            yield outcome
    finally:
        if not isinstance(scheduler, Client):
            client.close()


def _held_out_bytes(assignment):
    """The held-out set the Dask workers' graders need (None when the assignment has none)."""
    from .heldout import path_of

    path = path_of(assignment)
    return path.read_bytes() if assignment.uses_heldout and path.is_file() else None
