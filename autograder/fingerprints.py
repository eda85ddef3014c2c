"""What a submission's grade depends on, as hashes: the grading code, the manifest with the
course files and the held-out set, and the submission's own files (see ``batch`` for how a
rerun uses them).

One rule says which files of the project are grading code (:func:`code_files`): the Gradescope
wheel ships exactly those, and the fingerprint hashes those of them that can change a grade
(:func:`grading_files`), so the two never disagree about what grades."""
import dataclasses
import hashlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SUFFIXES = {".py", ".ini", ".toml"}
# Parts of the package that are answers or only check the graders: never shipped with them.
ANSWERS = ("selftest/alternatives/", "selftest/mutants.toml", "selftest/bank.py", "selftest/dialect_variants.py")
# Modules that are shipped but do not change how a submission is graded: editing them does not
# invalidate earlier results.
NOT_GRADING = {
    "cli.py", "batch.py", "progress.py", "fingerprints.py", "export.py", "report.py", "gradescope.py",
    "gradescope_build.py", "release.py", "nbgrader_plugin.py", "__main__.py", "grading_processes.py",
    "submissions.py", "lab.py", "nbgrader_pages.py", "profiles.py", "course_demo.py",
}


def code_files():
    """``(name, path)`` of the grading code: the ``autograder`` package less :data:`ANSWERS`, and
    ``reference_impl``, the graders' oracle; names are ``package/relative/path``. The oracle is found,
    not imported: its SciPy imports would cost a command that only hashes it half a second."""
    oracle = Path(importlib.util.find_spec("reference_impl").origin).resolve().parent
    files = []
    for label, root in [("autograder", PACKAGE), ("reference_impl", oracle)]:
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root).as_posix()
            if (path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in relative
                    and not (label == "autograder" and relative.startswith(ANSWERS))):
                files.append((f"{label}/{relative}", path))
    return files


def grading_files():
    """The files of :func:`code_files` that can change a grade."""
    return [(name, path) for name, path in code_files()
            if not (name.startswith("autograder/") and name.removeprefix("autograder/") in NOT_GRADING)]


@lru_cache(maxsize=1)
def code_version():
    """A hash of the code that grades (:func:`grading_files`)."""
    digest = hashlib.sha256()
    for name, path in grading_files():
        digest.update(f"{name}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _canonical(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def manifest_digest(assignment):
    """A hash of everything the manifest says (items, tests, points, visibility, limits) and of
    the course files' and the held-out set's contents; not of where they are."""
    from . import heldout

    data = dataclasses.asdict(dataclasses.replace(assignment, course_dir=None, private_dir=None))
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=_canonical).encode())
    for path in assignment.course_files:
        digest.update(f"{Path(path).name}\0".encode())
        digest.update(Path(path).read_bytes())
    if assignment.uses_heldout:
        digest.update(f"{heldout.FILE_NAME}\0{heldout.digest(assignment)}".encode())
    return digest.hexdigest()


def fingerprint(files, assignment_digest, version=None):
    """The fingerprint of one submission: ``files`` maps a manifest notebook name to its file."""
    digest = hashlib.sha256(f"{version or code_version()}\0{assignment_digest}\0".encode())
    for notebook, path in sorted(files.items()):
        digest.update(f"{notebook}\0{Path(path).name}\0".encode())
        digest.update(Path(path).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()
