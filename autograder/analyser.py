"""What relates a wrong result to the expected one, in words a student can act on.

When no named mistake of a grader matches, :func:`relation` looks for a relationship between
what the student's code returned and what was expected: the shape permuted, the result
transposed, a constant factor the student can place (the batch size, -1, 2, a constant of
the layer), a term of the formula missing or added, a constant offset, or a difference
confined to a part of the input (one branch of a piecewise function, some rows or columns,
the border of an image, some channels, the positions of a pooling window other than its
maximum). Each detector is a short function with one numerical idea; the first that finds
something gives the headline. Where nothing fits, :func:`localise` still says where the
result differs.

A :class:`Finding` has a ``key`` (the relationship, the diagnosis the test records) and the
``text`` the student reads.
"""
from dataclasses import dataclass, field

import numpy as np

from .i18n import _

RTOL, ATOL = 1e-6, 1e-8


@dataclass
class Context:
    """What a grader knows about the comparison, for the detectors.

    ``x``: the input the result was computed from, where the result has its shape (an
    element-wise layer's input): for piecewise mistakes. ``constants``: what a factor may be,
    as ``{description: value}`` (``{"the batch size N": 5}``). ``terms``: named parts of the
    expected result a wrong one may miss or add. ``layout``: ``"rows"`` (a batch of rows),
    ``"image"`` (N, C, H, W) or None. ``border``: how many pixels of an image's edge padding
    reaches. ``pool``: the pooling window size (a gradient routed to the wrong places of a
    window)."""
    x: np.ndarray | None = None
    constants: dict = field(default_factory=dict)
    terms: dict = field(default_factory=dict)
    layout: str | None = "rows"
    border: int = 1
    pool: int | None = None


@dataclass
class Finding:
    key: str
    text: str


def near(a, b, rtol=1e-5, atol=1e-7):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def differs(got, expected, rtol=RTOL, atol=ATOL):
    """Where ``got`` differs from ``expected`` (NaN counts as a difference)."""
    with np.errstate(all="ignore"):
        wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    return wrong | ~np.isfinite(got)


def number(value):
    return f"{value:.4g}"


# -- the constants a student can place ------------------------------------------------------------

def standard_constants(context):
    """The layer's own constants, then the ones every computation may get wrong."""
    found = dict(context.constants)
    found.setdefault(_("-1 (the sign is flipped)"), -1.0)
    found.setdefault("2", 2.0)
    found.setdefault("1/2", 0.5)
    return found


def name_factor(factor, context):
    """A description of ``factor`` when it is (near) one of the constants, else None."""
    for description, value in standard_constants(context).items():
        if value and np.isclose(factor, value, rtol=1e-4):
            return description
    return None


def batch_constants(n, criterion=False):
    """The batch size as a factor: a criterion that forgets to divide by it (or divides twice);
    a layer that divides by it, which only criterions do."""
    if n <= 1:
        return {}
    if criterion:
        return {_("N (the batch size): the division by N is missing"): float(n),
                _("1/N (the batch size): it is divided by N once too often"): 1.0 / n}
    return {_("1/N (the batch size): a layer must not divide by N, only criterions do"): 1.0 / n,
            _("N (the batch size)"): float(n)}


def fitted_factor(got, expected):
    """The one number c with got ≈ c * expected, or None."""
    scale = float(np.sum(expected * expected))
    if scale == 0.0 or not np.all(np.isfinite(got)):
        return None
    factor = float(np.sum(got * expected)) / scale
    if factor == 0.0 or np.isclose(factor, 1.0, rtol=1e-6):
        return None
    return factor if near(got, factor * expected) else None


def context_for(x, criterion=False, constants=None, **options):
    """The usual context of a comparison on a batch ``x``: its layout, its batch size as a
    factor, and ``x`` itself for the piecewise detectors."""
    x = np.asarray(x)
    found = batch_constants(x.shape[0] if x.ndim else 1, criterion)
    if criterion and x.ndim == 2 and x.shape[1] not in (1, x.shape[0]):
        n, d = x.shape
        found[_("N/D = {n}/{d}: divided by the number of columns D where the batch size N belongs", n=n, d=d)] = n / d
    found.update(constants or {})
    return Context(x=x, constants=found, layout="image" if x.ndim == 4 else "rows", **options)


# -- detectors: each returns a Finding or None ---------------------------------------------------------

def constant_result(got, expected, context):
    """The same value everywhere (zeros, say) where the expected result varies."""
    if got.shape != expected.shape or got.size < 2 or not np.all(np.isfinite(got)):
        return None
    value = float(got.flat[0])
    if np.all(got == value) and not np.all(expected == expected.flat[0]):
        what = _("zero") if value == 0 else number(value)
        return Finding("constant", _("It is {value} everywhere, where the expected result varies: it does not depend "
                                     "on the input (is the computation missing?).", value=what))
    return None


