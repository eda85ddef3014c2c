"""Attacks on ``nbgrader autograde`` through a notebook's nbgrader metadata, and student text in HTML.

One course is generated for the whole file, from the instructor's notebook cut after its second
graded item (Sequential and Linear, 21 points), so that each student grades in seconds. Every
attack is one student, and right after each in nbgrader's (sorted) order comes an honest student
with the complete solution. One ``nbgrader autograde`` runs for the whole class, as an
instructor runs it; then each test reads what its students got from the gradebook and the log.

The invariant: a notebook nbgrader cannot grade costs its own student only. It is refused with
a reason the instructor can act on, its autograded points are 0 (never an earlier run's, never
points the student did not earn), and the next student is graded normally. Metadata that
nbgrader restores from the gradebook (points, cell type, a deleted grade cell) earns nothing.
"""
import copy
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from autograder import manifest
from autograder.course_demo import filled_notebook
from autograder.release import ROOT, nbgrader_environment, run_nbgrader

ASSIGNMENT = manifest.load("modules")
SOURCE = ROOT / "source_notebooks" / "modules"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))
GRADED = ["Sequential", "Linear"]  # the items of the cut-down notebook
FULL = {ASSIGNMENT.items[name].grade_id: ASSIGNMENT.items[name].max_score for name in GRADED}
SEQUENTIAL_ONLY = {"grade_Sequential": FULL["grade_Sequential"], "grade_Linear": 0.0}


# -- the course ------------------------------------------------------------------------------------

def cut_source(course):
    """The instructor's modules notebook up to its Linear grade cell, with its course files."""
    folder = course / "source_notebooks" / "modules"
    folder.mkdir(parents=True)
    nb = nbformat.read(SOURCE / "modules.ipynb", 4)
    last = next(i for i, cell in enumerate(nb.cells) if grade_id_of(cell) == "grade_Linear")
    nb.cells = nb.cells[:last + 1]
    nbformat.write(nb, folder / "modules.ipynb")
    for path in SOURCE.glob("*.py"):
        shutil.copy(path, folder)
    return folder / "modules.ipynb"


