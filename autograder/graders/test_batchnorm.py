"""BatchNormalization(alpha), EPS = 1e-3, no learnable parameters.

Accepted variants (docs/module-contract.md): the moving statistics may start from the first batch or from mean 0
and variance 1, and the moving variance may be the biased or the unbiased estimate. So the moving
statistics are judged by the update rule relative to their previous value, and evaluation mode is
judged against the student's own moving statistics.
"""
import numpy as np

from autograder.checks import (
    OwnForward,
    close,
    expect,
    expect_close,
    expect_computes,
    expect_gradient,
    expect_unchanged,
    fail,
)
from autograder.graders.support import check_grad_input
from autograder.graders.support_state import BN_EPS, moving_stats, normalized, require_moving_stats
from autograder.i18n import _
from autograder.student import StudentFailure

D = 4


def batch(rng, n, d=D, shift=0.0):
    """A batch whose features have clearly different means and spreads."""
    loc = np.linspace(-2.0, 3.0, d) + shift
    scale = np.linspace(0.5, 2.5, d)
    return loc + scale * rng.standard_normal((n, d))


def train_on(module, rng, sizes, d=D):
    batches = [batch(rng, n, d, shift=0.5 * k) for k, n in enumerate(sizes)]
    for x in batches:
        module.forward(x)
    return batches


def test_forward_train(submission, ref, rng):
    """training output normalizes with the batch mean and biased batch variance"""
    for alpha in (0.9, 0.5):
        bn = submission.new("BatchNormalization", alpha)
        for call, n in enumerate((6, 9, 4), start=1):  # the batch size changes between calls
            x = batch(rng, n, shift=call)
            before = moving_stats(bn, D)
            got = bn.forward(x, strict=True)
            after = moving_stats(bn, D)
            mean, var = x.mean(axis=0), x.var(axis=0)
            mistakes = [("batchnorm_unbiased_variance", normalized(x, mean, x.var(axis=0, ddof=1))),
                        ("batchnorm_epsilon_outside_root", (x - mean) / (np.sqrt(var) + BN_EPS))]
            mistakes += [("batchnorm_moving_in_train", normalized(x, *stats)) for stats in (after, before) if stats]
            expect_close(got, normalized(x, mean, var),
                         _("BatchNormalization({alpha}) in training mode, output for batch {call} (shape {shape})",
                           alpha=alpha, call=call, shape=x.shape),
                         mistakes)


def test_grad_input_train(submission, ref, rng):
    """training {gradInput} is the full derivative through the batch mean and variance"""
    for n, d in ((5, 3), (8, 2)):
        student = submission.new("BatchNormalization", 0.9)
        reference = ref.BatchNormalization(0.9)
        x, g = batch(rng, n, d), rng.standard_normal((n, d))
        inv_std = 1 / np.sqrt(x.var(axis=0) + BN_EPS)
        constant_stats = g * inv_std
        normal = (x - x.mean(axis=0)) * inv_std
        # the two sums of the formula, with the signs they have in it
        terms = {_("the term of the batch mean, -mean({gradOutput}) / sqrt(var + EPS)"):
                 np.broadcast_to(-inv_std * g.mean(axis=0), g.shape),
                 _("the term of the batch variance, -x_hat * mean({gradOutput} * x_hat) / sqrt(var + EPS)"):
                 -inv_std * normal * (g * normal).mean(axis=0)}
        check_grad_input(student, reference, x, g, _("BatchNormalization(0.9) in training mode, {gradInput} for a "
                                                     "batch of shape {shape}", shape=x.shape),
                         mistakes=[("batchnorm_backward_constant_stats", constant_stats)], terms=terms)


