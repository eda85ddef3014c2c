"""Attacks on batch grading: each must cost only the attacker's own grade.

One submission spoiling the others (a grading process that holds too much memory or dies),
identities that swap students' results, links that make one student's folder or the
instructor's solution count as someone's work, a notebook that pulls in a classmate's, a
results.json rewritten after grading, and a Dask worker that sends back a pickle.

The manifest is cut to one item (Linear, 11 points) so that a real grading takes a second.
Where a test needs the grading process itself to blow up, it does not rely on a sandbox
escape: it passes ``grade_batch`` a grading function (``grade=``) that misbehaves for one named
submission and grades the others with the real graders; the test's docstring says so.
"""
import csv
import dataclasses
import io
import json
import os
import signal

import pytest

from autograder import batch, manifest
from autograder.export import load_results, to_csv
from autograder.grading_processes import GRADING_MEMORY_MB, status_kb
from autograder.report import render
from autograder.selftest.reference_submission import stub_source
from autograder.submissions import discover, folder_name
from tests.helpers import notebook_from_source, reference_notebook

FULL = manifest.load("modules")
ASSIGNMENT = dataclasses.replace(FULL, items={"Linear": FULL.items["Linear"]})
POINTS = ASSIGNMENT.max_score
SOURCE_NOTEBOOK = manifest.SOURCE_NOTEBOOKS / "modules" / "modules.ipynb"


def by_student(report):
    return {o.job.student: o for o in report.outcomes}


def error_of(outcome):
    return outcome.results.error or ""


# -- fault injection: what a grading process runs instead of ``batch.grade_job`` ---------------------

def hog_for_mallory(assignment, job):
    """Mallory's grading process keeps 64 MB after 64 MB (up to 2.5 GB, written, so resident), as a
    grading that keeps every reply and output would; the others are graded for real."""
    if job.name == "mallory":
        held = [b"\x01" * (64 << 20) for _ in range(40)]
        result = batch.grade_job(assignment, job)
        result.held = held  # kept until the results are sent
        return result
    return batch.grade_job(assignment, job)


def killed_for_mallory(assignment, job):
    """Mallory's grading process is killed with SIGKILL (as the OOM killer would) in the middle of
    the batch; each attempt is counted in the file named by $ATTEMPTS. The others are graded."""
    if job.name == "mallory":
        with open(os.environ["ATTEMPTS"], "a") as handle:
            handle.write("mallory\n")
        os.kill(os.getpid(), signal.SIGKILL)
    return batch.grade_job(assignment, job)


# -- one submission can cost only its own grade ----------------------------------------------------

@pytest.mark.parametrize("jobs", [1, 2])
def test_a_grading_process_that_holds_too_much_memory_costs_only_its_submission(tmp_path, jobs):
    """Fault injected (``hog_for_mallory``): mallory's grading process allocates 2.5 GB. It stops at
    its memory bound with a report that says so; alice and bob are graded; the batch's own
    process does not grow."""
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ["alice", "mallory", "bob"]:
        reference_notebook(subs / f"{name}.ipynb")
    before = status_kb("VmHWM")
    report = batch.grade_batch(ASSIGNMENT, discover([subs], ASSIGNMENT), tmp_path / "out", jobs=jobs,
                               grade=hog_for_mallory)
    grown_mb = (status_kb("VmHWM") - before) >> 10
    outcomes = by_student(report)
    memory = {name: kb >> 10 for name, kb in report.memory_kb.items()}
    print(f"-j {jobs}: largest resident memory: batch process {memory['batch']} MB (grew {grown_mb} MB), "
          f"prepared parent {memory['prepared parent']} MB, grading processes {memory['grading']} MB")
    assert outcomes["alice"].status == outcomes["bob"].status == "graded"
    assert outcomes["alice"].results.score == outcomes["bob"].results.score == POINTS
    assert outcomes["mallory"].status == "failed"
    assert "more memory than a grading process may use" in error_of(outcomes["mallory"])
    assert json.loads((tmp_path / "out" / "mallory" / "results.json").read_text())["score"] == 0
    assert outcomes["mallory"].rss_kb >> 10 < GRADING_MEMORY_MB + 400  # its bound held
    assert grown_mb < 200  # the hog's memory was never the batch's


