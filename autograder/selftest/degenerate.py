"""Honest but degenerate submissions: code that runs and returns arrays of the right shape but
computes nothing from its input. Each must score 0 on every test its degenerate methods
affect; :data:`UNAFFECTED` lists, per kind, the tests that judge only code the kind leaves
untouched (constructors, parameter getters, modes), with the reason.

A kind is the reference with its graded forward and backward methods wrapped (after the
classes are defined, as a last cell):

- ``zeros``: every output, gradient and loss is zero; parameter gradients never change; the
  optimizers do nothing;
- ``constant``: every output, gradient and loss is 0.5; parameter gradients grow by 0.5 per
  backward; the optimizers subtract 0.01 whatever the gradients;
- ``identity``: layers hand back their input (forward) or gradOutput (backward) where the
  shapes allow, else zeros; parameter gradients never change; criterions and optimizers as
  in ``zeros``;
- ``ignores_input``: every method computes the reference's result for a fixed random input
  of the same shape instead of its own input; the optimizers step along a fixed gradient.
"""
from .reference_submission import reference_source

KINDS = ("zeros", "constant", "identity", "ignores_input")

MODULES = ["Sequential", "Linear", "SoftMax", "LogSoftMax", "BatchNormalization", "Dropout", "LeakyReLU", "ELU",
           "SoftPlus", "Conv2d", "MaxPool2d"]
CRITERIONS = ["MSECriterion", "ClassNLLCriterionUnstable", "ClassNLLCriterion", "ClassContrastiveCriterion"]
OPTIMIZERS = ["sgd_momentum", "adam_optimizer"]

# Tests a kind cannot affect: what they judge is code the kind does not change.
# the constructors, zeroGradParameters on gradients written into the layer, and the parameter
# getter (its arrays are read back after an optimizer's step through it)
_CONSTRUCTION = {
    "Linear": {"initialisation", "zero_grad", "parameters_by_reference"},
    "Conv2d": {"initialisation", "zero_grad", "parameters_by_reference"},
    "Sequential": {"getitem", "train_evaluate"},  # judged on probe modules' own forward and mode flags
}
_SEQUENTIAL = {"getitem", "train_evaluate", "parameters", "zero_grad"}  # the container's plumbing, on probes
UNAFFECTED = {
    "zeros": dict(_CONSTRUCTION, Sequential=_SEQUENTIAL),
    "constant": dict(_CONSTRUCTION, Sequential=_SEQUENTIAL),
    # Dropout in evaluation mode and with p = 0 is the identity: handing back the input is right there
    "identity": dict(_CONSTRUCTION, Sequential=_SEQUENTIAL, Dropout={"eval", "p_zero"}),
    # NLL's true gradient, -target / N, does not depend on the input at all
    "ignores_input": dict(_CONSTRUCTION, Sequential=_SEQUENTIAL, ClassNLLCriterion={"grad_input"}),
}

_PATCH = '''
import copy as _copy

import numpy as _np


def _fixed_like(value, salt=0):
    value = _np.asarray(value, dtype=float)
    return _np.random.RandomState(1234 + salt).standard_normal(value.shape) * 0.7 + 0.2


def _make(kind, result, given=None):
    result = _np.asarray(result, dtype=float)
    if kind == "constant":
        return _np.full_like(result, 0.5)
    if kind == "identity" and given is not None and _np.shape(given) == result.shape:
        return _np.array(given, dtype=float)
    return _np.zeros_like(result)


def _degenerate_module(cls, kind):
    own = cls.__dict__
    if "updateOutput" in own:
        original = own["updateOutput"]

        def updateOutput(self, input, _original=original):
            if kind == "ignores_input":
                self.output = _original(self, _fixed_like(input))
            else:  # the result's shape from a throw-away copy: the layer itself computes nothing
                self.output = _make(kind, _original(_copy.deepcopy(self), input), input)
            return self.output
        cls.updateOutput = updateOutput
    for name in ("updateGradInput", "backward"):  # Sequential walks its modules in backward itself
        if name in own:
            setattr(cls, name, _gradient(own[name], kind))
    if "accGradParameters" in own:
        original = own["accGradParameters"]

        def accGradParameters(self, input, gradOutput, _original=original):
            if kind == "ignores_input":
                _original(self, _fixed_like(input), _fixed_like(gradOutput, 1))
            elif kind == "constant":
                for grad in self.getGradParameters():
                    grad += 0.5
        cls.accGradParameters = accGradParameters


def _gradient(original, kind):
    def gradient(self, input, gradOutput):
        if kind == "ignores_input":
            self.gradInput = original(self, _fixed_like(input), _fixed_like(gradOutput, 1))
        else:
            self.gradInput = _make(kind, original(_copy.deepcopy(self), input, gradOutput), gradOutput)
        return self.gradInput
    return gradient


def _degenerate_criterion(cls, kind):
    own = cls.__dict__
    forward, backward = own["updateOutput"], own["updateGradInput"]

    def updateOutput(self, input, target, _original=forward):
        if kind == "ignores_input":
            self.output = _original(self, _fixed_like(input) if input.ndim == 2 and input.dtype.kind == "f"
                                    else input, target)
        else:
            self.output = 0.5 if kind == "constant" else 0.0
        return self.output

    def updateGradInput(self, input, target, _original=backward):
        if kind == "ignores_input":
            self.gradInput = _original(self, _fixed_like(input), target)
        else:
            self.gradInput = _make("constant" if kind == "constant" else "zeros", _original(self, input, target))
        return self.gradInput
    cls.updateOutput, cls.updateGradInput = updateOutput, updateGradInput


def _degenerate_optimizer(function, kind):
    def step(variables, gradients, config, state):
        if kind == "constant":
            for layer in variables:
                for var in layer:
                    var -= 0.01
        elif kind == "ignores_input":
            function(variables, [[_np.full_like(g, 0.1) for g in layer] for layer in gradients], config, state)
    return step
'''


def degenerate_source(kind):
    """The reference as a submission, with every graded method made degenerate in the way ``kind`` says."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    lines = [_PATCH, f"_KIND = {kind!r}"]
    lines += [f"_degenerate_module({name}, _KIND)" for name in MODULES]
    lines += [f"_degenerate_criterion({name}, _KIND)" for name in CRITERIONS]
    lines += [f"{name} = _degenerate_optimizer({name}, _KIND)" for name in OPTIMIZERS]
    return reference_source() + "\n\n" + "\n".join(lines) + "\n"