def check_moving(bn, alpha, x, previous, call, what):
    """One training forward; the moving statistics must follow the update rule from ``previous``."""
    bn.forward(x)
    now = require_moving_stats(bn, x.shape[1], what)
    mean, biased, unbiased = x.mean(axis=0), x.var(axis=0), x.var(axis=0, ddof=1)
    label = _("{what} after training batch {call} (shape {shape})", what=what, call=call, shape=x.shape)
    if previous is None:
        # the first batch: the statistics start from it, or the rule runs from mean 0 and variance 1 (or 0)
        means = [mean, alpha * 0.0 + (1 - alpha) * mean]
        variances = [v0 * alpha + (1 - alpha) * v for v0 in (0.0, 1.0) for v in (biased, unbiased)] + [biased, unbiased]
        hint = ""
        if close(now[0], alpha * mean):
            hint = _(" It equals alpha * (batch mean): alpha and 1 - alpha look swapped.")
        expect(any(close(now[0], m) for m in means), "batchnorm_moving_not_updated", f"{label}: moving_mean",
               _("After the first batch it should be that batch's mean, or alpha * 0 + (1 - alpha) * that mean.")
               + hint)
        expect(any(close(now[1], v) for v in variances), "batchnorm_moving_not_updated", f"{label}: moving_variance",
               _("After the first batch it should be that batch's variance, or alpha * 1 + (1 - alpha) * that "
                 "variance."))
        return now
    old_mean, old_var = previous
    not_updated = "batchnorm_moving_not_updated"
    swapped = (1 - alpha) * old_mean + alpha * mean
    expect_close(now[0], alpha * old_mean + (1 - alpha) * mean, f"{label}: moving_mean",
                 mistakes=[(not_updated, old_mean), (not_updated, mean), (not_updated, swapped)])
    rule = [alpha * old_var + (1 - alpha) * v for v in (biased, unbiased)]
    if not any(close(now[1], r) for r in rule):
        wrong = [(not_updated, old_var)] + [(not_updated, v) for v in (biased, unbiased)]
        wrong += [(not_updated, (1 - alpha) * old_var + alpha * v) for v in (biased, unbiased)]
        expect_close(now[1], rule[0], f"{label}: moving_variance", mistakes=wrong)
    return now


def test_moving_statistics(submission, ref, rng):
    """moving_mean and moving_variance follow moving = alpha * moving + (1 - alpha) * batch statistic"""
    alpha = 0.8
    bn = submission.new("BatchNormalization", alpha)
    what = f"BatchNormalization({alpha})"
    previous = moving_stats(bn, D)  # set in the constructor (e.g. 0 and 1), or None
    for call, n in enumerate((6, 9, 4, 7), start=1):
        previous = check_moving(bn, alpha, batch(rng, n, shift=0.7 * call), previous, call, what)


def trained_pair(submission, ref, rng, alpha, sizes):
    student = submission.new("BatchNormalization", alpha)
    reference = ref.BatchNormalization(alpha)
    for x in train_on(student, rng, sizes):
        reference.forward(x)
    student.evaluate()
    reference.evaluate()
    stats = moving_stats(student, D)
    if stats is None:  # unreadable: judge evaluation with the right statistics instead
        stats = reference.moving_mean, reference.moving_variance
    return student, reference, stats


def test_forward_eval(submission, ref, rng):
    """evaluation output normalizes with the moving statistics"""
    for alpha in (0.6, 0.0):
        student, _reference, (mean, var) = trained_pair(submission, ref, rng, alpha, (8, 8, 8))
        for k in range(2):
            x = batch(rng, 8, shift=-1.5 + 3 * k)
            expect_close(student.forward(x), normalized(x, mean, var),
                         _("BatchNormalization({alpha}) in evaluation mode after 3 training batches, output for a "
                           "batch of shape {shape}", alpha=alpha, shape=x.shape),
                         mistakes=[("batchnorm_epsilon_outside_root", (x - mean) / (np.sqrt(var) + BN_EPS)),
                                   ("batchnorm_eval_uses_batch", normalized(x, x.mean(axis=0), x.var(axis=0))),
                                   ("batchnorm_eval_uses_batch",
                                    normalized(x, x.mean(axis=0), x.var(axis=0, ddof=1)))])


