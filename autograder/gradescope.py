"""What runs inside Gradescope's container, for every submission: ``run_autograder`` (made by
:mod:`autograder.gradescope_build`) calls ``python -m autograder.gradescope run``, which finds
the submission in ``/autograder/submission/``, grades a private copy of it with our sandboxed
graders and writes ``/autograder/results/results.json`` (Gradescope's format, hidden tests
kept hidden). The environment variable ``AUTOGRADER_ROOT`` (default ``/autograder``) moves the
whole layout, so a test can run it in a temporary folder.
"""
import argparse
import json
import os
import re
import stat
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import i18n, manifest
from .i18n import _
from .manifest import ALL_OR_NOTHING
from .markdown import block, sanitize
from .results import all_or_nothing_rule
from .submissions import SUFFIXES

# -- inside Gradescope's container ---------------------------------------------------------------

def load_assignment(root):
    """The manifest shipped in ``root/source/assignment/``, with the course files beside it and
    the private held-out set in ``private/`` (made readable by this user only, whatever the
    unpacking did to its mode)."""
    import dataclasses

    folder = Path(root) / "source" / "assignment"
    manifests = sorted(folder.glob("*.toml"))
    if len(manifests) != 1:
        raise manifest.ManifestError(f"expected one manifest in {folder}, found {len(manifests)}")
    private = folder / "private"
    if private.is_dir():
        private.chmod(0o700)
        for file in private.iterdir():
            file.chmod(0o600)
    return dataclasses.replace(manifest.load(manifests[0]), course_dir=folder / "course", private_dir=private)


# The submission is read without following symbolic links and graded from a private copy of
# its bytes: what is graded is the student's own upload, whatever it links to.
MB = 1024 * 1024
MAX_FILE_MB = 32  # a notebook larger than this is refused before anything reads it
MAX_COPY_MB = 64  # everything copied for grading, together
MAX_ENTRIES = 10_000  # files and folders looked at in the submission
MAX_DEPTH = 16  # folders within folders
MAX_BESIDE = 32  # other notebooks and .py files copied from beside the graded ones, for `%run`
SKIPPED_FOLDERS = {"__MACOSX"}  # besides every name that starts with a dot
PLAIN_NAME = re.compile(r"\w[\w.\- ]*")  # a name a `%run` line can give


class SubmissionRefused(Exception):
    """The upload cannot be graded as it is; the message tells the student what to change."""


@dataclass(frozen=True)
class Found:
    """A regular file of the submission as the scan saw it: where it is, its size and its inode,
    so that the bytes copied for grading are those of the file that was chosen."""
    relative: PurePosixPath
    size: int
    identity: tuple


def shown(relative):
    """A path of the submission as it may appear in what students and instructors read: letters,
    digits, ``. _ - /`` and spaces only (newlines, HTML, bytes that are not UTF-8 become ``?``),
    shortened, as Markdown code."""
    text = re.sub(r"[^\w.\-/ ]", "?", str(relative))
    return f"`{text if len(text) <= 80 else text[:77] + '...'}`"


def listed(paths, limit=5):
    names = ", ".join(shown(p) for p in paths[:limit])
    return names + (_(" and {count} more", count=len(paths) - limit) if len(paths) > limit else "")


def scan(folder):
    """The submission's regular files, shallowest first, found without following any symbolic
    link. A link (outside hidden folders) refuses the submission: it could stand for another
    student's files or the instructor's, and what is graded must be the student's own bytes.
    Hidden files and folders and macOS's ``__MACOSX`` are skipped; the walk is capped in
    entries and depth, so any upload costs a bounded time."""
    folder = Path(folder)
    files, links, looked_at = [], [], 0
    pending = [PurePosixPath()]
    while pending:
        relative = pending.pop()
        if len(relative.parts) > MAX_DEPTH:
            raise SubmissionRefused(_("Your submission has folders nested more than {depth} deep. "
                                      "Upload the notebook itself.", depth=MAX_DEPTH))
        try:
            with os.scandir(folder / relative) as entries:
                for entry in entries:
                    looked_at += 1
                    if looked_at > MAX_ENTRIES:
                        raise SubmissionRefused(_("Your submission has more than {count} files and folders. "
                                                  "Upload the notebook itself.", count=MAX_ENTRIES))
                    if entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS:
                        continue
                    path = relative / entry.name
                    info = entry.stat(follow_symlinks=False)
                    if stat.S_ISLNK(info.st_mode):
                        links.append(path)
                    elif stat.S_ISDIR(info.st_mode):
                        pending.append(path)
                    elif stat.S_ISREG(info.st_mode):
                        files.append(Found(path, info.st_size, (info.st_dev, info.st_ino)))
        except OSError:
            raise SubmissionRefused(_("The folder {folder} could not be read. Upload it again.",
                                      folder=shown(relative) if relative.parts else _("you uploaded"))) from None
    if links:
        raise SubmissionRefused(_("Your submission contains symbolic links, which are never graded: {links}. "
                                  "Upload the files themselves.", links=listed(links)))
    return sorted(files, key=lambda f: (len(f.relative.parts), str(f.relative)))


