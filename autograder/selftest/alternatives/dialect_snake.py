# A whole submission in the snake dialect: update_output / update_grad_input / update_grad_params,
# Linear.W of shape (n_in, n_out), Scaling with (1, n) parameters, NLLCriterion, SGD.
"""The two base classes every layer and loss derives from (Torch7's legacy API)."""
import numpy as np


class Module:
    """A layer: ``forward`` computes ``output``, ``backward`` computes ``grad_input``.

    Subclasses implement the three hooks:

    * ``update_output(input)`` stores and returns ``self.output``;
    * ``update_grad_input(input, grad_output)`` stores and returns ``self.grad_input``,
      the gradient of the loss with respect to ``input`` (same shape as ``input``);
    * ``update_grad_params(input, grad_output)`` *adds* the parameter gradients to the
      ``grad*`` arrays, so that they accumulate until ``zero_grad_params()``.
    """

    def __init__(self):
        self.output = None
        self.grad_input = None
        self.training = True

    def forward(self, input):
        return self.update_output(input)

    def backward(self, input, grad_output):
        self.update_grad_input(input, grad_output)
        self.update_grad_params(input, grad_output)
        return self.grad_input

    def update_output(self, input):
        raise NotImplementedError

    def update_grad_input(self, input, grad_output):
        raise NotImplementedError

    def update_grad_params(self, input, grad_output):
        """Layers without parameters have nothing to accumulate."""

    def zero_grad_params(self):
        for grad in self.get_grad_params():
            grad.fill(0)

    def get_parameters(self):
        """The parameter arrays themselves (not copies), so optimizers update them in place."""
        return []

    def get_grad_params(self):
        """The gradient arrays, in the same order as ``get_parameters()``."""
        return []

    def train(self):
        self.training = True

    def evaluate(self):
        self.training = False

    def __repr__(self):
        return f"{type(self).__name__}()"


class Criterion:
    """A loss: ``forward`` gives a scalar ``output``, ``backward`` its gradient w.r.t. the input."""

    def __init__(self):
        self.output = None
        self.grad_input = None

    def forward(self, input, target):
        return self.update_output(input, target)

    def backward(self, input, target):
        return self.update_grad_input(input, target)

    def update_output(self, input, target):
        raise NotImplementedError

    def update_grad_input(self, input, target):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_2d(input, name):
    """Raise a clear error unless ``input`` is a 2-D batch ``(N, features)``."""
    if np.ndim(input) != 2:
        raise ValueError(f"{name} expects a 2-D input (batch, features), got shape {np.shape(input)}")


def check_same_shape(a, b, what_a, what_b):
    if np.shape(a) != np.shape(b):
        raise ValueError(f"{what_a} has shape {np.shape(a)} but {what_b} has shape {np.shape(b)}")


"""Sequential: a chain of modules."""


class Sequential(Module):
    """Applies its modules in order; backward walks them in reverse.

    Module ``i`` is differentiated at the input it saw in forward, which is the
    output of module ``i - 1`` (the container's own input only for module 0).
    """

    def __init__(self):
        super().__init__()
        self.modules = []

    def add(self, module):
        self.modules.append(module)

    def update_output(self, input):
        output = input
        for module in self.modules:
            output = module.forward(output)
        self.output = output
        return self.output

    def backward(self, input, grad_output):
        grad = grad_output
        for i in range(len(self.modules) - 1, -1, -1):
            module_input = self.modules[i - 1].output if i > 0 else input
            grad = self.modules[i].backward(module_input, grad)
        self.grad_input = grad
        return self.grad_input

    def zero_grad_params(self):
        for module in self.modules:
            module.zero_grad_params()

    def get_parameters(self):
        return [module.get_parameters() for module in self.modules]

    def get_grad_params(self):
        return [module.get_grad_params() for module in self.modules]

    def train(self):
        super().train()
        for module in self.modules:
            module.train()

    def evaluate(self):
        super().evaluate()
        for module in self.modules:
            module.evaluate()

    def __getitem__(self, index):
        return self.modules[index]

    def __len__(self):
        return len(self.modules)

    def __repr__(self):
        return "\n".join(repr(module) for module in self.modules)