def permuted_shape(got, expected, context):
    if got.shape == expected.shape or sorted(got.shape) != sorted(expected.shape):
        return None
    if got.ndim == 2 and near(got.T, expected):
        return Finding("transposed", _("It is the expected result transposed: shape {got} where {expected} is "
                                       "expected.", got=got.shape, expected=expected.shape))
    return Finding("axes_permuted", _("Its shape {got} is the expected {expected} with the axes in another order: "
                                      "check which axis is which (the batch comes first).", got=got.shape,
                                      expected=expected.shape))


def reduced_shape(got, expected, context):
    """A reduction over the wrong axis, or a missing ``keepdims`` broadcast."""
    if got.shape == expected.shape:
        return None
    if got.ndim == expected.ndim and got.ndim == 2 and got.shape[0] == got.shape[1] and expected.shape[1] == 1 \
            and expected.shape[0] == got.shape[0]:
        return Finding("keepdims", _("It has shape {got} where {expected} is expected: a vector of shape ({n},) was "
                                     "broadcast across the rows; keep the reduced axis (keepdims=True) so that it "
                                     "broadcasts across the columns.", got=got.shape, expected=expected.shape,
                                     n=expected.shape[0]))
    if got.size < expected.size and got.ndim < expected.ndim:
        return Finding("reduced", _("It has shape {got} where {expected} is expected: an axis was summed (or "
                                    "averaged) away that must be kept.", got=got.shape, expected=expected.shape))
    return None


def transposed(got, expected, context):
    if got.ndim == 2 and got.shape[0] == got.shape[1] and not near(got, expected) and near(got, expected.T):
        return Finding("transposed", _("It is the expected result transposed: a matrix is used (or returned) "
                                       "transposed."))
    return None


def factor(got, expected, context):
    found = fitted_factor(got, expected)
    if found is None:
        return None
    placed = name_factor(found, context)
    if placed is None:
        return Finding("factor", _("It is {factor} times the expected result everywhere: a constant factor is wrong "
                                   "(none of the layer's own constants has this value).", factor=number(found)))
    if placed.startswith("-1"):
        return Finding("sign", _("It is the expected result with the opposite sign."))
    return Finding("factor", _("It is {placed} = {factor} times the expected result everywhere.", placed=placed,
                               factor=number(found)))


def per_line(got, expected, context):
    """Each row a multiple of the expected row (a normalisation by the wrong quantity), or each
    column off by a constant of its own (a per-feature term missing, such as a mean)."""
    if got.shape != expected.shape or got.ndim != 2 or min(got.shape) < 2 or not np.all(np.isfinite(got)):
        return None
    scales = np.sum(got * expected, axis=1) / np.maximum(np.sum(expected * expected, axis=1), 1e-300)
    if near(got, scales[:, None] * expected) and not np.allclose(scales, scales[0]):
        return Finding("row_factor", _("Each row is the expected row times a factor of its own: the rows are "
                                       "normalised (divided) by the wrong quantity."))
    shifts = np.mean(got - expected, axis=0)
    if near(got, expected + shifts[None, :]) and not np.allclose(shifts, shifts[0]):
        return Finding("column_offset", _("Each column is off by a constant of its own: a per-feature term (a mean, "
                                          "a bias) is missing or added."))
    return None


def offset(got, expected, context):
    difference = got - expected
    if not np.all(np.isfinite(difference)) or difference.size < 2:
        return None
    constant = float(np.mean(difference))
    if constant != 0.0 and near(difference, np.full_like(difference, constant)):
        return Finding("offset", _("It is the expected result plus {constant} everywhere: a constant is added (or "
                                   "left out) that should not be.", constant=number(constant)))
    return None


def named_term(got, expected, context):
    for name, term in context.terms.items():
        term = np.asarray(term, dtype=np.float64)
        if term.shape != expected.shape or not np.any(term):
            continue
        if near(got, expected - term):
            return Finding("missing_term", _("It is the expected result without {term}.", term=name))
        if near(got, expected + term):
            return Finding("extra_term", _("It is the expected result with {term} added once more (or with the "
                                           "wrong sign).", term=name))
        if near(got, term):
            return Finding("only_term", _("It is only {term}: the rest of the formula is missing.", term=name))
    return None


