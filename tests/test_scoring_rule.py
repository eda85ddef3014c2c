"""The manifest's scoring rule: under ``all_or_nothing`` an item's points, its hand-graded
derivation's included, count only when its code passes every test; under ``additive`` (the
default) each passed test earns its points. Every place that computes a total is checked:
results.json and feedback.md, the CSV and the class report (from results folders and from
nbgrader's gradebook), Gradescope's results, and the points nbgrader's autograde writes. Fast:
results are built from synthetic outcomes, nothing runs in the sandbox."""
import csv
import dataclasses
import io
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import export, manifest, nbgrader_plugin, report
from autograder.results import SubmissionResult, write_submission_results
from tests.test_attacks_gradescope import outcomes, results_for, seen_before_publication, total_after_publication
from tests.test_export import synthetic_results
from tests.test_gradescope import hidden_manifest

ADDITIVE = manifest.load("modules")
WHOLE = dataclasses.replace(ADDITIVE, scoring=manifest.ALL_OR_NOTHING)
LINEAR_FAILS = {("Linear", "forward"): "wrong_values", ("Linear", "zero_grad"): "grad_not_zeroed"}
RULE = "this course counts an item's points only when all its tests pass"


def with_rule(tmp_path, source=manifest.ASSIGNMENTS / "modules.toml", rule="all_or_nothing"):
    """A copy of a manifest with ``[scoring] rule``, named as the original (its assignment is the same)."""
    path = Path(tmp_path) / Path(source).name
    path.write_text(Path(source).read_text() + f'\n[scoring]\nrule = "{rule}"\n')
    return path


# -- the manifest ----------------------------------------------------------------------------------

def test_the_rule_is_read_from_the_manifest_and_defaults_to_additive(tmp_path):
    assert ADDITIVE.scoring == manifest.ADDITIVE and not ADDITIVE.all_or_nothing
    loaded = manifest.load(with_rule(tmp_path))
    assert loaded.scoring == manifest.ALL_OR_NOTHING and loaded.all_or_nothing


def test_an_unknown_rule_is_a_manifest_error(tmp_path):
    with pytest.raises(manifest.ManifestError, match="rule must be one of"):
        manifest.load(with_rule(tmp_path, rule="best_effort"))


def test_each_derivation_is_tied_to_its_item_by_its_name():
    assert ADDITIVE.derivations["derivation_Linear"] == "Linear"
    assert "conclusions_cnn" not in ADDITIVE.derivations  # hand-graded, but no item's derivation
    assert ADDITIVE.derivation_of("Linear") == "derivation_Linear" and ADDITIVE.derivation_of("Sequential") is None
    for name in ("modules", "hooks"):  # every course's derivations name one of its items
        assignment = manifest.load(name)
        assert assignment.derivations and set(assignment.derivations.values()) <= set(assignment.items)


def test_a_derivation_of_an_unknown_item_is_a_manifest_error(tmp_path):
    path = tmp_path / "modules.toml"
    path.write_text((manifest.ASSIGNMENTS / "modules.toml").read_text().replace(
        "derivation_SoftMax = 3", "derivation_Softmax = 3"))
    with pytest.raises(manifest.ManifestError, match="derivation_Softmax"):
        manifest.load(path)


# -- results.json and feedback.md ------------------------------------------------------------------

def test_an_item_that_fails_a_test_scores_0_and_its_passed_tests_stay_passed():
    result = synthetic_results(WHOLE, "alice", LINEAR_FAILS)
    linear = result.tests_of("Linear")
    assert result.items["Linear"].score == 0
    assert sum(t.passed for t in linear) == len(linear) - 2 and all(t.score == 0 for t in linear)
    assert result.items["SoftMax"].score == result.items["SoftMax"].max_score  # other items untouched
    assert result.score == WHOLE.max_score - WHOLE.items["Linear"].max_score
    assert result.score == sum(t.score for t in result.tests) == sum(i.score for i in result.items.values())