def main_candidate(gradable, assignment):
    """The file that stands for the main notebook: the shallowest file with its name, else the only
    notebook (or, with no notebook, the only ``.py`` file, or the one named like the notebook) that
    is not one of the assignment's other notebooks. Several equally likely candidates refuse the
    submission rather than grade one of them by chance."""
    named = [f for f in gradable if f.relative.name == assignment.main_notebook]
    if named:
        pool = [f for f in named if len(f.relative.parts) == len(named[0].relative.parts)]
    else:
        stem = PurePosixPath(assignment.main_notebook).stem
        pool = [f for f in gradable if f.relative.name not in assignment.notebooks]
        pool = ([f for f in pool if f.relative.suffix == ".ipynb"]
                or [f for f in pool if f.relative.name == f"{stem}.py"] or pool)
    if len(pool) > 1:
        raise SubmissionRefused(_("Your submission has several notebooks that could be the one to grade: "
                                  "{notebooks}. Upload only one, named {name}.",
                                  notebooks=listed([f.relative for f in pool]), name=assignment.main_notebook))
    return pool[0] if pool else None


def choose(files, assignment):
    """``({manifest notebook name: Found}, folder)``: the main notebook (see :func:`main_candidate`)
    and the assignment's other notebooks found by name beside it (or, without a main notebook, the
    shallowest of them), and the folder they are in."""
    gradable = [f for f in files if f.relative.suffix in SUFFIXES]
    main = main_candidate(gradable, assignment)
    if main is None:
        others = [f for f in gradable if f.relative.name in assignment.notebooks]
        if not others:
            names = _(" or ").join(assignment.notebooks) or _("a notebook")
            raise SubmissionRefused(_("No notebook was found in your submission: upload {names} "
                                      "(the .ipynb file, not a PDF or a screenshot).", names=names))
        place = others[0].relative.parent
    else:
        place = main.relative.parent
    chosen = {} if main is None else {assignment.main_notebook: main}
    for name in assignment.notebooks:
        match = [f for f in gradable if f.relative == place / name]
        if name != assignment.main_notebook and match:
            chosen[name] = match[0]
    return chosen, place


def find_submission(folder, assignment):
    """The files to grade in Gradescope's submission folder: ``{notebook name: path}``. The main
    notebook by name or the only notebook, at the top or in a subfolder (an uploaded folder).
    Raises :class:`SubmissionRefused` for links, several candidates or no notebook."""
    chosen, _ = choose(scan(folder), assignment)
    return {name: Path(folder) / found.relative for name, found in chosen.items()}


def copy_names(files, chosen, place, assignment):
    """``{Found: name of its copy}``: the main notebook under the manifest's name (its suffix
    kept), the other notebooks under theirs, and, for ``%run`` lines between files, the notebooks
    and ``.py`` files beside them that have plain names, as many as fit the limits."""
    names = {}
    for notebook, found in chosen.items():
        if found.size > MAX_FILE_MB * MB:
            raise SubmissionRefused(_("{file} is {size:.0f} MB, more than the {limit} MB a notebook may have. "
                                      "Clear its outputs (Kernel > Restart & Clear Output), save it and upload it "
                                      "again.", file=shown(found.relative), size=found.size / MB, limit=MAX_FILE_MB))
        stem = PurePosixPath(notebook).stem
        names[found] = stem + found.relative.suffix if notebook == assignment.main_notebook else notebook
    budget = MAX_COPY_MB * MB - sum(f.size for f in names)
    beside = [f for f in files if f.relative.parent == place and f.relative.suffix in SUFFIXES and f not in names
              and PLAIN_NAME.fullmatch(f.relative.name) and f.relative.name not in names.values()]
    for found in beside[:MAX_BESIDE]:
        if found.size <= min(budget, MAX_FILE_MB * MB):
            names[found] = found.relative.name
            budget -= found.size
    return names


def copy_bytes(source, found, target):
    """Copy one file's bytes, refusing anything but the regular file the scan found: not a link
    put in its place since, nor another file, nor one that changed size."""
    changed = SubmissionRefused(_("{file} changed while it was being read. Upload it again.",
                                  file=shown(found.relative)))
    try:
        descriptor = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise changed from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != found.identity:
            raise changed
        data = handle.read(found.size + 1)
    if len(data) != found.size:
        raise changed
    Path(target).write_bytes(data)


