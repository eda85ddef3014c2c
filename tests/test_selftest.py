"""Grader quality: the reference scores full marks, the stub scores 0 with one clear message per
item, every mutant (one known mistake) loses points on its own item only and is named, and
every alternative correct solution scores full marks. `autograder selftest` runs the same checks.

The bank is graded once per session (:func:`verdicts`), and only as much of it as the selected
tests read: ``pytest -k linear_grad_overwritten`` grades the reference, the stub and that mutant.
Each mutant, alternative and degenerate submission is a test of its own, marked with its item
(``pytest -m Linear``)."""
import os

import pytest

from autograder import manifest
from autograder.diagnoses import ANY, DIAGNOSES, contract_mistakes
from autograder.selftest.bank import alternatives, load_mutants, run_all
from autograder.selftest.degenerate import KINDS

MUTANTS = load_mutants()
ALTERNATIVES = [stem for stem, _ in alternatives()]
WHOLE_BANK = {"test_feedback_never_shows_grader_source"}  # tests that read every verdict there is


def bank_needs(selected):
    """Which parts of the bank the selected tests of this module read: ``(mutant ids, alternatives,
    degenerate)``, each None where every one of them is needed."""
    mine = [item for item in selected if item.module.__name__ == __name__]
    params = [item.callspec.params for item in mine if hasattr(item, "callspec")]
    mutants = {p["mutant"].id for p in params if "mutant" in p}
    whole = any(item.originalname in WHOLE_BANK for item in mine)
    return (None if whole else mutants, whole or any("alternative" in p for p in params),
            whole or any("kind" in p for p in params))


def passes(verdict):
    """Fail the test with the verdict's problems, one a line."""
    if not verdict.ok:
        pytest.fail(f"{verdict.name}:\n" + "\n".join(verdict.problems), pytrace=False)


@pytest.fixture(scope="session")
def verdicts(request):
    """Every verdict the selected tests read, by name, graded in one run of the bank."""
    mutant_ids, with_alternatives, with_degenerate = bank_needs(request.session.items)
    assignment = manifest.load("modules")
    # the bank grades its degenerate submissions only along with every mutant
    mutants = None if with_degenerate or mutant_ids is None else [m for m in MUTANTS if m.id in mutant_ids]
    graded = run_all(assignment, mutants=mutants, include_alternatives=with_alternatives,
                     jobs=min(2, os.cpu_count() or 1))
    return {v.name: v for v in graded}


def test_the_bank_is_large_enough_and_covers_every_contract_mistake():
    assert len(MUTANTS) >= 155
    assert all(m.fails for m in MUTANTS), [m.id for m in MUTANTS if not m.fails]
    assert len(ALTERNATIVES) >= 10
    covered = {(m.item, m.diagnosis) for m in MUTANTS}
    required = contract_mistakes()
    assert {pair for pair in required if pair[0] != ANY} - covered == set()
    assert {key for item, key in required if item == ANY} <= {m.diagnosis for m in MUTANTS}
    items = manifest.load("modules").main_only().items  # the bank's single files stand for the main notebook
    assert {m.item for m in MUTANTS} == set(items), "every item has at least one mutant"
    assert {m.diagnosis for m in MUTANTS} - set(DIAGNOSES) == set(), "every mutant's diagnosis has words"


def test_reference_gets_full_marks(verdicts):
    passes(verdicts["reference"])


def test_stub_gets_zero_with_one_clear_message_per_item(verdicts):
    verdict = verdicts["stub"]
    passes(verdict)
    text = verdict.results.to_markdown()
    assert text.count("Not implemented yet") == len(manifest.load("modules").main_only().items)
    assert "Traceback" not in text


@pytest.mark.parametrize("mutant", [pytest.param(m, id=m.id, marks=getattr(pytest.mark, m.item)) for m in MUTANTS])
def test_mutant_loses_points_on_its_item_only_and_is_named(verdicts, mutant):
    """The mutant loses points on its own item only, fails exactly the tests that own the
    property it breaks (its `fails`), and the message names its mistake (its diagnosis): no
    failing test says only that the result differs."""
    passes(verdicts[mutant.id])


@pytest.mark.parametrize("kind", KINDS)
def test_degenerate_submission_earns_only_what_it_cannot_affect(verdicts, kind):
    """Zeros, constants, identity layers and code that ignores its input score 0 on every test
    that judges what their methods compute."""
    verdict = verdicts[f"degenerate {kind}"]
    passes(verdict)
    if kind == "zeros":
        score = verdict.results.score
        assert score <= 12, score  # constructors, getters, zeroing, the container's plumbing


@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_alternative_solution_gets_full_marks(verdicts, alternative):
    passes(verdicts[f"alternative {alternative}"])


def test_feedback_never_shows_grader_source(verdicts):
    """Mutants are reference code, so their own tracebacks may quote it; grader code never appears."""
    from pathlib import Path

    import autograder

    graders = Path(autograder.__file__).parent / "graders"
    secrets = {line.strip() for path in graders.glob("*.py") for line in path.read_text().splitlines()
               if len(line.strip()) > 30 and not line.strip().startswith(("#", '"""'))}
    for verdict in verdicts.values():
        for test in verdict.results.tests:
            leaked = [line for line in secrets if line in test.output]
            assert not leaked, (verdict.name, test.name, leaked[:2])