def test_grad_input_eval(submission, ref, rng):
    """evaluation {gradInput} is {gradOutput} / sqrt(moving_variance + EPS)"""
    student, reference, (mean, var) = trained_pair(submission, ref, rng, 0.6, (8, 8, 8))
    x, g = batch(rng, 8, shift=1.0), rng.standard_normal((8, D))
    output = student.forward(x)
    got = student.backward(x, g, strict=True)
    train_mode = ref.BatchNormalization(0.6)
    train_mode.forward(x)
    # the expected values come from the student's own moving statistics (an accepted variant may
    # differ from the reference's), and so does the second oracle's condition
    own = OwnForward(student.forward, x, g, close(output, normalized(x, mean, var)))
    expect_gradient(got, g / np.sqrt(var + BN_EPS),
                    _("BatchNormalization(0.6) in evaluation mode, {gradInput} for a batch of shape {shape}",
                      shape=x.shape), own,
                    [("batchnorm_eval_uses_batch", train_mode.backward(x, g))])


def test_eval_batch_size(submission, ref, rng):
    """evaluation works with a batch size other than the training batch size"""
    student, _reference, (mean, var) = trained_pair(submission, ref, rng, 0.6, (8, 8))
    what = _("BatchNormalization(0.6) trained on batches of 8, in evaluation mode")
    control, control_g = batch(rng, 8), rng.standard_normal((8, D))
    # the values are judged where they are right for the training batch size (else forward_eval's
    # and grad_input_eval's to judge): this test owns the other batch sizes
    values_checked = close(student.forward(control), normalized(control, mean, var))
    grads_checked = close(student.backward(control, control_g), control_g / np.sqrt(var + BN_EPS))
    outputs, inputs = [], []
    for n in (3, 1, 13, 3):
        x, g = batch(rng, n, shift=1.0), rng.standard_normal((n, D))
        try:
            out = student.forward(x)
            grad = student.backward(x, g)
        except StudentFailure as failure:
            if failure.diagnosis == "raised":
                fail("batchnorm_eval_batch_size", _("{what}, a batch of shape {shape}",
                                                    what=what, shape=x.shape), str(failure))
            raise
        expect(out.shape == x.shape and grad.shape == x.shape, "batchnorm_eval_batch_size",
               _("{what}, a batch of shape {shape}", what=what, shape=x.shape),
               _("forward returned shape {output} and backward {grad}; expected {expected} for both.",
                 output=out.shape, grad=grad.shape, expected=x.shape))
        if values_checked:
            expect_close(out, normalized(x, mean, var), _("{what}: output for a batch of shape {shape}",
                                                          what=what, shape=x.shape))
        if grads_checked:
            expect_close(grad, g / np.sqrt(var + BN_EPS), _("{what}: {gradInput} for a batch of shape {shape}",
                                                            what=what, shape=x.shape))
        outputs.append(out)
        inputs.append(x)
    expect_computes(_("{what}: the outputs for two batches of 3", what=what), [outputs[0], outputs[3]],
                    [inputs[0], inputs[3]], rows=True)


def test_input_unchanged(submission, ref, rng):
    """forward and backward leave their input arrays unchanged, in training and in evaluation mode"""
    bn = submission.new("BatchNormalization", 0.5)
    outputs, inputs = [], []
    for mode in ("train", "train", "evaluate"):
        getattr(bn, mode)()
        x, g = batch(rng, 6, shift=len(inputs)), rng.standard_normal((6, D))
        outputs.append(bn.forward(x))
        bn.backward(x, g)
        inputs.append(x)
    expect_computes(_("BatchNormalization(0.5).forward in training mode"), outputs[:2], inputs[:2], rows=True)
    expect_unchanged(submission, "BatchNormalization(0.5)")
