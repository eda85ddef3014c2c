"""In ``nbgrader autograde``, a submitted notebook that cannot be graded costs only its own student.

nbgrader stops the whole run when one student's notebook carries nbgrader metadata of another
schema version, and a copied grade cell becomes exactly that (``DeduplicateIds`` empties the
metadata of every copy but the last, which then fails the schema check). A notebook that fails
in any other way is skipped, but the gradebook keeps whatever points an earlier run gave it.
``nbgrader_config.py`` sets two pieces:

- :class:`CheckSubmittedMetadata`, the first sanitizing step, refuses a notebook whose nbgrader
  metadata nbgrader could not grade it by, and says which cell and why, before nbgrader's own
  steps see it;
- :class:`SubmissionExporter`, the exporter of ``nbgrader autograde``, turns any failure of one
  notebook (a refusal, a file that is not a notebook, an error in nbgrader or in our grading)
  into that student's failure: nbgrader logs it, skips the student and goes on with the next;
  the gradebook records the submission with no autograded points, as needing a human, flagged,
  with the reason in its comments.

What nbgrader restores from the gradebook anyway (a grade cell's type, points, lock and source,
and, with ``OverwriteCells.add_missing_cells``, a deleted grade cell) is left to nbgrader: it
can neither earn points nor stop the run. Messages quote nothing a student wrote except grade
ids that match nbgrader's own pattern, so they are safe in the log, the gradebook and any HTML.
"""
import copy
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from nbconvert.exporters import NotebookExporter
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.nbgraderformat import MetadataValidator, SchemaTooNewError, SchemaTooOldError, ValidationError
from nbgrader.preprocessors import NbGraderPreprocessor
from sqlalchemy.exc import OperationalError

# nbgrader's pattern for a grade id (its metadata schema v3); only such ids are quoted in messages
SAFE_GRADE_ID = re.compile(r"[A-Za-z0-9_\-]{1,100}")
FLAGS = ("grade", "solution", "task")
JSON_TYPES = {str: "a string", list: "a list", int: "a number", float: "a number", bool: "true or false",
              type(None): "null"}


class UngradableNotebook(Exception):
    """A submitted notebook that is not graded; ``str()`` says why, in words the instructor can act on."""


@dataclass(frozen=True)
class GradebookCell:
    """What the gradebook, written when the assignment was generated, says a cell is."""

    cell_type: str
    grade: bool
    solution: bool
    task: bool


def gradebook_cells(db_url, notebook, assignment):
    """Every cell of the released notebook that nbgrader tracks, by grade id."""
    with Gradebook(db_url) as gradebook:
        record = gradebook.find_notebook(notebook, assignment)
        grade = {cell.name for cell in record.grade_cells}
        solution = {cell.name for cell in record.solution_cells}
        task = {cell.name for cell in record.task_cells}
        return {cell.name: GradebookCell(cell.cell_type, cell.name in grade, cell.name in solution, cell.name in task)
                for cell in record.source_cells}


def shown(grade_id):
    """A grade id as a message may quote it: only ids of nbgrader's own pattern, never other student text."""
    return repr(grade_id) if isinstance(grade_id, str) and SAFE_GRADE_ID.fullmatch(grade_id) else "(invalid id)"


def kind(flags):
    """Plain words for a cell's nbgrader role, e.g. ``a grade cell`` or ``a grade and solution cell``."""
    roles = [flag for flag in FLAGS if flags[flag]]
    return f"a {' and '.join(roles)} cell" if roles else "an ordinary cell"


