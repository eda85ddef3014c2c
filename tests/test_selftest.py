"""Grader quality: the reference scores full marks, the stub scores 0 with one clear message per
item, every mutant (one known mistake) loses points on its own item only and is named, and
every alternative correct solution scores full marks. `autograder selftest` runs the same checks."""
import os

import pytest

from autograder import manifest
from autograder.selftest.bank import alternatives, load_mutants, run_all

# Every mistake SPEC.md says the graders must recognise, as (item, diagnosis).
SPEC_MISTAKES = {
    ("SoftMax", "softmax_overflow"), ("LogSoftMax", "softmax_overflow"),
    ("SoftMax", "softmax_wrong_axis"), ("LogSoftMax", "softmax_wrong_axis"),
    ("ClassNLLCriterion", "not_divided_by_batch"), ("ClassNLLCriterionUnstable", "not_divided_by_batch"),
    ("Linear", "grad_overwritten"), ("Linear", "grad_not_zeroed"), ("Linear", "linear_weight_transposed"),
    ("Sequential", "sequential_container_input"), ("Sequential", "sequential_first_module_only"),
    ("Dropout", "dropout_keep_probability"), ("Dropout", "dropout_no_rescale"), ("Dropout", "dropout_row_mask"),
    ("Dropout", "dropout_stale_mask"), ("Dropout", "dropout_masks_in_eval"),
    ("BatchNormalization", "batchnorm_unbiased_variance"), ("BatchNormalization", "batchnorm_moving_in_train"),
    ("BatchNormalization", "batchnorm_moving_not_updated"), ("BatchNormalization", "batchnorm_eval_batch_size"),
    ("ELU", "elu_overflow"), ("SoftPlus", "softplus_overflow"),
    ("Conv2d", "conv_flipped_kernel"), ("Conv2d", "conv_wrong_padding"), ("Conv2d", "grad_overwritten"),
    ("Conv2d", "parameters_not_returned"),
    ("MaxPool2d", "maxpool_wrong_position"), ("MaxPool2d", "maxpool_all_ties"),
    ("adam_optimizer", "adam_no_bias_correction"), ("adam_optimizer", "optimizer_state_not_kept"),
}
GENERIC_MISTAKES = {"returns_none", "input_mutated"}


@pytest.fixture(scope="module")
def verdicts():
    return {v.name: v for v in run_all(manifest.load("modules"), jobs=min(2, os.cpu_count() or 1))}


def test_the_bank_is_large_enough_and_covers_every_spec_mistake():
    mutants = load_mutants()
    assert len(mutants) >= 155
    assert all(m.fails for m in mutants), [m.id for m in mutants if not m.fails]
    assert len(alternatives()) >= 10
    covered = {(m.item, m.diagnosis) for m in mutants}
    assert SPEC_MISTAKES - covered == set()
    assert GENERIC_MISTAKES <= {m.diagnosis for m in mutants}
    items = manifest.load("modules").main_only().items  # the bank's single files stand for the main notebook
    assert {m.item for m in mutants} == set(items), "every item has at least one mutant"


def test_reference_gets_full_marks(verdicts):
    verdict = verdicts["reference"]
    assert verdict.ok, verdict.problems


def test_stub_gets_zero_with_one_clear_message_per_item(verdicts):
    verdict = verdicts["stub"]
    assert verdict.ok, verdict.problems
    from autograder.results import feedback_markdown

    text = feedback_markdown(verdict.results)
    assert text.count("Not implemented yet") == len(manifest.load("modules").main_only().items)
    assert "Traceback" not in text


def test_every_mutant_loses_points_on_its_item_only_and_is_named(verdicts):
    """Each mutant loses points on its own item only, fails exactly the tests that own the
    property it breaks (its `fails`), and the message names its mistake (its diagnosis): no
    failing test says only that the result differs."""
    failures = {v.name: v.problems for v in verdicts.values() if v.name in {m.id for m in load_mutants()} and not v.ok}
    assert failures == {}


def test_degenerate_submissions_earn_only_what_they_cannot_affect(verdicts):
    """Zeros, constants, identity layers and code that ignores its input score 0 on every test
    that judges what their methods compute."""
    degenerate = {v.name: v for v in verdicts.values() if v.name.startswith("degenerate ")}
    assert len(degenerate) == 4
    assert {name: v.problems for name, v in degenerate.items() if not v.ok} == {}
    zeros = degenerate["degenerate zeros"].results
    assert zeros["score"] <= 12, zeros["score"]  # constructors, getters, zeroing, the container's plumbing


def test_every_alternative_solution_gets_full_marks(verdicts):
    failures = {v.name: v.problems for v in verdicts.values() if v.name.startswith("alternative ") and not v.ok}
    assert failures == {}


def test_feedback_never_shows_grader_source(verdicts):
    """Mutants are reference code, so their own tracebacks may quote it; grader code never appears."""
    from pathlib import Path

    import autograder

    graders = Path(autograder.__file__).parent / "graders"
    secrets = {line.strip() for path in graders.glob("*.py") for line in path.read_text().splitlines()
               if len(line.strip()) > 30 and not line.strip().startswith(("#", '"""'))}
    for verdict in verdicts.values():
        for test in verdict.results["tests"]:
            leaked = [line for line in secrets if line in test["output"]]
            assert not leaked, (verdict.name, test["name"], leaked[:2])