def copy_submission(folder, assignment, into):
    """Choose the files to grade (as :func:`find_submission`) and copy their bytes into ``into``,
    a folder of the grader's own: ``{manifest notebook name: its copy}``. Grading reads only the
    copies, so no link, and no file name of the student's, reaches it."""
    folder, into = Path(folder), Path(into)
    files = scan(folder)
    chosen, place = choose(files, assignment)
    names = copy_names(files, chosen, place, assignment)
    for found, name in names.items():
        copy_bytes(folder / found.relative, found, into / name)
    return {notebook: into / names[found] for notebook, found in chosen.items()}


# -- results.json ----------------------------------------------------------------------------------
# Gradescope shows a test to students according to its "visibility"; while any test is not
# visible, it shows no total ("If test cases are hidden, students will not be able to see their
# total score", Autograder Specifications). What else is in results.json (the top-level output,
# score, extra_data, execution_time, a leaderboard) is taken to be visible at any time.

def visibility(assignment, test):
    """Gradescope's visibility of one of our tests (a ``results.TestResult``), from the manifest
    alone: never from how the test went, so which tests are shown, and in which order, is the
    same for every student."""
    return assignment.items[test.item].visibility(test.test)


def gradescope_test(assignment, test):
    """One of our tests as Gradescope shows it: its JSON (``TestResult.to_json``) less our
    ``extra_data``, with its visibility."""
    shown = {key: value for key, value in test.to_json().items() if key != "extra_data"}
    return {**shown, "visibility": visibility(assignment, test)}


# Under the all-or-nothing rule (see ``results.count_points``) a passed test of an item that failed
# another test has 0 points: it keeps its status and output, with a note that says why. An item
# with visible and hidden tests would show, in its visible tests' points, whether a hidden test
# failed: there its visible tests are shown with no points, and one test visible only after
# publication, "<item>: points of the visible tests", carries them (the tests' points still sum
# to the total).

def not_counted_note(item):
    return sanitize(_("_Passed, but its points do not count: {rule}, and a test of {item} failed._",
                      rule=all_or_nothing_rule(), item=item))


def carried_note(item):
    return sanitize(_("_Its points are counted with {item}'s hidden tests once grades are published: {rule}._",
                      item=item, rule=all_or_nothing_rule()))


def carried_later(assignment, result, test):
    """True when a visible test's points are shown only after publication (see above)."""
    item = assignment.items[test.item]
    return result.scoring == ALL_OR_NOTHING and bool(item.hidden) and test.test not in item.hidden


def with_note(entry, note):
    entry["output"] = f"{entry['output']}\n\n{note}" if entry["output"] else note
    return entry


def points_entry(item, tests):
    """The test, visible after publication, that carries the points of ``item``'s visible tests."""
    score, possible = sum(t.score for t in tests), sum(t.max_score for t in tests)
    return {
        "name": _("{item}: points of the visible tests", item=item),
        "score": round(score, 4),
        "max_score": round(possible, 4),
        "status": "passed" if score == possible else "failed",
        "output": sanitize(_("The points of {item}'s visible tests: {rule}, hidden ones included.", item=item,
                             rule=all_or_nothing_rule())),
        "output_format": "md",
        "tags": [item],
        "visibility": "after_published",
    }


def gradescope_tests(assignment, result):
    """Our tests in Gradescope's form, their points counted by the result's scoring rule."""
    tests, carried = [], {}
    for test in result.tests:
        entry = gradescope_test(assignment, test)
        if carried_later(assignment, result, test):
            entry.update(score=0.0, max_score=0.0)
            with_note(entry, carried_note(test.item))
            carried.setdefault(test.item, []).append(test)
        elif test.passed and result.not_counted(test.item):
            with_note(entry, not_counted_note(test.item))
        tests.append(entry)
    return tests + [points_entry(item, carried[item]) for item in assignment.items if item in carried]


def notebook_notes(result):
    """Markdown lines about the notebook itself, not its tests: the cells that failed when run top
    to bottom (before any test), and reduced isolation."""
    from .results import failed_cells_markdown

    failed = failed_cells_markdown(result.cells)
    lines = [""] + failed if failed else []
    if result.isolation == "reduced":
        lines += ["", _("_Graded with reduced isolation._")]
    return lines


def overall_output(result):
    """The Markdown above the tests: the total and the cells that failed when run top to bottom."""
    return sanitize("\n".join([result.output, *notebook_notes(result)]))


def visible_summary(result, visible):
    """The Markdown that sums up the visible tests, and only them, with what concerns the whole
    notebook: the same for two submissions whose visible tests went the same way."""
    score = sum(t["score"] for t in visible)
    possible = sum(t["max_score"] for t in visible)
    passed = sum(t["status"] == "passed" for t in visible)
    lines = [_("{score:g} / {possible:g} points on the visible tests ({passed} of {count} passed).", score=score,
               possible=possible, passed=passed, count=len(visible))
             if visible else _("No test is shown before grades are published.")]
    if result.error:
        lines += ["", _("The submission could not be graded:"), "", block(str(result.error))]
    return sanitize("\n".join(lines + notebook_notes(result)))


