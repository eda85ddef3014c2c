"""Dropout(p), p = the probability of zeroing an element.

Accepted variants (docs/module-contract.md): the mask may be drawn with any NumPy global-RNG call, so masks are
never compared with the reference's; what is judged is the share of zeroed elements, the scaling
of the kept ones, that masks are per element and fresh at every forward, that backward uses the
forward's mask, and the identity in evaluation mode and for p = 0.
"""
import numpy as np

from autograder.analyser import Context
from autograder.checks import check_mistakes, close, expect, expect_close, expect_computes, expect_unchanged, fail
from autograder.graders.support_state import is_mask_of, nonzero_input
from autograder.i18n import _, code


def dropped(submission, p, x, seed, what, strict=False):
    """A training forward of a fresh Dropout(p); fails plainly when nothing (or everything) is zeroed."""
    layer = submission.new("Dropout", p)
    out = layer.forward(x, seed=seed, strict=strict)
    expect(out.shape == x.shape, "wrong_shape", what, _("Expected shape {expected}, got {got}.",
                                                        expected=x.shape, got=out.shape))
    zero = out == 0
    expect(zero.any(), "dropout_no_drop", what, _("No element of an input of shape {shape} was zeroed with p = {p}.",
                                                  shape=x.shape, p=p))
    expect(not zero.all(), "wrong_values", what, _("Every element was zeroed with p = {p}.", p=p))
    expect_masked_copy(out, x, what)
    return layer, out


def expect_masked_copy(out, x, what):
    """What is not zeroed is the input times one factor (whichever: the scaling test judges it),
    so that a mask applied to anything but the input earns none of the mask's tests."""
    kept = out != 0
    ratios = out[kept] / x[kept]
    if kept.any() and np.ptp(ratios) > 1e-9 * max(1.0, float(np.abs(ratios).max())):
        fail("degenerate", what, _("The elements it keeps are not the input's elements times one factor."))


def constant_lines(zero):
    """Whether every row, or every column, is either all zeroed or all kept."""
    rows = np.all(zero.all(axis=1) | (~zero).all(axis=1))
    columns = np.all(zero.all(axis=0) | (~zero).all(axis=0))
    return bool(rows), bool(columns)


def test_drop_rate(submission, ref, rng):
    """training mode zeroes each element with probability p"""
    x = nonzero_input(rng, (250, 200))
    for p, seed in ((0.3, 11), (0.75, 12)):
        what = _("Dropout({p}) in training mode, an input of shape {shape}", p=p, shape=x.shape)
        _layer, out = dropped(submission, p, x, seed, what, strict=True)
        zero = out == 0
        rows, columns = constant_lines(zero)
        draws = x.shape[0] if rows else x.shape[1] if columns else x.size  # a row or column mask: fewer draws
        tolerance = 6 * np.sqrt(p * (1 - p) / draws)
        share = float(zero.mean())
        detail = _("{share:.3f} of the elements were zeroed; expected about p = {p}.", share=share, p=p)
        expect(abs(share - (1 - p)) > tolerance, "dropout_keep_probability", what, detail)
        expect(abs(share - p) <= tolerance, "wrong_values", what, detail)


def test_scaling(submission, ref, rng):
    """kept elements are scaled by 1 / (1 - p)"""
    x = nonzero_input(rng, (60, 50))
    for p, seed in ((0.4, 3), (0.2, 4)):
        what = _("Dropout({p}) in training mode, the kept (non-zero) elements", p=p)
        _layer, out = dropped(submission, p, x, seed, what)
        kept = out != 0
        expect_close(out, np.where(kept, x / (1 - p), 0.0), what,
                     mistakes=[("dropout_no_rescale", np.where(kept, x, 0.0)),
                               ("dropout_keep_probability", np.where(kept, x / p, 0.0))],
                     context=Context(constants=dropout_constants(p)))


def dropout_constants(p):
    """The factors a dropout's scaling can be off by."""
    return {_("(1 - p)^2 = {value:g}: the kept values are multiplied by 1 - p where they must be divided by it",
              value=(1 - p) ** 2): (1 - p) ** 2,
            _("1 - p = {value:g}: the division by 1 - p is missing", value=1 - p): 1 - p,
            _("(1 - p) / p = {value:g}: p and 1 - p are swapped", value=(1 - p) / p): (1 - p) / p}


def test_per_element(submission, ref, rng):
    """the mask is drawn per element, not per row or column"""
    x = nonzero_input(rng, (40, 30))
    what = _("Dropout(0.5) in training mode, an input of shape {shape}", shape=x.shape)
    _layer, out = dropped(submission, 0.5, x, 5, what)
    rows, columns = constant_lines(out == 0)
    expect(not (rows or columns), "dropout_row_mask", what,
           _("Every row of the output is either entirely zeroed or entirely kept.") if rows else
           _("Every column of the output is either entirely zeroed or entirely kept."))


