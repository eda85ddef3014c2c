"""Attacks on the Gradescope integration: learning how the hidden tests went before grades are
published, and uploads that link to someone else's files, or that are too large or oddly named.

The results format is checked with synthetic outcomes (no sandbox); the submission finder with
``run`` and a stand-in for the sandboxed grading, except where the real path matters."""
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import reference_impl
from autograder import gradescope, manifest, runner
from autograder.results import SubmissionResult
from tests.test_gradescope import hidden_manifest

ASSIGNMENT = manifest.load("modules")
MB = 1024 * 1024
INFO = {"cells": [], "dialect": "torch-legacy", "isolation": "full", "process_limit": 256, "error": None,
        "restarts": 0, "seconds": 40.0}
VISIBLE_FAILURE = ("Linear", "forward")
HIDDEN_FAILURE = ("Linear", "accumulates")  # hidden in hidden_manifest()


@pytest.fixture(scope="module")
def hidden_assignment(tmp_path_factory):
    return manifest.load(hidden_manifest(tmp_path_factory.mktemp("manifest")))


def outcomes(assignment, failing=()):
    """One outcome per test of the assignment, in its order: each passes unless it is in ``failing``."""
    made = []
    for item in assignment.items.values():
        for key in item.tests:
            passed = (item.name, key) not in failing
            made.append(runner.TestOutcome(item.name, key, passed, "" if passed else f"`{key}` gave a wrong value.",
                                       None if passed else "wrong_value", key.replace("_", " ")))
    return made


def results_for(assignment, failing, **info):
    """Gradescope's results.json for synthetic outcomes."""
    return gradescope.gradescope_results(assignment, SubmissionResult.build(assignment, outcomes(assignment, failing),
                                                                    {**INFO, **info}))


def seen_before_publication(results, stdout=""):
    """What a student can see of a results.json before grades are published, by Gradescope's
    Autograder Specifications read at their most open: each test whose visibility (its own, else
    the top-level one) is "visible"; the total, unless a test is not visible ("If test cases are
    hidden, students will not be able to see their total score"); every other top-level field
    (output, an explicit score, extra_data, execution_time, a leaderboard) whatever the top-level
    visibility; and the run's stdout unless its visibility is "hidden"."""
    default = results.get("visibility", "visible")
    tests = results.get("tests", [])
    shown = [t for t in tests if t.get("visibility", default) == "visible"]
    seen = {key: value for key, value in results.items() if key != "tests"}
    seen["tests"] = shown
    if len(shown) == len(tests):
        seen["total"] = results.get("score", sum(t.get("score", 0) for t in tests))
    if results.get("stdout_visibility", "hidden") != "hidden":
        seen["stdout"] = stdout
    return seen


def total_after_publication(results):
    return results.get("score", sum(t.get("score", 0) for t in results["tests"]))


@pytest.fixture(scope="module")
def twins(hidden_assignment):
    """Two results.json whose visible tests went the same way (one failed) and whose hidden tests
    did not: one passed them all, the other failed one, which also took its time limit."""
    passed = results_for(hidden_assignment, {VISIBLE_FAILURE})
    failed = results_for(hidden_assignment, {VISIBLE_FAILURE, HIDDEN_FAILURE}, seconds=INFO["seconds"] + 30)
    assert total_after_publication(passed) == total_after_publication(failed) + 1  # they do differ
    return seen_before_publication(passed), seen_before_publication(failed)


# -- hidden tests: nothing shown before publication depends on them ------------------------------

def test_hidden_tests_do_not_show_in_the_total(twins):
    passed, failed = twins
    assert (passed.get("score"), passed.get("total")) == (failed.get("score"), failed.get("total"))


def test_hidden_tests_do_not_show_in_the_output_text(twins):
    passed, failed = twins
    assert passed["output"] == failed["output"]
    assert [t["output"] for t in passed["tests"]] == [t["output"] for t in failed["tests"]]


def test_hidden_tests_do_not_show_in_extra_data_diagnoses_or_run_time(twins):
    passed, failed = twins
    assert passed.get("extra_data") == failed.get("extra_data")
    assert passed.get("execution_time") == failed.get("execution_time")
    assert "Linear: accumulates" not in json.dumps(failed)
    diagnoses = failed.get("extra_data", {}).get("diagnoses", [])
    assert not [d for d in diagnoses if (d["item"], d["test"]) == HIDDEN_FAILURE]


def test_everything_seen_before_publication_is_identical(twins):
    passed, failed = twins
    assert json.dumps(passed, sort_keys=True) == json.dumps(failed, sort_keys=True)


