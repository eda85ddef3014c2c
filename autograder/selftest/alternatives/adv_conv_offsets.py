# extends: reference
# Conv2d with an explicit loop over the k * k kernel offsets, vectorised over the batch and the
# image: each offset contributes one channel-mixing product of a shifted view of the padded input.


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        stdv = 1.0 / np.sqrt(in_channels)
        self.W = np.random.uniform(-stdv, stdv, size=(out_channels, in_channels, kernel_size, kernel_size))
        self.b = np.random.uniform(-stdv, stdv, size=out_channels)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def _pad(self, x):
        p = self.kernel_size // 2
        return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant")

    def updateOutput(self, input):
        n, c, h, w = input.shape
        padded = self._pad(input)
        out = np.zeros((n, self.out_channels, h, w))
        for a in range(self.kernel_size):
            for b in range(self.kernel_size):
                patch = padded[:, :, a:a + h, b:b + w]                # (N, C, H, W)
                out += np.einsum("nchw,oc->nohw", patch, self.W[:, :, a, b])
        self.output = out + self.b.reshape(1, -1, 1, 1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        n, c, h, w = input.shape
        grad_padded = np.zeros((n, c, h + self.kernel_size - 1, w + self.kernel_size - 1))
        for a in range(self.kernel_size):
            for b in range(self.kernel_size):
                # output (h, w) read padded input (h + a, w + b) with weight W[:, :, a, b]
                grad_padded[:, :, a:a + h, b:b + w] += np.einsum("nohw,oc->nchw", gradOutput, self.W[:, :, a, b])
        p = self.kernel_size // 2
        self.gradInput = grad_padded[:, :, p:p + h, p:p + w]
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        n, c, h, w = input.shape
        padded = self._pad(input)
        for a in range(self.kernel_size):
            for b in range(self.kernel_size):
                self.gradW[:, :, a, b] += np.einsum("nohw,nchw->oc", gradOutput, padded[:, :, a:a + h, b:b + w])
        self.gradb += np.sum(gradOutput, axis=(0, 2, 3))

    def zeroGradParameters(self):
        self.gradW.fill(0)
        self.gradb.fill(0)

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]
