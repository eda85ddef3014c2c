"""Assignment manifests (``assignments/<name>.toml``): items, tests, points, limits."""
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import i18n
from .sandbox.limits import Limits

ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"
SOURCE_NOTEBOOKS = ASSIGNMENTS.parent / "source_notebooks"
# The instructor's private files (the held-out sets of the final models): never released,
# never in the sandbox, git-ignored. One folder per assignment.
PRIVATE = ASSIGNMENTS.parent / "private"

# How an item's points are counted (the manifest's ``[scoring] rule``):
# - "additive": each test that passes earns its points, whatever the item's other tests do;
# - "all_or_nothing": an item's points, its hand-graded derivation's included, count only when
#   its code passes every one of its tests (a test that passes still says so, with no points).
ADDITIVE = "additive"
ALL_OR_NOTHING = "all_or_nothing"
SCORING_RULES = (ADDITIVE, ALL_OR_NOTHING)
# A hand-graded cell ``derivation_<Item>`` (the manifest's ``[manual]``) is the derivation of that item.
DERIVATION_PREFIX = "derivation_"


@dataclass(frozen=True)
class Item:
    name: str  # canonical (torch-legacy) name, e.g. "Linear"
    track: str
    grader: str  # module in autograder/graders, e.g. "test_linear"
    tests: dict  # test key -> points
    grade_id: str = ""
    notebook: str = ""  # the notebook whose code it grades; empty: the assignment's main notebook
    defined: bool = True  # False: not a class or function of the submission (the grader looks for itself)
    hidden: frozenset = frozenset()  # test keys students see only once grades are published (Gradescope)
    heldout: bool = False  # judged on the assignment's private held-out set (autograder heldout)

    @property
    def max_score(self):
        return sum(self.tests.values())

    def visibility(self, key):
        """Gradescope's visibility of one test: ``after_published`` when hidden, else ``visible``."""
        return "after_published" if key in self.hidden else "visible"


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    notebooks: tuple
    main_notebook: str
    items: dict = field(default_factory=dict)
    limits: Limits = Limits()
    manual: dict = field(default_factory=dict)  # grade_id -> points of the hand-graded cells
    notebook_limits: dict = field(default_factory=dict)  # notebook name -> Limits that differ from `limits`
    course_dir: Path | None = None  # where the course files are; None: source_notebooks/<name>
    private_dir: Path | None = None  # where the private files are; None: private/<name>
    scoring: str = ADDITIVE  # the [scoring] rule: ADDITIVE or ALL_OR_NOTHING
    language: str = i18n.SOURCE  # the language of the feedback: the [profile] table's language, by default English

    @property
    def all_or_nothing(self):
        """True when an item's points, derivation included, count only if its code passes every test."""
        return self.scoring == ALL_OR_NOTHING

    @property
    def derivations(self):
        """``{grade_id: item name}`` of the hand-graded derivation cells: ``derivation_<Item>``
        is the derivation of ``<Item>`` (checked when the manifest is loaded)."""
        return {grade_id: derivation_item(grade_id) for grade_id in self.manual if derivation_item(grade_id)}

    def derivation_of(self, item):
        """The grade_id of ``item``'s hand-graded derivation cell, or None."""
        return next((grade_id for grade_id, name in self.derivations.items() if name == item), None)

    @property
    def course_files(self):
        """The ``.py`` files shipped beside the notebooks (e.g. ``datasets.py``): a notebook may
        import them, so they are put beside each submission in the sandbox. They are public:
        nbgrader copies them into the release. An installed copy of the project (Gradescope, a
        Dask worker) has no ``source_notebooks/``: there ``course_dir`` says where they are."""
        folder = Path(self.course_dir) if self.course_dir is not None else SOURCE_NOTEBOOKS / self.name
        return sorted(folder.glob("*.py"))

    @property
    def private_folder(self):
        """The folder of the assignment's private files, above all its held-out set
        (``autograder.heldout``): ``private/<name>/`` in the course folder, which nbgrader never
        copies into the release and the sandbox never sees. An installed copy (Gradescope, a Dask
        worker) is given the instructor's files in a folder of its own: there ``private_dir``."""
        return Path(self.private_dir) if self.private_dir is not None else PRIVATE / self.name

    @property
    def uses_heldout(self):
        """True when an item is judged on the private held-out set."""
        return any(item.heldout for item in self.items.values())

    def limits_for(self, notebook):
        return self.notebook_limits.get(notebook, self.limits)

    @property
    def max_score(self):
        """The autograded points (hand-graded cells are scored in nbgrader's formgrader)."""
        return sum(item.max_score for item in self.items.values())

    def main_only(self):
        """The assignment restricted to the items of its main notebook."""
        import dataclasses

        items = {k: v for k, v in self.items.items() if self.notebook_of(v) == self.main_notebook}
        return dataclasses.replace(self, items=items)

    def notebook_of(self, item):
        return item.notebook or self.main_notebook

    def item_for_grade_id(self, grade_id):
        for item in self.items.values():
            if item.grade_id == grade_id:
                return item
        return None