def branch(got, expected, context):
    """Differences only where the input is negative, or only where it is positive."""
    x = context.x
    if x is None or np.shape(x) != got.shape:
        return None
    wrong = differs(got, expected)
    for side, mask in (("negative", x < 0), ("positive", x > 0)):
        if mask.any() and wrong.any() and not (wrong & ~mask).any():
            counts = dict(wrong=int(wrong.sum()), total=int(mask.sum()))
            text = _("It differs only where the input is negative ({wrong} of {total} such elements)", **counts) \
                if side == "negative" else \
                _("It differs only where the input is positive ({wrong} of {total} such elements)", **counts)
            ratio = fitted_factor(got[wrong], expected[wrong]) if np.any(expected[wrong]) else None
            placed = name_factor(ratio, context) if ratio is not None else None
            if ratio is not None:
                text += _(", where it is {factor} times the expected value",
                          factor=f"{placed} = {number(ratio)}" if placed else number(ratio))
            return Finding(f"branch_{side}", text + _(": check that branch of the formula."))
    return None


def pooling_positions(got, expected, context):
    """A pooling gradient sent to positions of a window other than its maximum."""
    k, x = context.pool, context.x
    if k is None or x is None or np.shape(x) != got.shape or got.ndim != 4:
        return None
    n, c, h, w = x.shape
    if h % k or w % k:
        return None
    blocks = x.reshape(n, c, h // k, k, w // k, k)
    maxima = blocks == blocks.max(axis=(3, 5), keepdims=True)
    at_max = maxima.reshape(x.shape)
    wrong = differs(got, expected)
    if wrong.any() and not (wrong & at_max).any():
        return Finding("pool_positions", _("It differs only at positions of a pooling window that are not its "
                                           "maximum: the gradient must go to the maximum of each window and nowhere "
                                           "else."))
    return None


def region(got, expected, context):
    """Differences confined to a recognisable part: rows, columns, the image border, channels."""
    if got.shape != expected.shape or got.ndim < 1:
        return None
    wrong = differs(got, expected)
    if not wrong.any() or wrong.all():
        return None
    if context.layout == "image" and got.ndim == 4:
        h, w = got.shape[2:]
        b = context.border
        inner = np.zeros((h, w), dtype=bool)
        inner[b:h - b, b:w - b] = True
        if inner.any() and not (wrong & inner).any():
            return Finding("border", _("It differs only within {b} pixel(s) of the image's edges: check the zero "
                                       "padding (k // 2 on every side).", b=b))
        channels = sorted(set(np.nonzero(wrong)[1].tolist()))
        if len(channels) < got.shape[1]:
            return Finding("channels", _("It differs only in channel(s) {channels} of {count}: check the loop or "
                                         "index over channels.", channels=channels, count=got.shape[1]))
    if got.ndim == 2:
        rows = sorted(set(np.nonzero(wrong)[0].tolist()))
        columns = sorted(set(np.nonzero(wrong)[1].tolist()))
        if len(rows) < got.shape[0]:
            where = _("the first row") if rows == [0] else _("the last row") if rows == [got.shape[0] - 1] \
                else _("rows {rows}", rows=rows)
            return Finding("rows", _("It differs only in {where} of {count}: check the loop over the batch or an index "
                                     "that starts or stops one row off.", where=where, count=got.shape[0]))
        if len(columns) < got.shape[1]:
            return Finding("columns", _("It differs only in column(s) {columns} of {count}.", columns=columns,
                                        count=got.shape[1]))
    return None


DETECTORS = (permuted_shape, reduced_shape, constant_result, transposed, factor, named_term, offset, per_line,
             branch, pooling_positions, region)


def relation(got, expected, context=None):
    """The first relationship any detector finds between ``got`` and ``expected``, or None."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    context = context or Context()
    with np.errstate(all="ignore"):
        for detector in DETECTORS:
            try:
                finding = detector(got, expected, context)
            except ValueError:  # shapes that do not broadcast: this detector has nothing to say
                continue
            if finding is not None:
                return finding
    return None


def localise(got, expected):
    """Where ``got`` differs, in words, when no relationship explains it: how many elements, and
    which rows and columns (of a 2-D result)."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape or got.ndim == 0:
        return ""
    wrong = differs(got, expected)
    text = _("It differs in {wrong} of {size} elements", wrong=int(wrong.sum()), size=wrong.size)
    if got.ndim == 2 and wrong.any():
        rows, columns = np.nonzero(wrong)
        row_set, column_set = sorted(set(rows.tolist())), sorted(set(columns.tolist()))
        text += (_(", in every row") if len(row_set) == got.shape[0] else _(", in rows {rows}", rows=row_set[:8])) + (
            _(" and every column") if len(column_set) == got.shape[1] else
            _(" and columns {columns}", columns=column_set[:8]))
    return text + _("; no simple relation to the expected values was found.")
