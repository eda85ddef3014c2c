# extends: reference
# Dropout drawing a boolean keep-mask with np.random.binomial; the scale is applied separately,
# evaluation returns the input array itself.


class Dropout(Module):
    def __init__(self, p=0.5):
        super(Dropout, self).__init__()
        self.p = p
        self.mask = None

    def updateOutput(self, input):
        if not self.training:
            self.output = input
            return self.output
        self.mask = np.random.binomial(1, 1 - self.p, size=input.shape).astype(bool)
        self.output = np.where(self.mask, input, 0.0) * (1.0 / (1.0 - self.p))
        return self.output

    def updateGradInput(self, input, gradOutput):
        if not self.training:
            self.gradInput = gradOutput
        else:
            self.gradInput = np.where(self.mask, gradOutput, 0.0) / (1.0 - self.p)
        return self.gradInput
