"""Course profiles: one course's notebooks generated from the main course's source.

A profile is the ``[profile]`` table of an assignment's manifest (``assignments/<name>.toml``),
beside that assignment's items and points. It names the course it is made from (``source``,
a folder of ``source_notebooks/``), the dialect of its API, its language, the course files it
ships unchanged, and, per notebook, the sections of the main notebook it keeps. The profile's
own cells (its formulas, solutions and wording where they differ from the main course's) are
files in ``profiles/<name>/<notebook stem>/``, one per cell, named by the cell's key.

``autograder profile generate NAME`` writes ``source_notebooks/<name>/``:

1. the kept sections of the main notebook, in the main notebook's order;
2. the profile's own cells in place of the main ones with the same key, and its new cells
   where ``insert`` puts them; the cells it ``drop``s left out, and the solutions it ``give``s
   shipped complete (an item the course hands out instead of grading);
3. texts in the profile's language from its translation catalog, where it has one: Markdown cells
   whole, and the docstrings, comments and printed texts of the main course's code cells
   (``strings.toml``), whose code stays the main course's;
4. the main course's code rewritten in the profile's dialect (:func:`autograder.dialects.rename`,
   the table the graders use), and so is code quoted in its Markdown (its translations' too);
5. sections renumbered, and every grade cell's points (metadata and the words "(N points", or
   the profile language's words) taken from the profile's manifest.

A notebook the main course does not have is made of the profile's own cells only (its plan lists
them as ``cells``); the profile's own course files (``profiles/<name>/files/``) are shipped beside
the main course's, and a course file's language switch (a line ``LANGUAGE = "en"``) is set to the
profile's language, so that one ``selfcheck.py`` speaks every course's language.

Everything else comes from the main course as it is, so a fix to a shared solution, self-check
or explanation reaches every profile at the next ``generate``; a test fails while a profile's
committed source differs from what ``generate`` makes (:func:`stale_files`).

A cell's **key** is its nbgrader ``grade_id`` when it has one (``solution_Linear``,
``grade_Dropout``, ``derivation_Conv2d``), else its notebook cell id (``32f02497``): both are
stable while the main notebook is edited.
"""
import filecmp
import io
import re
import shutil
import tempfile
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.utils import is_grade

from . import dialects, manifest

ROOT = manifest.ASSIGNMENTS.parent
PROFILES = ROOT / "profiles"
SOURCE_LANGUAGE = "en"  # the language the main course is written in
NUMBERED_HEADING = re.compile(r"^(#{1,2})\s+(\d+)\.\s+(\S+)(.*)$")
HEADING = re.compile(r"^#{1,2}\s+(.+?)\s*$")
INLINE_CODE = re.compile(r"(```.*?```|`[^`\n]+`|\\texttt\{[^}\n]*\})", re.DOTALL)  # code quoted in Markdown
POINTS_WORDS = re.compile(r"\((\d+(?:[.,]\d+)?) (?:points?|балл(?:а|ов)?)(?![\w])")
LANGUAGE_SWITCH = re.compile(r'^LANGUAGE = "en"', re.MULTILINE)  # a course file's language (selfcheck.py)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (?:BEGIN|END) SOLUTION[ \t]*\n", re.MULTILINE)
INSERT_KINDS = ("markdown", "code", "derivation")
# What nbgrader leaves in place of a solution in a released notebook, per language (the main course's
# are nbgrader's own, "# YOUR CODE HERE" and "YOUR ANSWER HERE").
STUBS = {"ru": {"code": "# ВАШ КОД ЗДЕСЬ\nraise NotImplementedError()", "text": "ВАШ ОТВЕТ ЗДЕСЬ"}}
STRINGS = "strings.toml"  # a catalog's texts of the code cells' string literals and comments
STRING_LITERAL = re.compile(r"^([rRbBuUfF]*)('''|\"\"\"|'|\")(.*)\2$", re.DOTALL)
COMMENT_TEXT = re.compile(r"^#[ \t]*")
FORMAT_FIELD = re.compile(r"\{[^{}]*\}")  # an f-string's replacement field: code, kept by a translation


class ProfileError(Exception):
    """The profile and the main source disagree: a section, cell key or file that does not exist."""


@dataclass(frozen=True)
class Insert:
    """A cell of the profile's own that the main notebook does not have, placed after ``after``."""
    key: str
    after: str
    kind: str  # markdown, code, or derivation (a Markdown answer graded by hand: the manifest's [manual])


