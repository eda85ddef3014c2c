"""Shared math of the Conv2d, MaxPool2d, ClassContrastiveCriterion and optimizer graders: the
results that known mistakes would produce, computed here in the trusted process so that a
failing test can name the mistake."""
import time
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.analyser import Context
from autograder.checks import expect, expect_close, expect_computes, fail
from autograder.i18n import _
from autograder.student import StudentFailure

# -- Conv2d --------------------------------------------------------------------------------------


def correlate(x, w, pad):
    """Cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, C, k, k), zero padding ``pad``:
    (N, O, H + 2 pad - k + 1, W + 2 pad - k + 1)."""
    k = w.shape[-1]
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    if padded.shape[2] < k or padded.shape[3] < k:
        return None
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C, H', W', k, k)
    return np.einsum("nchwab,ocab->nohw", windows, w)


def conv_forward(x, W, b, pad=None, flip=False):
    kernel = W[:, :, ::-1, ::-1] if flip else W
    out = correlate(x, kernel, W.shape[-1] // 2 if pad is None else pad)
    return None if out is None else out + b[None, :, None, None]


def conv_grad_input(g, W, flip=True, swap=True):
    """gradInput of the "same" correlation: correlate gradOutput with W flipped, channels swapped.
    ``flip`` / ``swap`` False give the results of the two usual mistakes."""
    kernel = W.transpose(1, 0, 2, 3) if swap else W
    if flip:
        kernel = kernel[:, :, ::-1, ::-1]
    if kernel.shape[1] != g.shape[1]:
        return None
    return correlate(g, kernel, W.shape[-1] // 2)


def conv_grad_weight(x, g, k):
    """gradW[o, c, a, b] = sum_{n, h, w} padded_x[n, c, h + a, w + b] g[n, o, h, w]."""
    pad = k // 2
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = sliding_window_view(padded, (k, k), axis=(2, 3))  # (N, C, H, W, k, k)
    return np.einsum("nchwab,nohw->ocab", windows, g)


REFERENCE_CPU = {}  # what -> the reference's CPU seconds for it


def expect_fast_enough(submission, student_run, reference_run, what, factor, floor, key="too_slow"):
    """``student_run()`` (calls into the worker) may use at most ``factor`` times the CPU time
    that ``reference_run()`` takes here (:func:`reference_cpu`: the same work for every
    submission, measured once for each ``what``), and at least ``floor`` seconds.
    CPU times, read from /proc on this side, are the same on an idle or a busy machine, where
    wall time is not. Returns what ``student_run`` returned; a call that runs out of its time
    limit is charged here as too slow."""
    baseline = reference_cpu(what, reference_run)
    limit = max(factor * baseline, floor)
    try:
        seconds, result = submission.cpu_seconds(student_run)
    except StudentFailure as failure:
        if failure.diagnosis == "timeout":
            fail(key, what, str(failure))
        raise
    expect(seconds <= limit, key, what,
           _("It used {seconds:.2f} s of CPU time; the reference needs {baseline:.3f} s, and up to {limit:.2f} s is "
             "allowed.", seconds=seconds, baseline=baseline, limit=limit))
    return result


def reference_cpu(what, reference_run):
    """The reference's CPU seconds for ``what``: the best of three runs of ``reference_run``, once
    per process. A prepared parent measures the speed tests' own before it forks its grading
    processes (``speed_baselines`` of their modules, ``runner.measure_speed_baselines``), so that
    they all hold submissions to the same figure and none spends the time again."""
    if what not in REFERENCE_CPU:
        REFERENCE_CPU[what] = min(cpu_time(reference_run) for _ in range(3))
    return REFERENCE_CPU[what]


def expect_per_sample(reversed_output, output, what):
    """``reversed_output``, the result for the batch in reverse order, must be ``output`` in reverse
    order: true of any computation that handles each sample on its own, right or wrong, and
    false of one that ignores its input."""
    if np.shape(reversed_output) != np.shape(output) or not np.allclose(reversed_output, output[::-1], rtol=1e-6,
                                                                          atol=1e-8):
        fail("degenerate", what, _("The outputs for the batch in reverse order are not the outputs in reverse order: "
                                   "each sample's output must be computed from that sample."))


def cpu_time(action):
    started = time.process_time()
    action()
    return time.process_time() - started


# -- MaxPool2d -----------------------------------------------------------------------------------


def pool_blocks(x, k):
    """(N, C, H/k, W/k, k*k): each window's elements in row-major order."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // k, k, w // k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h // k, w // k, k * k)


def unblock(blocks, shape, k):
    n, c, h, w = shape
    return blocks.reshape(n, c, h // k, w // k, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(shape)


def pool_grad_at(x, g, k, position):
    """The gradient sent to ``position(blocks) -> index in the window`` of every window."""
    blocks = pool_blocks(x, k)
    index = position(blocks)[..., None]
    grad = np.zeros(blocks.shape)
    np.put_along_axis(grad, index, g[..., None], axis=-1)
    return unblock(grad, x.shape, k)


def pool_grad_transposed(x, g, k):
    """The gradient sent to the maximum's position with row and column swapped inside the window."""
    def transposed(blocks):
        first = blocks.argmax(axis=-1)
        return (first % k) * k + first // k
    return pool_grad_at(x, g, k, transposed)


def pool_grad_all(x, g, k, split=False):
    """The gradient sent to every maximum of each window (or split evenly between them)."""
    blocks = pool_blocks(x, k)
    winners = blocks == blocks.max(axis=-1, keepdims=True)
    share = g[..., None] / winners.sum(axis=-1, keepdims=True) if split else g[..., None]
    return unblock(winners * share, x.shape, k)


def pool_grad_everywhere(x, g, k):
    """The gradient copied to every element of its window (upsampling, no routing)."""
    return np.repeat(np.repeat(g, k, axis=2), k, axis=3)


# -- ClassContrastiveCriterion ---------------------------------------------------------------------


def contrastive(x, y, M, pos_norm=None, neg_norm=None, include_diagonal=False, scale=1.0, squared=True,
                hinge_clipped=True):
    """Loss and gradient of ``scale * (sum_pos d^2 / pos_norm + sum_neg max(0, M - d)^2 / neg_norm)``
    over ordered pairs; the defaults (numbers of positive and negative pairs i != j) are the
    specification, the other settings the usual mistakes (counting, ``d`` for positive pairs
    instead of ``d^2``, ``(M - d)^2`` without the ``max``)."""
    n = len(y)
    diff = x[:, None, :] - x[None, :, :]
    dist = np.sqrt(np.sum(diff ** 2, axis=-1))
    same = y[:, None] == y[None, :]
    positive = same & ~np.eye(n, dtype=bool)
    negative = ~same
    n_pos = positive.sum() + (n if include_diagonal else 0)
    n_neg = negative.sum()
    pos_norm = n_pos if pos_norm is None else pos_norm
    neg_norm = n_neg if neg_norm is None else neg_norm
    loss, coef = 0.0, np.zeros((n, n))
    if positive.any():
        d = dist[positive]
        loss += np.sum(d ** 2 if squared else d) / pos_norm
        coef[positive] = 4.0 / pos_norm if squared else 2.0 / np.where(d > 0, d, 1.0) / pos_norm
    if negative.any():
        d = dist[negative]
        hinge = np.maximum(0, M - d) if hinge_clipped else M - d
        loss += np.sum(hinge ** 2) / neg_norm
        coef[negative] = np.where(d > 0, -4.0 * hinge / np.where(d > 0, d, 1.0), 0.0) / neg_norm
    grad = x * coef.sum(axis=1, keepdims=True) - coef @ x
    return scale * loss, scale * grad


def contrastive_mistakes(x, y, M, which):
    """``[(diagnosis, prediction)]`` for the pair-counting mistakes; ``which`` 0 = loss, 1 = gradient."""
    n = len(y)
    variants = [
        dict(include_diagonal=True),                      # i == j counted as positive pairs
        dict(pos_norm=n * n, neg_norm=n * n),              # divided by N^2
        dict(pos_norm=n * (n - 1), neg_norm=n * (n - 1)),  # divided by the number of all pairs
        dict(pos_norm=n, neg_norm=n),                      # divided by the batch size
        dict(pos_norm=1, neg_norm=1),                      # sums, not means
        dict(scale=0.5),                                   # only the pairs i < j, over the ordered counts
        dict(scale=2.0),
    ]
    return [("contrastive_pairs", lambda v=v: contrastive(x, y, M, **v)[which]) for v in variants] + [
        ("contrastive_positive_not_squared", lambda: contrastive(x, y, M, squared=False)[which]),
        ("contrastive_no_hinge", lambda: contrastive(x, y, M, hinge_clipped=False)[which]),
    ]


def contrastive_inputs(rng, n, d, M, labels, margin=0.1):
    """Embeddings whose pairwise distances stay away from 0 and from the hinge at M."""
    for _attempt in range(1000):
        x = rng.standard_normal((n, d)) * (M / np.sqrt(2 * d)) * 1.2
        dist = np.sqrt(np.sum((x[:, None] - x[None]) ** 2, axis=-1))
        off = dist[~np.eye(n, dtype=bool)]
        if off.min() > margin and np.abs(off - M).min() > margin:
            return x
    raise RuntimeError("no well-conditioned embeddings found")


# -- optimizers ------------------------------------------------------------------------------------


def copy_nested(variables):
    return [[np.array(v, dtype=np.float64) for v in layer] for layer in variables]


def flat(variables):
    return [v for layer in variables for v in layer]


def sgd_run(variables, gradient_steps, config, momentum=True, keep_state=True):
    """The variables after each step of SGD with momentum (or a known mistake)."""
    variables = copy_nested(variables)
    velocity, history = {}, []
    for gradients in gradient_steps:
        if not keep_state:
            velocity = {}
        for index, (var, grad) in enumerate(zip(flat(variables), flat(gradients))):
            old = velocity.get(index, np.zeros_like(grad)) if momentum else np.zeros_like(grad)
            velocity[index] = config["momentum"] * old + config["learning_rate"] * grad
            var -= velocity[index]
        history.append(copy_nested(variables))
    return history


def adam_run(variables, gradient_steps, config, correct_m=True, correct_v=True, keep_moments=True, keep_t=True,
             epsilon="sqrt_v", betas_swapped=False, t_late=False):
    """The variables after each step of Adam (or a known mistake), and the last (m, v, t).
    ``epsilon``: where epsilon goes, ``"sqrt_v"`` (the contract: lr_t * m / (sqrt(v) + eps)), ``"sqrt_v_hat"``
    (the other standard form: lr * m_hat / (sqrt(v_hat) + eps)) or ``"inside"`` (the mistake:
    lr_t * m / sqrt(v + eps)). ``betas_swapped``: m with beta2, v with beta1; ``t_late``: the bias
    correction uses t before it is counted up."""
    variables = copy_nested(variables)
    b1, b2, eps, lr = config["beta1"], config["beta2"], config["epsilon"], config["learning_rate"]
    m_beta, v_beta = (b2, b1) if betas_swapped else (b1, b2)  # the moving averages' betas
    m, v, t, history = {}, {}, 0, []
    for gradients in gradient_steps:
        t = t + 1 if keep_t else 1
        if not keep_moments:
            m, v = {}, {}
        used = t - 1 if t_late else t
        with np.errstate(all="ignore"):
            lr_t = lr * (np.sqrt(1 - b2 ** used) if correct_v else 1.0) / ((1 - b1 ** used) if correct_m else 1.0)
        for index, (var, grad) in enumerate(zip(flat(variables), flat(gradients))):
            m[index] = m_beta * m.get(index, 0.0) + (1 - m_beta) * grad
            v[index] = v_beta * v.get(index, 0.0) + (1 - v_beta) * grad * grad
            if epsilon == "sqrt_v_hat":
                var -= lr_t * m[index] / (np.sqrt(v[index]) + eps * np.sqrt(1 - b2 ** t))
            elif epsilon == "inside":
                var -= lr_t * m[index] / np.sqrt(v[index] + eps)
            else:
                var -= lr_t * m[index] / (np.sqrt(v[index]) + eps)
        history.append(copy_nested(variables))
    return history, (m, v, t)


def optimizer_step(submission, canonical, variables, gradients, config, state, what):
    """One call of the student's optimizer on copies of ``variables``; ``state`` is a worker-side
    dict. Returns a :class:`Step`: the variables' values after the call (as the student's code
    left them, for judging values), the variables and gradients as the call left them in
    memory (read on this side from shared memory: the evidence for in-place updates and
    unchanged gradients), and the state dict as the worker holds it (keys as strings)."""
    call = submission.call_function(canonical, copy_nested(variables), copy_nested(gradients), dict(config), state)
    values = nested_arrays(call.args_after[0], variables, what)
    in_memory = nested_arrays(call.in_place[0], variables, what)
    gradients_after = nested_arrays(call.in_place[1], gradients, what.replace(_("variables"), _("gradients")))
    state_after = submission.value(state, _("{name}: the `state` dictionary", name=submission.name_of(canonical)))
    return Step(copy_nested(variables), values, in_memory, gradients_after,
                state_after if isinstance(state_after, dict) else {})


@dataclass
class Step:
    before: list  # the variables given to the call
    after: list  # their values after it, as the student's code left them
    in_memory: list  # the arrays given, as they are in memory after the call
    gradients_after: list  # the gradient arrays given, as they are in memory after the call
    state: dict


def run_optimizer(submission, canonical, variables, gradient_steps, config):
    """Call the optimizer once per gradient step with one state dict, feeding each call the
    variables the previous one left. Returns one :class:`Step` per call."""
    state = submission.new_dict()
    steps, current = [], copy_nested(variables)
    for number, gradients in enumerate(gradient_steps, start=1):
        what = _("{name}: the variables after step {number}", name=submission.name_of(canonical), number=number)
        step = optimizer_step(submission, canonical, current, gradients, config, state, what)
        steps.append(step)
        current = step.after
    return steps


def nested_arrays(value, like, what):
    """``value`` (as sent back by the worker) as per-layer lists of float arrays shaped like ``like``."""
    if not isinstance(value, list) or len(value) != len(like):
        fail("wrong_shape", what, _("The list of per-layer lists of arrays lost its structure."))
    result = []
    for layer, like_layer in zip(value, like):
        if not isinstance(layer, list) or len(layer) != len(like_layer):
            fail("wrong_shape", what, _("The list of per-layer lists of arrays lost its structure."))
        arrays = []
        for array, like_array in zip(layer, like_layer):
            if not isinstance(array, np.ndarray) or array.shape != like_array.shape:
                shape = getattr(array, "shape", type(array).__name__)
                fail("wrong_shape", what, _("An array of shape {expected} became {shape}.", expected=like_array.shape,
                                            shape=shape))
            arrays.append(array.astype(np.float64))
        result.append(arrays)
    return result


def expect_updated(step, what):
    """Every variable's value changed (in place or not: that is judged by :func:`expect_in_place`)."""
    unchanged = [i for i, (b, a) in enumerate(zip(flat(step.before), flat(step.after))) if np.array_equal(a, b)]
    if unchanged:
        count = len(flat(step.before))
        detail = (_("None of the variables changed.") if len(unchanged) == count else
                  _("{unchanged} of the {count} variables did not change (variable number {first} first).",
                    unchanged=len(unchanged), count=count, first=unchanged[0] + 1))
        fail("optimizer_not_in_place", what, detail)


def expect_in_place(step, what):
    """The optimizer updates the arrays it is given, not the lists that hold them: a model's
    getParameters() lists are rebuilt on every call, so a replaced list item is a lost update.
    Judged from the arrays as they are in memory after the call, read on this side."""
    expect_updated(step, what)
    stale = [i for i, (a, m) in enumerate(zip(flat(step.after), flat(step.in_memory)))
             if not np.array_equal(a, m, equal_nan=True)]
    if stale:
        fail("optimizer_not_in_place", what,
             _("It put new arrays into the lists (variables[i][j] = ...) instead of changing the arrays themselves "
               "(variables[i][j] -= ...): {stale} of the {count} arrays it was given kept their old values.",
               stale=len(stale), count=len(flat(step.after))))


def expect_update(step, expected_after, what, mistakes=(), config=None, **tolerance):
    """The step the optimizer took (the variables after the call less those before it) against
    the expected step: a step is what the analyser can relate to the learning rate, the
    momentum or the sign, where the variables themselves would hide it. ``mistakes`` give the
    variables after the call that a known mistake would leave."""
    before = concat(step.before)
    constants = {}
    for name, value in (config or {}).items():
        if isinstance(value, float) and value not in (0.0, 1.0):
            constants[_("the {name} ({value:g})", name=config_words(name), value=value)] = value
            constants[_("1 / the {name} ({value:g})", name=config_words(name), value=value)] = 1 / value
    expect_close(concat(step.after) - before, np.asarray(expected_after) - before, what,
                 [(key, np.asarray(after) - before, *rest) for key, after, *rest in mistakes],
                 context=Context(constants=constants, layout=None), **tolerance)


def config_words(name):
    """A hyperparameter of an optimizer's ``config`` in the feedback's words (``learning_rate``:
    "learning rate"); the others by their names."""
    words = {"learning_rate": _("learning rate"), "momentum": _("momentum")}
    return words.get(name, name.replace("_", " "))


def expect_gradients_unchanged(step, gradients, what):
    for i, (b, a) in enumerate(zip(flat(gradients), flat(step.gradients_after))):
        if not np.array_equal(a, b):
            fail("input_mutated", what, _("(gradient array number {number} was changed in place)", number=i + 1))


def state_values(entry):
    """The arrays of a state sub-dict (e.g. ``state["m"]``) in the order they were stored; a list is accepted."""
    if isinstance(entry, dict):
        entry = list(entry.values())
    if not isinstance(entry, list) or not all(isinstance(v, np.ndarray) for v in entry):
        return None
    return [v.astype(np.float64) for v in entry]


def concat(variables):
    return np.concatenate([v.ravel() for v in flat(variables)])


def optimizer_problem(rng, steps):
    """Variables as a model gives them (a layer without parameters included) and gradient steps
    with entries of moderate size (at least 0.2 in magnitude)."""
    shapes = [[(3, 2), (3,)], [], [(4,)]]
    variables = [[rng.standard_normal(s) for s in layer] for layer in shapes]
    gradient_steps = []
    for _step in range(steps):
        layers = []
        for layer in shapes:
            grads = []
            for s in layer:
                g = rng.standard_normal(s)
                grads.append(np.where(np.abs(g) < 0.2, np.copysign(0.2, g) + g, g))
            layers.append(grads)
        gradient_steps.append(layers)
    return variables, gradient_steps


def expect_uses_gradients(submission, canonical, config, rng, what):
    """One step from the same variables with two different gradients gives two different updates:
    the tests of how an optimizer keeps its state and updates its variables are judged on its
    own updates, and an optimizer that ignores its gradients computes none worth judging."""
    variables, (first,) = optimizer_problem(rng, 1)
    _variables, (second,) = optimizer_problem(rng, 1)
    updates = []
    for gradients in (first, second):
        (step,) = run_optimizer(submission, canonical, variables, [gradients], config)
        updates.append(concat(step.after) - concat(step.before))
    if not all(np.all(np.isfinite(update)) for update in updates):
        return  # a step that overflows computes something wrong: the tests of the values charge it
    expect_computes(_("{what}: the update of one step", what=what), updates, [concat(first), concat(second)],
                    identity_ok=True)


def expect_state_kept(submission, canonical, config, rng):
    """The optimizer keeps its state in the dict it is given: the dict is not empty after a call,
    and two optimizers taking turns, each with its own dict, get what each gets alone (state kept
    in a global or a function attribute mixes them up). Judged against the student's own
    results, so a wrong update rule is charged elsewhere."""
    name = submission.name_of(canonical)
    expect_uses_gradients(submission, canonical, config, rng, name)
    problems = [optimizer_problem(rng, 2) for _ in range(2)]
    alone = [run_optimizer(submission, canonical, variables, steps, config) for variables, steps in problems]
    for which, run in enumerate(alone):
        for number, step in enumerate(run, start=1):
            if not step.state:
                fail("optimizer_state_not_kept", _("{name}: the `state` dictionary after step {number}",
                                                   name=name, number=number),
                     _("It was still empty after the call."))
    states = [submission.new_dict() for _ in problems]
    current = [copy_nested(variables) for variables, _ in problems]
    for number in range(2):
        for which, (_variables, steps) in enumerate(problems):
            what = _("{name}: two optimizers with their own `state` dictionaries taking turns, optimizer {which}, "
                     "step {number}", name=name, which=which + 1, number=number + 1)
            after = optimizer_step(submission, canonical, current[which], steps[number], config, states[which],
                                   what).after
            own = alone[which][number].after
            if not np.allclose(concat(after), concat(own), rtol=1e-10, atol=1e-12, equal_nan=True):
                fail("optimizer_state_not_kept", what, _("The result differs from the same optimizer run on its own: "
                                                         "the state must live in the `state` dictionary passed in, "
                                                         "not in a global variable."))
            current[which] = after
