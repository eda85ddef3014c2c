"""Optimizers. ``variables`` and ``gradients`` are lists of per-layer lists of arrays
(``model.getParameters()`` and ``model.getGradParameters()``); each array is updated in place.
State is kept in ``state``, keyed by the running index of the variable."""
import numpy as np


def _pairs(variables, gradients):
    """Yield ``(index, variable, gradient)`` over all layers, in order."""
    index = 0
    for layer_vars, layer_grads in zip(variables, gradients):
        for var, grad in zip(layer_vars, layer_grads):
            yield index, var, grad
            index += 1


def sgd_momentum(variables, gradients, config, state):
    """``v = momentum * v + learning_rate * grad; var -= v``."""
    accumulated = state.setdefault("accumulated_grads", {})
    for index, var, grad in _pairs(variables, gradients):
        velocity = accumulated.setdefault(index, np.zeros_like(grad))
        velocity *= config["momentum"]
        velocity += config["learning_rate"] * grad
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
