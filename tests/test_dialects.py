"""The three naming schemes of the course: their names, and how a submission's dialect is told
from the names it defines. Fast: no sandbox, the detection is fed the names directly."""
import pytest

from autograder.dialects import DIALECTS, PRIVATE_HOOKS, SNAKE, TORCH_LEGACY, by_name, detect


def classes_with(*hooks):
    """What ``inspect`` reports for a submission whose classes each define one of ``hooks``."""
    return {f"Layer{i}": ["forward", "backward", hook] for i, hook in enumerate(hooks)}


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_each_dialect_is_detected_from_its_own_hooks(dialect):
    classes = classes_with(dialect.forward_hook, dialect.grad_input_hook, dialect.grad_params_hook)
    assert detect(classes) is dialect


def test_the_majority_of_hook_names_decides():
    classes = classes_with("update_output", "update_grad_input", "updateOutput")
    assert detect(classes) is SNAKE


def test_a_tie_goes_to_torch_legacy():
    """A submission that mixes two dialects equally is graded in the default one."""
    assert detect(classes_with("_compute_output", "updateOutput")) is TORCH_LEGACY
    assert detect(classes_with("update_output", "updateOutput")) is TORCH_LEGACY


def test_renamed_classes_and_functions_vote():
    assert detect({"Scaling": [], "NLLCriterion": []}) is SNAKE
    assert detect({}, functions=["SGD"]) is SNAKE
    assert detect({"ChannelwiseScaling": []}, functions=["sgd_momentum"]) is None


def test_nothing_recognisable_is_no_dialect():
    assert detect({}) is None
    assert detect({"Model": ["forward", "backward", "fit"]}, functions=["train"]) is None


def test_only_the_snake_dialect_renames_classes():
    assert SNAKE.name_of("ClassNLLCriterion") == "NLLCriterion"
    assert SNAKE.name_of("ChannelwiseScaling") == "Scaling"
    assert SNAKE.name_of("sgd_momentum") == "SGD"
    assert SNAKE.name_of("Linear") == "Linear"
    for dialect in (TORCH_LEGACY, PRIVATE_HOOKS):
        assert dialect.name_of("ClassNLLCriterion") == "ClassNLLCriterion"
        assert dialect.name_of("sgd_momentum") == "sgd_momentum"


def test_only_the_snake_dialect_stores_linear_weights_in_by_out():
    assert [d.name for d in DIALECTS if d.linear_weight_is_in_by_out] == ["snake"]
    assert [d.name for d in DIALECTS if d.scaling_parameters_are_rows] == ["snake"]


def test_probe_hooks_name_the_dialects_methods_and_attributes():
    hooks = PRIVATE_HOOKS.probe_hooks()
    assert hooks == {
        "forward": "_compute_output", "grad_input": "_compute_input_grad", "grad_params": "_update_parameters_grad",
        "zero": "zero_grad", "params": "get_parameters", "grads": "get_parameters_grad",
        "output_attr": "_output", "grad_input_attr": "_input_grad",
    }
    assert TORCH_LEGACY.probe_hooks()["grad_input_attr"] == "gradInput"


def test_dialects_are_found_by_name():
    assert [by_name(d.name) for d in DIALECTS] == list(DIALECTS)
    with pytest.raises(KeyError):
        by_name("camelCase")


def test_the_names_of_the_dialects_differ_where_the_contract_says():
    """Every hook name belongs to one dialect only: a submission's hooks point to one dialect."""
    hooks = [(d.forward_hook, d.grad_input_hook, d.grad_params_hook) for d in DIALECTS]
    flat = [name for triple in hooks for name in triple]
    assert len(flat) == len(set(flat))
