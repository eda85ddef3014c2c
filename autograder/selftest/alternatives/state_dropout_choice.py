# extends: reference
# Dropout drawing the scaled mask directly with np.random.choice over {0, 1 / (1 - p)}.


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p
        self.mask = None

    def updateOutput(self, input):
        if self.training:
            self.mask = np.random.choice([0.0, 1.0 / (1.0 - self.p)], size=input.shape, p=[self.p, 1.0 - self.p])
        else:
            self.mask = np.ones_like(input)
        self.output = np.multiply(input, self.mask)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.multiply(gradOutput, self.mask)
        return self.gradInput
