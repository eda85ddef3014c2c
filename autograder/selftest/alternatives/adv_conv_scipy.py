# extends: reference
# Conv2d through scipy.signal, one 2-D correlation per (sample, output channel, input channel):
# slow Python loops, accepted within the time limits.
import scipy.signal


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size):
        super(Conv2d, self).__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        stdv = 1. / np.sqrt(in_channels)
        self.W = np.random.uniform(-stdv, stdv, size=(out_channels, in_channels, kernel_size, kernel_size))
        self.b = np.random.uniform(-stdv, stdv, size=out_channels)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def updateOutput(self, input):
        batch, _, h, w = input.shape
        self.output = np.zeros((batch, self.out_channels, h, w))
        for n in range(batch):
            for o in range(self.out_channels):
                acc = np.full((h, w), self.b[o])
                for c in range(self.in_channels):
                    acc += scipy.signal.correlate(input[n, c], self.W[o, c], mode="same")
                self.output[n, o] = acc
        return self.output

    def updateGradInput(self, input, gradOutput):
        self.gradInput = np.zeros_like(input)
        for n in range(input.shape[0]):
            for c in range(self.in_channels):
                for o in range(self.out_channels):
                    # the transpose of a "same" correlation is the "same" convolution
                    self.gradInput[n, c] += scipy.signal.convolve(gradOutput[n, o], self.W[o, c], mode="same")
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        p = self.kernel_size // 2
        padded = np.pad(input, [(0, 0), (0, 0), (p, p), (p, p)])
        for n in range(input.shape[0]):
            for o in range(self.out_channels):
                for c in range(self.in_channels):
                    self.gradW[o, c] += scipy.signal.correlate(padded[n, c], gradOutput[n, o], mode="valid")
        self.gradb += gradOutput.sum(axis=(0, 2, 3))

    def zeroGradParameters(self):
        self.gradW[...] = 0
        self.gradb[...] = 0

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]
