"""Read a submission's code without running it: notebook or ``.py`` file -> list of cells.

This module runs *inside* the sandbox: the worker reads the submission before any of the
student's code has run, under the worker's own memory, CPU and time limits, so that a
notebook built to be expensive to read (deep JSON, millions of cells, ``%run`` fan-out)
costs only its own grading. It uses the standard library only (``nbformat`` just for the
rare pre-v4 notebook) and imports nothing of the project.

Every cost is linear in the size of the submission's own files, with hard caps: at most
:data:`MAX_CELLS` code cells and :data:`MAX_SOURCE_CHARS` characters of code in all, and
``%run`` reaches only files of the submission's own folder, each file at most once on any
chain of inclusions (a notebook never includes itself or one that includes it).
"""
import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

MAX_CELLS = 5000  # code cells in all, %run included
MAX_SOURCE_CHARS = 4_000_000  # characters of code in all
MAX_RUN_DEPTH = 3  # notebooks that %run notebooks that %run notebooks

# Cell magics whose body is still Python; any other cell magic (%%bash, %%html...) drops the cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
LINE_MAGIC = re.compile(r"^(\s*)[%!].*$")
ASSIGNED_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w.\[\], ]*?)\s*=\s*[%!].*$")
PY_CELL_MARKER = re.compile(r"^# ?(%%|In\[[ \d]*\]:)")
RUN_MAGIC = re.compile(r"^%run\s+(?:-\w+\s+)*['\"]?(?:\./)?([\w.\- ]+?\.(?:ipynb|py))['\"]?\s*$")


class UnreadableNotebook(Exception):
    """The file could not be read as a submission; the message says why. ``template`` (one of
    :data:`TEMPLATES`) and ``params`` are the message's parts, so that the trusted side can give it
    in the feedback's language (``autograder/i18n.py``); ``str()`` is the English."""

    def __init__(self, template, **params):
        super().__init__(template.format(**params) if params else template)
        self.template, self.params = template, params


# Every reason the reader gives, as English templates (the feedback's catalogue translates them).
TOO_MANY_CELLS = ("it has more than {count} code cells (counting those that %run includes), more than any "
                  "submission of this assignment needs")
TOO_MUCH_CODE = ("it has more than {count:,} characters of code (counting what %run includes), more than any "
                 "submission of this assignment needs")
NESTED_TOO_DEEPLY = "{name} is not a valid notebook (its JSON is nested too deeply)."
NOT_JSON = "{name} is not a valid notebook (its JSON does not parse: {error})."
NOT_AN_OBJECT = "{name} is not a notebook (its JSON is not an object)."
NOT_A_NOTEBOOK = "{name} could not be read as a notebook: {error}"
TEMPLATES = (TOO_MANY_CELLS, TOO_MUCH_CODE, NESTED_TOO_DEEPLY, NOT_JSON, NOT_AN_OBJECT, NOT_A_NOTEBOOK)


@dataclass
class Cell:
    name: str  # shown in the student's tracebacks, e.g. "cell 7"
    source: str
    line: int = 1  # the line of the file where the cell starts (a .py file's cells)


class Budget:
    """What is left of the caps while one submission is read."""

    def __init__(self, max_cells=MAX_CELLS, max_chars=MAX_SOURCE_CHARS):
        self.cells, self.chars = max_cells, max_chars
        self.max_cells, self.max_chars = max_cells, max_chars

    def take(self, cell):
        self.cells -= 1
        self.chars -= len(cell.source)
        if self.cells < 0:
            raise UnreadableNotebook(TOO_MANY_CELLS, count=self.max_cells)
        if self.chars < 0:
            raise UnreadableNotebook(TOO_MUCH_CODE, count=self.max_chars)
        return cell


