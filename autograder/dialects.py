"""The three naming schemes of the course (docs/module-contract.md, "Dialects") and how to tell them apart."""
import re
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
    grad_output_arg: str = "gradOutput"  # what the course calls backward's second argument (a name only)
    # the parameter gradients' attributes whose names differ from torch-legacy's (gradW, gradb,
    # gradGamma, gradBeta): canonical name -> this dialect's (what its course's notebooks write)
    attribute_names: dict = field(default_factory=dict)

    def name_of(self, canonical):
        return self.class_names.get(canonical, canonical)

    def code_names(self):
        """What each code name of a message template stands for in this dialect: the placeholder
        ``{gradInput}`` (a torch-legacy name in braces) is this dialect's stored input gradient,
        ``{zeroGradParameters}`` its zeroing hook, ``{ClassNLLCriterion}`` its name of the class, and
        the ``linear_*`` placeholders the formulas of its ``Linear.W`` layout (see :data:`CODE_NAMES`)."""
        names = {canonical: getattr(self, field) for canonical, field in CODE_NAMES.items()}
        names.update({canonical: self.attribute_names.get(canonical, canonical) for canonical in GRADIENT_ATTRIBUTES})
        names.update({canonical: self.name_of(canonical) for canonical in RENAMED})
        names.update(self.linear_formulas())
        return names

    def linear_formulas(self):
        """``Linear``'s weight layout, as the messages write it: the shape of ``W``, the forward
        pass, and the input gradient (with this dialect's name of backward's argument)."""
        if self.linear_weight_is_in_by_out:
            return {"linear_W_shape": "(n_in, n_out)", "linear_forward": "input @ W + b",
                    "linear_grad_input": f"{self.grad_output_arg} @ W.T"}
        return {"linear_W_shape": "(n_out, n_in)", "linear_forward": "input @ W.T + b",
                "linear_grad_input": f"{self.grad_output_arg} @ W"}

    def own_shape(self, canonical, parameter, shape):
        """The shape of ``canonical``'s ``parameter`` as the student writes it, from the shape the
        graders see (the canonical layout, ``StudentModule._to_canonical``): for messages only."""
        shape = tuple(shape)
        if canonical == "Linear" and parameter in ("W", "gradW") and self.linear_weight_is_in_by_out:
            return shape[::-1]
        if canonical == "ChannelwiseScaling" and self.scaling_parameters_are_rows and len(shape) == 1:
            return (1,) + shape
        return shape

    def probe_hooks(self):
        """The hook names a probe module needs in the worker (see ``worker.make_probe_class``)."""
        return {
            "forward": self.forward_hook, "grad_input": self.grad_input_hook, "grad_params": self.grad_params_hook,
            "zero": self.zero_grad, "params": self.get_parameters, "grads": self.get_grad_parameters,
            "output_attr": self.output_attr, "grad_input_attr": self.grad_input_attr,
        }


# The placeholders of a message that name the hooks, getters and stored results: the
# torch-legacy name -> the :class:`Dialect` field that holds each dialect's name.
CODE_NAMES = {
    "updateOutput": "forward_hook", "updateGradInput": "grad_input_hook", "accGradParameters": "grad_params_hook",
    "zeroGradParameters": "zero_grad", "getParameters": "get_parameters", "getGradParameters": "get_grad_parameters",
    "gradInput": "grad_input_attr", "gradOutput": "grad_output_arg",
}
GRADIENT_ATTRIBUTES = ("gradW", "gradb", "gradGamma", "gradBeta")
RENAMED = ("ChannelwiseScaling", "ClassNLLCriterion", "ClassNLLCriterionUnstable", "sgd_momentum")

TORCH_LEGACY = Dialect(
    "torch-legacy", "updateOutput", "updateGradInput", "accGradParameters", "zeroGradParameters",
    "getParameters", "getGradParameters", "output", "gradInput",
)
SNAKE = Dialect(
    "snake", "update_output", "update_grad_input", "update_grad_params", "zero_grad_params",
    "get_parameters", "get_grad_params", "output", "grad_input",
    linear_weight_is_in_by_out=True, scaling_parameters_are_rows=True, grad_output_arg="grad_output",
    class_names={
        "ChannelwiseScaling": "Scaling",
        "ClassNLLCriterion": "NLLCriterion",
        "ClassNLLCriterionUnstable": "NLLCriterionUnstable",
        "sgd_momentum": "SGD",
    },
    attribute_names={"gradGamma": "grad_gamma", "gradBeta": "grad_beta"},
)
PRIVATE_HOOKS = Dialect(
    "private-hooks", "_compute_output", "_compute_input_grad", "_update_parameters_grad", "zero_grad",
    "get_parameters", "get_parameters_grad", "_output", "_input_grad", grad_output_arg="output_grad",
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


NAMED_FIELDS = ("forward_hook", "grad_input_hook", "grad_params_hook", "zero_grad", "get_parameters",
                "get_grad_parameters", "grad_input_attr", "grad_output_arg")


def renames(target, source=TORCH_LEGACY):
    """The (old, new) identifier pairs that rewrite code written in ``source``'s names into
    ``target``'s: the hooks, getters, stored gradient, backward's argument and the renamed classes
    and functions. The stored output is an attribute (``.output``), not a bare word: see
    :func:`rename`."""
    pairs = [(getattr(source, name), getattr(target, name)) for name in NAMED_FIELDS]
    pairs += [(source.name_of(canonical), target.name_of(canonical))
              for canonical in sorted(set(source.class_names) | set(target.class_names), key=len, reverse=True)]
    return [(old, new) for old, new in pairs if old != new]


def rename(text, target, source=TORCH_LEGACY):
    """``text`` (Python code) with ``source``'s names replaced by ``target``'s, whole words only;
    the stored output only where it is an attribute (``self.output``), since ``output`` is also
    an ordinary local name."""
    for old, new in renames(target, source):
        text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    if source.output_attr != target.output_attr:
        text = re.sub(rf"\.{re.escape(source.output_attr)}\b", f".{target.output_attr}", text)
    return text


def by_name(name):
    for dialect in DIALECTS:
        if dialect.name == name:
            return dialect
    raise KeyError(name)