def test_the_default_rule_counts_each_passed_test():
    result = synthetic_results(ADDITIVE, "alice", LINEAR_FAILS)
    assert result.items["Linear"].score == ADDITIVE.items["Linear"].max_score - 3  # forward 2, zero_grad 1
    assert result.score == ADDITIVE.max_score - 3
    assert "Points not counted" not in result.to_markdown()


def test_results_json_under_the_rule_reads_back_with_the_same_points():
    result = synthetic_results(WHOLE, "alice", LINEAR_FAILS)
    data = json.loads(json.dumps(result.to_json()))
    assert data["extra_data"]["scoring"] == "all_or_nothing"
    assert data["score"] == sum(t["score"] for t in data["tests"])
    again = SubmissionResult.from_json(data, WHOLE)
    assert again.score == result.score and again.items["Linear"].score == 0 and again.scoring == "all_or_nothing"
    assert again.to_markdown() == result.to_markdown()


def test_the_feedback_says_why_the_points_and_the_derivation_do_not_count():
    text = synthetic_results(WHOLE, "alice", LINEAR_FAILS).to_markdown()
    heading = text.index("## ✗ Linear: 0 / 11")
    note = text[heading:text.index("##", heading + 3)]
    assert RULE in note and "2 of 8 tests failed" in note
    assert "the 8 points of the tests that passed" in note and "`derivation_Linear`" in note
    assert text.count("Points not counted") == 1  # only the item that lost points


def test_rescoring_counts_a_result_by_another_rule():
    result = synthetic_results(ADDITIVE, "alice", LINEAR_FAILS)
    whole = result.rescored(manifest.ALL_OR_NOTHING)
    assert whole.items["Linear"].score == 0 and whole.score == result.score - (11 - 3)
    assert whole.output.startswith(f"{whole.score:g} / ")
    assert whole.rescored(manifest.ADDITIVE).score == result.score
    assert result.items["Linear"].score == 8  # the original is left as it was


# -- CSV and class report from results folders -----------------------------------------------------

def write_results(folder, assignment):
    for student, failures in {"alice": LINEAR_FAILS, "bob": {}}.items():
        write_submission_results(folder / student, synthetic_results(assignment, student, failures))
    return folder


def csv_rows(grades):
    return {row["student"]: row for row in csv.DictReader(io.StringIO(export.to_csv(grades)))}


@pytest.mark.parametrize("written_under", [ADDITIVE, WHOLE], ids=["graded additive", "graded all-or-nothing"])
def test_the_csv_from_results_folders_counts_by_the_manifests_rule(tmp_path, written_under):
    grades = export.load_results(write_results(tmp_path, written_under), WHOLE)
    rows = csv_rows(grades)
    assert rows["alice"]["Linear"] == "0" and float(rows["alice"]["total"]) == WHOLE.max_score - 11
    assert "Linear: 8 points of passed tests not counted" in rows["alice"]["note"]
    assert float(rows["bob"]["total"]) == WHOLE.max_score and rows["bob"]["note"] == ""
    assert any("another scoring rule" in w for w in grades.warnings) == (written_under is ADDITIVE)


def test_the_default_csv_has_no_note_column_and_counts_each_test(tmp_path):
    grades = export.load_results(write_results(tmp_path, ADDITIVE), ADDITIVE)
    header = export.to_csv(grades).splitlines()[0].split(",")
    assert header[-1] == "total" and "note" not in header
    assert float(csv_rows(grades)["alice"]["total"]) == ADDITIVE.max_score - 3


def test_the_class_report_counts_by_the_rule_and_says_so(tmp_path):
    grades = export.load_results(write_results(tmp_path, WHOLE), WHOLE)
    stats = report.item_statistics(grades)
    assert stats["Linear"]["mean"] == 11 / 2 and stats["Linear"]["not_counted"] == 1
    page = report.render(grades)
    assert "only when its code passes every test" in page and "not counted" in page
    plain = export.load_results(write_results(tmp_path / "plain", ADDITIVE), ADDITIVE)
    assert report.item_statistics(plain)["Linear"]["mean"] == (8 + 11) / 2
    assert "only when its code passes every test" not in report.render(plain)


# -- nbgrader's gradebook ---------------------------------------------------------------------------

