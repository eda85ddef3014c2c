"""The three naming schemes of the course (docs/module-contract.md, "Dialects") and how to tell them apart."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Dialect:
    name: str
    forward_hook: str
    grad_input_hook: str
    grad_params_hook: str
    zero_grad: str
    get_parameters: str
    get_grad_parameters: str
    output_attr: str
    grad_input_attr: str
    linear_weight_is_in_by_out: bool = False
    scaling_parameters_are_rows: bool = False
    class_names: dict = field(default_factory=dict)  # canonical (torch-legacy) name -> this dialect's name

    def name_of(self, canonical):
        return self.class_names.get(canonical, canonical)

    def probe_hooks(self):
        """The hook names a probe module needs in the worker (see ``worker.make_probe_class``)."""
        return {
            "forward": self.forward_hook, "grad_input": self.grad_input_hook, "grad_params": self.grad_params_hook,
            "zero": self.zero_grad, "params": self.get_parameters, "grads": self.get_grad_parameters,
            "output_attr": self.output_attr, "grad_input_attr": self.grad_input_attr,
        }


TORCH_LEGACY = Dialect(
    "torch-legacy", "updateOutput", "updateGradInput", "accGradParameters", "zeroGradParameters",
    "getParameters", "getGradParameters", "output", "gradInput",
)
SNAKE = Dialect(
    "snake", "update_output", "update_grad_input", "update_grad_params", "zero_grad_params",
    "get_parameters", "get_grad_params", "output", "grad_input",
    linear_weight_is_in_by_out=True, scaling_parameters_are_rows=True,
    class_names={
        "ChannelwiseScaling": "Scaling",
        "ClassNLLCriterion": "NLLCriterion",
        "ClassNLLCriterionUnstable": "NLLCriterionUnstable",
        "sgd_momentum": "SGD",
    },
)
PRIVATE_HOOKS = Dialect(
    "private-hooks", "_compute_output", "_compute_input_grad", "_update_parameters_grad", "zero_grad",
    "get_parameters", "get_parameters_grad", "_output", "_input_grad",
)
DIALECTS = (TORCH_LEGACY, SNAKE, PRIVATE_HOOKS)


def detect(classes, functions=()):
    """The dialect whose hook names the submission's classes define most, or None.

    ``classes`` maps a class name to the attribute names it has (its own and inherited).
    Renamed classes and functions (``Scaling``, ``NLLCriterion``, ``SGD``) count as votes too.
    """
    votes = {}
    for dialect in DIALECTS:
        hooks = {dialect.forward_hook, dialect.grad_input_hook, dialect.grad_params_hook}
        score = sum(1 for attributes in classes.values() if hooks & set(attributes))
        score += sum(1 for name in dialect.class_names.values() if name in classes or name in functions)
        votes[dialect.name] = score
    best = max(DIALECTS, key=lambda d: votes[d.name])  # ties go to the first: torch-legacy
    return best if votes[best.name] > 0 else None


def by_name(name):
    for dialect in DIALECTS:
        if dialect.name == name:
            return dialect
    raise KeyError(name)
