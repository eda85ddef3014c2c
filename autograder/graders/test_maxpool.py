"""MaxPool2d(k): the maximum of each non-overlapping k x k window (stride k); the gradient goes to
one maximum per window."""
import numpy as np

from autograder.checks import expect, fail
from autograder.graders.support import check_forward, check_grad_input, check_inputs_unchanged
from autograder.graders.support_adv import (
    pool_blocks,
    pool_grad_all,
    pool_grad_at,
    pool_grad_everywhere,
    pool_grad_transposed,
)
from autograder.i18n import _

# (input shape, kernel_size): H != W, several channels, kernel 1, 2 and 3
SHAPES = [((2, 3, 4, 6), 2), ((1, 2, 6, 9), 3), ((2, 2, 3, 5), 1)]


def distinct(rng, shape):
    """Values all different, at least 0.05 apart, so that each window has a single maximum."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - np.prod(shape) / 2) * 0.05


def test_forward(submission, ref, rng):
    """output holds the maximum of each k x k window"""
    for shape, k in SHAPES:
        student, reference = submission.new("MaxPool2d", k), ref.MaxPool2d(k)
        x = rng.standard_normal(shape)
        check_forward(student, reference, x, _("MaxPool2d({k}) output for an input of shape {shape}",
                                               k=k, shape=shape),
                      mistakes=[("maxpool_average", pool_blocks(x, k).mean(axis=-1))] if k > 1 else [])


def test_grad_input(submission, ref, rng):
    """{gradInput} sends each window's gradient to the position of its maximum"""
    for shape, k in SHAPES:
        student, reference = submission.new("MaxPool2d", k), ref.MaxPool2d(k)
        x = distinct(rng, shape)
        g = rng.standard_normal((shape[0], shape[1], shape[2] // k, shape[3] // k))
        mistakes = [] if k == 1 else [
            ("maxpool_wrong_position", lambda: pool_grad_transposed(x, g, k)),
            ("maxpool_wrong_position", lambda: pool_grad_everywhere(x, g, k)),
            ("maxpool_wrong_position", lambda: pool_grad_at(x, g, k, lambda blocks: np.zeros(blocks.shape[:-1], int))),
            ("maxpool_wrong_position", lambda: pool_grad_at(x, g, k, lambda blocks: blocks.argmin(axis=-1))),
            ("maxpool_average", lambda: pool_grad_everywhere(x, g, k) / (k * k)),
        ]
        check_grad_input(student, reference, x, g, _("MaxPool2d({k}) {gradInput} for an input of shape {shape}",
                                                     k=k, shape=shape),
                         mistakes=mistakes)


def test_ties(submission, ref, rng):
    """with tied maxima, each window's gradient goes to exactly one of its maxima"""
    # Any single tied maximum is accepted (the first in row-major order, as PyTorch does, or
    # another one); sending the gradient to several elements of a window is not.
    for shape, k in (((2, 2, 4, 6), 2), ((1, 2, 6, 9), 3)):
        student = submission.new("MaxPool2d", k)
        x = rng.integers(0, 3, shape).astype(np.float64)
        out_shape = (shape[0], shape[1], shape[2] // k, shape[3] // k)
        g = rng.uniform(0.5, 1.5, out_shape) * rng.choice([-1.0, 1.0], out_shape)
        what = _("MaxPool2d({k}) {gradInput} for an input of shape {shape} with tied maxima",
                 k=k, shape=shape)
        student.forward(x)
        got = student.backward(x, g)
        expect(got.shape == x.shape, "wrong_shape", what, _("Expected shape {expected}, got {got}.",
                                                            expected=x.shape, got=got.shape))
        blocks, grads = pool_blocks(x, k), pool_blocks(got, k)
        is_max = blocks == blocks.max(axis=-1, keepdims=True)
        receivers = np.abs(grads) > 1e-12
        count = receivers.sum(axis=-1)
        several = np.argwhere(count > 1)
        if len(several):
            window = tuple(int(i) for i in several[0])
            ties = int(is_max[window].sum())
            if np.allclose(got, pool_grad_all(x, g, k)):
                fail("maxpool_all_ties", what, _("For example the window at output index {window} has {ties} tied "
                                                 "maxima and each of them received the whole gradient.",
                                                 window=window, ties=ties))
            if np.allclose(got, pool_grad_all(x, g, k, split=True)):
                fail("maxpool_all_ties", what, _("For example the window at output index {window} has {ties} tied "
                                                 "maxima and the gradient was split between them.",
                                                 window=window, ties=ties))
            fail("maxpool_all_ties", what, _("The window at output index {window} sent gradient to {count} elements; "
                                             "it must go to exactly one.", window=window, count=int(count[window])))
        misplaced = np.argwhere(receivers & ~is_max)
        if len(misplaced):
            window = tuple(int(i) for i in misplaced[0][:-1])
            fail("maxpool_wrong_position", what, _("The window at output index {window} sent its gradient to an "
                                                   "element that is not its maximum.", window=window))
        sent = grads.sum(axis=-1)
        if not np.allclose(sent, g, rtol=1e-6, atol=1e-8):
            window = tuple(int(i) for i in np.argwhere(~np.isclose(sent, g, rtol=1e-6, atol=1e-8))[0])
            fail("wrong_values", what, _("The window at output index {window} passed on {sent:.6g}; its {gradOutput} "
                                         "is {expected:.6g}.",
                                         window=window, sent=float(sent[window]), expected=float(g[window])))


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged"""
    student = submission.new("MaxPool2d", 2)
    x = distinct(rng, (2, 2, 4, 6))
    check_inputs_unchanged(submission, student, x, rng.standard_normal((2, 2, 2, 3)), "MaxPool2d(2)")