def schema_problem(cell, known):
    """What nbgrader's own metadata validator finds wrong with one cell, or None.

    The cell is validated with the type the gradebook gives it, because ``OverwriteCells``
    restores that type before nbgrader validates (a grade cell turned into Markdown is repaired,
    not refused)."""
    probe = copy.deepcopy(cell)
    grade_id = cell.metadata["nbgrader"].get("grade_id")
    record = known.get(grade_id) if isinstance(grade_id, str) else None
    if record is not None:
        probe.cell_type = record.cell_type
    try:
        MetadataValidator().validate_cell(probe)
    except (SchemaTooOldError, SchemaTooNewError) as error:
        version = error.actual_version if isinstance(error.actual_version, (int, float)) else "(not a number)"
        return (f"its nbgrader metadata has schema version {version}; this nbgrader reads "
                f"version {error.expected_version} only")
    except ValidationError as error:
        if isinstance(error.validator, str):  # a rule of the schema, on one field
            field = "/".join(str(part) for part in error.path) or "nbgrader"
            return f"its nbgrader metadata field {field!r} breaks the schema rule {error.validator!r}"
        # nbgrader's own rules; what follows a colon in their messages is the cell's source
        return f"its nbgrader metadata is inconsistent ({error.message.split(':')[0]})"
    except Exception as error:  # noqa: BLE001 - any other failure to read a student's metadata is malformed metadata
        return f"its nbgrader metadata could not be read ({type(error).__name__})"
    return None


def nbgrader_metadata(cell):
    """A cell's nbgrader metadata as the student's file has it (anything, or None when absent)."""
    metadata = cell.get("metadata")
    return metadata.get("nbgrader") if isinstance(metadata, dict) else None


def is_nbgrader_cell(meta):
    """Whether nbgrader treats a cell with this (valid) metadata as one of its own."""
    return any(meta.get(flag, False) for flag in ("grade", "solution", "locked", "task"))


def cell_problem(cell, known):
    """Why nbgrader could not grade by this cell's nbgrader metadata, or None when it can."""
    if not isinstance(cell.get("metadata"), dict):
        return "its metadata is not a dictionary"
    if "nbgrader" not in cell.metadata:
        return None
    meta = cell.metadata["nbgrader"]
    if not isinstance(meta, dict):
        return f"its nbgrader metadata is {JSON_TYPES.get(type(meta), 'something else')}, not a dictionary"
    problem = schema_problem(cell, known)
    if problem or not is_nbgrader_cell(meta):
        return problem
    record = known.get(meta.get("grade_id"))
    if record is None:
        return "the gradebook has no cell of that id in this notebook (was the id renamed or made up?)"
    claimed = {flag: bool(meta.get(flag, False)) for flag in FLAGS}
    if claimed != {flag: getattr(record, flag) for flag in FLAGS}:
        return f"it is marked as {kind(claimed)}, but the released notebook has it as {kind(vars(record))}"
    return None


def label(index, cell):
    """``cell 21 ('grade_Linear')``: the cell's position as Jupyter shows it, and its id when safe to quote."""
    meta = nbgrader_metadata(cell)
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return f"cell {index}" + (f" ({shown(grade_id)})" if grade_id is not None else "")


def duplicated_ids(nb):
    """Grade ids carried by more than one nbgrader cell (copy and paste copies a cell's metadata)."""
    seen = {}
    for index, cell in enumerate(nb.cells, start=1):
        meta = nbgrader_metadata(cell)
        if isinstance(meta, dict) and is_nbgrader_cell(meta):
            seen.setdefault(meta.get("grade_id"), []).append(index)
    return {grade_id: cells for grade_id, cells in seen.items() if len(cells) > 1}


def metadata_problems(nb, known):
    """Everything in a submitted notebook's nbgrader metadata that nbgrader cannot grade by, as sentences."""
    problems = [f"{label(index, cell)}: {problem}" for index, cell in enumerate(nb.cells, start=1)
                if (problem := cell_problem(cell, known))]
    if problems:
        return problems
    return [f"grade id {shown(grade_id)} is on cells {', '.join(map(str, cells))} (a copied cell?): keep one and "
            "delete the others, or their nbgrader metadata" for grade_id, cells in duplicated_ids(nb).items()]