def test_the_visible_tests_are_summed_up_and_the_whole_is_shown_after_publication(hidden_assignment):
    results = results_for(hidden_assignment, {VISIBLE_FAILURE, HIDDEN_FAILURE})
    seen = seen_before_publication(results)
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert sorted(t["name"].split(": ")[0] for t in hidden) == ["Linear", "Linear"]
    visible_points = ASSIGNMENT.max_score - sum(t["max_score"] for t in hidden)
    assert seen["tests"][0]["output"].startswith(
        f"{visible_points - 2:g} / {visible_points:g} points on the visible tests")
    assert "score" not in seen["tests"][0] and seen["tests"][0]["status"] == "failed"
    # Once published, Gradescope's total is the sum of every test: hidden ones included.
    assert total_after_publication(results) == ASSIGNMENT.max_score - 2 - 1
    assert "total" not in seen and "execution_time" not in seen


def test_without_hidden_tests_the_total_and_run_time_are_shown():
    results = gradescope.gradescope_results(ASSIGNMENT, SubmissionResult.build(ASSIGNMENT, outcomes(ASSIGNMENT), INFO),
                                            seconds=12.34)
    seen = seen_before_publication(results)
    assert seen["total"] == seen["score"] == ASSIGNMENT.max_score and seen["execution_time"] == 12.3
    assert seen["output"].startswith(f"{ASSIGNMENT.max_score:g} / {ASSIGNMENT.max_score:g} points.")


# -- run() in a folder laid out like Gradescope's ------------------------------------------------

def gradescope_root(folder, manifest_file=manifest.ASSIGNMENTS / "modules.toml"):
    """/autograder as run_autograder sees it: source/assignment/ (manifest and course files),
    submission/ and results/."""
    root = Path(folder) / "autograder"
    for sub in ("source/assignment/course", "submission", "results"):
        (root / sub).mkdir(parents=True)
    shutil.copy(manifest_file, root / "source" / "assignment" / "modules.toml")
    for file in ASSIGNMENT.course_files:
        shutil.copy(file, root / "source" / "assignment" / "course")
    return root


def notebook_bytes(source):
    return nbformat.writes(new_notebook(cells=[new_code_cell(source)])).encode()


def results_of(root):
    gradescope.run(root)
    return json.loads((root / "results" / "results.json").read_text())


class StandIn:
    """Stands in for the sandboxed grading: keeps the bytes of every file it is given, and can do
    what a student's code could while it runs (``during``)."""

    def __init__(self, failing=(), seconds=0.0, clock=None, during=None):
        self.graded, self.beside = [], []
        self.failing, self.seconds, self.clock, self.during = failing, seconds, clock, during

    def __call__(self, assignment, files):
        if self.during:
            self.during()
        self.graded.append({name: (Path(path), Path(path).read_bytes()) for name, path in files.items()})
        self.beside.append(sorted({p.name for path in files.values() for p in Path(path).parent.iterdir()}))
        if self.clock:
            self.clock.now += self.seconds
        return outcomes(assignment, self.failing), {**INFO, "seconds": self.seconds}


class Clock:
    now = 1000.0

    def monotonic(self):
        return self.now


def test_hidden_tests_do_not_show_in_a_whole_run(tmp_path, hidden_assignment, monkeypatch, capsys):
    """The same visible outcomes, hidden outcomes that differ (one failed after using up its time):
    what run() writes and prints shows nothing of the difference before publication."""
    seen = []
    for name, failing, seconds in [("passed", {VISIBLE_FAILURE}, 40.0),
                                   ("failed", {VISIBLE_FAILURE, HIDDEN_FAILURE}, 70.0)]:
        root = gradescope_root(tmp_path / name, hidden_manifest(tmp_path))
        (root / "submission" / "modules.ipynb").write_bytes(notebook_bytes("x = 1"))
        clock = Clock()
        monkeypatch.setattr(gradescope, "time", clock)
        monkeypatch.setattr(runner, "grade", StandIn(failing, seconds, clock))
        capsys.readouterr()
        results = results_of(root)
        seen.append(json.dumps(seen_before_publication(results, capsys.readouterr().out), sort_keys=True))
    assert seen[0] == seen[1]


# -- the submission finder: links, size, names ---------------------------------------------------

@pytest.fixture
def root(tmp_path):
    return gradescope_root(tmp_path)


@pytest.fixture
def stand_in(monkeypatch):
    grade = StandIn()
    monkeypatch.setattr(runner, "grade", grade)
    return grade


def assert_refused(results, *phrases):
    assert results["score"] == 0 and results["tests"] == []
    assert results["output"].startswith("This submission was not graded.")
    for phrase in phrases:
        assert phrase in results["output"]


