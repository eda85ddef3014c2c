"""LMS export: one CSV row per student, from our results folders or from nbgrader's gradebook."""
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import manifest
from autograder.export import load_results, to_csv
from autograder.results import BatchStamp, SubmissionResult, write_submission_results
from autograder.runner import TestOutcome

ASSIGNMENT = manifest.load("modules")


def synthetic_results(assignment, student, failures=None, error=None, failed_cells=0, submission=None):
    """results.json as grading would write it, without running anything: every test passes
    except ``failures`` ({(item, test): diagnosis}); ``error`` makes it an ungradable submission."""
    failures = failures or {}
    outcomes = []
    for item in assignment.items.values():
        for key in item.tests:
            if error:
                outcomes.append(TestOutcome(item.name, key, False, f"The submission could not be graded: {error}",
                                        "unreadable", key))
            elif (item.name, key) in failures:
                diagnosis = failures[(item.name, key)]
                outcomes.append(TestOutcome(item.name, key, False, f"{item.name}: {diagnosis}", diagnosis, key))
            else:
                outcomes.append(TestOutcome(item.name, key, True, "", None, key))

    class Cell:
        def __init__(self, i):
            self.name, self.ok, self.error, self.seconds = f"cell {i}", i >= failed_cells, "NameError: x", 0.01

    info = {"cells": [Cell(i) for i in range(3)], "dialect": "torch-legacy", "isolation": "full", "error": error,
            "restarts": 0, "seconds": 1.0}
    results = SubmissionResult.build(assignment, outcomes, info)
    results.stamp = BatchStamp(submission or student, student, f"{student}.ipynb", "")
    return results


def write_class(folder, assignment=ASSIGNMENT):
    students = {
        "alice": {},
        "Zoë Ørsted": {("Linear", "accumulates"): "grad_overwritten"},
        "=HYPERLINK(1)": {("SoftMax", "stable"): "softmax_overflow", ("Linear", "forward"): "wrong_values"},
    }
    for student, failures in students.items():
        results = synthetic_results(assignment, student, failures)
        write_submission_results(folder / f"s{len(list(folder.glob('*')))}", results)
    write_submission_results(folder / "broken", synthetic_results(assignment, "broken", error="not a notebook"))
    return folder


def export_cli(*args):
    return subprocess.run([sys.executable, "-m", "autograder", "export", "modules", "--format", "csv", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_csv_from_results_folders_opens_cleanly_in_a_spreadsheet(tmp_path):
    graded = write_class(tmp_path / "graded")
    result = export_cli("--results", graded, "--out", tmp_path / "grades.csv")
    assert result.returncode == 0, result.stderr
    raw = (tmp_path / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark: Excel shows the accents right
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text  # RFC 4180 line ends
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert header == ["student", *ASSIGNMENT.items, "total"]
    assert all(not cell.replace(".", "").isdigit() for cell in header)  # exactly one header row
    by_student = {row[0]: row for row in rows[1:]}
    assert set(by_student) == {"alice", "Zoë Ørsted", "'=HYPERLINK(1)", "broken"}  # a formula is quoted
    assert len(rows) == 5 and all(len(row) == len(header) for row in rows)
    full = ASSIGNMENT.max_score
    linear = ASSIGNMENT.items["Linear"]
    assert float(by_student["alice"][-1]) == full
    zoe = dict(zip(header, by_student["Zoë Ørsted"]))
    assert float(zoe["Linear"]) == linear.max_score - linear.tests["accumulates"]
    assert float(zoe["total"]) == full - linear.tests["accumulates"]
    for row in rows[1:]:  # the total is the sum of the items
        assert abs(sum(float(v) for v in row[1:-1]) - float(row[-1])) < 1e-9
    assert float(by_student["broken"][-1]) == 0


def test_the_most_recent_grading_of_a_student_is_kept(tmp_path):
    graded = tmp_path / "graded"
    write_submission_results(graded / "ann", synthetic_results(ASSIGNMENT, "ann", {("ELU", "alpha"): "wrong_values"}))
    old = time.time() - 100
    os.utime(graded / "ann" / "results.json", (old, old))
    write_submission_results(graded / "ann-2", synthetic_results(ASSIGNMENT, "ann", submission="ann-2"))
    grades = load_results(graded, ASSIGNMENT)
    assert [r.student for r in grades.records] == ["ann"]
    assert grades.records[0].total == ASSIGNMENT.max_score
    assert grades.warnings and "several graded submissions" in grades.warnings[0]
    assert to_csv(grades).count("\r\n") == 2


def make_gradebook(path):
    """An nbgrader gradebook: alice autograded and hand-graded, bob autograded only, carol without a submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{path}") as gradebook:
        gradebook.add_assignment("modules")
        gradebook.add_notebook("modules", "modules")
        gradebook.add_notebook("training", "modules")
        for name in ("Linear", "SoftMax"):
            item = ASSIGNMENT.items[name]
            gradebook.add_grade_cell(item.grade_id, "modules", "modules", max_score=item.max_score, cell_type="code")
        gradebook.add_grade_cell("derivation_Linear", "modules", "modules", max_score=3, cell_type="markdown")
        item = ASSIGNMENT.items["final_model"]
        gradebook.add_grade_cell(item.grade_id, "training", "modules", max_score=item.max_score, cell_type="code")
        for student in ("alice", "bob", "carol"):
            gradebook.add_student(student)
        for student, scores in {"alice": {"grade_Linear": 9, "grade_SoftMax": 7, "derivation_Linear": 2.5,
                                          "grade_final_model": 10},
                                "bob": {"grade_Linear": 11, "grade_SoftMax": 0, "grade_final_model": 5}}.items():
            gradebook.add_submission("modules", student)
            for cell, score in scores.items():
                notebook = "training" if cell == "grade_final_model" else "modules"
                grade = gradebook.find_grade(cell, notebook, "modules", student)
                if cell.startswith("derivation"):
                    grade.manual_score = score
                else:
                    grade.auto_score = score
            gradebook.db.commit()
    return path


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_csv_from_the_nbgrader_gradebook_with_hand_graded_cells(tmp_path, monkeypatch):
    # nbgrader creates a new gradebook by running `alembic`, found on PATH beside this Python
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    db = make_gradebook(tmp_path / "gradebook.db")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # reading it needs nothing of the kind
    result = export_cli("--gradebook", db, "--out", "-", "--no-bom")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["student", "Linear", "SoftMax", "final_model", "derivation_Linear", "total"]
    by_student = {row[0]: row[1:] for row in rows[1:]}
    assert by_student["alice"] == ["9", "7", "10", "2.5", "28.5"]
    assert by_student["bob"][:3] == ["11", "0", "5"] and by_student["bob"][-1] == "16"
    assert by_student["carol"] == ["", "", "", "", ""]  # no submission: no grade, not zero


def test_export_reports_a_missing_source(tmp_path):
    result = export_cli("--results", tmp_path / "nothing-here")
    assert result.returncode == 1 and "not a folder of graded submissions" in result.stderr
    result = export_cli("--gradebook", tmp_path / "nothing.db")
    assert result.returncode == 1 and "no gradebook" in result.stderr
