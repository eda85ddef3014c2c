"""Read a submission's code without running it: notebook or ``.py`` file -> list of cells."""
import codecs
import json
import re
from dataclasses import dataclass
from pathlib import Path

# Cell magics whose body is still Python; any other cell magic (%%bash, %%html...) drops the cell.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
LINE_MAGIC = re.compile(r"^(\s*)[%!].*$")
ASSIGNED_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w.\[\], ]*?)\s*=\s*[%!].*$")
PY_CELL_MARKER = re.compile(r"^# ?(%%|In\[[ \d]*\]:)")


class SubmissionError(Exception):
    """The file could not be read as a submission; the message says why."""


@dataclass
class Cell:
    name: str  # shown in the student's tracebacks, e.g. "cell 7"
    source: str


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
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not bool(meta.get("solution"))


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
    """The notebook as a v4 dict. Version 4 files are read as plain JSON: importing nbformat
    costs over a second (its schema validator), and only the cells' sources are needed.
    Older formats go through nbformat's converter."""
    name = Path(path).name
    try:
        notebook = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise SubmissionError(f"{name} is not a valid notebook (its JSON does not parse: {error}).") from None
    if not isinstance(notebook, dict):
        raise SubmissionError(f"{name} is not a notebook (its JSON is not an object).")
    if notebook.get("nbformat") == 4 and isinstance(notebook.get("cells"), list):
        return notebook
    import nbformat

    try:
        return nbformat.reads(json.dumps(notebook), as_version=4)
    except Exception as error:  # noqa: BLE001 - nbformat raises many kinds for malformed files
        raise SubmissionError(f"{name} could not be read as a notebook: {error}") from None


RUN_MAGIC = re.compile(r"^%run\s+(?:-\w+\s+)*['\"]?([\w.\-/ ]+?\.(?:ipynb|py))['\"]?\s*$")


def expand_run(cell, folder, depth):
    """``%run other.ipynb`` on a line of its own becomes the other file's cells, as in a kernel."""
    lines = cell.source.splitlines()
    for number, line in enumerate(lines):
        match = RUN_MAGIC.match(line)
        if not match:
            continue
        target = (folder / match.group(1)).resolve()
        if depth >= 3 or target.parent != folder.resolve() or not target.is_file():
            continue  # left to neutralise_magics, which replaces it by `pass`
        before = Cell(cell.name, "\n".join(lines[:number]))
        after = Cell(cell.name, "\n" * (number + 1) + "\n".join(lines[number + 1:]))
        included = [Cell(f"{target.name} {c.name}", c.source) for c in read_cells(target, depth + 1)]
        return [c for c in [before] if c.source.strip()] + included + expand_run(after, folder, depth)
    return [cell]


def notebook_cells(path, depth=0):
    notebook = load_notebook(path)
    cells = []
    for index, cell in enumerate(notebook.get("cells", []), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or is_grader_owned(cell):
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        source = str(source).replace("\r\n", "\n")
        for part in expand_run(Cell(f"cell {index}", source), Path(path).parent, depth):
            if part.name != f"cell {index}":  # an included file's cells are already neutralised
                cells.append(part)
                continue
            text = neutralise_magics(part.source)
            if text is not None and text.strip():
                cells.append(Cell(part.name, text))
    return cells


def python_file_cells(path):
    """A ``.py`` file is one cell, or several where it has ``# %%`` / ``# In[ ]:`` markers."""
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
        # pad with blank lines so that line numbers in tracebacks match the file
        source = neutralise_magics("\n" * (start - 1) + "\n".join(body))
        if source is not None and source.strip():
            result.append(Cell(f"file {Path(path).name}", source))
    return result


def read_cells(path, depth=0):
    path = Path(path)
    if path.suffix == ".py":
        return python_file_cells(path)
    return notebook_cells(path, depth)
