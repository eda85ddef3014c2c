"""2-D convolution (cross-correlation) and max pooling on ``(N, C, H, W)`` batches."""
import numpy as np

from .base import Module


def _check_4d(input, name):
    if np.ndim(input) != 4:
        raise ValueError(f"{name} expects a 4-D input (batch, channels, height, width), got shape {np.shape(input)}")


class Conv2d(Module):
    """Cross-correlation with stride 1 and zero padding ``k // 2``, so H and W are kept.

    ``output[n, o] = b[o] + sum_c correlate(input[n, c], W[o, c])``, with
    ``W`` of shape ``(out_channels, in_channels, k, k)`` and ``b`` of ``(out_channels,)``.

    Computed as Torch7's ``SpatialConvolutionMM`` does: the padded input is unfolded into
    a matrix with one column per output pixel ("im2col", see ``_im2col``), so that the
    output and both gradients are each one matrix product with ``W`` seen as an
    ``(out_channels, in_channels * k * k)`` matrix.
    """

    def __init__(self, in_channels, out_channels, kernel_size):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"Conv2d needs an odd kernel_size to keep H and W, got {kernel_size}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        bound = 1.0 / np.sqrt(in_channels)
        self.W = np.random.uniform(-bound, bound, size=(out_channels, in_channels, kernel_size, kernel_size))
        self.b = np.random.uniform(-bound, bound, size=out_channels)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def _check(self, input):
        _check_4d(input, "Conv2d")
        if input.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects {self.in_channels} input channels, got shape {input.shape}")

    def _im2col(self, input):
        """The patches of the zero-padded input, ``(C, k, k, N, H, W)``:
        ``cols[c, i, j, n, y, x] = padded[n, c, y + i, x + j]``, the pixel that the kernel
        tap ``(i, j)`` sees at the output pixel ``(y, x)``.

        Reshaped to ``(C * k * k, N * H * W)`` (a free reshape: the array is contiguous),
        its rows match ``W.reshape(out_channels, -1)``'s columns. One copy per kernel tap,
        each vectorised over the batch and the channels.
        """
        k = self.kernel_size
        pad = k // 2
        padded = np.pad(input, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        n, c = input.shape[:2]
        h, w = padded.shape[2] - k + 1, padded.shape[3] - k + 1  # the output's H and W
        cols = np.empty((c, k, k, n, h, w), dtype=padded.dtype)
        for i in range(k):
            for j in range(k):
                cols[:, i, j] = padded[:, :, i:i + h, j:j + w].transpose(1, 0, 2, 3)
        return cols

    def updateOutput(self, input):
        self._check(input)
        cols = self._im2col(input)
        c, k, _, n, h, w = cols.shape
        # one matrix product: (out, C*k*k) @ (C*k*k, N*H*W)
        out = self.W.reshape(self.out_channels, -1) @ cols.reshape(c * k * k, n * h * w)
        out = out.reshape(self.out_channels, n, h, w).transpose(1, 0, 2, 3)  # (N, out, H, W), a view
        self.output = np.empty(out.shape, dtype=np.result_type(out, self.b))
        np.add(out, self.b[:, None, None], out=self.output)
        return self.output

    def _grad_output_matrix(self, gradOutput):
        """``gradOutput`` as ``(out, N * H * W)``, the layout of the forward's product."""
        return np.ascontiguousarray(gradOutput.transpose(1, 0, 2, 3)).reshape(self.out_channels, -1)

    def updateGradInput(self, input, gradOutput):
        n, c, h, w = input.shape
        k = self.kernel_size
        pad = k // 2
        g = self._grad_output_matrix(gradOutput)  # (out, N*H*W)
        # the gradient of every patch: (C*k*k, out) @ (out, N*H*W)
        dcols = (self.W.reshape(self.out_channels, -1).T @ g).reshape(c, k, k, n, h, w)
        # "col2im", the adjoint of _im2col: each kernel tap adds its share back onto the
        # pixel it saw. Together this is the "same" cross-correlation of gradOutput with
        # the kernel flipped in space and in/out channels swapped. Summed in dcols'
        # (C, N, ...) order, which is faster than transposing each share.
        padded = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
        for i in range(k):
            for j in range(k):
                padded[:, :, i:i + h, j:j + w] += dcols[:, i, j]
        self.gradInput = padded[:, :, pad:pad + h, pad:pad + w].transpose(1, 0, 2, 3)  # (N, C, H, W)
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        # The patches are unfolded again rather than kept from the forward pass: a kept copy
        # would be stale if the input array were changed in place between forward and
        # backward, and would hold C * k * k * N * H * W numbers per layer between calls.
        # Unfolding again costs about a tenth of the time of a forward + backward.
        cols = self._im2col(input)
        c, k, _, n, h, w = cols.shape
        g = self._grad_output_matrix(gradOutput)  # (out, N*H*W)
        # (out, N*H*W) @ (N*H*W, C*k*k)
        self.gradW += (g @ cols.reshape(c * k * k, n * h * w).T).reshape(self.W.shape)
        self.gradb += gradOutput.sum(axis=(0, 2, 3))

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]

    def __repr__(self):
        return f"Conv2d {self.in_channels} -> {self.out_channels}, kernel {self.kernel_size}"


class MaxPool2d(Module):
    """Maximum over non-overlapping ``k x k`` windows (stride ``k``).

    The gradient of each window goes to one element only: its first maximum in
    row-major order, so ties never split or duplicate the gradient.
    """

    def __init__(self, kernel_size):
        super().__init__()
        self.kernel_size = kernel_size

    def _blocks(self, input):
        """``(N, C, H/k, W/k, k*k)``: each window's elements in row-major order."""
        _check_4d(input, "MaxPool2d")
        n, c, h, w = input.shape
        k = self.kernel_size
        if h % k or w % k:
            raise ValueError(f"MaxPool2d with kernel_size {k} needs H and W divisible by {k}, got shape {input.shape}")
        blocks = input.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5)
        return blocks.reshape(n, c, h // k, w // k, k * k)

    def updateOutput(self, input):
        self.output = self._blocks(input).max(axis=-1)
        return self.output

    def updateGradInput(self, input, gradOutput):
        n, c, h, w = input.shape
        k = self.kernel_size
        blocks = self._blocks(input)
        winner = blocks.argmax(axis=-1)[..., None]  # first maximum of each window
        grad_blocks = np.zeros(blocks.shape, dtype=np.result_type(gradOutput, input))
        np.put_along_axis(grad_blocks, winner, gradOutput[..., None], axis=-1)
        grad = grad_blocks.reshape(n, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5)
        self.gradInput = grad.reshape(input.shape)
        return self.gradInput

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size})"