"""Linear (fully connected) layer."""
import numpy as np



class Linear(Module):
    """``output = input @ W.T + b`` with ``W`` of shape ``(n_out, n_in)`` and ``b`` of ``(n_out,)``."""

    def __init__(self, n_in, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_in)
        self.W = np.random.uniform(-bound, bound, size=(n_in, n_out))
        self.b = np.random.uniform(-bound, bound, size=n_out)
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def update_output(self, input):
        check_2d(input, "Linear")
        self.output = input @ self.W + self.b
        return self.output

    def update_grad_input(self, input, grad_output):
        # d(x W^T)/dx applied to g:  g W,  shape (N, n_in)
        self.grad_input = grad_output @ self.W.T
        return self.grad_input

    def update_grad_params(self, input, grad_output):
        self.gradW += input.T @ grad_output
        self.gradb += grad_output.sum(axis=0)

    def get_parameters(self):
        return [self.W, self.b]

    def get_grad_params(self):
        return [self.gradW, self.gradb]

    def __repr__(self):
        n_in, n_out = self.W.shape
        return f"Linear {n_in} -> {n_out}"


"""Element-wise and row-wise activations."""
import numpy as np
from scipy.special import expit



def softmax(x):
    """Row-wise softmax; subtracting the row maximum keeps ``exp`` from overflowing."""
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(x):
    """Row-wise ``x - logsumexp(x)``, computed on the max-shifted rows."""
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


class SoftMax(Module):
    def update_output(self, input):
        check_2d(input, "SoftMax")
        self.output = softmax(input)
        return self.output

    def update_grad_input(self, input, grad_output):
        # Jacobian of one row: diag(s) - s s^T; applied to g: s * (g - <g, s>)
        s = softmax(input)
        self.grad_input = s * (grad_output - (grad_output * s).sum(axis=1, keepdims=True))
        return self.grad_input


class LogSoftMax(Module):
    def update_output(self, input):
        check_2d(input, "LogSoftMax")
        self.output = log_softmax(input)
        return self.output

    def update_grad_input(self, input, grad_output):
        # Jacobian of one row: I - 1 s^T; applied to g: g - s * sum(g)
        s = softmax(input)
        self.grad_input = grad_output - s * grad_output.sum(axis=1, keepdims=True)
        return self.grad_input


class ReLU(Module):
    def update_output(self, input):
        self.output = np.maximum(input, 0)
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = grad_output * (input > 0)
        return self.grad_input


class LeakyReLU(Module):
    def __init__(self, slope=0.03):
        super().__init__()
        self.slope = slope

    def update_output(self, input):
        self.output = np.where(input > 0, input, self.slope * input)
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = np.where(input > 0, grad_output, self.slope * grad_output)
        return self.grad_input

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class ELU(Module):
    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = alpha

    def update_output(self, input):
        # exp only ever sees non-positive numbers, so it cannot overflow
        negative_part = self.alpha * np.expm1(np.minimum(input, 0))
        self.output = np.where(input > 0, input, negative_part)
        return self.output

    def update_grad_input(self, input, grad_output):
        slope = np.where(input > 0, 1.0, self.alpha * np.exp(np.minimum(input, 0)))
        self.grad_input = grad_output * slope
        return self.grad_input

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


class SoftPlus(Module):
    def update_output(self, input):
        # log(1 + exp(x)) = logaddexp(0, x), exact for any magnitude
        self.output = np.logaddexp(0, input)
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = grad_output * expit(input)
        return self.grad_input


"""Batch normalization and the learnable per-feature scale and shift that follows it."""
import numpy as np



