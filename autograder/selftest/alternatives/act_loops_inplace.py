# extends: reference
# Row loops, in-place operations on copies, masks and np.where with an exp that may overflow
# where its value is not used (NumPy warns; the results are right).


class SoftMax(Module):
    def updateOutput(self, input):
        out = np.empty_like(input, dtype=float)
        for i, row in enumerate(input):
            e = np.exp(row - np.max(row))
            out[i] = e / np.sum(e)
        self.output = out
        return self.output

    def updateGradInput(self, input, gradOutput):
        grad = np.empty_like(gradOutput, dtype=float)
        for i in range(input.shape[0]):
            s = self.output[i]
            jacobian = np.diag(s) - np.outer(s, s)
            grad[i] = jacobian @ gradOutput[i]
        self.gradInput = grad
        return self.gradInput


class LogSoftMax(Module):
    def updateOutput(self, input):
        out = np.array(input, dtype=float, copy=True)
        np.subtract(out, out.max(axis=1, keepdims=True), out=out)
        lse = np.log(np.exp(out).sum(axis=1, keepdims=True))
        np.subtract(out, lse, out=out)
        self.output = out
        return self.output

    def updateGradInput(self, input, gradOutput):
        grad = gradOutput.copy()
        grad -= np.exp(self.output) * gradOutput.sum(axis=1, keepdims=True)
        self.gradInput = grad
        return self.gradInput


class LeakyReLU(Module):
    def __init__(self, slope=0.03):
        super().__init__()
        self.slope = slope

    def updateOutput(self, input):
        self.output = input * np.where(input > 0, 1.0, self.slope)
        return self.output

    def updateGradInput(self, input, gradOutput):
        mask = (input > 0).astype(float)
        self.gradInput = gradOutput * (mask + self.slope * (1 - mask))
        return self.gradInput


class ELU(Module):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def updateOutput(self, input):
        self.output = np.where(input > 0, input, self.alpha * (np.exp(input) - 1))
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput * np.where(input > 0, 1.0, self.alpha * np.exp(input))
        return self.gradInput


class SoftPlus(Module):
    def updateOutput(self, input):
        self.output = np.log1p(np.exp(-np.abs(input))) + np.maximum(input, 0)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput / (1 + np.exp(-input))
        return self.gradInput