def test_a_folder_linked_to_a_classmates_folder_is_not_graded(root, stand_in, tmp_path):
    classmate = tmp_path / "classmate" / "hw"
    classmate.mkdir(parents=True)
    (classmate / "modules.ipynb").write_bytes(notebook_bytes("classmate = 'work'"))
    (root / "submission" / "hw").symlink_to(classmate, target_is_directory=True)
    results = results_of(root)
    assert stand_in.graded == []
    assert_refused(results, "symbolic link", "`hw`")


@pytest.mark.parametrize("target", ["course files", "reference"])
def test_a_folder_linked_to_the_instructors_files_is_not_graded(root, stand_in, target):
    linked = (root / "source" / "assignment" / "course" if target == "course files"
              else Path(reference_impl.__file__).parent)
    (root / "submission" / "mine").symlink_to(linked, target_is_directory=True)
    results = results_of(root)
    assert stand_in.graded == []
    assert_refused(results, "symbolic link", "`mine`")


def test_a_notebook_linked_to_the_instructors_file_is_not_graded(root, stand_in):
    (root / "submission" / "modules.ipynb").symlink_to(root / "source" / "assignment" / "course" / "datasets.py")
    assert_refused(results_of(root), "symbolic link", "`modules.ipynb`")
    assert stand_in.graded == []


def test_grading_reads_a_private_copy_that_the_upload_cannot_redirect(root, monkeypatch):
    """A student's code that, while one notebook is graded, turns the other into a link to the
    instructor's files changes nothing: what is graded was copied before grading began."""
    submission = root / "submission"
    modules, training = notebook_bytes("mine = 1"), notebook_bytes("mine = 2")
    (submission / "modules.ipynb").write_bytes(modules)
    (submission / "training.ipynb").write_bytes(training)

    def swap():
        (submission / "training.ipynb").unlink()
        (submission / "training.ipynb").symlink_to(root / "source" / "assignment" / "course" / "datasets.py")

    grade = StandIn(during=swap)
    monkeypatch.setattr(runner, "grade", grade)
    results = results_of(root)
    assert results["score"] == ASSIGNMENT.max_score
    [files] = grade.graded
    assert files["modules.ipynb"][1] == modules and files["training.ipynb"][1] == training
    assert not any(path.is_relative_to(submission) for path, _ in files.values())


def test_a_huge_notebook_is_refused_before_it_is_read(root, stand_in):
    with open(root / "submission" / "modules.ipynb", "wb") as handle:
        handle.truncate(200 * MB)  # sparse: 200 MB to the file system, nothing on disk
    results = results_of(root)
    assert stand_in.graded == []
    assert_refused(results, "`modules.ipynb` is 200 MB", f"more than the {gradescope.MAX_FILE_MB} MB",
                   "Clear its outputs")


def test_several_notebooks_are_refused_rather_than_one_graded_by_chance(root, stand_in):
    for name in ("draft.ipynb", "final.ipynb"):
        (root / "submission" / name).write_bytes(notebook_bytes(f"# {name}"))
    results = results_of(root)
    assert stand_in.graded == []
    assert_refused(results, "several notebooks", "`draft.ipynb`, `final.ipynb`", "named modules.ipynb")


def test_an_upload_too_deep_or_too_large_to_walk_is_refused(root, stand_in, monkeypatch):
    deep = root / "submission" / "/".join("d" * (gradescope.MAX_DEPTH + 1))
    deep.mkdir(parents=True)
    (deep / "modules.ipynb").write_bytes(notebook_bytes("x = 1"))
    assert_refused(results_of(root), f"nested more than {gradescope.MAX_DEPTH} deep")
    shutil.rmtree(root / "submission" / "d")
    monkeypatch.setattr(gradescope, "MAX_ENTRIES", 50)
    for number in range(60):
        (root / "submission" / f"{number}.txt").write_text("")
    (root / "submission" / "modules.ipynb").write_bytes(notebook_bytes("x = 1"))
    assert_refused(results_of(root), "more than 50 files and folders")
    assert stand_in.graded == []


ODD_NAMES = {
    "html": "<img src=x onerror=alert(1)>.ipynb",
    "newlines": "modules\n\n# Full marks\n.ipynb",
    "not UTF-8": os.fsdecode(b"\xff\xfe modules.ipynb"),
}


