# extends: reference
# BatchNormalization whose moving statistics start from the first batch, with the UNBIASED
# moving variance kept in (1, d) rows, and a backward written out with the explicit chain rule
# through the variance and the mean (cached from forward), not the compact formula.


class BatchNormalization(Module):
    EPS = 1e-3

    def __init__(self, alpha=0.):
        super(BatchNormalization, self).__init__()
        self.alpha = alpha
        self.moving_mean = None
        self.moving_variance = None

    def updateOutput(self, input):
        if self.training:
            n = input.shape[0]
            mu = np.sum(input, axis=0, keepdims=True) / n
            centred = input - mu
            var = np.sum(centred ** 2, axis=0, keepdims=True) / n
            unbiased = var * n / (n - 1)
            if self.moving_mean is None:
                self.moving_mean = mu.copy()
                self.moving_variance = unbiased.copy()
            else:
                self.moving_mean = self.alpha * self.moving_mean + (1 - self.alpha) * mu
                self.moving_variance = self.alpha * self.moving_variance + (1 - self.alpha) * unbiased
            self._centred = centred
            self._var = var
            self.output = centred / np.sqrt(var + self.EPS)
        else:
            self.output = (input - self.moving_mean) / np.sqrt(self.moving_variance + self.EPS)
        return self.output

    def updateGradInput(self, input, gradOutput):
        if not self.training:
            self.gradInput = gradOutput / np.sqrt(self.moving_variance + self.EPS)
            return self.gradInput
        n = input.shape[0]
        centred = input - input.mean(axis=0)
        var = (centred ** 2).mean(axis=0)
        std_inv = 1.0 / np.sqrt(var + self.EPS)
        # y = centred * std_inv; walk back through std_inv(var(x)), centred(x, mu(x)), mu(x)
        d_centred = gradOutput * std_inv
        d_var = np.sum(gradOutput * centred, axis=0) * -0.5 * std_inv ** 3
        d_centred = d_centred + d_var * 2.0 * centred / n
        d_mu = -np.sum(d_centred, axis=0)
        self.gradInput = d_centred + d_mu / n
        return self.gradInput

    def __repr__(self):
        return "BatchNormalization"
