"""Find the submissions behind the paths an instructor gives, and read their files safely.

**Identity.** Each submission has an identity: the student's id (their folder's name in
nbgrader's ``submitted/<student>/<assignment>/`` tree) or, for a notebook given alone or found in
a flat folder of notebooks, the file's name without its suffix. Its output folder's name is a
function of that identity alone (:func:`folder_name`): the identity itself when it is a safe
file name, else its safe form plus a hash of the identity. So the same student always gets the
same folder, whatever else is graded and in whatever order; two submissions that would still
share a folder (the same identity twice) are refused by the batch, never renamed.

**Links.** Below a path the instructor gave, no component may be a symbolic link: not the
student's folder, not the assignment folder, not a notebook. A submission with one is found,
refused and reported (``problem``), never graded as the work the link points to. Files are
read by :func:`read_files`, which opens each component relative to the one above it without
following links, so a link made after discovery is refused as well.

**Own files.** A submission's files (:meth:`SubmissionFile.files`) are its main notebook and,
in a student's folder, the assignment's other notebooks beside it; in a flat folder each file
is a submission of its own and has no others.
"""
import errno
import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .i18n import _

SUFFIXES = {".ipynb", ".py"}
MAX_FILE_BYTES = 64 << 20  # a notebook with its outputs; more is refused, not read
MAX_NAME = 64  # characters of an identity kept in a folder name


@dataclass(frozen=True)
class SubmissionFile:
    name: str  # the submission's folder in the output: folder_name(student)
    path: Path  # the file graded as the main notebook (or, when refused, the place that was refused)
    student: str | None = None  # the submission's identity: the student's id, or the file's stem
    others: tuple = ()  # (manifest notebook name, path) of the assignment's other notebooks found beside it
    root: Path | None = None  # the path the instructor gave: below it, no component may be a link
    problem: str | None = None  # why the submission is refused; None: it is graded

    def files(self, assignment):
        """The submission's own files: manifest notebook name -> path."""
        return {assignment.main_notebook: self.path, **dict(self.others)}


class RefusedFile(Exception):
    """A submission's file that is not graded; the message says why, for the student and the instructor."""