def test_a_grading_process_killed_mid_batch_costs_only_its_submission_and_is_not_retried(tmp_path, monkeypatch):
    """Fault injected (``killed_for_mallory``): mallory's grading process is SIGKILLed with -j 2.
    Every other submission is graded, mallory's results say its grading died, and it was tried
    once: never again in a way that could take others down."""
    attempts = tmp_path / "attempts"
    monkeypatch.setenv("ATTEMPTS", str(attempts))
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ["alice", "mallory", "bob", "carol"]:
        reference_notebook(subs / f"{name}.ipynb")
    report = batch.grade_batch(ASSIGNMENT, discover([subs], ASSIGNMENT), tmp_path / "out", jobs=2,
                               grade=killed_for_mallory)
    outcomes = by_student(report)
    for name in ["alice", "bob", "carol"]:
        assert outcomes[name].status == "graded" and outcomes[name].results.score == POINTS, name
    assert outcomes["mallory"].status == "failed"
    assert "died (signal 9" in error_of(outcomes["mallory"])
    assert attempts.read_text().split() == ["mallory"]
    # Not kept as current: a death may be the machine's doing, so a rerun grades it again.
    assert outcomes["mallory"].results.stamp.fingerprint == ""


# -- identities ------------------------------------------------------------------------------------------

def test_bob_and_bob_bang_keep_their_own_folders_in_any_order(tmp_path):
    """Two students named ``bob`` and ``bob!`` (and one whose name is HTML and a formula): each gets
    a folder that is a function of their name alone, in whatever order they are given, and the
    CSV and the report show each student's own score under their real name, escaped."""
    subs = tmp_path / "subs"
    subs.mkdir()
    reference_notebook(subs / "bob.ipynb")
    notebook_from_source(subs / "bob!.ipynb", stub_source())
    weird = "=1+1<img src=x onerror=alert(1)>"
    notebook_from_source(subs / f"{weird}.ipynb", stub_source())
    paths = sorted(subs.iterdir())
    first = batch.grade_batch(ASSIGNMENT, discover(paths, ASSIGNMENT), tmp_path / "out", jobs=2)
    again = batch.grade_batch(ASSIGNMENT, discover(paths[::-1], ASSIGNMENT), tmp_path / "out", jobs=2)
    assert sorted(o.status for o in again.outcomes) == ["skipped"] * 3  # the same folders, found again
    for report in (first, again):
        outcomes = by_student(report)
        assert outcomes["bob"].job.name == "bob" and outcomes["bob"].results.score == POINTS
        assert outcomes["bob!"].job.name == folder_name("bob!") != "bob" and outcomes["bob!"].results.score == 0
    assert json.loads((tmp_path / "out" / "bob" / "results.json").read_text())["score"] == POINTS
    grades = load_results(tmp_path / "out", ASSIGNMENT)
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(to_csv(grades)))}
    assert rows["bob"]["total"] == f"{POINTS:g}" and rows["bob!"]["total"] == "0"
    assert rows["'" + weird]["total"] == "0"  # a formula is quoted as text
    page = render(grades, ASSIGNMENT.title, 0.5)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_name_shared_by_two_submissions_is_refused_not_renamed(tmp_path):
    """``bob.ipynb`` and ``bob.py`` would share one folder: neither is graded, both are reported,
    and nothing is written under a made-up name."""
    subs = tmp_path / "subs"
    subs.mkdir()
    reference_notebook(subs / "bob.ipynb")
    (subs / "bob.py").write_text("x = 1\n")
    reference_notebook(subs / "alice.ipynb")
    report = batch.grade_batch(ASSIGNMENT, discover([subs], ASSIGNMENT), tmp_path / "out", jobs=1)
    statuses = sorted((o.job.file.rsplit("/", 1)[-1], o.status) for o in report.outcomes)
    assert statuses == [("alice.ipynb", "graded"), ("bob.ipynb", "refused"), ("bob.py", "refused")]
    assert all("would share the output folder bob" in o.error for o in report.outcomes if o.status == "refused")
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["alice"]


