"""Batch normalization and the learnable per-feature scale and shift that follows it."""
import numpy as np

from .base import Module, check_2d


class BatchNormalization(Module):
    """Normalizes each feature over the batch (no learnable parameters).

    Training: ``(x - batch_mean) / sqrt(batch_var + EPS)`` with the biased batch
    variance, and the moving statistics follow
    ``moving = alpha * moving + (1 - alpha) * batch``.
    Evaluation: the moving statistics take the place of the batch statistics.
    """

    EPS = 1e-3

    def __init__(self, alpha=0.0):
        super().__init__()
        self.alpha = alpha
        self.moving_mean = None
        self.moving_variance = None

    def updateOutput(self, input):
        check_2d(input, "BatchNormalization")
        if self.training:
            mean = input.mean(axis=0)
            var = input.var(axis=0)
            if self.moving_mean is None:
                self.moving_mean = np.zeros(input.shape[1])
                self.moving_variance = np.ones(input.shape[1])
            self.moving_mean = self.alpha * self.moving_mean + (1 - self.alpha) * mean
            self.moving_variance = self.alpha * self.moving_variance + (1 - self.alpha) * var
        else:
            if self.moving_mean is None:
                raise RuntimeError("BatchNormalization is in evaluation mode but has seen no training batch")
            mean, var = self.moving_mean, self.moving_variance
        self.output = (input - mean) / np.sqrt(var + self.EPS)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if not self.training:
            self.gradInput = gradOutput / np.sqrt(self.moving_variance + self.EPS)
            return self.gradInput
        # y = (x - mu) * r with r = 1 / sqrt(var + EPS); differentiating mu and var too gives
        # dx = r * (g - mean(g) - y * mean(g * y)), the means taken over the batch
        inv_std = 1.0 / np.sqrt(input.var(axis=0) + self.EPS)
        normalized = (input - input.mean(axis=0)) * inv_std
        self.gradInput = inv_std * (
            gradOutput
            - gradOutput.mean(axis=0)
            - normalized * (gradOutput * normalized).mean(axis=0)
        )
        return self.gradInput

    def __repr__(self):
        return f"BatchNormalization(alpha={self.alpha})"


class ChannelwiseScaling(Module):
    """``output = input * gamma + beta`` with one ``gamma`` and ``beta`` per feature."""

    def __init__(self, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_out)
        self.gamma = np.random.uniform(-bound, bound, size=n_out)
        self.beta = np.random.uniform(-bound, bound, size=n_out)
        self.gradGamma = np.zeros_like(self.gamma)
        self.gradBeta = np.zeros_like(self.beta)

    def updateOutput(self, input):
        self.output = input * self.gamma + self.beta
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * self.gamma
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        self.gradGamma += (gradOutput * input).sum(axis=0)
        self.gradBeta += gradOutput.sum(axis=0)

    def getParameters(self):
        return [self.gamma, self.beta]

    def getGradParameters(self):
        return [self.gradGamma, self.gradBeta]

    def __repr__(self):
        return f"ChannelwiseScaling({self.gamma.shape[0]})"