def gradescope_results(assignment, result, seconds=None):
    """Our result (a ``results.SubmissionResult``) in Gradescope's form: each test with its
    points, its Markdown feedback as output and its visibility from the manifest (hidden tests
    ``after_published``). With every test visible, the total, its text and the run time are shown
    as well. With hidden tests, see :func:`results_with_hidden_tests`. In the result's language."""
    with i18n.language(result.language):
        return _gradescope_results(assignment, result, seconds)


def _gradescope_results(assignment, result, seconds):
    tests = gradescope_tests(assignment, result)
    if any(t["visibility"] != "visible" for t in tests):
        return results_with_hidden_tests(result, tests)
    return {
        "score": result.score,
        "output": overall_output(result),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        **({} if seconds is None else {"execution_time": round(seconds, 1)}),
        "extra_data": {
            "assignment": result.assignment,
            "dialect": result.dialect,
            "isolation": result.isolation,
            "error": result.error,
            "seconds": result.seconds,
            "diagnoses": [{"item": d.item, "test": d.test, "diagnosis": d.diagnosis} for d in result.diagnoses],
        },
    }


def results_with_hidden_tests(result, tests):
    """Results in which nothing visible before grades are published depends on how the hidden tests
    went. No top-level score: Gradescope sums the tests, and shows no total while tests are hidden.
    The top-level visibility is ``after_published``, each visible test saying ``visible``. The
    top-level output depends only on the manifest; the first test, with no points, sums up the
    visible tests. ``extra_data`` holds only what is known before any test runs; no run time."""
    visible = [t for t in tests if t["visibility"] == "visible"]
    hidden_points = sum(t["max_score"] for t in tests) - sum(t["max_score"] for t in visible)
    summary = {
        "name": _("Summary of the visible tests"),
        "status": "passed" if all(t["status"] == "passed" for t in visible) else "failed",
        "output": visible_summary(result, visible),
        "output_format": "md",
        "visibility": "visible",
    }
    return {
        "output": _("Tests worth {hidden:g} of the {total:g} points are shown, with your total, once grades are "
                    "published. The first test below sums up the visible tests.", hidden=hidden_points,
                    total=result.max_score),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "after_published",
        "stdout_visibility": "hidden",
        "tests": [summary, *tests],
        "extra_data": {"assignment": result.assignment, "dialect": result.dialect, "isolation": result.isolation,
                       "error": result.error},
    }


def refused_results(message):
    """A submission that was not graded, with what the student should change."""
    return {
        "score": 0,
        "output": sanitize(_("This submission was not graded. {message}", message=message)),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def failure_results():
    """The grader itself failed: the student is told to ask; the traceback is in the stdout, which
    only instructors see (it may name the grader's files or depend on hidden tests)."""
    return {
        "score": 0,
        "output": _("The autograder could not grade this submission (a fault of the grader, not of your work). "
                    "Please tell your instructor."),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def plain_text(value):
    """``value`` with every string valid Unicode: text that came from the submission (or from a
    file name that is not UTF-8) may hold lone surrogates, which strict JSON readers refuse."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {plain_text(k): plain_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_text(v) for v in value]
    return value


def run(root="/autograder"):
    """Grade ``root/submission`` and write ``root/results/results.json``. Always writes a results
    file, even when grading itself fails (Gradescope would otherwise show a bare error). The
    submission is graded from a private copy (see :func:`copy_submission`)."""
    from .results import write_atomic
    from .runner import grade_submission

    root = Path(root)
    target = root / "results" / "results.json"
    started = time.monotonic()
    try:
        assignment = load_assignment(root)
        i18n.set_language(assignment.language)  # refusals too are in the course's language
        with tempfile.TemporaryDirectory(prefix="submission-", ignore_cleanup_errors=True) as private:
            files = copy_submission(root / "submission", assignment, private)
            ours = grade_submission(assignment, files)
        results = ours.to_gradescope(assignment, seconds=time.monotonic() - started)
        write_atomic(root / "results" / "feedback.md", ours.to_markdown())
    except SubmissionRefused as refusal:
        results = refused_results(str(refusal))
    except Exception:
        traceback.print_exc()
        results = failure_results()
    write_atomic(target, json.dumps(plain_text(results), indent=2))
    total = results.get("score", sum(t.get("score", 0) for t in results["tests"]))
    print(f"{target}: {total:g} points")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="grade the submission inside Gradescope's container")
    run_parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    args = parser.parse_args(argv)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