def test_fresh_mask(submission, ref, rng):
    """every training forward draws a fresh mask"""
    x = nonzero_input(rng, (20, 25))
    what = _("Dropout(0.5) in training mode, two forward passes on the same input of shape {shape}",
             shape=x.shape)
    layer, first = dropped(submission, 0.5, x, 21, what)
    second = layer.forward(x, seed=22)
    expect(not np.array_equal(first == 0, second == 0), "dropout_stale_mask", what,
           _("Both passes zeroed exactly the same elements."))


def test_backward(submission, ref, rng):
    """backward multiplies {gradOutput} by the mask of the last forward pass"""
    for p, shape in ((0.4, (12, 10)), (0.7, (30, 20))):
        x, g = nonzero_input(rng, shape), nonzero_input(rng, shape)
        what = _("Dropout({p}) in training mode, {gradInput} for an input of shape {shape}",
                 p=p, shape=shape)
        layer, out = dropped(submission, p, x, 31, what)
        got = layer.backward(x, g, seed=32, strict=True)  # another seed: a mask drawn again in backward differs
        mask = out / x  # the forward's own mask, scaling included
        expected = g * mask
        if got.shape == x.shape and not close(got, expected):
            check_mistakes(got, what, [("dropout_backward_mask", g), ("dropout_backward_mask", g * (mask != 0))])
            if is_mask_of(got / g, (0.0, 1 / (1 - p), 1.0)):
                fail("dropout_backward_mask", what, _("{gradInput} is masked, but not with the mask of the forward "
                                                      "pass (its zeros are not where the output's zeros are)."))
        expect_close(got, expected, what, context=Context(constants=dropout_constants(p)))


def test_eval(submission, ref, rng):
    """evaluation mode is the identity for forward and backward; train() switches dropping back on"""
    p = 0.5
    x, g = nonzero_input(rng, (30, 20)), nonzero_input(rng, (30, 20))
    layer = submission.new("Dropout", p)
    layer.forward(x, seed=40)  # a training pass first: its mask must not outlive training mode
    layer.evaluate()
    what = _("Dropout({p}) in evaluation mode, after a forward pass in training mode", p=p)
    out, grad = layer.forward(x, seed=41), layer.backward(x, g, seed=42)
    for name, got, want in ((_("output"), out, x), (code("gradInput"), grad, g)):
        if got.shape == want.shape and np.any(got == 0):
            fail("dropout_masks_in_eval", f"{what}: {name}",
                 _("{zeroed} of {size} elements were zeroed.", zeroed=int(np.sum(got == 0)), size=got.size))
        expect_close(got, want, f"{what}: {name}")
    layer.train()
    out = layer.forward(x, seed=43)
    expect(np.any(out == 0), "dropout_no_drop", _("Dropout({p}) after evaluate() and then train()", p=p),
           _("No element was zeroed: train() must switch dropping back on."))


def test_p_zero(submission, ref, rng):
    """Dropout(0) is the identity in training mode"""
    x, g = nonzero_input(rng, (10, 8)), nonzero_input(rng, (10, 8))
    layer = submission.new("Dropout", 0.0)
    expect_close(layer.forward(x, seed=51), x, _("Dropout(0) in training mode: output"))
    expect_close(layer.backward(x, g, seed=52), g, _("Dropout(0) in training mode: {gradInput}"))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged, in training and in evaluation mode"""
    layer = submission.new("Dropout", 0.5)
    outputs, grads, inputs = [], [], []
    for mode in ("train", "train", "evaluate"):
        getattr(layer, mode)()
        x, g = nonzero_input(rng, (8, 6)), nonzero_input(rng, (8, 6))
        outputs.append(layer.forward(x, seed=61 + len(inputs)))
        grads.append(layer.backward(x, g, seed=62))
        inputs.append((x, g))
    # in training mode, what a dropout computes is neither nothing nor its input
    expect_computes(_("Dropout(0.5).forward in training mode"), outputs[:2], [x for x, _ in inputs[:2]])
    for out, (x, _gradient) in zip(outputs[:2], inputs[:2]):
        expect_masked_copy(out, x, _("Dropout(0.5).forward in training mode"))
    expect_computes(_("Dropout(0.5).backward in training mode"), grads[:2], [g for _, g in inputs[:2]])
    expect_unchanged(submission, "Dropout(0.5)")
