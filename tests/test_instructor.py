"""The instructor's day outside the browser: the command that opens a course for hand grading,
bad paths, grades and the class report from nbgrader's gradebook, feedback that keeps ungraded
answers apart from 0, offline math in nbgrader's pages, dunder names in Markdown."""
import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import manifest
from autograder.export import load_grades, to_csv
from autograder.markdown import sanitize
from autograder.report import item_statistics, write_report
from tests.test_export import make_gradebook

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = manifest.load("modules")


def autograder(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


# -- autograder lab -----------------------------------------------------------------------------------

def test_lab_refuses_a_folder_that_is_not_a_course_and_creates_no_gradebook(tmp_path):
    result = autograder("lab", tmp_path, "--no-browser")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "is not an nbgrader course folder" in result.stderr
    assert not list(tmp_path.iterdir())  # formgrader started here would have made gradebook.db


def test_lab_starts_jupyterlab_from_this_environment_on_the_course_root(tmp_path):
    from autograder.lab import command, course_root, environment

    (tmp_path / "gradebook.db").touch()
    course = course_root(tmp_path)
    argv = command(course, ["--no-browser"])
    assert argv[:3] == [sys.executable, "-m", "jupyterlab"] and argv[-1] == "--no-browser"
    assert f"--ServerApp.root_dir={course}" in argv and f"--CourseDirectory.root={course}" in argv
    # formgrader runs alembic by name: this environment's bin folder comes first
    assert environment()["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


# -- bad paths ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("paths", [["/no/such/file.ipynb"], ["/dev/null"], ["{release}", "--out", "{file}"]])
def test_bad_paths_end_autograder_grade_with_one_line_and_exit_code_2(tmp_path, paths):
    (tmp_path / "a-file").write_text("")
    given = [p.format(release=ROOT / "release" / "modules" / "modules.ipynb", file=tmp_path / "a-file")
             for p in paths]
    result = autograder("grade", "modules", *given)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("autograder grade: ") and not result.stdout


# -- grades and the class report from nbgrader's gradebook ---------------------------------------------

def with_findings(course):
    """alice's autograded notebook, with what our grading step records in a grade cell's output."""
    folder = course / "autograded" / "alice" / "modules"
    folder.mkdir(parents=True)
    cell = new_code_cell("", metadata={"nbgrader": {"grade": True, "grade_id": "grade_Linear"}})
    cell.outputs = [new_output("display_data", data={"text/markdown": "feedback"}, metadata={"autograder": {
        "item": "Linear", "diagnoses": [{"item": "Linear", "test": "accumulates", "diagnosis": "grad_overwritten"}],
        "failed_cells": ["modules.ipynb, cell 3"], "worker_restarts": 0, "error": None}})]
    nbformat.write(new_notebook(cells=[cell]), folder / "modules.ipynb")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder whose gradebook has alice (autograded and hand-graded), bob (autograded,
    his derivation not graded yet) and carol (no submission)."""
    folder = tmp_path_factory.mktemp("course")
    with pytest.MonkeyPatch.context() as patch:
        # nbgrader creates a new gradebook by running `alembic`, found on PATH beside this Python
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        make_gradebook(folder / "gradebook.db")
    with_findings(folder)
    return folder


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_a_course_folder_gives_the_gradebook_with_answers_not_graded_yet_left_empty(course):
    grades = load_grades(ASSIGNMENT, course)
    records = {r.student: r for r in grades.records}
    assert records["alice"].scores["derivation_Linear"] == 2.5 and not records["alice"].pending
    assert records["bob"].scores["derivation_Linear"] is None and records["bob"].pending == ["derivation_Linear"]
    assert records["alice"].diagnoses[0].diagnosis == "grad_overwritten" and records["alice"].failed_cells == 1
    rows = {row[0]: row for row in csv.reader(io.StringIO(to_csv(grades)))}
    column = rows["student"].index("derivation_Linear")
    assert rows["alice"][column] == "2.5" and rows["bob"][column] == ""  # not graded yet is not 0
    assert any("not graded yet" in warning for warning in grades.warnings)
    stats = item_statistics(grades)
    assert stats["derivation_Linear"]["n"] == 1 and stats["derivation_Linear"]["pending"] == 1


@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_the_class_report_of_a_course_is_written_beside_its_gradebook(course):
    assert write_report(ASSIGNMENT, course) == course / "report.html"
    html = (course / "report.html").read_text()
    assert "2 graded submissions" in html and "answers not graded yet" in html
    assert "grad_overwritten" in html  # the diagnoses come from the autograded notebooks
    result = autograder("export", "modules", "--results", course, "--out", "-", "--no-bom")
    assert result.returncode == 0 and "derivation_Linear" in result.stdout.splitlines()[0]


def test_an_untouched_final_model_is_not_attempted_rather_than_a_mistake(tmp_path):
    from autograder.results import write_submission_results
    from tests.test_export import synthetic_results

    failures = {("final_model", key): "model_missing" for key in ASSIGNMENT.items["final_model"].tests}
    write_submission_results(tmp_path / "carol", synthetic_results(ASSIGNMENT, "carol", failures))
    stats = item_statistics(load_grades(ASSIGNMENT, tmp_path))
    assert stats["final_model"]["not_attempted"] == 1 and not stats["final_model"]["mistakes"]
    write_report(ASSIGNMENT, tmp_path)
    assert "model_missing" not in (tmp_path / "report.html").read_text()


# -- nbgrader's pages: ungraded answers, offline math --------------------------------------------------

@pytest.mark.filterwarnings("ignore:Object of type:Warning")
def test_feedback_shows_an_answer_nobody_graded_as_not_graded_yet(course):
    from autograder.nbgrader_pages import MarkUngradedAnswers

    answer = new_markdown_cell("My derivation", metadata={"nbgrader": {
        "grade": True, "solution": True, "grade_id": "derivation_Linear", "points": 3, "score": 0.0}})
    resources = {"nbgrader": {"notebook": "modules", "assignment": "modules", "db_url": f"sqlite:///{course}/gradebook.db",
                              "score": 11.0, "max_score": 17.0}}
    for student, graded in (("alice", True), ("bob", False)):
        nb = new_notebook(cells=[nbformat.from_dict(answer)])
        nb, out = MarkUngradedAnswers().preprocess(nb, {**resources, "nbgrader": {**resources["nbgrader"],
                                                                                  "student": student}})
        cell = [c for c in nb.cells if c.source == "My derivation"][0]
        assert bool(cell.metadata.nbgrader["grade"]) == graded
        assert ("Not graded yet" in cell.metadata.nbgrader.get("comment", "")) == (not graded)
        assert out["nbgrader"]["max_score"] == (17.0 if graded else 14.0)
        assert (nb.cells[0].source.startswith("**Not graded yet:**")) == (not graded)


@pytest.mark.parametrize("template", ["feedback", "formgrade"])
def test_nbgraders_pages_carry_their_math_renderer_and_load_nothing(template, monkeypatch):
    from nbconvert.exporters import HTMLExporter
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.lab import environment
    from autograder.nbgrader_pages import nbgrader_templates

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    config.HTMLExporter.template_name = template
    if template == "feedback":
        import nbgrader

        css = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
        config.HTMLExporter.extra_template_paths = [str(css)]  # as nbgrader's GenerateFeedback sets it
    else:
        # formgrader's server extension replaces the configured folders with nbgrader's alone;
        # the exporter is made in JupyterLab's process, which `autograder lab` started
        config.HTMLExporter.extra_template_basedirs = [nbgrader_templates()]
        monkeypatch.setenv("JUPYTER_PATH", environment()["JUPYTER_PATH"])
    nb = new_notebook(cells=[new_markdown_cell(r"The gradient $\frac{\partial L}{\partial W}$")])
    resources = {"base_url": "", "notebook_id": "modules", "index": 0, "total": 1,
                 "nbgrader": {"notebook": "modules", "score": 1, "max_score": 2, "late_penalty": 0}}
    html, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=resources)
    assert "cdnjs" not in html and "<script src=" not in html.replace(" ", "")
    assert "window.MathJax" in html and "MathJax" in html.split("window.MathJax", 1)[1][:100_000]


# -- Markdown -----------------------------------------------------------------------------------------

def test_a_dunder_name_in_feedback_prose_renders_as_itself_not_bold():
    from nbconvert.filters import markdown2html

    html = markdown2html(sanitize("Sequential.__getitem__ raised `IndexError`: see `Sequential.__getitem__`"))
    assert "<strong>" not in html
    assert "Sequential.__getitem__ raised" in html and "<code>Sequential.__getitem__</code>" in html


# -- stubs, failed cells ------------------------------------------------------------------------------

def test_a_stub_class_names_every_method_still_to_write(tmp_path):
    result = autograder("grade", "modules", ROOT / "release" / "modules" / "modules.ipynb", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    feedback = (tmp_path / "modules" / "feedback.md").read_text()
    linear = next(line for line in feedback.splitlines() if "`Linear.updateOutput`" in line)
    for method in ("updateOutput", "updateGradInput", "accGradParameters", "getParameters", "getGradParameters"):
        assert f"`Linear.{method}`" in linear, linear


@pytest.mark.parametrize("body, stub", [
    ("raise NotImplementedError", True),
    ("'''Docstring.'''\n    # YOUR CODE HERE\n    raise NotImplementedError()", True),
    ("raise NotImplementedError('write the backward pass')", True),
    ("self.output = x\n    raise NotImplementedError", False),
    ("if x is None:\n        raise NotImplementedError\n    return x", False),
    ("return NotImplementedError", False),
    ("raise ValueError", False),
])
def test_a_stub_is_a_method_whose_first_statement_raises_not_implemented(body, stub):
    from autograder.sandbox.worker import raises_not_implemented

    namespace = {}
    exec(f"def method(self, x=None):\n    {body}\n", namespace)
    assert raises_not_implemented(namespace["method"].__code__) == stub


def test_the_class_report_names_a_failed_cell_with_its_notebook():
    from autograder.nbgrader_plugin import grading_summary
    from autograder.results import CellRun, SubmissionResult

    results = SubmissionResult("modules", 0, 1, "", [], {}, cells=[CellRun("modules.ipynb, cell 31", False),
                                                                   CellRun("modules.ipynb, cell 2", True)])
    assert grading_summary(results, "Linear", "modules.ipynb")["failed_cells"] == ["modules.ipynb, cell 31"]