@pytest.mark.parametrize("kind", list(ODD_NAMES))
def test_an_odd_file_name_never_reaches_the_results(root, kind):
    """The only notebook, named oddly and not a valid notebook, so that grading reports on the
    file (the real grading path: it stops before any sandbox starts). Its name is in none of
    the text, and results.json holds only valid Unicode."""
    name = ODD_NAMES[kind]
    (root / "submission" / name).write_bytes(b"this is not JSON")
    text = (root / "results" / "results.json")
    results = results_of(root)
    strings = []

    def walk(value):
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            [walk(v) for pair in value.items() for v in pair]
        elif isinstance(value, list):
            [walk(v) for v in value]

    walk(results)
    for string in strings:
        string.encode("utf-8")  # a lone surrogate (from bytes that are not UTF-8) raises here
    everything = text.read_text()
    assert "<img" not in everything
    assert "Full marks" not in everything
    assert "\\udc" not in everything
    assert "modules.ipynb is not a valid notebook" in results["output"]
    assert results["score"] == 0 and len(results["tests"]) == len(
        [key for item in ASSIGNMENT.items.values() for key in item.tests])


def test_odd_names_listed_in_a_refusal_are_shown_plainly(root, stand_in):
    for name in ODD_NAMES.values():
        (root / "submission" / name).write_bytes(notebook_bytes("x = 1"))
    text = (root / "results" / "results.json")
    results = results_of(root)
    assert stand_in.graded == []
    assert_refused(results, "several notebooks", "`?img src?x onerror?alert?1??.ipynb`",
                   "`modules??? Full marks?.ipynb`", "`?? modules.ipynb`")
    assert "<img" not in text.read_text() and "\\udc" not in text.read_text()
    results["output"].encode("utf-8")


def test_an_honest_upload_with_leftovers_is_graded_from_copies_under_the_manifests_names(root, stand_in):
    """macOS's __MACOSX folder, Jupyter's checkpoints and a helper module beside the notebook: the
    notebook is graded as modules.ipynb, the helper is copied beside it for `%run`."""
    folder = root / "submission" / "Homework 3"
    for sub in ("__MACOSX", ".ipynb_checkpoints"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "._My Homework.ipynb").write_bytes(b"\0\5\26\7")
    (folder / ".ipynb_checkpoints" / "link.ipynb").symlink_to("/etc/passwd")  # in a hidden folder: ignored
    notebook = notebook_bytes("%run helpers.py")
    (folder / "My Homework.ipynb").write_bytes(notebook)
    (folder / "helpers.py").write_text("x = 1\n")
    (root / "submission" / "notes.txt").write_text("hi")
    results = results_of(root)
    [files] = stand_in.graded
    assert set(files) == {"modules.ipynb"}
    path, data = files["modules.ipynb"]
    assert path.name == "modules.ipynb" and data == notebook
    assert stand_in.beside == [["helpers.py", "modules.ipynb"]]
    assert results["score"] == ASSIGNMENT.max_score


def test_copy_submission_copies_helpers_beside_the_notebooks(root, tmp_path):
    folder = root / "submission" / "hw"
    folder.mkdir()
    (folder / "final.ipynb").write_bytes(notebook_bytes("%run helpers.py"))
    (folder / "training.ipynb").write_bytes(notebook_bytes("%run modules.ipynb"))
    (folder / "helpers.py").write_text("x = 1\n")
    (folder / "odd\nname.py").write_text("y = 2\n")
    into = tmp_path / "private"
    into.mkdir()
    files = gradescope.copy_submission(root / "submission", ASSIGNMENT, into)
    assert files == {"modules.ipynb": into / "modules.ipynb", "training.ipynb": into / "training.ipynb"}
    assert sorted(p.name for p in into.iterdir()) == ["helpers.py", "modules.ipynb", "training.ipynb"]
    assert (into / "modules.ipynb").read_bytes() == (folder / "final.ipynb").read_bytes()


def test_without_the_main_notebook_the_other_notebooks_are_graded(root, stand_in):
    (root / "submission" / "training.ipynb").write_bytes(notebook_bytes("%run modules.ipynb"))
    results_of(root)
    [files] = stand_in.graded
    assert set(files) == {"training.ipynb"}


def test_with_every_test_hidden_the_summary_says_so(tmp_path):
    text = (manifest.ASSIGNMENTS / "modules.toml").read_text()
    text = text.replace('grade_id = "grade_', 'hidden = true\ngrade_id = "grade_')
    (tmp_path / "modules.toml").write_text(text)
    assignment = manifest.load(tmp_path / "modules.toml")
    assert all(item.hidden for item in assignment.items.values())
    results = results_for(assignment, {HIDDEN_FAILURE})
    [summary] = seen_before_publication(results)["tests"]
    assert summary["output"] == "No test is shown before grades are published."