# -- links and classmates -------------------------------------------------------------------------------

def test_a_student_folder_that_links_to_another_students_is_refused(tmp_path):
    """``submitted/eve`` is a symbolic link to ``submitted/alice``: eve is refused and told why,
    not graded as alice's work."""
    submitted = tmp_path / "submitted"
    (submitted / "alice" / "modules").mkdir(parents=True)
    reference_notebook(submitted / "alice" / "modules" / "modules.ipynb")
    (submitted / "eve").symlink_to(submitted / "alice")
    report = batch.grade_batch(ASSIGNMENT, discover([submitted], ASSIGNMENT), tmp_path / "out", jobs=1)
    outcomes = by_student(report)
    assert outcomes["alice"].results.score == POINTS
    assert outcomes["eve"].status == "failed" and outcomes["eve"].results.score == 0
    assert "symbolic link" in error_of(outcomes["eve"])


def test_links_to_the_instructors_source_notebook_are_refused(tmp_path):
    """Eve's notebook in a flat folder, and mallory's assignment folder in a ``submitted/`` tree,
    are symbolic links to the instructor's solution notebook and its folder: both refused."""
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "eve.ipynb").symlink_to(SOURCE_NOTEBOOK)
    notebook_from_source(flat / "alice.ipynb", stub_source())
    submitted = tmp_path / "submitted"
    (submitted / "mallory").mkdir(parents=True)
    (submitted / "mallory" / "modules").symlink_to(SOURCE_NOTEBOOK.parent)
    (submitted / "bob" / "modules").mkdir(parents=True)
    reference_notebook(submitted / "bob" / "modules" / "modules.ipynb")
    report = batch.grade_batch(ASSIGNMENT, discover([flat, submitted], ASSIGNMENT), tmp_path / "out", jobs=2)
    outcomes = by_student(report)
    assert outcomes["bob"].results.score == POINTS and outcomes["alice"].results.score == 0
    for name in ["eve", "mallory"]:
        assert outcomes[name].status == "failed" and outcomes[name].results.score == 0, name
        assert "symbolic link" in error_of(outcomes[name]), name


def test_a_link_made_after_discovery_is_refused_when_read(tmp_path):
    """Alice's notebook is replaced by a link to the instructor's solution between discovery and
    grading: the file is opened without following links, so it is refused, not graded."""
    flat = tmp_path / "flat"
    flat.mkdir()
    notebook_from_source(flat / "alice.ipynb", stub_source())
    submissions = discover([flat], ASSIGNMENT)
    (flat / "alice.ipynb").unlink()
    (flat / "alice.ipynb").symlink_to(SOURCE_NOTEBOOK)
    report = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "out", jobs=1)
    [outcome] = report.outcomes
    assert outcome.status == "failed" and outcome.results.score == 0
    assert "symbolic link" in error_of(outcome)


def test_a_notebook_in_a_flat_folder_cannot_pull_in_a_classmates(tmp_path):
    """In a flat folder, alice's notebook is one ``%run bob.ipynb`` cell: she is graded on her own
    file only (a private copy of it alone), so she scores 0, and her own files are hers alone."""
    flat = tmp_path / "flat"
    flat.mkdir()
    reference_notebook(flat / "bob.ipynb")
    notebook_from_source(flat / "alice.ipynb", "%run bob.ipynb\n")
    submissions = {sub.student: sub for sub in discover([flat], ASSIGNMENT)}
    assert submissions["alice"].files(ASSIGNMENT) == {ASSIGNMENT.main_notebook: flat / "alice.ipynb"}
    report = batch.grade_batch(ASSIGNMENT, list(submissions.values()), tmp_path / "out", jobs=2)
    outcomes = by_student(report)
    assert outcomes["bob"].results.score == POINTS
    assert outcomes["alice"].results.score == 0


# -- resume trusts only what this grader wrote -------------------------------------------------------------

