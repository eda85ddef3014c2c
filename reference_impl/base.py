"""The two base classes every layer and loss derives from (Torch7's legacy API)."""
import numpy as np


class Module:
    """A layer: ``forward`` computes ``output``, ``backward`` computes ``gradInput``.

    Subclasses implement the three hooks:

    * ``updateOutput(input)`` stores and returns ``self.output``;
    * ``updateGradInput(input, gradOutput)`` stores and returns ``self.gradInput``,
      the gradient of the loss with respect to ``input`` (same shape as ``input``);
    * ``accGradParameters(input, gradOutput)`` *adds* the parameter gradients to the
      ``grad*`` arrays, so that they accumulate until ``zeroGradParameters()``.
    """

    def __init__(self):
        self.output = None
        self.gradInput = None
        self.training = True

    def forward(self, input):
        return self.updateOutput(input)

    def backward(self, input, gradOutput):
        self.updateGradInput(input, gradOutput)
        self.accGradParameters(input, gradOutput)
        return self.gradInput

    def updateOutput(self, input):
        raise NotImplementedError

    def updateGradInput(self, input, gradOutput):
        raise NotImplementedError

    def accGradParameters(self, input, gradOutput):
        """Layers without parameters have nothing to accumulate."""

    def zeroGradParameters(self):
        for grad in self.getGradParameters():
            grad.fill(0)

    def getParameters(self):
        """The parameter arrays themselves (not copies), so optimizers update them in place."""
        return []

    def getGradParameters(self):
        """The gradient arrays, in the same order as ``getParameters()``."""
        return []

    def train(self):
        self.training = True

    def evaluate(self):
        self.training = False

    def __repr__(self):
        return f"{type(self).__name__}()"


class Criterion:
    """A loss: ``forward`` gives a scalar ``output``, ``backward`` its gradient w.r.t. the input."""

    def __init__(self):
        self.output = None
        self.gradInput = None

    def forward(self, input, target):
        return self.updateOutput(input, target)

    def backward(self, input, target):
        return self.updateGradInput(input, target)

    def updateOutput(self, input, target):
        raise NotImplementedError

    def updateGradInput(self, input, target):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_2d(input, name):
    """Raise a clear error unless ``input`` is a 2-D batch ``(N, features)``."""
    if np.ndim(input) != 2:
        raise ValueError(f"{name} expects a 2-D input (batch, features), got shape {np.shape(input)}")


def check_same_shape(a, b, what_a, what_b):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{what_a} has shape {np.shape(a)} but {what_b} has shape {np.shape(b)}")