@dataclass(frozen=True)
class NotebookPlan:
    name: str
    sections: tuple
    inserts: tuple = ()
    source: str = ""  # the main notebook it is made from; empty: the same name
    drop: tuple = ()  # keys of kept cells left out (a graded answer the course does not ask for)
    given: tuple = ()  # keys of kept solution cells shipped complete: items handed out, not graded
    cells: tuple = ()  # a notebook of the profile's own cells only, in this order (no main notebook)


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    dialect: dialects.Dialect
    language: str
    notebooks: tuple
    files: tuple = ()
    assignment: object = None

    @property
    def folder(self):
        """The profile's own cells and catalogs: ``profiles/<name>/``."""
        return PROFILES / self.name

    @property
    def source_folder(self):
        return manifest.SOURCE_NOTEBOOKS / self.source

    @property
    def target_folder(self):
        return manifest.SOURCE_NOTEBOOKS / self.name


@dataclass
class Generated:
    """What :func:`generate` wrote, and the keys it found no translation for (for a catalog's author)."""
    files: list = field(default_factory=list)
    untranslated: list = field(default_factory=list)


def load(name):
    """The profile of ``assignments/<name>.toml``."""
    assignment = manifest.load(name)
    path = manifest.ASSIGNMENTS / f"{name}.toml"
    data = tomllib.loads(path.read_text()).get("profile")
    if not data:
        raise ProfileError(f"{path.name} has no [profile] table: {name} is not generated from another course")
    try:
        dialect = dialects.by_name(data.get("dialect", dialects.TORCH_LEGACY.name))
    except KeyError:
        raise ProfileError(f"{path.name}: unknown dialect {data.get('dialect')!r} "
                           f"(known: {', '.join(d.name for d in dialects.DIALECTS)})") from None
    plans = []
    for notebook, spec in data.get("notebooks", {}).items():
        inserts = tuple(Insert(i["key"], i["after"], i.get("kind", "markdown")) for i in spec.get("insert", []))
        bad = [i.key for i in inserts if i.kind not in INSERT_KINDS]
        if bad:
            raise ProfileError(f"{path.name}: inserted cells {bad} need a kind among {INSERT_KINDS}")
        plans.append(NotebookPlan(notebook, tuple(spec.get("sections", ())), inserts, spec.get("source", ""),
                                  tuple(spec.get("drop", ())), tuple(spec.get("given", ())),
                                  tuple(spec.get("cells", ()))))
    if sorted(p.name for p in plans) != sorted(assignment.notebooks):
        raise ProfileError(f"{path.name}: [profile.notebooks] must describe exactly the assignment's notebooks "
                           f"{list(assignment.notebooks)}")
    return Profile(name, data["source"], dialect, data.get("language", SOURCE_LANGUAGE), tuple(plans),
                   tuple(data.get("files", ())), assignment)


def names():
    """The assignments that are profiles of another course."""
    return sorted(p.stem for p in manifest.ASSIGNMENTS.glob("*.toml")
                  if "profile" in tomllib.loads(p.read_text()))


# -- the cells ---------------------------------------------------------------------------------

def key_of(cell):
    """A cell's key: its nbgrader grade_id, else its notebook cell id."""
    return cell.metadata.get("nbgrader", {}).get("grade_id") or cell["id"]


def section_name(cell):
    """The name of the section a Markdown cell opens, or None: ``## 5. BatchNormalization`` opens
    ``BatchNormalization`` (an item's section), ``## What to submit`` opens ``What to submit``."""
    if cell.cell_type != "markdown":
        return None
    first = cell.source.split("\n", 1)[0]
    numbered = NUMBERED_HEADING.match(first)
    if numbered:
        return numbered.group(3)
    heading = HEADING.match(first)
    return heading.group(1) if heading else None


def sections(nb):
    """The notebook's cells as ``{section name: [cells]}``, in order; cells before any heading
    belong to the section ``""``."""
    parts, current = {}, ""
    for cell in nb.cells:
        current = section_name(cell) or current
        if current in parts and section_name(cell):
            raise ProfileError(f"two sections are called {current!r}: give one another heading")
        parts.setdefault(current, []).append(cell)
    return parts