def test_a_results_file_forged_after_grading_is_regraded_on_resume(tmp_path):
    """After grading, something rewrites alice's results.json (and feedback.md) with full marks and
    the right fingerprint, as a process that escaped the sandbox could: the rerun does not trust
    it (no valid HMAC), says so, and regrades her."""
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook_from_source(subs / "alice.ipynb", stub_source())
    submissions = discover([subs], ASSIGNMENT)
    out = tmp_path / "out"
    batch.grade_batch(ASSIGNMENT, submissions, out, jobs=1)
    path = out / "alice" / "results.json"
    forged = json.loads(path.read_text())
    assert forged["score"] == 0 and forged["signature"].startswith("hmac-sha256:")
    forged["score"] = POINTS
    for test in forged["tests"]:
        test["score"], test["status"] = test["max_score"], "passed"
    forged["extra_data"]["items"]["Linear"]["score"] = POINTS
    path.write_text(json.dumps(forged, indent=2))
    from autograder.results import SubmissionResult

    (out / "alice" / "feedback.md").write_text(SubmissionResult.from_json(forged).to_markdown())
    report = batch.grade_batch(ASSIGNMENT, submissions, out, jobs=1)
    assert [o.status for o in report.outcomes] == ["graded"]
    assert [name for name, _ in report.distrusted] == ["alice"]
    assert json.loads(path.read_text())["score"] == 0
    assert [o.status for o in batch.grade_batch(ASSIGNMENT, submissions, out, jobs=1).outcomes] == ["skipped"]


# -- Dask: results cross as data --------------------------------------------------------------------------

def test_dask_results_cross_as_data_never_as_pickles(tmp_path):
    """A Dask worker that sends back, for one submission, a pickled object whose unpickling runs a
    command, and for another a pickled exception that does the same (a worker whose host a
    student took over): the instructor's process runs neither; both submissions are reported as
    failed to grade, and the honest one is graded."""
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    marker = tmp_path / "unpickled-by"
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ["alice", "mallory", "trudy"]:
        reference_notebook(subs / f"{name}.ipynb")

    def take_over_the_worker(marker=str(marker)):
        from distributed.protocol import Serialized, serialize

        import autograder.batch as target

        honest = target.run_remote_job

        class Payload:
            def __reduce__(self):
                return os.system, (f"echo $PPID >> {marker}",)

        class PayloadError(Exception):
            def __reduce__(self):
                return os.system, (f"echo $PPID >> {marker}",)

        def run_remote_job(assignment, job, *args, **kwargs):
            name = job["name"] if isinstance(job, dict) else job.name
            if name == "mallory":
                return Serialized(*serialize(Payload(), serializers=("pickle",)))
            if name == "trudy":
                raise PayloadError()
            return honest(assignment, job, *args, **kwargs)

        target.run_remote_job = run_remote_job

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster.scheduler_address, set_as_default=False) as setup:
            setup.run(take_over_the_worker)
        report = batch.grade_batch(ASSIGNMENT, discover([subs], ASSIGNMENT), tmp_path / "dask",
                                   scheduler=cluster.scheduler_address)
    unpickled_by = marker.read_text().split() if marker.exists() else []
    assert str(os.getpid()) not in unpickled_by  # (the worker may run it: its host is the student's already)
    outcomes = by_student(report)
    assert outcomes["alice"].status == "graded" and outcomes["alice"].results.score == POINTS
    assert outcomes["mallory"].status == outcomes["trudy"].status == "error"
    assert not (tmp_path / "dask" / "mallory").exists() and not (tmp_path / "dask" / "trudy").exists()


def test_the_signing_key_is_private_and_outside_the_output_folder(tmp_path, monkeypatch):
    """The key is made once with mode 0600 in the user's config folder, never in an output folder;
    a key file that others could read or write is refused with what to do, not used."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = batch.results_key()
    path = tmp_path / "config" / "autograder" / batch.KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600 and batch.results_key() == key
    results = batch.sign({"score": 1}, key)
    assert batch.verified(results, key) and not batch.verified({**results, "score": 2}, key)
    path.chmod(0o644)
    with pytest.raises(batch.ResultsKeyError, match="mode 0600"):
        batch.results_key()
