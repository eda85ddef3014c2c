"""The design documents in ``docs/`` describe the code as it is: the dialect table is
``dialects.py``'s, the graded-items table is the manifest's, every mistake it lists has words in
``diagnoses.py``, its links lead to files, and nothing cites design files outside the repository."""
import re
from pathlib import Path

import pytest

from autograder import manifest
from autograder.diagnoses import ANY, DIAGNOSES, contract_mistakes
from autograder.dialects import DIALECTS
from autograder.selftest.bank import load_mutants

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONTRACT = DOCS / "module-contract.md"


def table_rows(text, heading):
    """The rows of the first table under ``heading``, as lists of cells."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def code_names(cell):
    return re.findall(r"`([^`]+)`", cell)


def test_the_dialect_table_is_the_one_the_grader_uses():
    rows = {row[0]: row[1:] for row in table_rows(CONTRACT.read_text(), "Dialects")}
    fields = {
        "forward hook": "forward_hook", "input-gradient hook": "grad_input_hook",
        "parameter-gradient hook": "grad_params_hook", "zero the gradients": "zero_grad",
        "parameters": "get_parameters", "their gradients": "get_grad_parameters",
        "stored output": "output_attr", "stored input gradient": "grad_input_attr",
    }
    for row, field in fields.items():
        assert [code_names(cell) for cell in rows[row]] == [[getattr(d, field)] for d in DIALECTS], row
    layouts = ["(n_in, n_out)" in cell for cell in rows["`Linear.W`"]]
    assert layouts == [d.linear_weight_is_in_by_out for d in DIALECTS]
    for canonical, row in (("ChannelwiseScaling", "scaling layer"), ("sgd_momentum", "SGD with momentum")):
        for dialect, cell in zip(DIALECTS, rows[row]):
            assert dialect.name_of(canonical) in code_names(cell) or "as torch-legacy" in cell, (row, dialect.name)


def graded_items():
    return {row[0]: row for row in table_rows(CONTRACT.read_text(), "Graded items")}


def test_the_graded_items_table_is_the_manifests():
    rows = graded_items()
    items = manifest.load("modules").items
    assert list(rows) == list(items)
    for name, item in items.items():
        _, track, grader, tests, _ = rows[name]
        assert (track, code_names(grader)) == (item.track, [item.grader]), name
        assert tests == ", ".join(f"`{key}` {points:g}" for key, points in item.tests.items()), name


def test_every_mistake_the_table_lists_has_words_and_the_contracts_are_there():
    rows = graded_items()
    named = {name: set(code_names(row[4])) for name, row in rows.items()}
    assert {key for keys in named.values() for key in keys} - set(DIAGNOSES) == set()
    missing = {(item, key) for item, key in contract_mistakes() if item != ANY and key not in named[item]}
    assert missing == set()


def test_every_mutants_diagnosis_is_documented():
    """A mutant's diagnosis is in its item's row, or among the ones every item can give."""
    text = CONTRACT.read_text()
    general = set(code_names(text.split("Every item can also end in these", 1)[1].split("\n## ", 1)[0]))
    rows = graded_items()
    undocumented = {(m.item, m.diagnosis) for m in load_mutants()
                    if m.diagnosis not in set(code_names(rows[m.item][4])) | general}
    assert undocumented == set()


@pytest.mark.parametrize("document", sorted(DOCS.glob("*.md")) + [ROOT / "autograder/graders/README.md"],
                         ids=lambda p: p.name if p.parent == DOCS else "graders/README.md")
def test_links_lead_to_files_and_headings(document):
    for target in re.findall(r"\]\(([^)]+)\)", document.read_text()):
        path, _, anchor = target.partition("#")
        linked = (document.parent / path).resolve() if path else document
        assert linked.is_file(), target
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.MULTILINE)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, target


def test_nothing_cites_design_files_outside_the_repository():
    def project_files(folder):
        for path in folder.iterdir():
            if path.name.startswith(".") or path.name.endswith(".egg-info") or path.name == "__pycache__":
                continue
            if path.is_dir() and not path.is_symlink():
                yield from project_files(path)
            elif path.suffix in {".py", ".md", ".toml"} or path.name == "Makefile":
                yield path

    citing = [str(p.relative_to(ROOT)) for p in project_files(ROOT)
              if re.search(r"\b(SPEC|ARCHITECTURE)\.md\b", p.read_text(errors="replace"))]
    assert citing == []
