"""The final-model grader of training.ipynb fails what it must: an untrained model and a missing one."""
import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from autograder import heldout, manifest
from autograder.graders.conftest import TRAINING_CODE
from autograder.runner import grade
from tests.helpers import reference_notebook, with_heldout

ASSIGNMENT = manifest.load("modules")
FINAL = {"final_model": ASSIGNMENT.items["final_model"]}


def grade_training(tmp_path, code):
    reference_notebook(tmp_path / "modules.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("%run modules.ipynb"), new_code_cell(code)]),
                   tmp_path / "training.ipynb")
    part = with_heldout(ASSIGNMENT.__class__(**{**ASSIGNMENT.__dict__, "items": FINAL}), tmp_path / "private")
    with heldout.grading(part):
        outcomes, _ = grade(part, {"modules.ipynb": tmp_path / "modules.ipynb",
                                   "training.ipynb": tmp_path / "training.ipynb"})
    return {o.test: o for o in outcomes}


def test_a_trained_model_gets_every_mark(tmp_path):
    outcomes = grade_training(tmp_path, TRAINING_CODE)
    assert all(o.passed for o in outcomes.values()), {k: o.message for k, o in outcomes.items()}


def test_an_untrained_model_loses_the_accuracy_marks(tmp_path):
    untrained = TRAINING_CODE.replace("for epoch in range(30):", "for epoch in range(0):")
    outcomes = grade_training(tmp_path, untrained)
    assert not any(o.passed for o in outcomes.values())
    assert {o.diagnosis for o in outcomes.values()} == {"low_accuracy"}


def test_a_notebook_without_model_is_told_so(tmp_path):
    outcomes = grade_training(tmp_path, TRAINING_CODE.replace("model", "net"))
    assert {o.diagnosis for o in outcomes.values()} == {"model_missing"}