GRADEBOOK = {  # student -> {cell: score}; a derivation absent here has not been graded yet
    "alice": {"grade_Linear": 9, "derivation_Linear": 2.5, "grade_SoftMax": 7, "derivation_SoftMax": 3},
    "bob": {"grade_Linear": 11, "derivation_Linear": 2, "grade_SoftMax": 7},
    "dave": {"grade_Linear": 0, "grade_SoftMax": 7, "derivation_SoftMax": 1},
}


def fill_gradebook(book):
    book.add_assignment("modules")
    book.add_notebook("modules", "modules")
    for name in ("Linear", "SoftMax"):
        book.add_grade_cell(f"grade_{name}", "modules", "modules", max_score=ADDITIVE.items[name].max_score,
                            cell_type="code")
        book.add_grade_cell(f"derivation_{name}", "modules", "modules", max_score=ADDITIVE.manual[f"derivation_{name}"],
                            cell_type="markdown")
    for student, scores in GRADEBOOK.items():
        book.add_student(student)
        book.add_submission("modules", student)
        for cell, score in scores.items():
            grade = book.find_grade(cell, "modules", "modules", student)
            if cell.startswith("derivation_"):
                grade.manual_score = score
            else:
                grade.auto_score = score
        book.db.commit()


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    """A gradebook with Linear and SoftMax (code and derivation): alice's Linear failed a test
    under the additive rule (9 of 11) with a graded derivation; bob passed every test with a
    graded Linear derivation and an ungraded SoftMax one; dave's Linear failed (0, as autograde
    under the rule writes it) and its derivation is not graded yet."""
    from nbgrader.api import Gradebook

    path = tmp_path_factory.mktemp("course") / "gradebook.db"
    # nbgrader creates a new gradebook by running `alembic`, found on PATH beside this Python (made once: slow)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        with Gradebook(f"sqlite:///{path}") as book:
            fill_gradebook(book)
    return path


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_a_derivation_counts_only_when_its_items_code_passed_every_test(gradebook):
    records = {r.student: r for r in export.load_gradebook(gradebook, WHOLE).records}
    alice, bob, dave = records["alice"], records["bob"], records["dave"]
    assert alice.scores["Linear"] == 0 and alice.scores["derivation_Linear"] == 0
    assert alice.scores["SoftMax"] == 7 and alice.scores["derivation_SoftMax"] == 3
    assert alice.total == 10
    assert bob.scores["derivation_Linear"] == 2 and bob.total == 11 + 2 + 7
    assert dave.scores["derivation_Linear"] == 0 and "derivation_Linear" not in dave.pending
    assert dave.total == 7 + 1
    rows = csv_rows(export.load_gradebook(gradebook, WHOLE))
    assert "derivation_Linear (2.5 by hand) not counted: Linear's code did not pass every test" in rows["alice"]["note"]
    assert "Linear: 9 of 11 points not counted" in rows["alice"]["note"]
    assert "derivation_Linear (not graded yet) not counted" in rows["dave"]["note"]
    assert float(rows["alice"]["total"]) == 10


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_a_derivation_not_graded_yet_stays_apart_while_it_can_count(gradebook):
    bob = {r.student: r for r in export.load_gradebook(gradebook, WHOLE).records}["bob"]
    assert bob.scores["derivation_SoftMax"] is None and bob.pending == ["derivation_SoftMax"]
    assert csv_rows(export.load_gradebook(gradebook, WHOLE))["bob"]["derivation_SoftMax"] == ""


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_the_default_rule_counts_every_grade_in_the_gradebook(gradebook):
    grades = export.load_gradebook(gradebook, ADDITIVE)
    alice = {r.student: r for r in grades.records}["alice"]
    assert alice.total == 9 + 2.5 + 7 + 3 and not alice.notes
    assert "note" not in export.to_csv(grades).splitlines()[0]


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_the_class_report_from_the_gradebook_counts_by_the_rule(gradebook):
    grades = export.load_gradebook(gradebook, WHOLE)
    stats = report.item_statistics(grades)
    assert stats["derivation_Linear"]["not_counted"] == 2 and stats["derivation_Linear"]["mean"] == 2 / 3
    assert "only when its code passes every test" in report.render(grades)


