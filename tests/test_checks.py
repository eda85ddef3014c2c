"""The comparisons the graders use (``autograder/checks.py``), called directly on small arrays:
what passes, which diagnosis a failure carries, and the words around it. Fast: no sandbox; a
student's forward pass is a plain function here."""
import numpy as np
import pytest

from autograder import checks
from autograder.diagnoses import DIAGNOSES
from autograder.i18n import fill
from autograder.student import StudentFailure

X = np.arange(12, dtype=np.float64).reshape(3, 4) / 7 - 0.8


def failure(function, *args, **kwargs):
    with pytest.raises(StudentFailure) as caught:
        function(*args, **kwargs)
    return caught.value


def test_close_needs_the_same_shape_and_finite_agreement():
    assert checks.close(X, X + 1e-10)
    assert not checks.close(X, X + 1e-3)
    assert not checks.close(X, X.T.reshape(3, 4) * 0 + X[0, 0])
    assert not checks.close(X.reshape(4, 3), X)
    assert not checks.close(np.full(3, np.nan), np.full(3, np.nan))


def test_fail_names_the_mistake_in_the_students_words():
    error = failure(checks.fail, "grad_overwritten", "Linear(4, 3) gradW", "After two calls.")
    assert error.diagnosis == "grad_overwritten"
    assert str(error) == f"Linear(4, 3) gradW: {fill(DIAGNOSES['grad_overwritten'])} After two calls."


def test_where_it_differs_points_at_the_largest_difference():
    got = X.copy()
    got[2, 1] += 0.5
    got[0, 0] += 0.1
    assert checks.where_it_differs(got, X) == (
        f"Largest difference 0.5 at index (2, 1): got {got[2, 1]:.6g}, expected {X[2, 1]:.6g}.")


def test_where_it_differs_counts_nan_as_the_largest_difference():
    got = X.copy()
    got[1, 3] = np.nan
    got[0, 0] += 100
    assert "at index (1, 3): got nan" in checks.where_it_differs(got, X)


def test_a_matching_value_passes_whatever_mistakes_are_listed():
    checks.expect_close(X + 1e-12, X, "output", mistakes=[("softmax_overflow", X)])


def test_the_first_matching_mistake_is_named():
    error = failure(checks.expect_close, X * X, X, "gradW", mistakes=[
        ("linear_weight_transposed", X), ("grad_overwritten", X * X), ("grad_not_zeroed", X * X)])
    assert error.diagnosis == "grad_overwritten"
    assert str(error).startswith(f"gradW: {fill(DIAGNOSES['grad_overwritten'])} Largest difference")


def test_a_mistakes_prediction_is_computed_only_when_needed():
    calls = []

    def predict():
        calls.append(1)
        return X * 3

    checks.expect_close(X, X, "output", mistakes=[("factor", predict)])
    assert calls == []
    error = failure(checks.expect_close, X * 3, X, "output", mistakes=[("not_divided_by_batch", predict)])
    assert calls == [1] and error.diagnosis == "not_divided_by_batch"


def test_a_mistake_that_cannot_apply_is_skipped():
    error = failure(checks.expect_close, X * 2, X, "output",
                    mistakes=[("softmax_overflow", None), ("softmax_wrong_axis", lambda: None)])
    assert error.diagnosis == "factor"  # the analyser's finding, since no named mistake fits


def test_a_mistakes_own_detail_replaces_the_numbers():
    error = failure(checks.expect_close, X * 2, X, "loss", mistakes=[("not_divided_by_batch", X * 2, "N is 3.")])
    assert str(error) == f"loss: {DIAGNOSES['not_divided_by_batch']} N is 3."


def test_an_overflow_mistake_matches_nan_where_it_breaks():
    got = X.copy()
    got[0, 0] = np.nan
    error = failure(checks.expect_close, got, X, "SoftMax output", mistakes=[("softmax_overflow", got.copy())])
    assert error.diagnosis == "softmax_overflow"


def test_a_wrong_shape_is_named_with_both_shapes():
    error = failure(checks.expect_close, np.ones((3, 1)), X, "output")
    assert error.diagnosis == "wrong_shape"
    assert str(error).endswith("Expected shape (3, 4), got (3, 1).")


def test_a_wrong_shape_that_does_not_broadcast_is_named_too():
    error = failure(checks.expect_close, np.ones((2, 5)), X, "output")
    assert error.diagnosis == "wrong_shape"


def test_nonfinite_results_are_named_and_located():
    got = X.copy()
    got[1, 2] = np.inf
    error = failure(checks.expect_close, got, X, "ELU output", nonfinite_key="elu_overflow")
    assert error.diagnosis == "elu_overflow"
    assert "1 of 12 elements, the first at index (1, 2)." in str(error)


@pytest.mark.parametrize("got, key", [(2 * X, "factor"), (-X, "sign"), (X + 0.5, "offset"), (X.T, "transposed")])
def test_a_relation_to_the_expected_result_is_named(got, key):
    assert failure(checks.expect_close, got, X, "output").diagnosis == key