def safe_name(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"


def folder_name(identity):
    """The output folder of the submission with this identity: the identity when it is already a
    safe, short file name, else its safe form and ``~`` and a hash of the whole identity (in
    Unicode's composed form, so that ``é`` typed two ways is one student). A safe name never
    contains ``~``, so a hashed name never equals an unhashed one."""
    identity = unicodedata.normalize("NFC", identity)
    safe = safe_name(identity)[:MAX_NAME]
    if safe == identity:
        return safe
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{safe}~{digest}"


def submission(identity, path, root=None, others=(), problem=None):
    return SubmissionFile(folder_name(identity), path, identity, tuple(others), root, problem)


# -- discovery ----------------------------------------------------------------------------------------

def is_link(path):
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:
        return False


def own_file(path):
    """A regular file that is not a link."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def candidates(folder):
    """The notebooks and ``.py`` files in a student's assignment folder (links included, so
    that they can be refused), by name."""
    return sorted(p for p in folder.iterdir()
                  if p.suffix in SUFFIXES and not p.name.startswith(".") and (is_link(p) or p.is_file()))


def main_file(folder, assignment):
    """The file to grade in one student's assignment folder: the main notebook by name, else the
    only notebook or ``.py`` file, else the first that is not one of the assignment's other
    notebooks. Links are never chosen."""
    files = [p for p in candidates(folder) if own_file(p)]
    by_name = {p.name: p for p in files}
    if assignment.main_notebook in by_name:
        return by_name[assignment.main_notebook]
    others = [p for p in files if p.name not in assignment.notebooks]
    notebooks = [p for p in others if p.suffix == ".ipynb"] or others
    return notebooks[0] if notebooks else None


def with_others(sub, folder, assignment):
    others = tuple((name, folder / name) for name in assignment.notebooks
                   if name != assignment.main_notebook and own_file(folder / name) and folder / name != sub.path)
    return SubmissionFile(sub.name, sub.path, sub.student, others, sub.root, sub.problem)


def student_folder(root, student, assignment):
    """The submission in ``root/<student>/<assignment>/`` (``student`` None: ``root`` is that
    assignment folder itself), or one refused with the reason."""
    identity = student if student is not None else root.parent.name
    parts = [student, assignment.name] if student is not None else []
    place = root
    for part in parts:
        place = place / part
        if is_link(place):
            return submission(identity, place, root,
                              problem=_("{name} is a symbolic link in the submission ({where}); links are not graded",
                                        name=place.name, where=_relative(place, root)))
    links = [p for p in candidates(place) if is_link(p)]
    if links:
        names = ", ".join(p.name for p in links)
        problem = (_("{names}: symbolic links in the submission; links are not graded", names=names) if len(links) > 1
                   else _("{names}: a symbolic link in the submission; links are not graded", names=names))
        return submission(identity, links[0], root, problem=problem)
    file = main_file(place, assignment)
    if file is None:
        return submission(identity, place, root,
                          problem=_("no notebook or .py file in {where}", where=_relative(place, root)))
    return with_others(submission(identity, file, root), place, assignment)


def _relative(path, root):
    try:
        return path.relative_to(root.parent).as_posix()
    except ValueError:
        return str(path)


def flat_folder(root):
    """Each notebook or ``.py`` file of a flat folder is a submission of its own; a link is refused."""
    found = []
    for path in sorted(p for p in root.iterdir() if p.suffix in SUFFIXES and (is_link(p) or p.is_file())):
        problem = _("{name} is a symbolic link; links are not graded", name=path.name) if is_link(path) else None
        found.append(submission(path.stem, path, root, problem=problem))
    return found


def discover(paths, assignment):
    """Submissions in the given paths: files (graded as given), an nbgrader ``submitted/`` tree
    (or one student's folder of it), or a flat folder of notebooks. Each has its identity and
    folder name; a refused one carries its ``problem``. Names are not made unique here: two
    submissions with one folder name are refused by the batch."""
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(submission(path.stem, path))
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"{path} does not exist")
        students = [d for d in sorted(path.iterdir()) if d.is_dir() and (d / assignment.name).is_dir()]
        if students:  # submitted/<student>/<assignment>/
            found += [student_folder(path, d.name, assignment) for d in students]
        elif path.name == assignment.name and path.parent != path:  # submitted/<student>/<assignment>
            found.append(student_folder(path, None, assignment))
        else:
            found += flat_folder(path)
    return found


# -- reading ----------------------------------------------------------------------------------------

def read_file(path, root=None, limit=MAX_FILE_BYTES):
    """The bytes of ``path``, read once. Below ``root`` every component is opened relative to the
    one above it with ``O_NOFOLLOW``: a link anywhere below ``root`` (made at any time) is refused.
    Only a regular file of at most ``limit`` bytes is read."""
    path = Path(path)
    parts = path.relative_to(root).parts if root is not None else ()
    opened = []
    try:
        if root is None:
            fd = _open(str(path), os.O_RDONLY | os.O_NONBLOCK, path.name)
        else:
            opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY))
            for part in parts[:-1]:
                opened.append(_open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, part, dir_fd=opened[-1]))
            fd = _open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, parts[-1], dir_fd=opened[-1])
        opened.append(fd)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(_("{name} is not a regular file", name=path.name))
        if info.st_size > limit:
            raise RefusedFile(_("{name} is larger than {mb} MB", name=path.name, mb=limit >> 20))
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise RefusedFile(_("{name} is larger than {mb} MB", name=path.name, mb=limit >> 20))
        return data
    finally:
        for fd in opened:
            os.close(fd)


def _open(name, flags, label, dir_fd=None):
    """``os.open``, with a refusal that says why for the student when it fails."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) and flags & os.O_NOFOLLOW:
            raise RefusedFile(_("{name} is a symbolic link in the submission; links are not graded",
                                name=label)) from None
        raise RefusedFile(_("{name} could not be read ({reason})", name=label, reason=error.strerror)) from None


def read_files(sub, assignment):
    """The submission's own files, each read once: manifest notebook name -> (file name, bytes).
    Raises :class:`RefusedFile` when one is a link, not a regular file, too large or unreadable."""
    return {notebook: (Path(path).name, read_file(path, sub.root)) for notebook, path in sub.files(assignment).items()}
