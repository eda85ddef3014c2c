"""``autograder demo``: a whole course run on this machine, as an instructor would.

Releases the assignment into a course folder, hands in notebooks for four students (a
complete solution, the untouched release, and two with typical mistakes), grades them with
``nbgrader autograde`` (which runs our sandboxed grading step), writes each student's HTML
feedback with ``nbgrader generate_feedback`` (hand-graded answers say "not graded yet"), writes
the class report beside the gradebook, prints the gradebook per student and item, and the
command that opens the course in JupyterLab for hand grading.
"""
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.utils import is_solution

from . import heldout, manifest
from .release import ROOT, generate, nbgrader_environment
from .report import write_report

# Each student's changes to the instructor's solution cells: (old text, new text).
STUDENTS = {
    "alice": [],  # complete
    "bob": [  # = instead of +=, no max shift in SoftMax/LogSoftMax, p as the keep probability
        ("self.gradW += gradOutput.T @ input", "self.gradW = gradOutput.T @ input"),
        ("shifted = x - x.max(axis=1, keepdims=True)", "shifted = x"),
        ("keep = np.random.random_sample(input.shape) >= self.p",
         "keep = np.random.random_sample(input.shape) < self.p"),
    ],
    "dave": [  # unbiased batch variance, convolution instead of cross-correlation
        ("var = input.var(axis=0)", "var = input.var(axis=0, ddof=1)"),
        ("flipped = self.W[:, :, ::-1, ::-1]", "flipped = self.W"),
    ],
    "carol": None,  # hands in the release untouched
}


def filled_notebook(release_path, source_path, out_path, replace=()):
    """A student's submission: the released notebook with every solution cell answered by the
    instructor's solution (markers removed), then ``replace``'s (old, new) edits applied."""
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells if is_solution(c)}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if is_solution(cell) and meta.get("grade_id") in answers:
            lines = answers[meta["grade_id"]].splitlines()
            cell.source = "\n".join(line for line in lines
                                    if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
            for old, new in replace:
                cell.source = cell.source.replace(old, new)
    nbformat.write(release, out_path)
    return out_path


def nbgrader(*args, course):
    result = subprocess.run(["nbgrader", *args, f"--CourseDirectory.root={course}"], cwd=ROOT, capture_output=True,
                            text=True, env=nbgrader_environment())
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {args[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def gradebook_table(course, assignment):
    """Rows of (student, {grade_id: score}, total) from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        for student in sorted(STUDENTS):
            scores = {}
            for name in assignment.notebooks:
                notebook = gradebook.find_submission_notebook(Path(name).stem, assignment.name, student)
                for grade in notebook.grades:
                    if grade.cell.name.startswith("grade_"):
                        scores[grade.cell.name] = grade.auto_score or 0.0
            rows.append((student, scores, sum(scores.values())))
    return rows


def run(out, say=print):
    assignment = manifest.load("modules")
    course = Path(out).resolve() / "course"
    if course.exists():
        import shutil

        shutil.rmtree(course)
    say(f"Releasing {assignment.name} into {course} ...")
    released = generate(assignment.name, course)
    source = ROOT / "source_notebooks" / assignment.name
    for student, edits in STUDENTS.items():
        folder = course / "submitted" / student / assignment.name
        folder.mkdir(parents=True)
        for name in assignment.notebooks:
            if edits is None:
                (folder / name).write_bytes((released / name).read_bytes())
            else:
                filled_notebook(released / name, source / name, folder / name, edits)
    heldout.ensure(assignment, say=say)  # the final model's private test digits, made once
    say("Grading with nbgrader autograde (student code runs only in the sandbox) ...")
    nbgrader("autograde", assignment.name, "--force", course=course)
    nbgrader("generate_feedback", assignment.name, "--force", course=course)
    rows = gradebook_table(course, assignment)
    items = [item for item in assignment.items.values()]
    header = ["student"] + [item.name for item in items] + ["total"]
    table = [header] + [[student] + [f"{scores.get(item.grade_id, 0):g}/{item.max_score:g}" for item in items]
                        + [f"{total:g}/{assignment.max_score:g}"] for student, scores, total in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    say("")
    for row in table:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    report = write_report(assignment, course)
    say(f"\nFeedback for each student (HTML): {course / 'feedback'}/<student>/{assignment.name}/*.html")
    say(f"Class report (autograded and hand-graded scores, from the gradebook): {report}")
    say(f"Hand-grade the derivations and conclusions in JupyterLab: {lab_command(course)}\n"
        "then Nbgrader > Formgrader > Manual Grading; afterwards Manage Assignments > Generate Feedback, and "
        f"{report_command(course)} for the class report.")
    return rows


def shown(path):
    """``path`` as the instructor would type it: relative to the current folder when inside it."""
    path = Path(path)
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def command_name():
    """This environment's ``autograder`` command, as typed from the current folder."""
    command = Path(sys.executable).with_name("autograder")
    return shown(command) if command.exists() else "autograder"


def lab_command(course):
    return f"{command_name()} lab {shown(course)}"


def report_command(course):
    return f"{command_name()} report modules --results {shown(course)}"
