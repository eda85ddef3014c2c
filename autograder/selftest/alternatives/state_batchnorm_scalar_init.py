# extends: reference
# BatchNormalization that starts its moving statistics from the scalars 0 and 1 set in the
# constructor, updates them in place once they are arrays, computes the biased moving variance,
# and writes the training backward as one expression over the batch sums (N g - sum g - y sum(g y)).


class BatchNormalization(Module):
    EPS = 1e-3

    def __init__(self, alpha=0.):
        super().__init__()
        self.alpha = alpha
        self.moving_mean = 0.
        self.moving_variance = 1.

    def updateOutput(self, input):
        if self.training:
            mean = np.mean(input, axis=0)
            var = np.var(input, axis=0)
            if np.ndim(self.moving_mean) == 0:
                self.moving_mean = np.full(input.shape[1], self.moving_mean, dtype=float)
                self.moving_variance = np.full(input.shape[1], self.moving_variance, dtype=float)
            self.moving_mean *= self.alpha
            self.moving_mean += (1 - self.alpha) * mean
            self.moving_variance *= self.alpha
            self.moving_variance += (1 - self.alpha) * var
        else:
            mean, var = self.moving_mean, self.moving_variance
        self.output = np.subtract(input, mean)
        self.output /= np.sqrt(var + self.EPS)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if self.training:
            n = input.shape[0]
            std = np.sqrt(np.var(input, axis=0) + self.EPS)
            y = (input - input.mean(axis=0)) / std
            sum_g = np.einsum("ij->j", gradOutput)
            sum_gy = np.einsum("ij,ij->j", gradOutput, y)
            self.gradInput = (n * gradOutput - sum_g - y * sum_gy) / (n * std)
        else:
            self.gradInput = gradOutput / np.sqrt(self.moving_variance + self.EPS)
        return self.gradInput
