"""nbgrader's feedback page under the ``all_or_nothing`` scoring rule: a derivation whose item's
code did not pass every test says that its points do not count (in the course's language), and the
page's total leaves them out, as ``autograder export`` counts them; the gradebook keeps its scores."""
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import manifest
from autograder.nbgrader_pages import MarkUncountedDerivations, MarkUngradedAnswers
from autograder.release import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:Object of type:Warning")

# student -> (Linear's code score, the derivation's hand score or None: not graded yet)
STUDENTS = {"alice": (1.0, 1.0), "bob": (0.5, 1.0), "dan": (0.5, None), "erin": (1.0, None)}


def make_gradebook(path, assignment):
    """A gradebook of ``assignment`` with Linear's code and derivation, each worth 1 point."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{path}") as gradebook:
        gradebook.add_assignment(assignment)
        gradebook.add_notebook("modules", assignment)
        gradebook.add_grade_cell("grade_Linear", "modules", assignment, max_score=1, cell_type="code")
        gradebook.add_grade_cell("derivation_Linear", "modules", assignment, max_score=1, cell_type="markdown")
        gradebook.add_solution_cell("derivation_Linear", "modules", assignment)
        for student, (code, derivation) in STUDENTS.items():
            gradebook.add_student(student)
            gradebook.add_submission(assignment, student)
            gradebook.find_grade("grade_Linear", "modules", assignment, student).auto_score = code
            gradebook.find_grade("derivation_Linear", "modules", assignment, student).manual_score = derivation
            gradebook.db.commit()
    return path


@pytest.fixture(scope="module", params=["modules-ru", "modules"])
def gradebook(request, tmp_path_factory):
    """One gradebook per scoring rule (the feedback only reads it)."""
    with pytest.MonkeyPatch.context() as patch:
        # nbgrader creates a new gradebook by running `alembic`, found on PATH beside this Python
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        return request.param, make_gradebook(tmp_path_factory.mktemp(request.param) / "gradebook.db", request.param)


def feedback(assignment, db, student):
    """The submission's notebook through the feedback's preprocessors, as nbgrader_config.py orders them."""
    from nbgrader.preprocessors import GetGrades

    nb = new_notebook(cells=[
        new_code_cell("class Linear: ...", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": "grade_Linear", "points": 1, "locked": True}}),
        new_markdown_cell("My derivation", metadata={"nbgrader": {
            "grade": True, "solution": True, "grade_id": "derivation_Linear", "points": 1, "locked": False}}),
    ])
    resources = {"nbgrader": {"notebook": "modules", "assignment": assignment, "student": student,
                              "db_url": f"sqlite:///{db}"}}
    for preprocessor in (GetGrades(), MarkUncountedDerivations(), MarkUngradedAnswers()):
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb, resources["nbgrader"]


def answer(nb):
    return next(c for c in nb.cells if c.source == "My derivation")


def test_a_derivation_whose_code_failed_does_not_count_on_the_feedback_page(gradebook):
    assignment, db = gradebook
    whole_items = manifest.load(assignment).all_or_nothing
    alice, alice_info = feedback(assignment, db, "alice")
    assert answer(alice).metadata.nbgrader["grade"] and alice_info["score"] == 2.0  # code passed: it counts

    bob, bob_info = feedback(assignment, db, "bob")
    comment = answer(bob).metadata.nbgrader.get("comment") or ""
    if not whole_items:  # the additive rule: nbgrader's page as it was
        assert answer(bob).metadata.nbgrader["grade"] and bob_info["score"] == 1.5 and not comment
        return
    assert not answer(bob).metadata.nbgrader["grade"] and "score" not in answer(bob).metadata.nbgrader
    assert comment.startswith("**Не засчитывается** (1 балл): проверено вручную: 1 из 1.") and \
        "код `Linear` прошёл не все тесты" in comment, comment
    assert bob_info["score"] == 0.5 and bob_info["max_score"] == 2.0  # the code's 0.5 only
    assert bob.cells[0].source.startswith("**Не засчитано:** `derivation_Linear` (вручную поставлено 1 балл)")

    dan, dan_info = feedback(assignment, db, "dan")  # not graded yet, but it could never count
    comment = answer(dan).metadata.nbgrader["comment"]
    assert comment.startswith("**Не засчитывается** (1 балл): не проверено.") and "Not graded yet" not in comment
    assert dan_info["max_score"] == 2.0 and not any("Not graded yet" in c.source for c in dan.cells)


def test_an_answer_not_graded_yet_is_said_so_in_the_courses_language(gradebook):
    assignment, db = gradebook
    erin, erin_info = feedback(assignment, db, "erin")  # the code passed, the derivation awaits its grader
    comment = answer(erin).metadata.nbgrader["comment"]
    if manifest.load(assignment).language == "ru":
        assert comment.startswith("**Ещё не проверено** (1 балл): преподаватель ещё не проверил этот ответ.")
        assert erin.cells[0].source.startswith("**Ещё не проверено:** `derivation_Linear` (1 балл).")
    else:
        assert comment.startswith("**Not graded yet** (1 point):")
        assert erin.cells[0].source.startswith("**Not graded yet:** `derivation_Linear` (1 point).")
    assert erin_info["max_score"] == 1.0 and erin_info["score"] == 1.0


def test_the_gradebook_keeps_the_hand_score(gradebook):
    from nbgrader.api import Gradebook

    assignment, db = gradebook
    feedback(assignment, db, "bob")
    with Gradebook(f"sqlite:///{db}") as book:
        assert book.find_grade("derivation_Linear", "modules", assignment, "bob").manual_score == 1.0


def test_the_feedback_html_shows_the_note(gradebook):
    """nbgrader's own feedback template, with the project's configuration, renders the note (and
    renders nothing of the kind under the additive rule)."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config.loader import PyFileConfigLoader

    assignment, db = gradebook
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    config.HTMLExporter.template_name = "feedback"
    import nbgrader

    css = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
    config.HTMLExporter.extra_template_paths = [str(css)]
    nb, info = feedback(assignment, db, "bob")
    html, _ = HTMLExporter(config=config).from_notebook_node(nbformat.from_dict(nb),
                                                             resources={"nbgrader": {**info, "late_penalty": 0}})
    if manifest.load(assignment).all_or_nothing:
        assert "Не засчитывается" in html and "прошёл не все тесты" in html and "Не засчитано" in html
    else:
        assert "засчит" not in html and "does not count" not in html.lower()
