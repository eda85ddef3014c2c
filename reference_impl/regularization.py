"""Dropout."""
import numpy as np

from .base import Module


class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and rescales the rest by ``1 / (1 - p)``.

    A fresh mask is drawn at every training forward pass; backward reuses it.
    In evaluation mode the layer is the identity.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.mask = None

    def updateOutput(self, input):
        if self.training and self.p > 0:
            keep = np.random.random_sample(input.shape) >= self.p
            self.mask = keep / (1.0 - self.p)
            self.output = input * self.mask
        else:
            self.mask = None
            self.output = input.copy()
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.mask is None:
            self.gradInput = gradOutput.copy()
        else:
            self.gradInput = gradOutput * self.mask
        return self.gradInput

    def __repr__(self):
        return f"Dropout(p={self.p})"
