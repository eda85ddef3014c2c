"""The course as instructors and students meet it: the release, nbgrader autograde, real kernels."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import manifest
from autograder.release import ROOT, Report, check_release, check_sources, comparable, generate, nbgrader_environment
from autograder.sandbox.client import bubblewrap_works
from tests.helpers import filled_notebook

ASSIGNMENT = manifest.load("modules")
SOURCE = ROOT / "source_notebooks" / "modules"
RELEASE = ROOT / "release" / "modules"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    return generate("modules", tmp_path_factory.mktemp("course"))


def test_sources_agree_with_the_manifest():
    report = Report()
    check_sources(ASSIGNMENT, SOURCE, report)
    assert report.ok, [c for c in report.checks if not c.ok]


def test_the_committed_release_is_current(fresh_release):
    committed = sorted(p.name for p in RELEASE.iterdir() if p.is_file())
    assert committed == sorted(p.name for p in fresh_release.iterdir() if p.is_file()), \
        "run: autograder release modules"
    for path in fresh_release.iterdir():
        if path.suffix == ".ipynb":
            stale = comparable(nbformat.read(path, 4)) != comparable(nbformat.read(RELEASE / path.name, 4))
            assert not stale, f"release/modules/{path.name} is stale: run `autograder release modules`"
        elif path.is_file():
            assert path.read_bytes() == (RELEASE / path.name).read_bytes(), f"release/modules/{path.name} is stale"


def test_the_release_leaks_nothing_and_its_stubs_score_zero():
    report = Report()
    check_release(ASSIGNMENT, RELEASE, report)  # both notebooks: the final model's stub scores 0 too
    assert report.ok, [c for c in report.checks if not c.ok]


def run_nbgrader(*args, root):
    return subprocess.run([NBGRADER, *args, f"--CourseDirectory.root={root}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=1800, env=nbgrader_environment())


@pytest.mark.skipif(not bubblewrap_works(),
                    reason="bubblewrap is not installed: the outside-the-sandbox check needs it")
def test_nbgrader_autograde_grades_through_the_sandbox(tmp_path):
    course = tmp_path / "course"
    released = generate("modules", course)
    marker = tmp_path / "student-code-ran-outside-the-sandbox"
    students = {
        "alice": [],
        "bob": [("self.gradW += gradOutput.T @ input", "self.gradW = gradOutput.T @ input")],
        "mallory": [],
    }
    for student, edits in students.items():
        folder = course / "submitted" / student / "modules"
        folder.mkdir(parents=True)
        filled_notebook(released / "modules.ipynb", SOURCE / "modules.ipynb", folder / "modules.ipynb", edits)
    # Mallory adds a cell of her own that tries to leave a file outside the sandbox
    path = course / "submitted" / "mallory" / "modules" / "modules.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells.append(nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('escaped')"))
    nbformat.write(nb, path)
    stub_folder = course / "submitted" / "carol" / "modules"
    stub_folder.mkdir(parents=True)
    shutil.copy(released / "modules.ipynb", stub_folder / "modules.ipynb")

    result = run_nbgrader("autograde", "modules", "--force", root=course)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists(), "student code ran outside the sandbox"

    from nbgrader.api import Gradebook

    main = ASSIGNMENT.main_only()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in ["alice", "bob", "mallory", "carol"]:
            notebook = gradebook.find_submission_notebook("modules", "modules", student)
            scores = {grade.name: grade.auto_score for grade in notebook.grades if grade.cell.name.startswith("grade_")}
            ours = subprocess.run([sys.executable, "-m", "autograder", "grade", "modules",
                                   str(course / "submitted" / student / "modules" / "modules.ipynb"), "--json",
                                   "--out", str(tmp_path / "ours")], capture_output=True, text=True, cwd=ROOT)
            items = json.loads(ours.stdout)["extra_data"]["items"]
            expected = {main.items[name].grade_id: items[name]["score"] for name in main.items}
            assert scores == pytest.approx(expected), student
    assert sum(expected.values()) == 0  # carol, the last, handed in the stubs

    autograded = course / "autograded"
    graders = ROOT / "autograder" / "graders"
    secrets = {line.strip() for path in graders.glob("*.py") for line in path.read_text().splitlines()
               if len(line.strip()) > 30 and not line.strip().startswith(("#", '"""'))}
    for path in autograded.rglob("*.ipynb"):  # the student's own code is there; leaks would be in outputs
        outputs = json.dumps([cell.get("outputs", []) for cell in nbformat.read(path, 4).cells])
        assert not [s for s in secrets if s in outputs], path
        assert "reference_impl" not in outputs


def test_a_grade_cell_unknown_to_the_manifest_is_a_configuration_error(tmp_path):
    from autograder.nbgrader_plugin import GradingConfigurationError, items_of

    nb = nbformat.read(SOURCE / "modules.ipynb", 4)
    cell = nbformat.v4.new_code_cell("# extra")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "grade_Extra", "points": 5,
                                 "locked": True, "schema_version": 3}
    nb.cells.append(cell)
    with pytest.raises(GradingConfigurationError, match="grade_Extra"):
        items_of(nb, ASSIGNMENT, "modules.ipynb")


def execute(path, timeout=600):
    from nbclient import NotebookClient

    nb = nbformat.read(path, 4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   allow_errors=True).execute()
    errors = [(i, o.get("ename"), o.get("evalue")) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.get("outputs", []) if o.output_type == "error"]
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.output_type == "stream")
    return errors, text


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True, capture_output=True)


def test_the_instructor_notebook_passes_its_own_self_checks(kernel, tmp_path):
    shutil.copytree(SOURCE, tmp_path / "modules")
    errors, text = execute(tmp_path / "modules" / "modules.ipynb")
    assert errors == []
    assert "FAIL" not in text and "not implemented yet" not in text
    assert text.count("all checks passed") >= 10


def test_the_training_notebook_reaches_its_accuracy_floor(kernel, tmp_path):
    shutil.copytree(SOURCE, tmp_path / "modules")
    (tmp_path / "modules" / "training.ipynb").write_text((SOURCE / "training.ipynb").read_text())
    errors, _ = execute(tmp_path / "modules" / "training.ipynb", timeout=1200)
    assert errors == []
    results = subprocess.run([sys.executable, "-m", "autograder", "grade", "modules", str(tmp_path / "modules"),
                              "--json", "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert results.returncode == 0, results.stderr
    final = json.loads(results.stdout)["extra_data"]["items"]["final_model"]
    assert final["score"] == final["max_score"]
