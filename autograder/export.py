"""Grades for a learning-management system: ``autograder export ASSIGNMENT --format csv``.

One row per student, one column per graded item and one for the total, read either from the
results folders ``autograder grade`` writes or from nbgrader's gradebook (which also has the
hand-graded cells; one that nobody has graded yet is left empty, not 0). The CSV is UTF-8 with
a byte-order mark, so that Excel reads accented names right (LibreOffice, Google Sheets and
Python's ``utf-8-sig`` skip it), and has exactly one header row.

Totals follow the manifest's scoring rule. Under ``all_or_nothing`` an item's points, its
hand-graded derivation's included, count only when its code passed every test: the item (and
derivation) columns then hold what counts, and a last column, ``note``, says what did not count
and why.
"""
import csv
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .manifest import ADDITIVE, ALL_OR_NOTHING
from .results import GRADING_METADATA, Diagnosis, SubmissionResult


@dataclass
class Record:
    """One student's grades, and for a results folder what the grading found."""
    student: str
    scores: dict  # column -> points, or None when there is no grade
    total: float | None
    max_score: float
    submission: str = ""
    diagnoses: list = field(default_factory=list)  # results.Diagnosis of the failed tests
    error: str | None = None  # the submission could not be read or run
    failed_cells: int = 0
    restarts: int = 0
    folder: Path | None = None
    pending: list = field(default_factory=list)  # hand-graded columns nobody has graded yet (not 0)
    not_counted: list = field(default_factory=list)  # columns whose points the scoring rule does not count
    notes: list = field(default_factory=list)  # why, one sentence each


@dataclass
class Grades:
    assignment: str
    columns: list  # graded items (and hand-graded cells from a gradebook), in the manifest's order
    max_scores: dict  # column -> points
    records: list
    source: str = ""
    warnings: list = field(default_factory=list)
    scoring: str = ADDITIVE  # the manifest's scoring rule, by which the totals are counted

    @property
    def max_total(self):
        return sum(self.max_scores.values())