class CheckSubmittedMetadata(NbGraderPreprocessor):
    """Refuse a submitted notebook whose nbgrader metadata nbgrader could not grade it by.

    Placed first in ``Autograde.sanitize_preprocessors``, before ``DeduplicateIds`` turns a copied
    cell into metadata of a schema nbgrader does not know. The notebook is compared with the
    gradebook: each nbgrader cell must be valid for nbgrader's metadata schema, have an id the
    release has, the same role (grade, solution, task) as there, and an id of its own."""

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        known = gradebook_cells(info["db_url"], info["notebook"], info["assignment"])
        problems = metadata_problems(nb, known)
        if problems:
            raise UngradableNotebook("broken nbgrader metadata: " + "; ".join(problems))
        return nb, resources


def record_ungradable(db_url, assignment, student, notebooks, failed, reason):
    """The gradebook's record of a submission that could not be graded.

    nbgrader removes the autograded copy of every notebook of the submission it was converting,
    so none of them keeps autograded points, from this run or an earlier one: each grade is 0
    and needs a human. The notebook that failed is flagged and its comments give the reason."""
    with Gradebook(db_url) as gradebook:
        for notebook in notebooks:
            try:
                submitted = gradebook.find_submission_notebook(notebook, assignment, student)
            except MissingEntry:
                continue
            for grade in submitted.grades:
                grade.auto_score = 0.0
                grade.needs_manual_grade = True
            if notebook == failed:
                submitted.flagged = True
                for comment in submitted.comments:
                    comment.auto_comment = f"Not autograded: {reason}"
        gradebook.db.commit()


class SubmissionExporter(NotebookExporter):
    """The exporter of ``nbgrader autograde``: whatever goes wrong with one submitted notebook
    is that student's failure alone, recorded in the gradebook and explained in the log.

    nbgrader reads, sanitizes and grades each notebook through its exporter, so every failure
    of a notebook passes here. Any exception becomes :class:`UngradableNotebook`, which nbgrader
    treats as one student's error: it logs it, skips the student and goes on (and exits with an
    error at the end). Only a broken gradebook database still stops the run, as it should."""

    def from_filename(self, filename, resources=None, **kw):
        try:
            return super().from_filename(filename, resources=resources, **kw)
        except OperationalError:
            raise  # the gradebook itself: nbgrader stops and says how to repair it
        except Exception as error:
            if not resources or "nbgrader" not in resources:
                raise
            refusal = error if isinstance(error, UngradableNotebook) else UngradableNotebook(
                f"nbgrader could not process it ({type(error).__name__}; the traceback is in this log)")
            self.report(resources["nbgrader"], refusal, detail=str(error))
            if refusal is error:
                raise
            raise refusal from error

    def report(self, info, refusal, detail):
        """Record the failure in the gradebook and tell the instructor what to do about it."""
        assignment, student, notebook = info["assignment"], info["student"], info["notebook"]
        converting = [Path(path).stem for path in getattr(self.parent, "notebooks", [])] or [notebook]
        record_ungradable(info["db_url"], assignment, student, converting, notebook, str(refusal))
        self.log.error(
            "%s.ipynb of student %r was not graded: %s\n%s"
            "The gradebook records the submission with 0 autograded points, flagged. Repair %s, then run: "
            "nbgrader autograde %s --student %s --force",
            notebook, student, refusal, "" if str(refusal) == detail else f"({detail[:500]})\n",
            self.submitted_path(assignment, student, notebook), shlex.quote(assignment), shlex.quote(student))

    def submitted_path(self, assignment, student, notebook):
        """Where the instructor finds the student's notebook to repair it."""
        coursedir = getattr(self.parent, "coursedir", None)
        if coursedir is None:
            return f"{notebook}.ipynb"
        folder = coursedir.format_path(coursedir.submitted_directory, student, assignment)
        return str(Path(folder) / f"{notebook}.ipynb")