def kept_cells(nb, plan, notebook):
    parts = sections(nb)
    unknown = [name for name in plan.sections if name not in parts]
    if unknown:
        raise ProfileError(f"{notebook}: no section {unknown} in the main notebook (its sections: {list(parts)})")
    return [cell for name, cells in parts.items() if name in plan.sections for cell in cells]


def own_cell_files(profile, plan):
    """The profile's own cells for one notebook: key -> file (``.md`` Markdown, ``.py`` code)."""
    folder = profile.folder / Path(plan.name).stem
    files = sorted(folder.glob("*.md")) + sorted(folder.glob("*.py")) if folder.is_dir() else []
    own = {}
    for path in files:
        if path.stem in own:
            raise ProfileError(f"{path.parent}: two files for the cell {path.stem}")
        own[path.stem] = path
    return own


def own_text(path):
    return path.read_text().rstrip("\n")


def replace_own_cells(cells, own, notebook):
    """Each cell the profile words or solves itself takes the text of its file; the key and the
    nbgrader metadata stay the main cell's, so the grading is unchanged."""
    replaced = set()
    for cell in cells:
        path = own.get(key_of(cell))
        if path is None:
            continue
        wanted = "markdown" if path.suffix == ".md" else "code"
        if cell.cell_type != wanted:
            raise ProfileError(f"{path}: the cell {key_of(cell)} of {notebook} is a {cell.cell_type} cell")
        cell.source = own_text(path)
        cell.metadata["profile_own"] = True
        replaced.add(key_of(cell))
    return replaced


def new_cell(insert, path, points):
    if insert.kind == "code":
        cell = nbformat.v4.new_code_cell(own_text(path))
    else:
        cell = nbformat.v4.new_markdown_cell(own_text(path))
    cell["id"] = insert.key
    if insert.kind == "derivation":
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": insert.key, "locked": False, "points": points,
                                     "schema_version": 3, "solution": True, "task": False}
    cell.metadata["profile_own"] = True
    return cell


def insert_own_cells(cells, plan, own, assignment):
    for insert in plan.inserts:
        if insert.key not in own:
            raise ProfileError(f"{plan.name}: the inserted cell {insert.key} has no file in its profile folder")
        where = [i for i, cell in enumerate(cells) if key_of(cell) == insert.after]
        if not where:
            raise ProfileError(f"{plan.name}: cell {insert.after} (where {insert.key} goes) "
                               "is not among the kept cells")
        cells.insert(where[0] + 1, new_cell(insert, own[insert.key], assignment.manual.get(insert.key, 0)))
    return {insert.key for insert in plan.inserts}


# -- the dialect, the language, the numbers ----------------------------------------------------

def in_dialect(cell, dialect):
    """A main-course cell in the profile's dialect: code wholly, Markdown in its code spans and
    its headings (class names)."""
    if cell.metadata.get("profile_own"):
        return
    if cell.cell_type == "code":
        cell.source = dialects.rename(cell.source, dialect)
        return
    cell.source = INLINE_CODE.sub(lambda m: dialects.rename(m.group(0), dialect), cell.source)
    lines = cell.source.split("\n")
    if HEADING.match(lines[0]):
        lines[0] = dialects.rename(lines[0], dialect)
    cell.source = "\n".join(lines)


def load_catalog(profile, notebook):
    """The translation catalog of ``notebook`` in the profile's language: cell key -> text.

    ``profiles/<name>/<language>/<notebook stem>/<key>.md`` (or ``.py``), one file per cell, like
    the profile's own cells; empty for the main course's language. A key the catalog lacks keeps
    the main course's text and is listed in :attr:`Generated.untranslated`. A ``.py`` file is a
    whole code cell, which must be the main cell's code with other strings and comments
    (:func:`code_skeleton`); most code cells are translated by :func:`load_strings` instead.
    """
    if profile.language == SOURCE_LANGUAGE:
        return {}
    folder = profile.folder / profile.language / Path(notebook).stem
    files = sorted(folder.glob("*.md")) + sorted(folder.glob("*.py")) if folder.is_dir() else []
    return {path.stem: path for path in files}


