"""Batch grading: parallel, resumable, atomic; on a Dask cluster the same results."""
import json
import subprocess
import sys

import pytest

from autograder import batch, fingerprints, manifest
from autograder.results import SubmissionResult
from autograder.selftest.reference_submission import reference_source, stub_source
from autograder.submissions import discover
from tests.helpers import notebook_from_source, reference_notebook

ASSIGNMENT = manifest.load("modules")
MUTANT = reference_source().replace("self.gradW += gradOutput.T @ input", "self.gradW = gradOutput.T @ input")


def make_class(folder):
    """Four submissions: correct, one mistake, untouched stubs, not a notebook."""
    folder.mkdir(parents=True, exist_ok=True)
    reference_notebook(folder / "alice.ipynb")
    notebook_from_source(folder / "bob.ipynb", MUTANT)
    notebook_from_source(folder / "carol.ipynb", stub_source())
    (folder / "dave.ipynb").write_text("{ not a notebook")
    return folder


def cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "modules", *map(str, args)],
                          capture_output=True, text=True, timeout=900)


def comparable(results):
    """results.json less what legitimately differs between two gradings: timings."""
    results = json.loads(json.dumps(results))
    results.pop("signature", None)  # an HMAC of all of it, timings included
    results["extra_data"].pop("seconds", None)
    for cell in results["extra_data"].get("cells", []):
        cell.pop("seconds", None)
    return results


def read_results(out, name):
    return json.loads((out / name / "results.json").read_text())


def test_parallel_grading_resumes_and_regrades_only_what_changed(tmp_path):
    subs = make_class(tmp_path / "subs")
    out = tmp_path / "graded"
    first = cli(subs, "--out", out, "-j", "2")
    assert first.returncode == 0, first.stderr
    assert "3 graded, 0 unchanged (skipped), 1 could not be graded" in first.stdout
    assert "graded 3, failed 1, remaining 0" in first.stderr  # the running count, on stderr
    scores = {name: read_results(out, name)["score"] for name in ["alice", "bob", "carol", "dave"]}
    assert scores["alice"] == ASSIGNMENT.main_only().max_score
    assert scores["bob"] == scores["alice"] - ASSIGNMENT.items["Linear"].tests["accumulates"]
    assert scores["carol"] == 0 and scores["dave"] == 0
    for name in scores:
        assert (out / name / "feedback.md").read_text().startswith("# Feedback")
        assert read_results(out, name)["extra_data"]["fingerprint"]
    assert not [p for p in out.rglob(".*")], "no temporary files are left behind"

    # The same results as grading one by one in this process.
    serial = batch.grade_batch(ASSIGNMENT, discover([subs], ASSIGNMENT), tmp_path / "serial", jobs=1)
    for outcome in serial.outcomes:
        assert comparable(outcome.results.to_json()) == comparable(read_results(out, outcome.job.name)), \
            outcome.job.name

    # A rerun grades nothing: every notebook, the manifest and the graders are unchanged.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}
    again = cli(subs, "--out", out, "-j", "2")
    assert again.returncode == 0, again.stderr
    assert "0 graded, 4 unchanged (skipped)" in again.stdout
    assert "alice" in again.stdout  # the summary table still lists everyone
    assert stamps == {p: p.stat().st_mtime_ns for p in out.glob("*/results.json")}

    # A resubmission is regraded, and only it.
    reference_notebook(subs / "bob.ipynb")
    third = cli(subs, "--out", out, "-j", "2")
    assert "1 graded, 3 unchanged (skipped)" in third.stdout
    assert read_results(out, "bob")["score"] == scores["alice"]

    # --force regrades everything.
    forced = cli(subs, "--out", out, "-j", "1", "--force")
    assert "3 graded, 0 unchanged (skipped), 1 could not be graded" in forced.stdout


def test_json_output_has_no_progress_and_reuses_current_results(tmp_path):
    path = notebook_from_source(tmp_path / "bob.ipynb", MUTANT)
    runs = [cli(path, "--json", "--out", tmp_path / "out") for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "grading" not in run.stderr and "remaining" not in run.stderr
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)  # the second run skipped the grading
    assert json.loads(runs[1].stdout) == read_results(tmp_path / "out", "bob")


