"""The step of ``nbgrader autograde`` that runs student code: ours, in the sandbox.

``nbgrader_config.py`` puts :class:`SandboxedGrading` where nbgrader's ``Execute`` was in
``Autograde.autograde_preprocessors``. It never starts a Jupyter kernel: it grades the
notebook's items through the sandbox and writes into each grade cell the feedback (as
Markdown) and the points earned (as the cell's numeric result, which nbgrader reads as
partial credit). So the gradebook, formgrader and ``generate_feedback`` work unchanged. The
points are the item's under the manifest's scoring rule (under ``all_or_nothing``, 0 unless every
test passed), and the feedback says why they did not count.
"""
import dataclasses
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution, is_task
from traitlets import Unicode

from . import heldout, manifest
from .results import GRADING_METADATA, item_feedback
from .runner import grade_submission


class GradingConfigurationError(Exception):
    """The notebook and the assignment manifest disagree; nothing is graded rather than points given away."""


def grade_cells(nb):
    """The notebook's autograded cells: nbgrader's "autograder tests" cells, one per graded item."""
    return [cell for cell in nb.cells if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)]


def hand_graded(cell):
    """An answer the instructor grades by hand: nbgrader's manually graded answer, or a task."""
    return bool((is_grade(cell) and is_solution(cell)) or is_task(cell))


def items_of(nb, assignment, notebook_name):
    """The manifest item of every grade cell; a cell the manifest does not know is an error."""
    found = {}
    for cell in grade_cells(nb):
        grade_id = cell.metadata["nbgrader"].get("grade_id", "")
        item = assignment.item_for_grade_id(grade_id)
        if item is None:
            raise GradingConfigurationError(
                f"{notebook_name}: grade cell {grade_id!r} has no item in the manifest of {assignment.name!r}; "
                "add it to the manifest (with its tests and points) or remove the grade cell")
        points = float(cell.metadata["nbgrader"].get("points", 0))
        if points != item.max_score:
            raise GradingConfigurationError(
                f"{notebook_name}: grade cell {grade_id!r} is worth {points:g} points but the manifest gives "
                f"{item.name} {item.max_score:g}")
        found[grade_id] = item
    return found


class SandboxedGrading(NbGraderPreprocessor):
    """Grade through the sandbox and write each grade cell's feedback and points."""

    manifest = Unicode("", help="Assignment manifest (name or path); by default the assignment's id.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        assignment = manifest.load(self.manifest or info["assignment"])
        notebook_name = f"{info['notebook']}.ipynb"
        items = items_of(nb, assignment, notebook_name)
        if not items:
            return nb, resources
        part = dataclasses.replace(assignment, items={item.name: item for item in items.values()})
        try:
            heldout.ensure(part, say=self.log.warning)
        except OSError as error:  # the final-model tests then say so, as a grader error
            self.log.error("could not make the held-out set of %s: %s", part.name, error)
        with tempfile.TemporaryDirectory(prefix="autograde-") as folder:
            folder = Path(folder)
            # The other notebooks of this submission, for `%run modules.ipynb`
            here = Path(resources.get("metadata", {}).get("path") or ".")
            for sibling in here.glob("*.ipynb"):
                shutil.copy(sibling, folder / sibling.name)
            path = folder / notebook_name
            nbformat.write(nb, path)
            # the student's other notebooks of the assignment, for `%run`, then this one
            files = {name: folder / name for name in assignment.notebooks if (folder / name).is_file()}
            files.update({assignment.notebook_of(item): path for item in items.values()})
            results = grade_submission(part, files)
        self.log.info("%s: %g / %g autograded points (%s isolation)", notebook_name, results.score,
                      results.max_score, results.isolation)
        for cell in grade_cells(nb):
            item = items[cell.metadata["nbgrader"]["grade_id"]]
            score = results.items[item.name].score
            text = "\n".join(item_feedback(results, item.name)).strip() + "\n"
            cell.outputs = [
                nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": text},
                                       metadata={GRADING_METADATA: grading_summary(results, item.name, notebook_name)}),
                nbformat.v4.new_output("execute_result", data={"text/plain": f"{score:g}"}, execution_count=1),
            ]
            cell.execution_count = 1
        return nb, resources


def grading_summary(results, item, notebook_name):
    """What the class report needs beside the gradebook's points: the item's diagnoses, the points
    of its passed tests that the scoring rule did not count, and the notebook's cells that failed
    when run top to bottom (named with the notebook), its worker restarts and any error that kept
    it from being graded."""
    return {
        "item": item,
        "diagnoses": [{"item": d.item, "test": d.test, "diagnosis": d.diagnosis}
                      for d in results.diagnoses if d.item == item],
        "failed_cells": [c.name for c in results.failed_cells],  # "modules.ipynb, cell 31"
        "worker_restarts": results.worker_restarts,
        "error": results.error,
        "withheld": results.withheld(item),  # points of passed tests the scoring rule did not count
    }
