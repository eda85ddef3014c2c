"""Flatten: (N, ...) -> (N, -1)."""
from .base import Module


class Flatten(Module):
    def updateOutput(self, input):
        self.output = input.reshape(len(input), -1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput.reshape(input.shape)
        return self.gradInput