def grade_id_of(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def cell_of(nb, grade_id):
    return next(cell for cell in nb.cells if grade_id_of(cell) == grade_id)


def nbgrader(*args, course):
    return subprocess.run([NBGRADER, *args, f"--CourseDirectory.root={course}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800, env=nbgrader_environment())


@dataclass
class Student:
    """How one student's notebook is made: the complete solution, with ``stubbed`` solution cells
    left as released, ``replace``'s (old, new) edits to the code, then ``edit`` applied to the
    notebook (or ``text`` as the whole file)."""

    name: str
    edit: Callable | None = None
    replace: tuple = ()
    stubbed: tuple = ()
    text: str | None = None
    refused: bool = False  # the notebook is expected to be refused


def submit(course, student, source):
    folder = course / "submitted" / student.name / "modules"
    folder.mkdir(parents=True)
    path = folder / "modules.ipynb"
    released = course / "release" / "modules" / "modules.ipynb"
    if student.text is not None:
        path.write_text(student.text)
        return
    filled_notebook(released, source, path, student.replace)
    nb = nbformat.read(path, 4)
    release = nbformat.read(released, 4)
    for grade_id in student.stubbed:
        cell_of(nb, grade_id).source = cell_of(release, grade_id).source
    if student.edit:
        student.edit(nb)
    path.write_text(json.dumps(nb, indent=1))  # as written, without nbformat's repairs


def seed_earlier_grades(course, students):
    """Full autograded points from an earlier run, as if earlier submissions had earned them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission("modules", student)
            for grade_id, points in FULL.items():
                grade = gradebook.find_grade(grade_id, "modules", "modules", student)
                grade.auto_score, grade.needs_manual_grade = points, False
        gradebook.db.commit()


@dataclass
class Record:
    """What the gradebook holds about one student's modules notebook."""

    scores: dict  # autograded cell -> auto_score
    needs_manual_grade: dict
    flagged: bool
    comments: list


def record(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook("modules", "modules", student)
        grades = [grade for grade in notebook.grades if grade.name in FULL]
        return Record({g.name: g.auto_score for g in grades}, {g.name: g.needs_manual_grade for g in grades},
                      notebook.flagged, [c.auto_comment or "" for c in notebook.comments])


# -- the attacks -----------------------------------------------------------------------------------

def copy_grade_cell(nb):
    """Copy and paste of the Linear grade cell: Jupyter copies its nbgrader metadata too."""
    nb.cells.append(copy.deepcopy(cell_of(nb, "grade_Linear")))


def old_schema(nb):
    cell_of(nb, "grade_Linear").metadata.nbgrader["schema_version"] = 2


def drop_metadata(nb):
    del cell_of(nb, "grade_Linear").metadata["nbgrader"]


def metadata_not_a_dict(nb):
    cell_of(nb, "grade_Linear").metadata["nbgrader"] = "grade"


def rename_grade_id(nb):
    cell_of(nb, "grade_Linear").metadata.nbgrader["grade_id"] = "grade_Linear_mine"


def recast_as_solution(nb):
    cell_of(nb, "grade_Linear").metadata.nbgrader["solution"] = True


def grade_cell_to_markdown(nb):
    cell = cell_of(nb, "grade_Linear")
    cell.cell_type = "markdown"
    del cell["outputs"], cell["execution_count"]


def own_cell_as_grade_cell(nb, keep_real):
    """A cell of the student's (``pass``: no error, which nbgrader alone scores as full marks) with
    the Linear grade cell's metadata, before the real one; which loses its metadata unless ``keep_real``."""
    real = cell_of(nb, "grade_Linear")
    mine = nbformat.v4.new_code_cell("pass")
    mine.metadata["nbgrader"] = copy.deepcopy(real.metadata["nbgrader"])
    if not keep_real:
        del real.metadata["nbgrader"]
    nb.cells.insert(nb.cells.index(real), mine)


def change_points(nb):
    cell_of(nb, "grade_Linear").metadata.nbgrader["points"] = 50


def delete_grade_cell(nb):
    nb.cells.remove(cell_of(nb, "grade_Linear"))


def html_helpers(nb):
    """Cells of the student's own, before Linear: a stub whose function name is HTML, and printed HTML."""
    at = nb.cells.index(cell_of(nb, "solution_Linear"))
    nb.cells[at:at] = [
        nbformat.v4.new_code_cell(
            "def html_named_stub():\n    raise NotImplementedError\n\n\nhtml_named_stub.__code__ = "
            "html_named_stub.__code__.replace(co_name='<img src=x onerror=alert(4)>')"),
        nbformat.v4.new_code_cell("print('<img src=x onerror=alert(5)>')"),
    ]


STUB_LINEAR = ("solution_Linear",)
ATTACKS = [
    Student("copied-grade-cell", copy_grade_cell, refused=True),
    Student("old-schema", old_schema, refused=True),
    Student("no-metadata", drop_metadata, stubbed=STUB_LINEAR),
    Student("bad-metadata", metadata_not_a_dict, refused=True),
    Student("renamed-grade-id", rename_grade_id, refused=True),
    Student("recast-grade-cell", recast_as_solution, refused=True),
    Student("markdown-grade-cell", grade_cell_to_markdown),
    Student("not-json", text='{"cells": [{"cell_type": "code", ', refused=True),
    Student("added-grade-cell", lambda nb: own_cell_as_grade_cell(nb, keep_real=True), stubbed=STUB_LINEAR,
            refused=True),
    Student("taken-over-grade-cell", lambda nb: own_cell_as_grade_cell(nb, keep_real=False), stubbed=STUB_LINEAR),
    Student("points-changed", change_points),
    Student("deleted-grade-cell", delete_grade_cell, stubbed=STUB_LINEAR),
    Student("html-exception", replace=[("self.output = input @ self.W.T + self.b",
                                        "raise ValueError('<img src=x onerror=alert(1)>')")]),
    Student("html-names", html_helpers, replace=[
        # an exception message that closes the Markdown code fence its traceback is shown in
        ("self.gradInput = gradOutput @ self.W", r'raise ValueError("no\n```\n```\n<img src=x onerror=alert(3)>")'),
        # an exception class whose name is HTML
        ("return [self.gradW, self.gradb]", "raise type('<svg onload=alert(2)>', (Exception,), {})('bad')"),
        # NotImplementedError from a function whose name is HTML
        ("return [self.W, self.b]", "return html_named_stub()"),
    ]),
]


def honest_after(attacker):
    return f"{attacker}-next"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course, every student handed in, one ``nbgrader autograde`` of the whole class."""
    course = tmp_path_factory.mktemp("attacks") / "course"
    source = cut_source(course)
    generated = run_nbgrader("modules", course)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    students = ATTACKS + [Student(honest_after(attack.name)) for attack in ATTACKS]
    for student in students:
        submit(course, student, source)
    order = sorted(student.name for student in students)
    assert all(order[order.index(a.name) + 1] == honest_after(a.name) for a in ATTACKS), order
    seed_earlier_grades(course, [attack.name for attack in ATTACKS])
    result = nbgrader("autograde", "modules", "--force", course=course)
    return course, result


def failed_students(log):
    return set(re.findall(r"There was an error processing assignment 'modules' for student '([^']+)'", log))


def assert_refused(graded, student, reason):
    """``student``'s notebook was refused, for ``reason``, and only it: 0 autograded points in the
    gradebook (not the earlier run's), needing a human, flagged, the reason in the log and the
    gradebook; the honest student after it got full marks."""
    course, result = graded
    log = result.stdout + result.stderr
    assert f"modules.ipynb of student '{student}' was not graded: " in log, log[-3000:]
    said = log.split(f"modules.ipynb of student '{student}' was not graded: ")[1].split("\n[")[0]
    assert reason in said
    assert f"nbgrader autograde modules --student {student} --force" in said
    got = record(course, student)
    assert got.scores == {grade_id: 0.0 for grade_id in FULL}
    assert all(got.needs_manual_grade.values()) and got.flagged
    assert got.comments and all(reason in comment for comment in got.comments)
    assert_graded_normally(graded, honest_after(student))


def assert_graded_normally(graded, student, expected=FULL):
    course, result = graded
    assert student not in failed_students(result.stdout + result.stderr)
    got = record(course, student)
    assert got.scores == pytest.approx(expected), student
    assert not any(got.needs_manual_grade.values()) and not got.flagged


def test_the_run_goes_through_the_class_and_fails_only_the_refused_notebooks(graded):
    course, result = graded
    assert result.returncode == 1  # nbgrader's own signal that some students need attention
    assert failed_students(result.stdout + result.stderr) == {a.name for a in ATTACKS if a.refused}


def test_a_copied_grade_cell_is_refused_until_the_instructor_deletes_the_copy(graded):
    course, _ = graded
    nb = nbformat.read(course / "release" / "modules" / "modules.ipynb", 4)
    real = nb.cells.index(cell_of(nb, "grade_Linear")) + 1
    assert_refused(graded, "copied-grade-cell", f"grade id 'grade_Linear' is on cells {real}, {len(nb.cells) + 1}")
    # the instructor does what the log says, for this student only
    path = course / "submitted" / "copied-grade-cell" / "modules" / "modules.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells.pop()
    nbformat.write(nb, path)
    again = nbgrader("autograde", "modules", "--student", "copied-grade-cell", "--force", course=course)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert record(course, "copied-grade-cell").scores == pytest.approx(FULL)


def test_metadata_of_an_old_schema_version_is_refused(graded):
    assert_refused(graded, "old-schema", "schema version 2; this nbgrader reads version 3 only")


def test_metadata_that_is_not_a_dictionary_is_refused(graded):
    assert_refused(graded, "bad-metadata", "its nbgrader metadata is a string, not a dictionary")


def test_a_renamed_grade_id_is_refused(graded):
    assert_refused(graded, "renamed-grade-id", "the gradebook has no cell of that id")


def test_a_grade_cell_recast_as_a_solution_cell_is_refused(graded):
    assert_refused(graded, "recast-grade-cell", "marked as a grade and solution cell, but the released notebook "
                                                "has it as a grade cell")


def test_a_notebook_that_is_not_json_is_refused(graded):
    assert_refused(graded, "not-json", "nbgrader could not process it (NotJSONError")


def test_a_grade_cell_without_nbgrader_metadata_is_put_back_and_earns_only_what_the_code_earns(graded):
    # Linear is the released stub: the grade cell, put back from the gradebook, gets 0, not the earlier 11
    assert_graded_normally(graded, "no-metadata", SEQUENTIAL_ONLY)
    assert_graded_normally(graded, honest_after("no-metadata"))


def test_a_deleted_grade_cell_is_put_back_and_earns_only_what_the_code_earns(graded):
    assert_graded_normally(graded, "deleted-grade-cell", SEQUENTIAL_ONLY)
    assert_graded_normally(graded, honest_after("deleted-grade-cell"))


def test_a_grade_cell_turned_into_markdown_is_restored_and_graded(graded):
    assert_graded_normally(graded, "markdown-grade-cell")
    assert_graded_normally(graded, honest_after("markdown-grade-cell"))


def test_changed_points_earn_no_more_than_the_gradebook_gives(graded):
    course, _ = graded
    assert_graded_normally(graded, "points-changed")  # 11 for Linear, not 50
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assert gradebook.find_grade_cell("grade_Linear", "modules", "modules").max_score == FULL["grade_Linear"]
    assert_graded_normally(graded, honest_after("points-changed"))


def test_a_students_own_cell_marked_as_a_grade_cell_earns_nothing(graded):
    # beside the real grade cell it is a duplicate: refused
    assert_refused(graded, "added-grade-cell", "grade id 'grade_Linear' is on cells")
    # in place of the real one, nbgrader restores the cell's source and it is graded like the real one
    assert_graded_normally(graded, "taken-over-grade-cell", SEQUENTIAL_ONLY)
    assert_graded_normally(graded, honest_after("taken-over-grade-cell"))


# -- student text in HTML --------------------------------------------------------------------------

class Page(HTMLParser):
    """The elements and the visible text of an HTML page."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.elements, self.texts = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self):
        return "".join(self.texts)

    def live_elements(self):
        """Elements with an event handler: the page's own templates have none, so any is the student's."""
        return [(tag, attrs) for tag, attrs in self.elements if any(name.startswith("on") for name in attrs)]


@pytest.fixture(scope="module")
def feedback(graded):
    course, _ = graded
    result = nbgrader("generate_feedback", "modules", "--student", "html-*", "--force", course=course)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return course


def grade_cell_feedback(course, student):
    """The Markdown our grading step wrote into the Linear grade cell, rendered as nbconvert (and
    so formgrader and generate_feedback) renders it."""
    from nbconvert.filters.markdown import markdown2html

    nb = nbformat.read(course / "autograded" / student / "modules" / "modules.ipynb", 4)
    outputs = cell_of(nb, "grade_Linear").outputs
    return [markdown2html(output.data["text/markdown"]) for output in outputs
            if "text/markdown" in output.get("data", {})]


def assert_shown_escaped(course, student, markers):
    rendered = grade_cell_feedback(course, student)
    assert rendered
    for html in rendered:
        page = Page(html)
        assert page.live_elements() == [], html
        for marker in markers:
            assert marker in page.text, (marker, html)
    page = Page((course / "feedback" / student / "modules" / "modules.html").read_text())
    assert page.live_elements() == []


def test_html_in_an_exception_message_is_shown_as_text(feedback):
    assert_shown_escaped(feedback, "html-exception", ["<img src=x onerror=alert(1)>"])


def test_html_in_names_and_fence_breaking_messages_is_shown_as_text(feedback):
    assert_shown_escaped(feedback, "html-names", ["<svg onload=alert(2)>", "<img src=x onerror=alert(3)>",
                                                  "<img src=x onerror=alert(4)>"])


def test_students_with_html_in_their_errors_are_graded_and_so_is_the_next(graded):
    course, result = graded
    for student in ("html-exception", "html-names"):
        assert student not in failed_students(result.stdout + result.stderr)
        assert record(course, student).scores["grade_Sequential"] == FULL["grade_Sequential"]
        assert_graded_normally(graded, honest_after(student))


# -- the check alone, on the released notebook and the gradebook's view of it ---------------------

def released_cells():
    """The released modules notebook, and what the gradebook knows of its cells."""
    from autograder.nbgrader_submissions import GradebookCell

    nb = nbformat.read(ROOT / "release" / "modules" / "modules.ipynb", 4)
    known = {meta["grade_id"]: GradebookCell(cell.cell_type, meta["grade"], meta["solution"], meta.get("task", False))
             for cell in nb.cells if (meta := cell.metadata.get("nbgrader"))}
    return nb, known


def test_the_release_itself_passes_the_check():
    from autograder.nbgrader_submissions import metadata_problems

    assert metadata_problems(*released_cells()) == []


@pytest.mark.parametrize("value, reason", [
    (None, "its nbgrader metadata is null, not a dictionary"),
    ({"schema_version": 3, "grade": True}, "breaks the schema rule 'required'"),
    ({"grade": True}, "schema version 0; this nbgrader reads version 3 only"),
    ("<img src=x onerror=alert(7)>", "its nbgrader metadata is a string, not a dictionary"),
    ({"schema_version": "3", "grade": True, "solution": False, "locked": True, "grade_id": "grade_Linear",
      "points": 11}, "could not be read (TypeError)"),
    ({"schema_version": 3, "grade": True, "solution": False, "locked": True,
      "grade_id": "<img src=x onerror=alert(8)>", "points": 11}, "field 'grade_id' breaks the schema rule 'pattern'"),
    ({"schema_version": 3, "grade": True, "solution": False, "locked": True, "grade_id": "grade_Linear",
      "points": -1}, "field 'points' breaks the schema rule 'minimum'"),
])
def test_malformed_metadata_is_named_without_quoting_the_students_text(value, reason):
    from autograder.nbgrader_submissions import metadata_problems

    nb, known = released_cells()
    cell = cell_of(nb, "grade_Linear")
    cell.metadata["nbgrader"] = value
    problems = metadata_problems(nb, known)
    assert len(problems) == 1 and reason in problems[0], problems
    assert "<" not in problems[0] and "alert" not in problems[0]
