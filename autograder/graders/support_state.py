"""Helpers of the Sequential, BatchNormalization and Dropout graders.

Probe modules (``submission.probe``) have known behaviour; the functions here are that
behaviour in plain NumPy on the trusted side, so a container can be judged without
trusting any of the student's other layers.
"""
import numpy as np

from autograder.checks import fail
from autograder.i18n import _
from autograder.student import StudentFailure

BN_EPS = 1e-3


# -- probes ------------------------------------------------------------------------------------

def probe_forward(kind, x, w=None):
    if kind == "square":
        return x * x + x
    return x @ w if kind == "matrix" else x * w


def probe_grad_input(kind, x, g, w=None):
    if kind == "square":
        return g * (2 * x + 1)
    return g @ w.T if kind == "matrix" else g * w


def probe_grad_param(kind, x, g):
    return x.T @ g if kind == "matrix" else (g * x).sum(axis=0)


def chain(specs, x, g, at_container_input=False):
    """Output, gradInput and the scale probes' weight gradients of a chain of probes.

    ``specs`` are ``("square",)``, ``("scale", w)`` or ``("matrix", w)``. With ``at_container_input``
    every module is differentiated at the container's input (the mistake), not at the input it saw.
    """
    specs = flat_specs(specs)
    inputs, out = [], x
    for kind, *w in specs:
        inputs.append(out)
        out = probe_forward(kind, out, *w)
    grad, grads = g, []
    for (kind, *w), seen in reversed(list(zip(specs, inputs))):
        at = x if at_container_input else seen
        if kind != "square":
            grads.append(probe_grad_param(kind, at, grad))
        grad = probe_grad_input(kind, at, grad, *w)
    return out, grad, grads[::-1]


def flat_specs(specs):
    """``specs`` with every nested ``("sequential", inner specs)`` replaced by its modules."""
    flat = []
    for kind, *args in specs:
        flat += flat_specs(args[0]) if kind == "sequential" else [(kind, *args)]
    return flat


def build_sequential(submission, specs):
    """The student's Sequential holding probes (and, for ``("sequential", specs)``, a Sequential
    of its own inside); returns ``(sequential, probes)``, the probes in order, nested ones included."""
    seq = submission.new("Sequential")
    probes = []
    for kind, *args in specs:
        if kind == "sequential":
            module, inner = build_sequential(submission, args[0])
            probes += inner
        else:
            module = submission.probe(kind, *args)
            probes.append(module)
        seq.call("add", module.handle, check_inputs=False)
    return seq, probes


def item_of(container, index):
    """``container[index]`` as a module handle kept in the worker."""
    return container.call_kept("__getitem__", index)


def describe_structure(value):
    """A short picture of a nested list of arrays, e.g. ``[[], [array (3,)], []]``."""
    if isinstance(value, list):
        return "[" + ", ".join(describe_structure(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        return f"array {value.shape}"
    return type(value).__name__


# -- batch normalization --------------------------------------------------------------------------

def normalized(x, mean, var):
    return (x - mean) / np.sqrt(var + BN_EPS)


def as_features(value, d):
    """A moving statistic as a vector of ``d`` features (a scalar is broadcast), or None."""
    if value is None:
        return None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.size == d:
        return array.reshape(d)
    if array.size == 1:
        return np.full(d, float(array.reshape(-1)[0]))
    return None


def moving_stats(module, d):
    """The student's ``(moving_mean, moving_variance)`` as feature vectors, or None when unreadable or unset."""
    try:
        mean = module.attribute("moving_mean")
        var = module.attribute("moving_variance")
    except StudentFailure:
        return None
    mean, var = as_features(mean, d), as_features(var, d)
    if mean is None or var is None:
        return None
    return mean, var


def require_moving_stats(module, d, what):
    stats = moving_stats(module, d)
    if stats is None:
        fail("batchnorm_moving_not_updated", what,
             _("After training forward passes, `moving_mean` and `moving_variance` should hold one value per feature "
               "({d} features here); they are missing, None, or of another size.", d=d))
    return stats


# -- dropout ------------------------------------------------------------------------------------

def nonzero_input(rng, shape, margin=0.1):
    """Inputs with no element near 0, so that zeroed outputs and ratios output / input are unambiguous."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.copysign(margin, x) + x, x)


def is_mask_of(ratio, values, rtol=1e-6):
    """Every element of ``ratio`` is one of ``values`` (e.g. 0 and 1 / (1 - p))."""
    hit = np.zeros(ratio.shape, dtype=bool)
    for v in values:
        hit |= np.isclose(ratio, v, rtol=rtol, atol=1e-9)
    return bool(np.all(hit))
