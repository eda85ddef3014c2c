"""Central finite differences in float64: the second oracle for every gradient."""
import numpy as np


def numerical_gradient(f, x, h=1e-6):
    """d f(x) / dx for a scalar ``f``, one element at a time; ``x`` is perturbed in place and restored."""
    grad = np.zeros_like(x, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_vjp(f, x, grad_output, h=1e-6):
    """The vector-Jacobian product ``grad_output^T * d f(x) / dx`` for an array-valued ``f``."""
    return numerical_gradient(lambda z: np.sum(f(z) * grad_output), x, h)


def directional_derivative(f, x, direction, h=1e-6):
    """d/dt f(x + t * direction) at t = 0 for a scalar ``f``: one check along a random direction."""
    return (f(x + h * direction) - f(x - h * direction)) / (2 * h)
