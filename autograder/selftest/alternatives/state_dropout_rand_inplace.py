# extends: reference
# Dropout with np.random.rand, zeroing by boolean indexing and rescaling in place on copies.


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = p
        self.dropped = None

    def updateOutput(self, input):
        self.output = np.array(input, dtype=float, copy=True)
        if self.training:
            self.dropped = np.random.rand(*input.shape) < self.p
            self.output[self.dropped] = 0
            self.output /= 1 - self.p
        else:
            self.dropped = None
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.array(gradOutput, dtype=float, copy=True)
        if self.dropped is not None:
            self.gradInput[self.dropped] = 0
            self.gradInput /= 1 - self.p
        return self.gradInput