# -- Gradescope ---------------------------------------------------------------------------------------

def test_gradescope_shows_a_passed_test_of_a_failed_item_with_no_points_and_why():
    result = synthetic_results(WHOLE, "alice", LINEAR_FAILS)
    data = result.to_gradescope(WHOLE)
    linear = [t for t in data["tests"] if t["tags"] == ["Linear"]]
    passed = [t for t in linear if t["status"] == "passed"]
    assert len(passed) == 6 and all(t["score"] == 0 and RULE in t["output"] for t in passed)
    assert data["score"] == sum(t["score"] for t in data["tests"]) == result.score
    others = [t for t in data["tests"] if t["tags"] != ["Linear"]]
    assert all(t["score"] == t["max_score"] and not t["output"] for t in others)


def test_gradescope_under_the_default_rule_gives_each_passed_test_its_points():
    data = synthetic_results(ADDITIVE, "alice", LINEAR_FAILS).to_gradescope(ADDITIVE)
    passed = [t for t in data["tests"] if t["tags"] == ["Linear"] and t["status"] == "passed"]
    assert all(t["score"] == t["max_score"] > 0 and RULE not in t["output"] for t in passed)


@pytest.fixture(scope="module")
def hidden_whole(tmp_path_factory):
    """modules.toml with two of Linear's tests hidden, under the all-or-nothing rule."""
    folder = tmp_path_factory.mktemp("hidden")
    return manifest.load(with_rule(folder, hidden_manifest(folder)))


def test_gradescope_shows_nothing_of_the_hidden_tests_through_the_visible_tests_points(hidden_whole):
    """Linear's visible tests all pass; a hidden one fails in one of two results. Before
    publication the two look the same; after, each total is the rule's."""
    passed = results_for(hidden_whole, set())
    failed = results_for(hidden_whole, {("Linear", "accumulates")})
    assert seen_before_publication(passed) == seen_before_publication(failed)
    assert total_after_publication(passed) == hidden_whole.max_score
    assert total_after_publication(failed) == hidden_whole.max_score - hidden_whole.items["Linear"].max_score
    carrier = [t for t in failed["tests"] if t["name"] == "Linear: points of the visible tests"]
    assert carrier and carrier[0]["visibility"] == "after_published" and carrier[0]["score"] == 0
    visible = [t for t in failed["tests"] if t.get("tags") == ["Linear"] and t["visibility"] == "visible"]
    assert visible and all(t["max_score"] == 0 and t["status"] == "passed" for t in visible)


# -- nbgrader's autograde -------------------------------------------------------------------------------

def test_autograde_writes_the_items_points_under_the_rule(tmp_path, monkeypatch):
    """The grade cell's numeric result (nbgrader's partial credit) is the item's points under the
    rule, and its feedback says why the points and the derivation's do not count."""
    def grade_submission(part, files):  # what the sandbox would find: two of Linear's tests fail
        return SubmissionResult.build(part, outcomes(part, set(LINEAR_FAILS)), {})

    monkeypatch.setattr(nbgrader_plugin, "grade_submission", grade_submission)
    cell = nbformat.v4.new_code_cell("# tests")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "grade_Linear", "points": 11}
    resources = {"nbgrader": {"assignment": "modules", "notebook": "modules"}, "metadata": {"path": str(tmp_path)}}
    scores = {}
    for name, path in (("additive", manifest.ASSIGNMENTS / "modules.toml"), ("whole", with_rule(tmp_path))):
        nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(json.loads(json.dumps(cell)))])
        nb, _ = nbgrader_plugin.SandboxedGrading(manifest=str(path)).preprocess(nb, resources)
        outputs = nb.cells[0].outputs
        scores[name] = outputs[1]["data"]["text/plain"]
        scores[name + " feedback"] = outputs[0]["data"]["text/markdown"]
    assert scores["additive"] == "8" and scores["whole"] == "0"
    assert RULE in scores["whole feedback"] and "`derivation_Linear`" in scores["whole feedback"]
    assert RULE not in scores["additive feedback"]
