"""Self-checks for your modules: shapes, finite-difference gradients and a few properties.

Run them from the notebook after writing each module, for example::

    from selfcheck import check_layer, check_criterion
    check_layer(Linear(4, 3), input_shape=(5, 4))
    check_criterion(MSECriterion(), input_shape=(5, 3), target=np.zeros((5, 3)))

They compare your backward pass with the slope of your own forward pass, measured by
central finite differences: (f(x + h) - f(x - h)) / 2h for each element. They do not
know the right answers, so a forward pass that is wrong but consistent with its backward
passes here; the hidden grader checks the values themselves.
"""
import numpy as np

H = 1e-5
TOLERANCE = 1e-5


class _Stub(Exception):
    pass


def _call(function, *args):
    try:
        return function(*args)
    except NotImplementedError:
        raise _Stub from None


def _params(module):
    """Parameters and their gradients as flat lists, whatever API the module uses."""
    for getter, grad_getter in [("getParameters", "getGradParameters"), ("get_parameters", "get_grad_params"),
                                ("get_parameters", "get_parameters_grad")]:
        if hasattr(module, getter) and hasattr(module, grad_getter):
            return _flat(_call(getattr(module, getter))), (lambda: _flat(_call(getattr(module, grad_getter))))
    return [], (lambda: [])


def _zero(module):
    for name in ("zeroGradParameters", "zero_grad_params", "zero_grad"):
        if hasattr(module, name):
            return _call(getattr(module, name))


def _flat(items):
    if isinstance(items, (list, tuple)):
        return [leaf for item in items for leaf in _flat(item)]
    return [items]


def relative_error(a, b):
    """max |a - b| / max(1, |a|, |b|): small numbers count as absolute, large ones as relative."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b))))) if a.size else 0.0


def numerical_gradient(f, x, h=H):
    """d f(x) / dx for a scalar f, one element at a time (x is changed and restored)."""
    grad = np.zeros_like(x, dtype=float)
    for index in np.ndindex(x.shape):
        old = x[index]
        x[index] = old + h
        plus = f()
        x[index] = old - h
        minus = f()
        x[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


class _Table:
    def __init__(self, title):
        self.title, self.rows = title, []

    def add(self, check, ok, detail=""):
        self.rows.append((check, {True: "ok", False: "FAIL", None: "not implemented yet"}[ok], detail))
        return ok

    def show(self):
        width = max(len(r[0]) for r in self.rows)
        print(self.title)
        for check, result, detail in self.rows:
            print(f"  {check:<{width}}  {result:<19}  {detail}")
        passed = all(r[1] == "ok" for r in self.rows)
        if passed:
            print("  -> all checks passed")
        elif any(r[1] == "not implemented yet" for r in self.rows):
            print("  -> write the missing methods, then run this check again")
        else:
            print("  -> see the lines marked FAIL")
        return passed


def check_layer(layer, input_shape, seed=0, training=True):
    """Shapes and gradients of a layer (a Module) on a random input of ``input_shape``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape)
    x = np.where(np.abs(x) < 0.05, 0.05 * np.sign(x + 1e-12) + x, x)  # away from kinks at 0
    table = _Table(f"Self-check of {type(layer).__name__} on an input of shape {tuple(input_shape)}")
    mode = "train" if training else "evaluate"
    try:
        if hasattr(layer, mode):
            _call(getattr(layer, mode))
    except _Stub:
        table.add(mode, None)
        return table.show()
    x_before = x.copy()

    def forward():
        np.random.seed(seed)  # the same Dropout mask at every call
        return _call(layer.forward, x)

    try:
        out = forward()
    except _Stub:
        table.add("forward", None)
        return table.show()
    if out is None:
        table.add("forward", False, "returned None: return the output")
        return table.show()
    table.add("forward returns an array", isinstance(out, np.ndarray), f"type {type(out).__name__}")
    table.add("output is finite", bool(np.all(np.isfinite(out))), f"shape {np.shape(out)}")
    g = rng.standard_normal(np.shape(out))
    try:
        params, grads = _params(layer)
        _zero(layer)
        forward()
        grad_input = _call(layer.backward, x, g)
    except _Stub:
        table.add("backward", None)
        return table.show()
    if grad_input is None:
        table.add("backward", False, "returned None: return gradInput")
        return table.show()
    ok = np.shape(grad_input) == x.shape
    table.add("gradInput has the input's shape", ok, f"expected {x.shape}, got {np.shape(grad_input)}")
    table.add("input left unchanged", np.array_equal(x, x_before), "forward/backward must not modify input")
    if ok:
        numeric = numerical_gradient(lambda: float(np.sum(forward() * g)), x)
        error = relative_error(grad_input, numeric)
        table.add("gradInput vs finite differences", error < TOLERANCE, f"relative error {error:.1e}")
    try:
        for number, (param, grad) in enumerate(zip(params, grads())):
            numeric = numerical_gradient(lambda: float(np.sum(forward() * g)), param)
            shape_ok = np.shape(grad) == np.shape(param)
            error = relative_error(grad, numeric) if shape_ok else float("inf")
            table.add(f"parameter {number} gradient vs finite differences", error < TOLERANCE,
                      f"relative error {error:.1e}" if shape_ok else f"shape {np.shape(grad)} != {np.shape(param)}")
    except _Stub:
        table.add("parameter gradients", None)
    return table.show()


def check_criterion(criterion, input_shape, target, seed=0, positive=False):
    """Value and gradient of a criterion. ``positive=True`` draws inputs in (0.05, 0.95), for probabilities."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.05, 0.95, input_shape) if positive else rng.standard_normal(input_shape)
    table = _Table(f"Self-check of {type(criterion).__name__} on an input of shape {tuple(input_shape)}")
    try:
        loss = _call(criterion.forward, x, target)
    except _Stub:
        table.add("forward", None)
        return table.show()
    table.add("forward returns one number", np.size(loss) == 1, f"got {type(loss).__name__} of size {np.size(loss)}")
    try:
        grad = _call(criterion.backward, x, target)
    except _Stub:
        table.add("backward", None)
        return table.show()
    ok = grad is not None and np.shape(grad) == x.shape
    table.add("gradient has the input's shape", ok, f"expected {x.shape}, got {np.shape(grad)}")
    if ok and np.size(loss) == 1:
        numeric = numerical_gradient(lambda: float(np.sum(criterion.forward(x, target))), x)
        error = relative_error(grad, numeric)
        table.add("gradient vs finite differences", error < TOLERANCE, f"relative error {error:.1e}")
        doubled = float(np.sum(_call(criterion.forward, np.concatenate([x, x]), np.concatenate([target, target]))))
        table.add("loss is an average over the batch", abs(doubled - float(np.sum(loss))) < 1e-8 * max(1, abs(doubled)),
                  "repeating the batch twice must not change the loss")
    return table.show()