def test_fingerprint_follows_files_manifest_and_graders(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("x = 1\n")
    digest = fingerprints.manifest_digest(ASSIGNMENT)
    base = fingerprints.fingerprint({"modules.ipynb": path}, digest)
    assert base == fingerprints.fingerprint({"modules.ipynb": path},
                                            fingerprints.manifest_digest(manifest.load("modules")))
    path.write_text("x = 2\n")
    assert fingerprints.fingerprint({"modules.ipynb": path}, digest) != base
    path.write_text("x = 1\n")
    assert fingerprints.fingerprint({"modules.ipynb": path}, digest) == base
    changed_points = manifest.load("modules")
    import dataclasses

    linear = changed_points.items["Linear"]
    changed_points = dataclasses.replace(changed_points, items={
        **changed_points.items, "Linear": dataclasses.replace(linear, tests={**linear.tests, "forward": 3})})
    assert fingerprints.fingerprint({"modules.ipynb": path}, fingerprints.manifest_digest(changed_points)) != base
    assert fingerprints.fingerprint({"modules.ipynb": path}, digest, version="other graders") != base
    assert len(fingerprints.code_version()) == 16


def fake_results(job, score=1.0, error=None):
    """The result a grading would make, with one test of 2 points (``score`` of them)."""
    test = {"name": "Linear: forward", "score": score, "max_score": 2.0, "status": "passed" if score == 2 else "failed",
            "output": "", "output_format": "md", "tags": ["Linear"],
            "extra_data": {"test": "forward", "diagnosis": None}}
    return SubmissionResult.from_json({
        "score": score, "max_score": 2.0, "output": "", "tests": [test],
        "extra_data": {"assignment": "modules", "items": {"Linear": {"score": score, "max_score": 2.0}},
                       "diagnoses": [], "cells": [], "error": error, "seconds": 0.0, "dialect": None,
                       "submission": job.name, "student": job.student, "file": job.file,
                       "fingerprint": job.fingerprint}})


def broken_for_ben(assignment, job):
    """What a grading process runs instead of the graders: the grading machinery breaks for ben,
    cat's submission cannot be read, ann is graded."""
    if job.name == "ben":
        raise RuntimeError("the grading machinery broke")
    return fake_results(job, error="unreadable" if job.name == "cat" else None)


def fake_grading(assignment, job):
    return fake_results(job)


def test_progress_counts_failures_and_a_crashed_grading_is_retried_next_time(tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ["ann", "ben", "cat"]:
        (subs / f"{name}.py").write_text(f"# {name}\n")

    submissions = discover([subs], ASSIGNMENT)
    report = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "out", jobs=1, progress=True, bar=True,
                               grade=broken_for_ben)
    err = capsys.readouterr().err
    assert "graded 1, failed 2, remaining 0" in err  # the bar's running count
    assert "grading failed: RuntimeError: the grading machinery broke" in err
    assert [o.status for o in report.outcomes] == ["graded", "error", "failed"]
    assert (tmp_path / "out" / "ann" / "results.json").is_file()
    assert not (tmp_path / "out" / "ben").exists()  # nothing half-written for the broken one

    again = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "out", jobs=1, grade=fake_grading)
    assert [o.status for o in again.outcomes] == ["skipped", "graded", "skipped"]  # the others' results are current


def test_a_half_written_or_foreign_results_file_is_regraded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.py").write_text("# ann\n")
    submissions = discover([subs], ASSIGNMENT)
    batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "out", jobs=1, grade=fake_grading)
    results = tmp_path / "out" / "ann" / "results.json"
    results.write_text(results.read_text()[:40])  # as if written by something that was not atomic
    report = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "out", jobs=1, grade=fake_grading)
    assert [o.status for o in report.outcomes] == ["graded"]
    assert [name for name, _ in report.distrusted] == ["ann"]


def test_dask_local_cluster_gives_the_local_results(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    subs = tmp_path / "subs"
    subs.mkdir()
    notebook_from_source(subs / "bob.ipynb", MUTANT)
    (subs / "dave.ipynb").write_text("{ not a notebook")
    submissions = discover([subs], ASSIGNMENT)
    local = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "local", jobs=1)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = batch.grade_batch(ASSIGNMENT, submissions, tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert [o.status for o in remote.outcomes] == ["graded", "failed"]
    for outcome in local.outcomes:
        name = outcome.job.name
        assert comparable(read_results(tmp_path / "dask", name)) == comparable(read_results(tmp_path / "local", name))
        assert ((tmp_path / "dask" / name / "feedback.md").read_text()
                == (tmp_path / "local" / name / "feedback.md").read_text())


def test_a_prepared_parent_measures_every_speed_baseline_the_graders_then_use(tmp_path, monkeypatch):
    """``measure_speed_baselines`` (what ``warm_up`` does before the prepared parent forks) times
    the very work the speed tests time, under the keys they use: grading afterwards measures the
    reference no more, and the speed tests still judge the submission (all its tests pass)."""
    from autograder.graders import support_adv
    from autograder.runner import grade_submission, grader_titles, measure_speed_baselines

    grader_titles()
    monkeypatch.setattr(support_adv, "REFERENCE_CPU", {})
    measure_speed_baselines()
    measured = dict(support_adv.REFERENCE_CPU)
    assert len(measured) == 2 and all(seconds > 0 for seconds in measured.values())

    timed = []
    monkeypatch.setattr(support_adv, "cpu_time", lambda action: timed.append(action) or 0.0)
    assignment = manifest.load("modules").main_only()
    result = grade_submission(assignment, reference_notebook(tmp_path / "modules.ipynb"))
    assert timed == [] and support_adv.REFERENCE_CPU == measured
    speed = [test for test in result.tests if test.test in ("vectorised", "larger_input")]
    assert len(speed) == 2 and all(test.passed for test in speed)
