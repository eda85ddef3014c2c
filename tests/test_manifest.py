"""Assignment manifests: what ``manifest.load`` reads from the TOML, what it refuses, and the
questions the rest of the code asks of an assignment. Fast: small manifests in a temporary
folder, and the course's own."""
import textwrap

import pytest

from autograder import manifest
from autograder.sandbox.client import Limits

MINIMAL = """
[assignment]
name = "tiny"
title = "A tiny assignment"
notebooks = ["lesson.ipynb", "practice.ipynb"]

[limits]
cell_seconds = 12
memory_mb = 512

[items.Linear]
grader = "test_linear"
grade_id = "grade_Linear"
tests = { forward = 2, grad_input = 3 }
hidden = ["grad_input"]

[items.final_model]
notebook = "practice.ipynb"
defined = false
grader = "test_training"
tests = { accuracy = 5 }
hidden = true
heldout = true

[notebook_limits."practice.ipynb"]
cell_seconds = 600

[manual]
derivation_Linear = 3
"""


def write(tmp_path, text, name="tiny.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def tiny(tmp_path):
    return manifest.load(write(tmp_path, MINIMAL))


def test_items_carry_their_tests_points_and_defaults(tiny):
    linear = tiny.items["Linear"]
    assert linear == manifest.Item("Linear", "basic", "test_linear", {"forward": 2, "grad_input": 3}, "grade_Linear",
                                   "", True, frozenset({"grad_input"}), False)
    assert linear.max_score == 5
    assert tiny.items["final_model"].defined is False and tiny.items["final_model"].heldout is True


def test_hidden_true_hides_every_test_of_the_item(tiny):
    assert tiny.items["final_model"].hidden == {"accuracy"}
    assert tiny.items["final_model"].visibility("accuracy") == "after_published"
    assert tiny.items["Linear"].visibility("forward") == "visible"
    assert tiny.items["Linear"].visibility("grad_input") == "after_published"


def test_the_assignment_totals_only_autograded_points(tiny):
    assert tiny.max_score == 10  # the 3 hand-graded points are formgrader's
    assert tiny.manual == {"derivation_Linear": 3}


def test_the_main_notebook_defaults_to_the_first_and_items_belong_to_one(tiny):
    assert tiny.main_notebook == "lesson.ipynb"
    assert tiny.notebook_of(tiny.items["Linear"]) == "lesson.ipynb"
    assert tiny.notebook_of(tiny.items["final_model"]) == "practice.ipynb"
    assert list(tiny.main_only().items) == ["Linear"]
    assert list(tiny.items) == ["Linear", "final_model"]  # main_only leaves the assignment itself alone


def test_limits_of_a_notebook_override_the_assignments_and_keep_the_rest(tiny):
    assert tiny.limits == Limits(cell_seconds=12, memory_mb=512)
    assert tiny.limits_for("lesson.ipynb") == tiny.limits
    assert tiny.limits_for("practice.ipynb") == Limits(cell_seconds=600, memory_mb=512)


def test_items_are_found_by_their_grade_cell(tiny):
    assert tiny.item_for_grade_id("grade_Linear") is tiny.items["Linear"]
    assert tiny.item_for_grade_id("grade_Sequential") is None


def test_held_out_and_private_folders(tiny, tmp_path):
    assert tiny.uses_heldout
    assert tiny.private_folder == manifest.PRIVATE / "tiny"
    assert manifest.load(write(tmp_path, MINIMAL.replace("heldout = true", ""))).uses_heldout is False


@pytest.mark.parametrize("edit, words", [
    (("cell_seconds = 12", "cell_seconds = 12\nwall_seconds = 3"), "unknown limits ['wall_seconds']"),
    (("tests = { forward = 2, grad_input = 3 }", "tests = { forward = -1 }"), "needs tests with non-negative points"),
    (("tests = { forward = 2, grad_input = 3 }", "tests = {}"), "needs tests with non-negative points"),
    (('hidden = ["grad_input"]', 'hidden = ["backward"]'), "hidden must be true or a list of its test keys"),
    (('hidden = ["grad_input"]', 'hidden = "grad_input"'), "hidden must be true or a list of its test keys"),
    (("heldout = true", 'heldout = "yes"'), "heldout must be true or false"),
    (('[notebook_limits."practice.ipynb"]\ncell_seconds = 600', '[notebook_limits."practice.ipynb"]\ncpu = 1'),
     "unknown limits ['cpu'] for practice.ipynb"),
])
def test_a_malformed_manifest_is_refused_with_the_reason(tmp_path, edit, words):
    old, new = edit
    assert old in MINIMAL
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.load(write(tmp_path, MINIMAL.replace(old, new)))
    assert words in str(caught.value)
    assert str(caught.value).startswith("tiny.toml: ")


def test_an_unknown_assignment_names_the_known_ones():
    with pytest.raises(manifest.ManifestError) as caught:
        manifest.load("no-such-assignment")
    known = sorted(path.stem for path in manifest.ASSIGNMENTS.glob("*.toml"))
    assert "modules" in known and f"known assignments: {', '.join(known)})" in str(caught.value)


def test_the_courses_manifest_names_a_grader_module_and_test_for_every_key():
    """Each test key of the course's manifest is a ``test_<key>`` function of its item's grader."""
    import importlib

    modules = manifest.load("modules")
    assert modules.main_notebook == "modules.ipynb" and "training.ipynb" in modules.notebooks
    for item in modules.items.values():
        grader = importlib.import_module(f"autograder.graders.{item.grader}")
        missing = [key for key in item.tests if not callable(getattr(grader, f"test_{key}", None))]
        assert missing == [], (item.name, missing)
    assert len({item.grade_id for item in modules.items.values()}) == len(modules.items)
