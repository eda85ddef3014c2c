# extends: reference
# MaxPool2d with explicit loops over the windows; with tied maxima the gradient goes to the LAST
# one in row-major order (one element per window, which is what the specification requires).


class MaxPool2d(Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.kernel_size = kernel_size

    def updateOutput(self, input):
        k = self.kernel_size
        n, c, h, w = input.shape
        assert h % k == 0 and w % k == 0, "H and W must be divisible by kernel_size"
        self.output = np.empty((n, c, h // k, w // k))
        for i in range(h // k):
            for j in range(w // k):
                window = input[:, :, i * k:(i + 1) * k, j * k:(j + 1) * k]
                self.output[:, :, i, j] = window.max(axis=(2, 3))
        return self.output

    def updateGradInput(self, input, gradOutput):
        k = self.kernel_size
        n, c, h, w = input.shape
        self.gradInput = np.zeros_like(input)
        for i in range(h // k):
            for j in range(w // k):
                window = input[:, :, i * k:(i + 1) * k, j * k:(j + 1) * k].reshape(n, c, k * k)
                last = k * k - 1 - np.argmax(window[:, :, ::-1], axis=2)  # the last maximum
                rows, cols = np.divmod(last, k)
                nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
                self.gradInput[nn, cc, i * k + rows, j * k + cols] = gradOutput[:, :, i, j]
        return self.gradInput