class BatchNormalization(Module):
    """Normalizes each feature over the batch (no learnable parameters).

    Training: ``(x - batch_mean) / sqrt(batch_var + EPS)`` with the biased batch
    variance, and the moving statistics follow
    ``moving = alpha * moving + (1 - alpha) * batch``.
    Evaluation: the moving statistics take the place of the batch statistics.
    """

    EPS = 1e-3

    def __init__(self, alpha=0.0):
        super().__init__()
        self.alpha = alpha
        self.moving_mean = None
        self.moving_variance = None

    def update_output(self, input):
        check_2d(input, "BatchNormalization")
        if self.training:
            mean = input.mean(axis=0)
            var = input.var(axis=0)
            if self.moving_mean is None:
                self.moving_mean = np.zeros(input.shape[1])
                self.moving_variance = np.ones(input.shape[1])
            self.moving_mean = self.alpha * self.moving_mean + (1 - self.alpha) * mean
            self.moving_variance = self.alpha * self.moving_variance + (1 - self.alpha) * var
        else:
            if self.moving_mean is None:
                raise RuntimeError("BatchNormalization is in evaluation mode but has seen no training batch")
            mean, var = self.moving_mean, self.moving_variance
        self.output = (input - mean) / np.sqrt(var + self.EPS)
        return self.output

    def update_grad_input(self, input, grad_output):
        if not self.training:
            self.grad_input = grad_output / np.sqrt(self.moving_variance + self.EPS)
            return self.grad_input
        # y = (x - mu) * r with r = 1 / sqrt(var + EPS); differentiating mu and var too gives
        # dx = r * (g - mean(g) - y * mean(g * y)), the means taken over the batch
        inv_std = 1.0 / np.sqrt(input.var(axis=0) + self.EPS)
        normalized = (input - input.mean(axis=0)) * inv_std
        self.grad_input = inv_std * (
            grad_output
            - grad_output.mean(axis=0)
            - normalized * (grad_output * normalized).mean(axis=0)
        )
        return self.grad_input

    def __repr__(self):
        return f"BatchNormalization(alpha={self.alpha})"


class Scaling(Module):
    """``output = input * gamma + beta`` with one ``gamma`` and ``beta`` per feature."""

    def __init__(self, n_out):
        super().__init__()
        bound = 1.0 / np.sqrt(n_out)
        self.gamma = np.random.uniform(-bound, bound, size=(1, n_out))
        self.beta = np.random.uniform(-bound, bound, size=(1, n_out))
        self.gradGamma = np.zeros_like(self.gamma)
        self.gradBeta = np.zeros_like(self.beta)

    def update_output(self, input):
        self.output = input * self.gamma + self.beta
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = grad_output * self.gamma
        return self.grad_input

    def update_grad_params(self, input, grad_output):
        self.gradGamma += (grad_output * input).sum(axis=0, keepdims=True)
        self.gradBeta += grad_output.sum(axis=0, keepdims=True)

    def get_parameters(self):
        return [self.gamma, self.beta]

    def get_grad_params(self):
        return [self.gradGamma, self.gradBeta]

    def __repr__(self):
        return f"Scaling({self.gamma.shape[1]})"


"""Dropout."""
import numpy as np



class Dropout(Module):
    """Zeroes each element with probability ``p`` in training and rescales the rest by ``1 / (1 - p)``.

    A fresh mask is drawn at every training forward pass; backward reuses it.
    In evaluation mode the layer is the identity.
    """

    def __init__(self, p=0.5):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.mask = None

    def update_output(self, input):
        if self.training and self.p > 0:
            keep = np.random.random_sample(input.shape) >= self.p
            self.mask = keep / (1.0 - self.p)
            self.output = input * self.mask
        else:
            self.mask = None
            self.output = input.copy()
        return self.output

    def update_grad_input(self, input, grad_output):
        if self.mask is None:
            self.grad_input = grad_output.copy()
        else:
            self.grad_input = grad_output * self.mask
        return self.grad_input

    def __repr__(self):
        return f"Dropout(p={self.p})"


"""Flatten: (N, ...) -> (N, -1)."""


class Flatten(Module):
    def update_output(self, input):
        self.output = input.reshape(len(input), -1)
        return self.output

    def update_grad_input(self, input, grad_output):
        self.grad_input = grad_output.reshape(input.shape)
        return self.grad_input


