# extends: reference
# SoftMax and LogSoftMax through scipy.special; the backward passes reuse the stored output.
import scipy.special


class SoftMax(Module):
    def updateOutput(self, input):
        self.output = scipy.special.softmax(input, axis=1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        s = self.output
        self.gradInput = s * gradOutput - s * np.einsum("ij,ij->i", s, gradOutput)[:, None]
        return self.gradInput


class LogSoftMax(Module):
    def updateOutput(self, input):
        self.output = input - scipy.special.logsumexp(input, axis=1, keepdims=True)
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput - np.exp(self.output) * gradOutput.sum(axis=1, keepdims=True)
        return self.gradInput
