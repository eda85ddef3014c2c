"""``autograder release ASSIGNMENT``: validate the instructor notebooks, generate the student
version with nbgrader, then check that the release leaks nothing and grades to zero."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader.utils import is_grade, is_solution

from . import heldout, manifest, profiles
from .nbgrader_plugin import GradingConfigurationError, items_of
from .runner import grade_submission

ROOT = manifest.ASSIGNMENTS.parent
# Text that must never reach students: solution markers, hidden tests, the private packages.
FORBIDDEN = [
    re.compile(p) for p in (
        r"BEGIN SOLUTION", r"END SOLUTION", r"BEGIN HIDDEN TESTS", r"reference_impl", r"autograder\.graders",
        r"autograder/graders", r"mutants\.toml",
    )
]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    checks: list = field(default_factory=list)

    def add(self, name, ok, detail=""):
        self.checks.append(Check(name, bool(ok), detail))
        return ok

    @property
    def ok(self):
        return all(c.ok for c in self.checks)

    def show(self, out=sys.stdout):
        for check in self.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}" + (f": {check.detail}" if check.detail else ""),
                  file=out)


def read_notebook(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def manual_cells(nb):
    return {
        cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
        for cell in nb.cells
        if is_grade(cell) and is_solution(cell)  # a hand-graded answer
    }


def check_sources(assignment, source, report):
    """Grade cells and manifest agree: one grade cell per item, in its notebook, with its points;
    the hand-graded cells are the manifest's [manual] table."""
    seen, manual = {}, {}
    for name in assignment.notebooks:
        path = source / name
        if not report.add(f"{name} exists", path.is_file(), str(path)):
            continue
        nb = read_notebook(path)
        try:
            for grade_id, item in items_of(nb, assignment, name).items():
                report.add(f"{grade_id} is in {assignment.notebook_of(item)}", assignment.notebook_of(item) == name,
                           f"found in {name}")
                if grade_id in seen:
                    report.add(f"{grade_id} appears once", False, f"also in {seen[grade_id]}")
                seen[grade_id] = name
        except GradingConfigurationError as error:
            report.add(f"grade cells of {name} match the manifest", False, str(error))
        manual.update(manual_cells(nb))
    missing = [item.grade_id for item in assignment.items.values() if item.grade_id not in seen]
    report.add("every manifest item has a grade cell", not missing, ", ".join(missing))
    report.add("hand-graded cells match the manifest's [manual] table", manual == {k: float(v) for k, v in
                                                                                   assignment.manual.items()},
               f"notebooks {sorted(manual.items())} vs manifest {sorted(assignment.manual.items())}" if manual != {
                   k: float(v) for k, v in assignment.manual.items()} else "")


def grade_folder(assignment, folder):
    files = {name: folder / name for name in assignment.notebooks if (folder / name).is_file()}
    return grade_submission(assignment, files)


def check_heldout_private(assignment, source, released, report):
    """The held-out set stays the instructor's: it is outside the folders nbgrader copies and
    the release, and no released file holds its bytes (a copy under another name)."""
    if not assignment.uses_heldout:
        return
    path = heldout.path_of(assignment).resolve()
    for folder in {Path(source).resolve(), Path(released).resolve(), (ROOT / "release").resolve()}:
        report.add(f"the held-out set is outside {folder.name}/", not path.is_relative_to(folder),
                   f"{path} would be released: keep it in {manifest.PRIVATE.name}/{assignment.name}/")
    if path.is_file():
        secret = path.read_bytes()
        copies = [p for p in sorted(Path(released).rglob("*")) if p.is_file() and p.read_bytes() == secret]
        report.add("no released file is a copy of the held-out set", not copies,
                   ", ".join(str(p.relative_to(released)) for p in copies))


def run_nbgrader(assignment_name, course_root):
    """nbgrader generate_assignment with this project's nbgrader_config.py, into ``course_root``."""
    nbgrader = Path(sys.executable).with_name("nbgrader")
    command = [str(nbgrader), "generate_assignment", assignment_name, "--force", "--log-level=WARN",
               f"--CourseDirectory.root={course_root}"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env=nbgrader_environment())


def nbgrader_environment():
    """nbgrader runs helper commands (alembic) by name: the environment's bin folder goes first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def generate(assignment_name, course_root):
    """The release of ``assignment_name`` generated in a scratch course folder; returns its path."""
    source = ROOT / "source_notebooks" / assignment_name
    shutil.copytree(source, Path(course_root) / "source_notebooks" / assignment_name,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    course_config = profiles.nbgrader_config(assignment_name)  # a translated course's stubs
    if course_config:
        (Path(course_root) / "nbgrader_config.py").write_text(course_config)
    result = run_nbgrader(assignment_name, course_root)
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed:\n{result.stdout}\n{result.stderr}")
    return Path(course_root) / "release" / assignment_name


def unparsable_cells(nb):
    """The code cells (by key) that IPython could not run for a syntax error: a stub nbgrader wrote
    wrongly would still grade 0, so the grading alone does not see it."""
    from IPython.core.inputtransformer2 import TransformerManager

    transform, broken = TransformerManager().transform_cell, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        try:
            compile(transform(cell.source), f"cell {index}", "exec")
        except SyntaxError as error:
            key = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.get("id") or index
            broken.append(f"{key} (line {error.lineno}: {error.msg})")
    return broken


def check_release(assignment, released, report):
    for path in sorted(released.rglob("*")):
        if path.is_file() and path.suffix in {".ipynb", ".py", ".md", ".txt"}:
            text = path.read_text(errors="replace")
            hits = [p.pattern for p in FORBIDDEN if p.search(text)]
            report.add(f"release/{path.relative_to(released)} leaks nothing", not hits, ", ".join(hits))
    for path in sorted(released.glob("*.ipynb")):
        broken = unparsable_cells(read_notebook(path))
        report.add(f"release/{path.name}: every code cell is Python", not broken, ", ".join(broken))
    results = grade_folder(assignment, released)
    report.add("the released stubs score 0 on every item", all(v.score == 0 for v in results.items.values()),
               ", ".join(f"{k} {v.score:g}" for k, v in results.items.items() if v.score))
    report.add("grading the stubs raises no grader error", not results.grader_errors, ", ".join(results.grader_errors))


def release(assignment_name, quick=False, out=sys.stdout):
    """Validate, generate into release/, validate the result. Returns the :class:`Report`."""
    assignment = manifest.load(assignment_name)
    source = ROOT / "source_notebooks" / assignment.name
    report = Report()
    heldout.ensure(assignment, say=lambda text: print(text, file=out))
    check_sources(assignment, source, report)
    graded = assignment.main_only() if quick else assignment
    results = grade_folder(graded, source)
    report.add("the instructor's solutions get full marks" + (" (main notebook)" if quick else ""),
               results.score == results.max_score,
               f"{results.score:g} / {results.max_score:g}"
               + "".join(f"; {t.name}" for t in results.tests if not t.passed)[:2000])
    if not report.ok:
        report.show(out)
        return report
    with tempfile.TemporaryDirectory(prefix="release-") as scratch:
        generated = generate(assignment.name, scratch)
        check_heldout_private(assignment, source, generated, report)
        check_release(graded, generated, report)
        if report.ok:
            target = ROOT / "release" / assignment.name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(generated, target)
            report.add(f"written to {target.relative_to(ROOT)}", True)
    report.show(out)
    return report


def comparable(nb):
    """What must match between the committed release and a fresh one: cells' type, source and nbgrader metadata."""
    return [(c.cell_type, c.source, json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True)) for c in nb.cells]