def neutralise_magics(source):
    """IPython-only syntax becomes plain Python: magics and shell lines are replaced by ``pass``.

    Returns None for a cell that is not Python at all (``%%bash``, ``%%html``, ...).
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)[0] if lines[0].strip() != "%%" else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
        lines = lines[1:]
    out = []
    for line in lines:
        assigned = ASSIGNED_MAGIC.match(line)
        if assigned:
            out.append(f"{assigned.group(1)}{assigned.group(2)} = None  # IPython magic removed")
        elif LINE_MAGIC.match(line):
            out.append(f"{LINE_MAGIC.match(line).group(1)}pass  # IPython magic removed")
        else:
            out.append(line)
    return "\n".join(out)


def is_grader_owned(cell):
    """nbgrader grade cells that are not solution cells belong to the grader, not the student."""
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return isinstance(meta, dict) and bool(meta.get("grade")) and not bool(meta.get("solution"))


# Byte-order marks of the encodings some editors save in, longest first (UTF-32's LE mark starts
# with UTF-16's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path):
    """The file's text: UTF-8 (with or without a byte-order mark), UTF-16 or UTF-32 with a
    byte-order mark, else Latin-1, which decodes any bytes."""
    data = Path(path).read_bytes()
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_notebook(path):
    """The notebook as a v4 dict. Version 4 files are read as plain JSON (only the cells'
    sources are needed); older formats go through nbformat's converter."""
    name = Path(path).name
    try:
        notebook = json.loads(read_text(path))
    except RecursionError:
        raise UnreadableNotebook(NESTED_TOO_DEEPLY, name=name) from None
    except json.JSONDecodeError as error:
        raise UnreadableNotebook(NOT_JSON, name=name, error=str(error)) from None
    if not isinstance(notebook, dict):
        raise UnreadableNotebook(NOT_AN_OBJECT, name=name)
    if notebook.get("nbformat") == 4 and isinstance(notebook.get("cells"), list):
        return notebook
    if notebook.get("nbformat") == 3 and isinstance(notebook.get("worksheets"), list):
        return from_v3(notebook)
    try:
        import nbformat

        return nbformat.reads(json.dumps(notebook), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for malformed files
        raise UnreadableNotebook(NOT_A_NOTEBOOK, name=name, error=str(error)) from None


def from_v3(notebook):
    """A version 3 notebook's cells in version 4's form: code cells keep their ``input`` as the
    source; worksheets follow one another. (nbformat's own converter does the same, but
    importing it costs more than a second.)"""
    cells = []
    for sheet in notebook["worksheets"]:
        for cell in (sheet.get("cells", []) if isinstance(sheet, dict) else []):
            if not isinstance(cell, dict):
                continue
            if cell.get("cell_type") == "code":
                cells.append({"cell_type": "code", "source": cell.get("input", ""),
                              "metadata": cell.get("metadata", {})})
            else:
                cells.append({"cell_type": str(cell.get("cell_type")), "source": cell.get("source", "")})
    return {"nbformat": 4, "cells": cells}


def cell_source(cell):
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(str(part) for part in source)
    return str(source).replace("\r\n", "\n")


def run_target(line, folder, chain):
    """The file a ``%run`` line includes: a notebook or .py file of the submission's own folder,
    by plain name, that is not already on the chain of inclusions; else None (the line is then
    neutralised like any other magic)."""
    match = RUN_MAGIC.match(line)
    if not match or len(chain) > MAX_RUN_DEPTH:
        return None
    target = folder / match.group(1)
    if target.name in chain or target.is_symlink() or not target.is_file():
        return None
    return target


def expand_run(cell, folder, chain, budget):
    """``%run other.ipynb`` on a line of its own becomes the other file's cells, as in a kernel."""
    lines = cell.source.splitlines()
    parts, start = [], 0
    for number, line in enumerate(lines):
        target = run_target(line, folder, chain)
        if target is None:
            continue
        before = Cell(cell.name, "\n".join(lines[start:number]), cell.line + start)
        if before.source.strip():
            parts.append(before)
        parts += file_cells(target, chain + (target.name,), budget)  # named with their own notebook
        start = number + 1
    if not parts:
        return [cell]
    rest = Cell(cell.name, "\n".join(lines[start:]), cell.line + start)
    return parts + ([rest] if rest.source.strip() else [])


def notebook_cells(path, chain, budget):
    notebook = load_notebook(path)
    cells = []
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or is_grader_owned(cell):
            continue
        own = Cell(f"{Path(path).name}, cell {index}", cell_source(cell))  # the notebook's name: feedback cites it
        for part in expand_run(own, Path(path).parent, chain, budget):
            if part.name != own.name:  # an included file's cells are already read and counted
                cells.append(part)
                continue
            text = neutralise_magics(part.source)
            if text is not None and text.strip():
                cells.append(budget.take(Cell(part.name, text, part.line)))
    return cells


def python_file_cells(path, budget):
    """A ``.py`` file is one cell, or several where it has ``# %%`` / ``# In[ ]:`` markers; each
    cell keeps the line where it starts, so that tracebacks name the file's own lines."""
    lines = read_text(path).replace("\r\n", "\n").split("\n")
    cells, current, start = [], [], 1
    for number, line in enumerate(lines, start=1):
        if PY_CELL_MARKER.match(line) and current:
            cells.append((start, current))
            current, start = [], number
        current.append(line)
    cells.append((start, current))
    result = []
    for start, body in cells:
        source = neutralise_magics("\n".join(body))
        if source is not None and source.strip():
            result.append(budget.take(Cell(f"file {Path(path).name}", source, start)))
    return result


def file_cells(path, chain, budget):
    path = Path(path)
    if path.suffix == ".py":
        return python_file_cells(path, budget)
    return notebook_cells(path, chain, budget)


def read_cells(path, max_cells=MAX_CELLS, max_chars=MAX_SOURCE_CHARS):
    """The code cells of the submission file ``path``, ``%run`` expanded from its own folder."""
    path = Path(path)
    return file_cells(path, (path.name,), Budget(max_cells, max_chars))