class ManifestError(Exception):
    pass


def derivation_item(grade_id):
    """The item a hand-graded cell is the derivation of (``derivation_Linear`` -> ``Linear``), or None."""
    return grade_id.removeprefix(DERIVATION_PREFIX) if grade_id.startswith(DERIVATION_PREFIX) else None


def scoring_rule(data, items, manual, where):
    """The ``[scoring]`` table's rule, checked with the derivations it ties to items: a rule we do
    not know, or a ``derivation_<Item>`` cell of an item the manifest does not have, is an error
    (its points would otherwise never depend on the code they derive)."""
    table = data.get("scoring", {})
    if not isinstance(table, dict) or set(table) - {"rule"}:
        raise ManifestError(f"{where}: [scoring] is a table with one key, rule")
    rule = table.get("rule", ADDITIVE)
    if rule not in SCORING_RULES:
        raise ManifestError(f"{where}: [scoring] rule must be one of {', '.join(SCORING_RULES)}, not {rule!r}")
    orphans = sorted(g for g in manual if derivation_item(g) is not None and derivation_item(g) not in items)
    if orphans:
        raise ManifestError(f"{where}: [manual] {', '.join(orphans)}: a derivation_<Item> cell must name an item "
                            f"of the manifest (items: {', '.join(items)})")
    return rule


def load(name_or_path):
    path = Path(name_or_path)
    if not path.suffix:
        path = ASSIGNMENTS / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in ASSIGNMENTS.glob("*.toml"))
        raise ManifestError(f"no assignment manifest {path} (known assignments: {', '.join(known) or 'none'})")
    data = tomllib.loads(path.read_text())
    header = data.get("assignment", {})
    limits_data = data.get("limits", {})
    unknown = set(limits_data) - set(Limits.__dataclass_fields__)
    if unknown:
        raise ManifestError(f"{path.name}: unknown limits {sorted(unknown)}")
    items = {}
    for name, spec in data.get("items", {}).items():
        tests = spec.get("tests", {})
        if not tests or not all(isinstance(p, (int, float)) and p >= 0 for p in tests.values()):
            raise ManifestError(f"{path.name}: item {name} needs tests with non-negative points")
        hidden = spec.get("hidden", [])
        if hidden is True:
            hidden = list(tests)
        if not isinstance(hidden, list) or not set(hidden) <= set(tests):
            raise ManifestError(f"{path.name}: item {name}: hidden must be true or a list of its test keys, "
                                f"not {hidden!r}")
        if not isinstance(spec.get("heldout", False), bool):
            raise ManifestError(f"{path.name}: item {name}: heldout must be true or false")
        items[name] = Item(name, spec.get("track", "basic"), spec["grader"], dict(tests), spec.get("grade_id", ""),
                           spec.get("notebook", ""), spec.get("defined", True), frozenset(hidden),
                           spec.get("heldout", False))
    notebooks = tuple(header.get("notebooks", []))
    notebook_limits = {}
    for notebook, overrides in data.get("notebook_limits", {}).items():
        unknown = set(overrides) - set(Limits.__dataclass_fields__)
        if unknown:
            raise ManifestError(f"{path.name}: unknown limits {sorted(unknown)} for {notebook}")
        notebook_limits[notebook] = Limits(**{**limits_data, **overrides})
    manual = dict(data.get("manual", {}))
    return Assignment(
        name=header.get("name", path.stem),
        title=header.get("title", path.stem),
        notebooks=notebooks,
        main_notebook=header.get("main_notebook", notebooks[0] if notebooks else ""),
        items=items,
        limits=Limits(**limits_data),
        manual=manual,
        notebook_limits=notebook_limits,
        scoring=scoring_rule(data, items, manual, path.name),
        language=feedback_language(data, path.name),
    )


def feedback_language(data, where):
    """The language of the assignment's feedback: its ``[profile] language`` (the course's own
    language), English without one; a language the feedback cannot be given in is an error."""
    code = data.get("profile", {}).get("language", i18n.SOURCE)
    try:
        return i18n.check(code)
    except i18n.UnknownLanguage as error:
        raise ManifestError(f"{where}: [profile] language: {error}") from None
