"""Linear (fully connected) layer."""
import numpy as np

from .base import Module, check_2d


class Linear(Module):
    """``output = input @ W.T + b`` with ``W`` of shape ``(n_out, n_in)`` and ``b`` of ``(n_out,)``."""

    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)
        self.W = np.random.uniform(-bound, bound, size=(n_out, n_in))
        self.b = np.random.uniform(-bound, bound, size=n_out)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def updateOutput(self, input):
        check_2d(input, "Linear")
        if input.shape[1] != self.W.shape[1]:
            raise ValueError(f"Linear expects {self.W.shape[1]} input features, got shape {input.shape}")
        self.output = input @ self.W.T + self.b
        return self.output

    def updateGradInput(self, input, gradOutput):
        # d(x W^T)/dx applied to g:  g W,  shape (N, n_in)
        self.gradInput = gradOutput @ self.W
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        self.gradW += gradOutput.T @ input
        self.gradb += gradOutput.sum(axis=0)

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]

    def __repr__(self):
        n_out, n_in = self.W.shape
        return f"Linear {n_in} -> {n_out}"
