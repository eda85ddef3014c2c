"""Losses. Criterions are the only place that divides by the batch size."""
import numpy as np

from .base import Criterion, check_2d, check_same_shape


def cdist(a, b):
    """Euclidean distances between the rows of ``a`` and those of ``b``: SciPy's, imported when a
    contrastive loss is first computed, not when this package is (the autograder imports it
    with the graders, ``runner.REFERENCE_EXTRAS``). Its speed is the baseline the graders hold a
    student's distances to, so it stays SciPy's compiled loop."""
    from scipy.spatial.distance import cdist as scipy_cdist

    return scipy_cdist(a, b)


class MSECriterion(Criterion):
    """``sum((input - target)^2) / N``."""

    def updateOutput(self, input, target):
        check_same_shape(input, target, "MSECriterion input", "target")
        self.output = np.sum((input - target) ** 2) / input.shape[0]
        return self.output

    def updateGradInput(self, input, target):
        self.gradInput = 2 * (input - target) / input.shape[0]
        return self.gradInput


class ClassNLLCriterionUnstable(Criterion):
    """Negative log-likelihood of probabilities (e.g. SoftMax output) and one-hot targets."""

    EPS = 1e-15

    def updateOutput(self, input, target):
        check_same_shape(input, target, "ClassNLLCriterionUnstable input", "one-hot target")
        clipped = np.clip(input, self.EPS, 1 - self.EPS)
        self.output = -np.sum(target * np.log(clipped)) / input.shape[0]
        return self.output

    def updateGradInput(self, input, target):
        clipped = np.clip(input, self.EPS, 1 - self.EPS)
        self.gradInput = -target / clipped / input.shape[0]
        return self.gradInput


class ClassNLLCriterion(Criterion):
    """Negative log-likelihood of log-probabilities (LogSoftMax output) and one-hot targets."""

    def updateOutput(self, input, target):
        check_same_shape(input, target, "ClassNLLCriterion input", "one-hot target")
        self.output = -np.sum(target * input) / input.shape[0]
        return self.output

    def updateGradInput(self, input, target):
        self.gradInput = -target / input.shape[0]
        return self.gradInput


class ClassContrastiveCriterion(Criterion):
    """Contrastive loss on embeddings ``(N, d)`` with integer labels ``(N,)``.

    Over all pairs ``i != j`` with Euclidean distance ``d_ij``: the mean of ``d_ij^2``
    over positive pairs (same label) plus the mean of ``max(0, M - d_ij)^2`` over
    negative pairs. A mean over no pairs is 0.
    """

    def __init__(self, M):
        super().__init__()
        self.M = M

    def _pairs(self, input, target):
        check_2d(input, "ClassContrastiveCriterion")
        target = np.asarray(target)
        if target.shape != (input.shape[0],):
            raise ValueError(
                f"ClassContrastiveCriterion expects integer labels of shape ({input.shape[0]},), "
                f"got shape {target.shape}"
            )
        same = target[:, None] == target[None, :]
        off_diagonal = ~np.eye(len(target), dtype=bool)
        positive = same & off_diagonal
        negative = ~same
        return cdist(input, input), positive, negative

    def updateOutput(self, input, target):
        dist, positive, negative = self._pairs(input, target)
        loss = 0.0
        if positive.any():
            loss += np.mean(dist[positive] ** 2)
        if negative.any():
            loss += np.mean(np.maximum(0, self.M - dist[negative]) ** 2)
        self.output = loss
        return self.output

    def updateGradInput(self, input, target):
        dist, positive, negative = self._pairs(input, target)
        # Each pair term f(d_ij) sends f'(d_ij) (x_i - x_j) / d_ij to x_i, and the pair (j, i)
        # sends the same again, so with C_ij = 2 w_ij f'(d_ij) / d_ij the gradient is
        # sum_j C_ij (x_i - x_j) = x_i * sum_j C_ij - (C @ x)_i.
        coef = np.zeros_like(dist)
        if positive.any():
            coef[positive] = 2 * 2.0 / positive.sum()  # f = d^2, f'/d = 2
        if negative.any():
            d = dist[negative]
            hinge = np.maximum(0, self.M - d)
            safe_d = np.where(d > 0, d, 1.0)
            coef[negative] = np.where(d > 0, 2 * (-2 * hinge / safe_d) / negative.sum(), 0.0)
        self.gradInput = input * coef.sum(axis=1, keepdims=True) - coef @ input
        return self.gradInput

    def __repr__(self):
        return f"ClassContrastiveCriterion(M={self.M})"