"""2-D convolution (cross-correlation) and max pooling on ``(N, C, H, W)`` batches."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view



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

    def update_output(self, input):
        self._check(input)
        windows = _windows(input, self.kernel_size)  # (N, C, H, W, k, k)
        # one matrix product: (N*H*W, C*k*k) @ (C*k*k, out)
        out = np.tensordot(windows, self.W, axes=([1, 4, 5], [1, 2, 3]))  # (N, H, W, out)
        self.output = out.transpose(0, 3, 1, 2) + self.b[:, None, None]
        return self.output

    def update_grad_input(self, input, grad_output):
        # The gradient of a "same" cross-correlation is the "same" cross-correlation of
        # grad_output with the kernel flipped in space and in/out channels swapped.
        flipped = self.W[:, :, ::-1, ::-1]  # (out, in, k, k)
        windows = _windows(grad_output, self.kernel_size)  # (N, out, H, W, k, k)
        grad = np.tensordot(windows, flipped, axes=([1, 4, 5], [0, 2, 3]))  # (N, H, W, in)
        self.grad_input = grad.transpose(0, 3, 1, 2)
        return self.grad_input

    def update_grad_params(self, input, grad_output):
        windows = _windows(input, self.kernel_size)  # (N, C, H, W, k, k)
        self.gradW += np.tensordot(grad_output, windows, axes=([0, 2, 3], [0, 2, 3]))  # (out, C, k, k)
        self.gradb += grad_output.sum(axis=(0, 2, 3))

    def get_parameters(self):
        return [self.W, self.b]

    def get_grad_params(self):
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

    def update_output(self, input):
        self.output = self._blocks(input).max(axis=-1)
        return self.output

    def update_grad_input(self, input, grad_output):
        n, c, h, w = input.shape
        k = self.kernel_size
        blocks = self._blocks(input)
        winner = blocks.argmax(axis=-1)[..., None]  # first maximum of each window
        grad_blocks = np.zeros(blocks.shape, dtype=np.result_type(grad_output, input))
        np.put_along_axis(grad_blocks, winner, grad_output[..., None], axis=-1)
        grad = grad_blocks.reshape(n, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5)
        self.grad_input = grad.reshape(input.shape)
        return self.grad_input

    def __repr__(self):
        return f"MaxPool2d(kernel_size={self.kernel_size})"


"""Losses. Criterions are the only place that divides by the batch size."""
import numpy as np
from scipy.spatial.distance import cdist



class MSECriterion(Criterion):
    """``sum((input - target)^2) / N``."""

    def update_output(self, input, target):
        check_same_shape(input, target, "MSECriterion input", "target")
        self.output = np.sum((input - target) ** 2) / input.shape[0]
        return self.output

    def update_grad_input(self, input, target):
        self.grad_input = 2 * (input - target) / input.shape[0]
        return self.grad_input


class NLLCriterionUnstable(Criterion):
    """Negative log-likelihood of probabilities (e.g. SoftMax output) and one-hot targets."""

    EPS = 1e-15

    def update_output(self, input, target):
        check_same_shape(input, target, "NLLCriterionUnstable input", "one-hot target")
        clipped = np.clip(input, self.EPS, 1 - self.EPS)
        self.output = -np.sum(target * np.log(clipped)) / input.shape[0]
        return self.output

    def update_grad_input(self, input, target):
        clipped = np.clip(input, self.EPS, 1 - self.EPS)
        self.grad_input = -target / clipped / input.shape[0]
        return self.grad_input


class NLLCriterion(Criterion):
    """Negative log-likelihood of log-probabilities (LogSoftMax output) and one-hot targets."""

    def update_output(self, input, target):
        check_same_shape(input, target, "NLLCriterion input", "one-hot target")
        self.output = -np.sum(target * input) / input.shape[0]
        return self.output

    def update_grad_input(self, input, target):
        self.grad_input = -target / input.shape[0]
        return self.grad_input


class ClassContrastiveCriterion(Criterion):
    """Contrastive loss on embeddings ``(N, d)`` with integer labels ``(N,)``.

    Over all pairs ``i != j`` with Euclidean distance ``d_ij``: the mean of ``d_ij^2``
    over positive pairs (same label) plus the mean of ``max(0, M - d_ij)^2`` over
    negative pairs. A mean over no pairs is 0.
    """

    def __init__(self, M):
        super().__init__()
        self.M = M

    def _pairs(self, input, target):
        check_2d(input, "ClassContrastiveCriterion")
        target = np.asarray(target)
        if target.shape != (input.shape[0],):
            raise ValueError(
                f"ClassContrastiveCriterion expects integer labels of shape ({input.shape[0]},), "
                f"got shape {target.shape}"
            )
        same = target[:, None] == target[None, :]
        off_diagonal = ~np.eye(len(target), dtype=bool)
        positive = same & off_diagonal
        negative = ~same
        return cdist(input, input), positive, negative

    def update_output(self, input, target):
        dist, positive, negative = self._pairs(input, target)
        loss = 0.0
        if positive.any():
            loss += np.mean(dist[positive] ** 2)
        if negative.any():
            loss += np.mean(np.maximum(0, self.M - dist[negative]) ** 2)
        self.output = loss
        return self.output

    def update_grad_input(self, input, target):
        dist, positive, negative = self._pairs(input, target)
        # Each pair term f(d_ij) sends f'(d_ij) (x_i - x_j) / d_ij to x_i, and the pair (j, i)
        # sends the same again, so with C_ij = 2 w_ij f'(d_ij) / d_ij the gradient is
        # sum_j C_ij (x_i - x_j) = x_i * sum_j C_ij - (C @ x)_i.
        coef = np.zeros_like(dist)
        if positive.any():
            coef[positive] = 2 * 2.0 / positive.sum()  # f = d^2, f'/d = 2
        if negative.any():
            d = dist[negative]
            hinge = np.maximum(0, self.M - d)
            safe_d = np.where(d > 0, d, 1.0)
            coef[negative] = np.where(d > 0, 2 * (-2 * hinge / safe_d) / negative.sum(), 0.0)
        self.grad_input = input * coef.sum(axis=1, keepdims=True) - coef @ input
        return self.grad_input

    def __repr__(self):
        return f"ClassContrastiveCriterion(M={self.M})"


"""Optimizers. ``variables`` and ``gradients`` are lists of per-layer lists of arrays
(``model.get_parameters()`` and ``model.get_grad_params()``); each array is updated in place.
State is kept in ``state``, keyed by the running index of the variable."""
import numpy as np


def _pairs(variables, gradients):
    """Yield ``(index, variable, gradient)`` over all layers, in order."""
    index = 0
    for layer_vars, layer_grads in zip(variables, gradients):
        for var, grad in zip(layer_vars, layer_grads):
            yield index, var, grad
            index += 1


def SGD(variables, gradients, config, state):
    """``v = momentum * v + learning_rate * grad; var -= v``."""
    accumulated = state.setdefault("accumulated_grads", {})
    for index, var, grad in _pairs(variables, gradients):
        velocity = accumulated.setdefault(index, np.zeros_like(grad))
        np.add(config["momentum"] * velocity, config["learning_rate"] * grad, out=velocity)
        var -= velocity


def adam_optimizer(variables, gradients, config, state):
    """Adam with bias correction folded into the step size ``lr_t``."""
    state.setdefault("m", {})
    state.setdefault("v", {})
    state.setdefault("t", 0)
    state["t"] += 1
    beta1, beta2, eps = config["beta1"], config["beta2"], config["epsilon"]
    t = state["t"]
    lr_t = config["learning_rate"] * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    for index, var, grad in _pairs(variables, gradients):
        m = state["m"].setdefault(index, np.zeros_like(grad))
        v = state["v"].setdefault(index, np.zeros_like(grad))
        np.add(beta1 * m, (1 - beta1) * grad, out=m)
        np.add(beta2 * v, (1 - beta2) * grad * grad, out=v)
        var -= lr_t * m / (np.sqrt(v) + eps)
