"""2-D convolution (cross-correlation) and max pooling on ``(N, C, H, W)`` batches."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Module


def _check_4d(input, name):
    if np.ndim(input) != 4:
        raise ValueError(f"{name} expects a 4-D input (batch, channels, height, width), got shape {np.shape(input)}")


def _windows(x, k):
    """Zero-pad H and W by ``k // 2`` and view every ``k x k`` window: ``(N, C, H, W, k, k)``.

    A view, not a copy: the copy happens once, inside the matrix product that uses it.
    """
    pad = k // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    return sliding_window_view(padded, (k, k), axis=(2, 3))


class Conv2d(Module):
    """Cross-correlation with stride 1 and zero padding ``k // 2``, so H and W are kept.

    ``output[n, o] = b[o] + sum_c correlate(input[n, c], W[o, c])``, with
    ``W`` of shape ``(out_channels, in_channels, k, k)`` and ``b`` of ``(out_channels,)``.
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

    def updateOutput(self, input):
        self._check(input)
        windows = _windows(input, self.kernel_size)  # (N, C, H, W, k, k)
        # one matrix product: (N*H*W, C*k*k) @ (C*k*k, out)
        out = np.tensordot(windows, self.W, axes=([1, 4, 5], [1, 2, 3]))  # (N, H, W, out)
        self.output = out.transpose(0, 3, 1, 2) + self.b[:, None, None]
        return self.output

    def updateGradInput(self, input, gradOutput):
        # The gradient of a "same" cross-correlation is the "same" cross-correlation of
        # gradOutput with the kernel flipped in space and in/out channels swapped.
        flipped = self.W[:, :, ::-1, ::-1]  # (out, in, k, k)
        windows = _windows(gradOutput, self.kernel_size)  # (N, out, H, W, k, k)
        grad = np.tensordot(windows, flipped, axes=([1, 4, 5], [0, 2, 3]))  # (N, H, W, in)
        self.gradInput = grad.transpose(0, 3, 1, 2)
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        windows = _windows(input, self.kernel_size)  # (N, C, H, W, k, k)
        self.gradW += np.tensordot(gradOutput, windows, axes=([0, 2, 3], [0, 2, 3]))  # (out, C, k, k)
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
