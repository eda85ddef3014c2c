"""Find the submissions behind the paths an instructor gives."""
import re
from dataclasses import dataclass
from pathlib import Path

SUFFIXES = {".ipynb", ".py"}


@dataclass(frozen=True)
class SubmissionFile:
    name: str  # the submission's folder name in the output
    path: Path  # the file graded as the main notebook
    student: str | None = None
    others: tuple = ()  # (manifest notebook name, path) of the assignment's other notebooks found beside it

    def files(self, assignment):
        return {assignment.main_notebook: self.path, **dict(self.others)}


def safe_name(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "submission"


def own_file(path, folder):
    """A regular file of the student's own folder: a link to anything elsewhere (say, another
    student's notebook) is not the student's work."""
    return path.is_file() and (not path.is_symlink() or path.resolve().parent == folder.resolve())


def main_file(folder, assignment):
    """The file to grade in one student's assignment folder: the main notebook by name, else the
    only notebook or ``.py`` file, else the first that is not one of the assignment's other notebooks."""
    candidates = sorted(p for p in folder.iterdir()
                        if own_file(p, folder) and p.suffix in SUFFIXES and not p.name.startswith("."))
    by_name = {p.name: p for p in candidates}
    if assignment.main_notebook in by_name:
        return by_name[assignment.main_notebook]
    others = [p for p in candidates if p.name not in assignment.notebooks]
    notebooks = [p for p in others if p.suffix == ".ipynb"] or others
    return notebooks[0] if notebooks else None


def with_others(sub, folder, assignment):
    others = tuple((name, folder / name) for name in assignment.notebooks
                   if name != assignment.main_notebook and own_file(folder / name, folder) and folder / name != sub.path)
    return SubmissionFile(sub.name, sub.path, sub.student, others)


def discover(paths, assignment):
    """Submissions in the given paths: files, an nbgrader ``submitted/`` tree (or one student's
    folder of it), or a flat folder of notebooks. Names are made unique."""
    found = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(SubmissionFile(safe_name(path.stem), path))
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"{path} does not exist")
        students = [d for d in sorted(path.iterdir()) if d.is_dir() and (d / assignment.name).is_dir()]
        if students:  # submitted/<student>/<assignment>/
            for student in students:
                file = main_file(student / assignment.name, assignment)
                if file:
                    found.append(with_others(SubmissionFile(safe_name(student.name), file, student.name),
                                             student / assignment.name, assignment))
            continue
        if path.name == assignment.name and path.parent != path:  # submitted/<student>/<assignment>
            file = main_file(path, assignment)
            if file:
                found.append(with_others(SubmissionFile(safe_name(path.parent.name), file, path.parent.name), path,
                                         assignment))
            continue
        for file in sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUFFIXES):
            found.append(SubmissionFile(safe_name(file.stem), file))
    seen, unique = {}, []
    for sub in found:
        count = seen.get(sub.name, 0)
        seen[sub.name] = count + 1
        unique.append(sub if count == 0 else SubmissionFile(f"{sub.name}-{count + 1}", sub.path, sub.student, sub.others))
    return unique