def test_unrelated_values_are_wrong_values_with_where_they_differ():
    got = np.random.default_rng(0).standard_normal(X.shape)
    error = failure(checks.expect_close, got, X, "output")
    assert error.diagnosis == "wrong_values"
    assert "Largest difference" in str(error)


# -- gradients: earned against the reference, or the finite differences of a right forward -----

def square(z):
    return z ** 2


def test_a_gradient_equal_to_the_references_passes():
    checks.expect_gradient(2 * X, 2 * X, "gradInput")


@pytest.mark.parametrize("shape", [(3, 4), (10, 10)], ids=["per element", "along directions"])
def test_follows_own_forward_differentiates_the_students_function(shape):
    x = np.linspace(-1, 1, np.prod(shape)).reshape(shape)
    g = np.ones(shape)
    assert checks.follows_own_forward(2 * x, checks.OwnForward(square, x, g, True))
    assert not checks.follows_own_forward(3 * x, checks.OwnForward(square, x, g, True))


def test_follows_own_forward_is_undecided_when_the_forward_fails():
    def broken(z):
        raise StudentFailure("forward raised", "raised")

    assert checks.follows_own_forward(X, checks.OwnForward(broken, X, np.ones_like(X), True)) is None


def test_a_gradient_of_a_right_forward_earns_its_points_where_the_reference_differs():
    """The finite differences of a forward that agrees with the reference are a second oracle."""
    reference_gradient = 2 * X + 1  # say, the reference was given another grad_output
    checks.expect_gradient(2 * X, reference_gradient, "gradInput", checks.OwnForward(square, X, np.ones_like(X), True))


def test_a_gradient_that_only_follows_a_wrong_forward_earns_nothing():
    error = failure(checks.expect_gradient, 2 * X, 2 * X + 1, "gradInput",
                    checks.OwnForward(square, X, np.ones_like(X), False))
    assert error.diagnosis == "gradient_of_wrong_forward"


def test_a_named_mistake_comes_before_the_wrong_forward():
    error = failure(checks.expect_gradient, 2 * X, 2 * X + 1, "gradInput",
                    checks.OwnForward(square, X, np.ones_like(X), False), mistakes=[("gradient_sign", 2 * X)])
    assert error.diagnosis == "gradient_sign"


def test_a_criterions_own_loss_is_differentiated_without_grad_output():
    def loss(z):
        return np.sum(z ** 2) / len(z)

    own = checks.OwnForward(loss, X, None, True)
    assert checks.follows_own_forward(2 * X / len(X), own)
    checks.expect_gradient(2 * X / len(X), np.zeros_like(X), "gradInput", own)


# -- what counts as code that computes something ------------------------------------------------

INPUTS = [X, X + 1]


@pytest.mark.parametrize("results, words", [
    ([np.zeros_like(X), np.zeros_like(X)], "only zeros"),
    ([np.full_like(X, np.nan), np.full_like(X, np.inf)], "only NaN or infinity"),
    ([np.ones_like(X), np.ones_like(X)], "the same result for different inputs"),
    ([X, X + 1], "its input unchanged"),
])
def test_code_that_computes_nothing_is_degenerate(results, words):
    error = failure(checks.expect_computes, "forward", results, INPUTS)
    assert error.diagnosis == "degenerate"
    assert words in str(error)


def test_a_result_that_computes_something_is_accepted():
    checks.expect_computes("forward", [X ** 2, (X + 1) ** 2], INPUTS)
    checks.expect_computes("forward", [X, X + 1], INPUTS, identity_ok=True)
    checks.expect_computes("forward", [np.where(X > 0, np.nan, X), X + 1], INPUTS)  # wrong, not degenerate


def test_with_rows_one_result_for_every_sample_is_degenerate():
    same_rows = np.tile(np.arange(4.0), (3, 1))
    checks.expect_computes("forward", [same_rows, same_rows + 1], INPUTS)
    error = failure(checks.expect_computes, "forward", [same_rows, same_rows + 1], INPUTS, rows=True)
    assert "every sample of a batch" in str(error)


class FakeSubmission:
    def __init__(self, mutations):
        self.mutations = mutations


def test_expect_unchanged_reports_each_mutation_once_and_forgets_them():
    submission = FakeSubmission(["forward changed input", "forward changed input", "backward changed gradOutput"])
    error = failure(checks.expect_unchanged, submission, "Linear(4, 3)")
    assert error.diagnosis == "input_mutated"
    assert str(error).endswith("(forward changed input; backward changed gradOutput)")
    assert submission.mutations == []
    checks.expect_unchanged(submission, "Linear(4, 3)")


def test_expect_fails_only_when_the_condition_is_false():
    checks.expect(True, "wrong_shape", "W")
    assert failure(checks.expect, False, "wrong_shape", "W", "Expected (3, 4).").diagnosis == "wrong_shape"
