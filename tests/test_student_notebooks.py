"""The released notebooks as a student first meets them: Restart and Run All with every stub in
place, in a real kernel, and nbgrader's Validate button on the untouched release."""
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder import manifest
from autograder.release import ROOT

ASSIGNMENT = manifest.load("modules")
RELEASE = ROOT / "release" / "modules"


@pytest.fixture(scope="module")
def kernel():
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True, capture_output=True)


def run_all(path, timeout=600):
    """Every cell in order in a fresh kernel, as Restart Kernel and Run All does (going on after an
    error, so that a test sees every error, where JupyterLab would stop at the first)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, 4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                   allow_errors=True).execute()
    return nb


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def printed(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


def errors(nb):
    return [(index, output.ename, output.evalue) for index, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for output in cell.outputs if output.output_type == "error"]


@pytest.fixture(scope="module")
def run_release(kernel, tmp_path_factory):
    """Both released notebooks, run with their stubs in a copy of the release."""
    folder = tmp_path_factory.mktemp("student") / "modules"
    shutil.copytree(RELEASE, folder)
    return {name: run_all(folder / name) for name in ASSIGNMENT.notebooks}


def test_modules_runs_with_stubs_without_a_traceback_or_an_echoed_value(run_release):
    nb = run_release["modules.ipynb"]
    assert errors(nb) == []
    echoed = [(index, output["data"].get("text/plain")) for index, cell in enumerate(nb.cells)
              if cell.cell_type == "code" for output in cell.outputs if output.output_type == "execute_result"]
    assert echoed == [], "a check's return value is shown under its table"
    text = "".join(printed(cell) for cell in code_cells(nb))
    assert "not implemented yet" in text and "Traceback" not in text


def test_training_runs_all_with_stubs_and_says_what_is_missing(run_release):
    nb = run_release["training.ipynb"]
    assert errors(nb) == [], "Run All would stop at this cell"
    run_cell, status_cell = code_cells(nb)[:2]
    assert "%run modules.ipynb" in run_cell.source
    assert len(printed(run_cell).splitlines()) <= 2, printed(run_cell)
    status = printed(status_cell)
    assert "defined." not in status and "2 of 12 written" in status, status
    assert "still stubs: Sequential, Linear," in status and "not defined" not in status, status
    assert "written:     ReLU, ChannelwiseScaling" in status, status
    text = "".join(printed(cell) for cell in code_cells(nb))
    assert len(re.findall(r"^2[abcd]\. .*: skipped, because Sequential\.train is not implemented yet", text, re.M)) == 4
    assert "3. Your final model: skipped, because this cell is not written yet" in text
    assert "There is no `model` yet" in text


def test_validate_lists_every_unwritten_item_and_answer_once(tmp_path):
    """nbgrader's Validate button (``Validator.validate``, what its server extension calls) on the
    untouched release: one message per graded item, which says what is still a stub, and one per
    empty answer, which says which answer; not identical "You did not provide a response" messages
    and nothing about the stubs."""
    from nbgrader.validator import Validator

    shutil.copytree(RELEASE, tmp_path / "modules")
    failed = [(cell["source"], " ".join(cell["raw_error"].split()))
              for name in ASSIGNMENT.notebooks
              for cell in Validator().validate(str(tmp_path / "modules" / name))["failed"]]
    assert len(set(failed)) == len(failed), "two messages are the same"
    messages = "\n".join(error for _, error in failed)
    for item in ASSIGNMENT.items.values():
        if item.name == "final_model":
            assert "model is not defined" in messages
        else:
            assert re.search(rf"^{item.name} is not (finished: .*|written yet: it) still raises? NotImplementedError",
                             messages, re.M), item.name
    answers = [source for source, error in failed if error == "You did not provide a response."]
    assert len(answers) == len(ASSIGNMENT.manual)
    for grade_id in ASSIGNMENT.manual:  # the derivations name their module, the answers their question
        heading = f"`{grade_id.removeprefix('derivation_')}`" if grade_id.startswith("derivation_") else "question 2"
        assert any(heading in source for source in answers), grade_id
    assert len(failed) == len(ASSIGNMENT.items) + len(ASSIGNMENT.manual)