def load_strings(profile, notebook):
    """The catalog's texts of the code cells' string literals and comments: English -> the profile's
    language, from ``profiles/<name>/<language>/<notebook stem>/strings.toml``::

        [[text]]
        en = 'Properties of Sequential'
        ru = 'Свойства Sequential'

    A text is a literal's body as written between its quotes (escapes, an f-string's ``{fields}``
    and a docstring's indentation included) or a comment after its ``#``. The code around them stays
    the main cell's, so a fix to a given cell or a solution reaches the translated course as it is.
    """
    path = profile.folder / profile.language / Path(notebook).stem / STRINGS
    if profile.language == SOURCE_LANGUAGE or not path.is_file():
        return {}
    table = {}
    for entry in tomllib.loads(path.read_text()).get("text", []):
        if SOURCE_LANGUAGE not in entry or profile.language not in entry:
            raise ProfileError(f"{path}: every [[text]] needs `{SOURCE_LANGUAGE}` and `{profile.language}`: {entry}")
        if entry[SOURCE_LANGUAGE] in table:
            raise ProfileError(f"{path}: the text {entry[SOURCE_LANGUAGE]!r} is translated twice")
        table[entry[SOURCE_LANGUAGE]] = entry[profile.language]
    return table


def code_texts(source):
    """The string literals' bodies and the comments' texts of a code cell, as ``(start, end)``
    offsets into ``source``: the parts a translation may change."""
    line_starts = [0]
    for line in io.StringIO(source):
        line_starts.append(line_starts[-1] + len(line))
    offset = lambda position: line_starts[position[0] - 1] + position[1]  # noqa: E731 - (row, col) -> index
    spans = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        start = offset(token.start)
        if token.type == tokenize.STRING:
            literal = STRING_LITERAL.match(token.string)
            opening = len(literal.group(1)) + len(literal.group(2))
            spans.append((start + opening, start + len(token.string) - len(literal.group(2))))
        elif token.type == tokenize.COMMENT:
            spans.append((start + COMMENT_TEXT.match(token.string).end(), start + len(token.string)))
    return spans


def code_skeleton(source):
    """A code cell's tokens without the texts of its strings and comments (an f-string keeps its
    replacement fields): two cells with the same skeleton differ only in what a translation changes."""
    skeleton = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT or token.type in (tokenize.NL, tokenize.NEWLINE):
            continue
        if token.type == tokenize.STRING:
            literal = STRING_LITERAL.match(token.string)
            fields = FORMAT_FIELD.findall(literal.group(3)) if "f" in literal.group(1).lower() else []
            skeleton.append(("string", literal.group(1), literal.group(2), tuple(sorted(fields))))
        else:
            skeleton.append((tokenize.tok_name[token.type], token.string))
    return skeleton


def translate_code(source, table, used, where):
    """A code cell with the texts of its strings and comments that ``table`` has, translated; the
    translated cell must still have the main cell's code (:func:`code_skeleton`)."""
    parts, last = [], 0
    for start, end in code_texts(source):
        text = source[start:end]
        if text in table:
            parts += [source[last:start], table[text]]
            used.add(text)
            last = end
    translated = "".join(parts) + source[last:]
    check_same_code(source, translated, where)
    return translated


def check_same_code(main, translated, where):
    try:
        same = code_skeleton(main) == code_skeleton(translated)
    except (tokenize.TokenError, SyntaxError, IndentationError) as error:
        raise ProfileError(f"{where}: the translated code cell is no longer Python: {error}") from None
    if not same:
        raise ProfileError(f"{where}: the translation changes the main cell's code, not only its strings and "
                           "comments (quotes, an f-string's fields, or code the main course has since changed)")


def translate(cells, profile, notebook, generated):
    """Cells in the profile's language, from its catalog (the hook a translated profile fills):
    a Markdown cell or a code cell wholly from its file, the other code cells' strings and comments
    from ``strings.toml``."""
    if profile.language == SOURCE_LANGUAGE:
        return
    catalog, table, used = load_catalog(profile, notebook), load_strings(profile, notebook), set()
    for cell in cells:
        if cell.metadata.get("profile_own"):  # the profile's own cells are written in its language
            continue
        path = catalog.get(key_of(cell))
        where = f"{notebook}:{key_of(cell)}"
        if path is not None:
            if cell.cell_type == "code":
                check_same_code(cell.source, own_text(path),
                                f"profiles/{profile.name}/{profile.language}/{Path(notebook).stem}/{path.name}")
            cell.source = own_text(path)
        elif cell.cell_type == "code":
            cell.source = translate_code(cell.source, table, used, where)
        else:
            generated.untranslated.append(where)
    unused = sorted(set(table) - used)
    if unused:
        raise ProfileError(f"profiles/{profile.name}/{profile.language}/{Path(notebook).stem}/{STRINGS}: texts that "
                           f"are no string or comment of the kept code cells (changed in the main course?): {unused}")


