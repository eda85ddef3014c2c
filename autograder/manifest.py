"""Assignment manifests (``assignments/<name>.toml``): items, tests, points, limits."""
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox.client import Limits

ASSIGNMENTS = Path(__file__).resolve().parent.parent / "assignments"


@dataclass(frozen=True)
class Item:
    name: str  # canonical (torch-legacy) name, e.g. "Linear"
    track: str
    grader: str  # module in autograder/graders, e.g. "test_linear"
    tests: dict  # test key -> points
    grade_id: str = ""

    @property
    def max_score(self):
        return sum(self.tests.values())


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    notebooks: tuple
    main_notebook: str
    items: dict = field(default_factory=dict)
    limits: Limits = Limits()

    @property
    def max_score(self):
        return sum(item.max_score for item in self.items.values())


class ManifestError(Exception):
    pass


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
        items[name] = Item(name, spec.get("track", "basic"), spec["grader"], dict(tests), spec.get("grade_id", ""))
    notebooks = tuple(header.get("notebooks", []))
    return Assignment(
        name=header.get("name", path.stem),
        title=header.get("title", path.stem),
        notebooks=notebooks,
        main_notebook=header.get("main_notebook", notebooks[0] if notebooks else ""),
        items=items,
        limits=Limits(**limits_data),
    )
