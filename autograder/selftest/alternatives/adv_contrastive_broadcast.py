# extends: reference
# ClassContrastiveCriterion by broadcasting the (N, N, d) pairwise differences; the loss
# returned as a 0-d array.


class ClassContrastiveCriterion(Criterion):
    def __init__(self, M):
        super().__init__()
        self.M = M

    def _parts(self, input, target):
        diff = input[:, None, :] - input[None, :, :]              # (N, N, d)
        dist = np.sqrt(np.maximum((diff ** 2).sum(axis=2), 0.0))  # (N, N)
        same = np.equal.outer(target, target)
        pos = same.copy()
        np.fill_diagonal(pos, False)
        neg = ~same
        return diff, dist, pos.astype(float), neg.astype(float)

    def updateOutput(self, input, target):
        _, dist, pos, neg = self._parts(input, target)
        n_pos, n_neg = pos.sum(), neg.sum()
        pos_term = (pos * dist ** 2).sum() / n_pos if n_pos else 0.0
        neg_term = (neg * np.clip(self.M - dist, 0, None) ** 2).sum() / n_neg if n_neg else 0.0
        self.output = np.array(pos_term + neg_term)
        return self.output

    def updateGradInput(self, input, target):
        diff, dist, pos, neg = self._parts(input, target)
        n_pos, n_neg = pos.sum(), neg.sum()
        # d(d_ij)/d(x_i) = diff_ij / d_ij; the pair (j, i) doubles every term
        weight = np.zeros_like(dist)
        if n_pos:
            weight += pos * 2.0 / n_pos                                # from d^2: 2 d * diff / d
        if n_neg:
            hinge = np.clip(self.M - dist, 0, None)
            with np.errstate(divide="ignore", invalid="ignore"):
                w_neg = np.where(dist > 0, -2.0 * hinge / dist, 0.0)
            weight += neg * w_neg / n_neg
        self.gradInput = 2.0 * np.einsum("ij,ijd->id", weight, diff)
        return self.gradInput