def renumber(cells):
    """Item sections numbered 1, 2, ... in the order the profile keeps them."""
    number = 0
    for cell in cells:
        lines = cell.source.split("\n") if cell.cell_type == "markdown" else [""]
        match = NUMBERED_HEADING.match(lines[0])
        if match:
            number += 1
            lines[0] = f"{match.group(1)} {number}. {match.group(3)}{match.group(4)}"
            cell.source = "\n".join(lines)


def points_of(cell, assignment):
    """The manifest's points for a grade cell (an item's, or a hand-graded cell's), else None."""
    if not is_grade(cell):
        return None
    grade_id = cell.metadata.nbgrader["grade_id"]
    if grade_id in assignment.manual:
        return assignment.manual[grade_id]
    item = assignment.item_for_grade_id(grade_id)
    if item is None:
        raise ProfileError(f"the grade cell {grade_id} is kept but the manifest of {assignment.name} has no item "
                           "or [manual] entry for it: keep it out or give it points")
    return item.max_score


def points_words(points, language):
    """"(N points" in the profile's language: Russian writes a decimal comma and declines the noun
    (1 балл, 2 балла, 0,5 балла, 5 баллов)."""
    if language != "ru":
        return f"({points:g} point{'' if points == 1 else 's'}"
    number = f"{points:g}".replace(".", ",")
    if points != int(points):
        noun = "балла"
    else:
        whole = int(points)
        noun = ("балл" if whole % 10 == 1 and whole % 100 != 11
                else "балла" if whole % 10 in (2, 3, 4) and whole % 100 not in (12, 13, 14) else "баллов")
    return f"({number} {noun}"


def set_points(cells, assignment, language=SOURCE_LANGUAGE):
    for cell in cells:
        points = points_of(cell, assignment)
        if points is not None:
            cell.metadata["nbgrader"]["points"] = points
            cell.source = POINTS_WORDS.sub(points_words(points, language), cell.source, count=1)


def drop_cells(cells, plan):
    """The kept cells without those the profile drops (each must be among them)."""
    keys = {key_of(cell) for cell in cells}
    unknown = sorted(set(plan.drop) - keys)
    if unknown:
        raise ProfileError(f"{plan.name}: dropped cells {unknown} are not among the kept cells")
    return [cell for cell in cells if key_of(cell) not in plan.drop]


def give_solutions(cells, plan):
    """Each solution the profile gives is shipped whole: its solution markers and its nbgrader
    metadata removed, so nbgrader leaves the code as it is and nothing grades it."""
    given = [cell for cell in cells if key_of(cell) in plan.given]
    unknown = sorted(set(plan.given) - {key_of(cell) for cell in given})
    if unknown:
        raise ProfileError(f"{plan.name}: given cells {unknown} are not among the kept cells")
    for cell in given:
        if not cell.metadata.get("nbgrader", {}).get("solution") or cell.cell_type != "code":
            raise ProfileError(f"{plan.name}: {key_of(cell)} is not a solution code cell: only a solution is given")
        cell["id"] = key_of(cell).replace("solution_", "given_", 1)
        cell.metadata.pop("nbgrader")
        cell.source = SOLUTION_MARKER.sub("", cell.source)
    return cells


# -- the whole course --------------------------------------------------------------------------

def own_notebook(profile, plan, own):
    """A notebook made of the profile's own cells only, in the order of its plan's ``cells``
    (``.md`` a Markdown cell, ``.py`` a code cell), with the main notebook's kernel and language."""
    missing = [key for key in plan.cells if key not in own]
    if missing:
        folder = f"profiles/{profile.name}/{Path(plan.name).stem}/"
        raise ProfileError(f"{plan.name}: cells {missing} have no file in {folder}")
    main = nbformat.read(profile.source_folder / profile.assignment.main_notebook, as_version=4)
    nb = nbformat.v4.new_notebook(metadata=main.metadata)
    for key in plan.cells:
        path = own[key]
        make = nbformat.v4.new_markdown_cell if path.suffix == ".md" else nbformat.v4.new_code_cell
        cell = make(own_text(path))
        cell["id"] = key
        cell.metadata["profile_own"] = True
        nb.cells.append(cell)
    return nb, nb.cells, set(plan.cells)