def load_results(folder, assignment):
    """The grades in ``folder/<submission>/results.json`` (what ``autograder grade`` wrote). A
    student graded twice under different names keeps the most recent grading."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of graded submissions")
    columns = list(assignment.items)
    by_student, warnings, recounted = {}, [], 0
    for path in sorted(folder.glob("*/results.json")):
        try:
            result = SubmissionResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:  # MalformedResults is a ValueError
            warnings.append(f"{path}: unreadable ({error}); left out")
            continue
        if result.assignment != assignment.name:
            continue
        if result.scoring != assignment.scoring:
            recounted += 1
            result = result.rescored(assignment.scoring)
        stamp = result.stamp
        submission = (stamp.submission if stamp else "") or path.parent.name
        student = str((stamp.student if stamp else None) or submission)
        record = Record(
            student=student,
            scores={c: float(result.items[c].score) if c in result.items else None for c in columns},
            total=float(result.score),
            max_score=float(result.max_score),
            submission=submission,
            diagnoses=list(result.diagnoses),
            error=result.error,
            failed_cells=len(result.failed_cells),
            restarts=result.worker_restarts,
            folder=path.parent,
            not_counted=[item for item in result.items if result.withheld(item)],
            notes=[f"{item}: {result.withheld(item):g} points of passed tests not counted, "
                   f"{sum(not t.passed for t in result.tests_of(item))} test(s) failed"
                   for item in result.items if result.withheld(item)],
        )
        previous = by_student.get(student)
        if previous is not None:
            warnings.append(f"{student} has several graded submissions ({previous.submission}, {record.submission}); "
                            "the most recent is kept")
            if (previous.folder / "results.json").stat().st_mtime > path.stat().st_mtime:
                continue
        by_student[student] = record
    # The items the results know (all of the manifest's, unless they were graded with a part of it).
    present = {c for r in by_student.values() for c, v in r.scores.items() if v is not None}
    columns = [c for c in columns if c in present] or columns
    for record in by_student.values():
        record.scores = {c: record.scores[c] for c in columns}
    max_scores = {name: assignment.items[name].max_score for name in columns}
    if recounted:
        warnings.append(f"{recounted} result(s) were graded under another scoring rule; their points are counted "
                        f"by the manifest's rule, {assignment.scoring}")
    return Grades(assignment.name, columns, max_scores, sorted(by_student.values(), key=lambda r: r.student),
                  str(folder), warnings, assignment.scoring)


def load_gradebook(path, assignment, nbgrader_assignment=None):
    """The grades in nbgrader's ``gradebook.db``: per student, each autograded item (by its
    grade cell's ``grade_id`` in the manifest) and each hand-graded cell, with nbgrader's score
    (the manual score when one was given, else the automatic one). A hand-graded answer that
    nobody has graded yet has no score (it is listed in the record's ``pending``), never 0. A
    student in the gradebook with no submission gets a row with empty cells. Beside the
    gradebook, the autograded notebooks give what the grading found (diagnoses, failed cells)."""
    from nbgrader.api import Gradebook, MissingEntry

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no gradebook at {path}")
    name = nbgrader_assignment or assignment.name
    item_of = {item.grade_id: item.name for item in assignment.items.values() if item.grade_id}
    with Gradebook(f"sqlite:///{path.resolve()}") as gradebook:
        try:
            entry = gradebook.find_assignment(name)
        except MissingEntry:
            raise KeyError(f"the gradebook {path} has no assignment {name!r}") from None
        cells = {}  # grade cell name -> max score
        for notebook in entry.notebooks:
            for cell in notebook.grade_cells:
                cells[cell.name] = float(cell.max_score)
        order = {name: i for i, name in enumerate(list(assignment.items) + list(assignment.manual))}
        column_of = {cell: item_of.get(cell, cell) for cell in cells}
        columns = sorted(set(column_of.values()), key=lambda c: (order.get(c, len(order)), c))
        max_scores = {c: 0.0 for c in columns}
        for cell, points in cells.items():
            max_scores[column_of[cell]] += points
        records = []
        for student in gradebook.students:
            try:
                submission = gradebook.find_submission(name, student.id)
            except MissingEntry:
                records.append(Record(student.id, {c: None for c in columns}, None, sum(max_scores.values())))
                continue
            records.append(submission_record(submission, column_of, columns, sum(max_scores.values()), name))
    warnings = []
    if assignment.all_or_nothing:
        for record in records:
            if record.total is not None:
                count_whole_items(record, assignment, max_scores)
        warnings = derivations_without_code(assignment, columns)
    autograded = path.parent / "autograded"
    for record in records:
        if record.total is not None:
            add_grading_findings(record, autograded / record.student / name)
    return Grades(assignment.name, columns, max_scores, sorted(records, key=lambda r: r.student), str(path),
                  pending_warnings(records) + warnings, assignment.scoring)


def count_whole_items(record, assignment, max_scores):
    """The all-or-nothing rule on one student's gradebook row: an item whose code did not get its
    full points (a test failed) counts 0, and so does its derivation, graded or not yet (its
    hand score can no longer change the total, so it is not waiting for anyone). A derivation
    counts only when its item's code is in the gradebook with full points."""
    passed = {}
    for item in assignment.items:
        score = record.scores.get(item)
        if item not in record.scores or score is None:
            continue
        passed[item] = score >= max_scores[item]
        if not passed[item]:
            record.scores[item] = 0.0
            if score > 0:
                record.not_counted.append(item)
                record.notes.append(f"{item}: {score:g} of {max_scores[item]:g} points not counted, a test failed")
    for grade_id, item in assignment.derivations.items():
        if grade_id not in record.scores or passed.get(item):
            continue
        score = record.scores[grade_id]
        record.scores[grade_id] = 0.0
        record.not_counted.append(grade_id)
        if grade_id in record.pending:
            record.pending.remove(grade_id)
        graded = "not graded yet" if score is None else f"{score:g} by hand"
        why = "did not pass every test" if item in passed else "has no score in the gradebook"
        record.notes.append(f"{grade_id} ({graded}) not counted: {item}'s code {why}")
    record.total = sum(v for v in record.scores.values() if v is not None)


def derivations_without_code(assignment, columns):
    """A warning per derivation in the gradebook whose item's code is not: it never counts."""
    return [f"{grade_id} is in the gradebook but {item}'s code is not: under the {ALL_OR_NOTHING} rule it never "
            "counts" for grade_id, item in assignment.derivations.items()
            if grade_id in columns and item not in columns]


def not_graded_yet(grade):
    """A hand-graded answer with no score yet: nbgrader counts it as 0, the instructor has not
    judged it."""
    return grade.manual_score is None and grade.auto_score is None


def submission_record(submission, column_of, columns, max_total, name):
    """One student's row from their submission in the gradebook."""
    scores, pending = {c: None for c in columns}, []
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            if grade.name not in column_of:
                continue
            column = column_of[grade.name]
            if not_graded_yet(grade):
                pending.append(column)
            elif grade.score is not None:
                scores[column] = (scores[column] or 0.0) + float(grade.score)
    total = sum(v for v in scores.values() if v is not None)
    pending = [c for c in columns if c in pending and scores[c] is None]
    return Record(submission.student.id, scores, total, max_total, submission=name, pending=pending)


def add_grading_findings(record, folder):
    """The diagnoses and failed cells that our grading step left in the autograded notebooks'
    grade cells (``nbgrader_plugin.grading_summary``), for the class report."""
    import nbformat

    failed = set()
    for notebook_path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            notebook = nbformat.read(notebook_path, as_version=4)
        except Exception:  # noqa: BLE001 - a notebook nbgrader could not write is simply not read
            continue
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                summary = output.get("metadata", {}).get(GRADING_METADATA)
                if not isinstance(summary, dict):
                    continue
                record.diagnoses += [Diagnosis(str(d.get("item")), str(d.get("test")), d["diagnosis"])
                                     for d in summary.get("diagnoses", [])
                                     if isinstance(d, dict) and isinstance(d.get("diagnosis"), str)]
                failed.update(str(c) for c in summary.get("failed_cells", []))
                withheld = summary.get("withheld")
                if isinstance(withheld, (int, float)) and withheld > 0 and summary.get("item") in record.scores:
                    record.not_counted.append(summary["item"])
                    record.notes.append(f"{summary['item']}: {withheld:g} points of passed tests not counted, "
                                        "a test failed")
                record.restarts = max(record.restarts, int(summary.get("worker_restarts") or 0))
                record.error = record.error or summary.get("error")
    record.failed_cells = len(failed)


def pending_warnings(records):
    """One line about answers not graded yet, if any: totals are partial until they are."""
    waiting = [r for r in records if r.pending]
    if not waiting:
        return []
    answers = sum(len(r.pending) for r in waiting)
    return [f"{answers} hand-graded answer{'s' if answers != 1 else ''} of {len(waiting)} "
            f"student{'s' if len(waiting) != 1 else ''} not graded yet (left empty, not 0; the totals count "
            "only what has been graded)"]


def _number(value):
    if value is None:
        return ""
    return f"{round(float(value), 4):g}"


def _text(value):
    """A cell a spreadsheet shows as text: one starting like a formula is quoted (CSV injection)."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def to_csv(grades):
    """The CSV text: a header row ``student, <items...>, total``, then one row per student. Under
    the all-or-nothing rule a last column, ``note``, says which points did not count and why."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    noted = grades.scoring == ALL_OR_NOTHING
    writer.writerow(["student", *grades.columns, "total", *(["note"] if noted else [])])
    for record in grades.records:
        note = [_text("; ".join(record.notes))] if noted else []
        writer.writerow([_text(record.student), *[_number(record.scores.get(c)) for c in grades.columns],
                         _number(record.total), *note])
    return buffer.getvalue()


def write_csv(grades, out, bom=True):
    text = to_csv(grades)
    if str(out) == "-":
        sys.stdout.write(text)
        return out
    from .results import write_atomic

    out = Path(out)
    write_atomic(out, ("\ufeff" if bom else "") + text)
    readable(out)
    return out


def readable(path):
    """Make a file written by ``write_atomic`` (private, as ``mkstemp`` makes it) readable as a
    file normally is, by the umask's rule: a CSV or a report is there to be shared."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o666 & ~mask)


def gradebook_in(folder):
    """The gradebook of a course folder given where a results folder is expected, or None."""
    path = Path(folder) / "gradebook.db"
    return path if path.is_file() else None


def load_grades(assignment, results=None, gradebook=None, nbgrader_assignment=None):
    """The grades from nbgrader's gradebook (``gradebook``, or a course folder given as
    ``results``), else from the results folders of ``autograder grade``."""
    gradebook = gradebook or gradebook_in(results or "graded")
    if gradebook:
        return load_gradebook(gradebook, assignment, nbgrader_assignment)
    return load_results(results or "graded", assignment)