def main_notebook_cells(profile, plan, own):
    source_name = plan.source or plan.name
    main = nbformat.read(profile.source_folder / source_name, as_version=4)
    cells = give_solutions(drop_cells(kept_cells(main, plan, source_name), plan), plan)
    used = replace_own_cells(cells, own, plan.name) | insert_own_cells(cells, plan, own, profile.assignment)
    return main, cells, used


def build_notebook(profile, plan, generated):
    own = own_cell_files(profile, plan)
    main, cells, used = (own_notebook if plan.cells else main_notebook_cells)(profile, plan, own)
    unused = sorted(set(own) - used)
    if unused:
        raise ProfileError(f"profiles/{profile.name}/{Path(plan.name).stem}: {unused} match no kept cell "
                           "(a cell the main notebook no longer has, or a section the profile does not keep)")
    translate(cells, profile, plan.name, generated)
    for cell in cells:
        in_dialect(cell, profile.dialect)
    renumber(cells)
    set_points(cells, profile.assignment, profile.language)
    for cell in cells:
        cell.metadata.pop("profile_own", None)
    main.cells = cells
    nbformat.validate(main)
    return main


def generate(name, target=None):
    """Write the profile's source folder (``source_notebooks/<name>/``, or ``target``) from the
    main course's; returns :class:`Generated`."""
    profile = load(name)
    target = Path(target) if target is not None else profile.target_folder
    generated = Generated()
    notebooks = {plan.name: build_notebook(profile, plan, generated) for plan in profile.notebooks}
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for notebook, nb in notebooks.items():
        nbformat.write(nb, target / notebook)
        generated.files.append(target / notebook)
    for path in course_files(profile):
        shipped = target / path.name
        shutil.copyfile(path, shipped)
        if profile.language != SOURCE_LANGUAGE and path.suffix == ".py":
            shipped.write_text(LANGUAGE_SWITCH.sub(f'LANGUAGE = "{profile.language}"', path.read_text()))
        generated.files.append(shipped)
    return generated


def course_files(profile):
    """The files shipped beside the notebooks: the main course's that ``files`` names, then the
    profile's own (``profiles/<name>/files/``), which must not shadow one of those."""
    shared = [profile.source_folder / name for name in profile.files]
    own_folder = profile.folder / "files"
    own = sorted(p for p in own_folder.iterdir() if p.is_file()) if own_folder.is_dir() else []
    clash = sorted({p.name for p in shared} & {p.name for p in own})
    if clash:
        raise ProfileError(f"profiles/{profile.name}/files/ {clash} shadow the main course's files: "
                           "take them out of `files`, or out of files/")
    return shared + own


def nbgrader_config(name):
    """nbgrader configuration of the assignment ``name`` beside the project's ``nbgrader_config.py``:
    a profile in another language gets its language's stubs in place of nbgrader's English ones.
    The text of an ``nbgrader_config.py`` for the course folder nbgrader releases from (nbgrader reads
    that one after the project's); empty when nbgrader's defaults stand. nbgrader turns a
    ``code_stub`` given on its command line into a string, so a file it must be."""
    stubs = STUBS.get(load(name).language) if name in names() else None
    if not stubs:
        return ""
    return ("# The stubs of this course's language (autograder/profiles.py, STUBS).\n"
            f"c.ClearSolutions.code_stub = {{'python': {stubs['code']!r}}}\n"
            f"c.ClearSolutions.text_stub = {stubs['text']!r}\n")


def stale_files(name):
    """The files of ``source_notebooks/<name>/`` that differ from what :func:`generate` makes now
    (missing and extra files included): empty when the committed source is current."""
    committed = load(name).target_folder
    with tempfile.TemporaryDirectory(prefix=f"profile-{name}-") as scratch:
        fresh = Path(scratch) / name
        generate(name, fresh)
        names_ = {p.name for p in fresh.iterdir()} | ({p.name for p in committed.iterdir() if p.is_file()}
                                                      if committed.is_dir() else set())
        return sorted(n for n in names_ if not (fresh / n).is_file() or not (committed / n).is_file()
                      or not filecmp.cmp(fresh / n, committed / n, shallow=False))
