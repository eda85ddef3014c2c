"""The mismatch analyser: each relationship is found where it holds, and none is claimed where
nothing relates the two results."""
import numpy as np
import pytest

from autograder.analyser import Context, batch_constants, context_for, localise, relation

RNG = np.random.default_rng(5)
E = RNG.standard_normal((5, 4))
X = RNG.standard_normal((5, 4))


def key(got, expected=E, context=None):
    found = relation(got, expected, context)
    return None if found is None else found.key


def test_shapes_permuted_and_transposed():
    assert key(E.T) == "transposed"
    assert key(E.reshape(4, 5)) == "axes_permuted"
    square = RNG.standard_normal((4, 4))
    assert key(square.T, square) == "transposed"


def test_keepdims_and_reductions():
    column = RNG.standard_normal((4, 1))
    assert key(np.broadcast_to(column.T, (4, 4)), column) == "keepdims"
    assert key(E.sum(axis=1), E) == "reduced"


def test_factors_the_student_can_place():
    context = context_for(X, criterion=True)
    found = relation(E * 5, E, context)
    assert found.key == "factor" and "division by N is missing" in found.text
    found = relation(E / 5, E, context_for(X))
    assert found.key == "factor" and "only criterions do" in found.text
    assert key(-E) == "sign"
    assert relation(E * 2, E).text.startswith("It is 2 = 2 times")
    unknown = relation(E * 1.37, E)
    assert unknown.key == "factor" and "none of the layer's own constants" in unknown.text


def test_terms_offsets():
    term = RNG.standard_normal((5, 4))
    context = Context(terms={"the mean term": term})
    assert key(E - term, context=context) == "missing_term"
    assert key(E + term, context=context) == "extra_term"
    assert key(term, context=context) == "only_term"
    assert key(E + 0.3) == "offset"


def test_one_branch_of_a_piecewise_function():
    x = RNG.standard_normal((6, 5))
    expected = np.where(x > 0, x, 0.03 * x)
    found = relation(np.where(x > 0, x, 0.01 * x), expected, Context(x=x))
    assert found.key == "branch_negative" and "0.3333 times" in found.text
    assert key(np.where(x > 0, 2 * x, 0.03 * x), expected, Context(x=x)) == "branch_positive"


def test_pooling_positions_other_than_the_maximum():
    x = RNG.standard_normal((1, 1, 4, 4))
    blocks = x.reshape(1, 1, 2, 2, 2, 2)
    at_max = (blocks == blocks.max(axis=(3, 5), keepdims=True)).reshape(x.shape)
    g = np.array([[[[0.5, -1.0], [2.0, 0.7]]]])
    got = np.repeat(np.repeat(g, 2, axis=2), 2, axis=3)  # each window's gradient copied to all its positions
    expected = np.where(at_max, got, 0.0)
    assert key(got, expected, Context(x=x, pool=2, layout="image")) == "pool_positions"


def test_a_result_that_is_one_value_everywhere():
    found = relation(np.zeros_like(E), E)
    assert found.key == "constant" and "zero everywhere" in found.text


def test_regions_rows_columns_border_channels():
    got = E.copy()
    got[0] += 1
    assert relation(got, E).text.startswith("It differs only in the first row")
    got = E.copy()
    got[:, 2] *= 3
    assert key(got) == "columns"
    image = RNG.standard_normal((2, 3, 6, 6))
    bordered = image.copy()
    bordered[:, :, 0, :] += 1
    assert key(bordered, image, Context(layout="image")) == "border"
    channel = image.copy()
    channel[:, 1, 2:4, 2:4] += 1
    assert key(channel, image, Context(layout="image")) == "channels"


def test_nothing_claimed_for_unrelated_values():
    other = RNG.standard_normal((5, 4))
    assert relation(other, E, context_for(X)) is None
    text = localise(other, E)
    assert "20 of 20 elements" in text and "every row" in text and "no simple relation" in text


def test_batch_constants_only_for_batches():
    assert batch_constants(1) == {}
    assert set(batch_constants(4).values()) == {4.0, 0.25}


@pytest.mark.parametrize("got", [np.full((5, 4), np.nan), E + np.inf])
def test_non_finite_results_are_left_to_the_nonfinite_check(got):
    assert relation(got, E) is None or relation(got, E).key not in {"factor", "offset", "sign"}


def test_rows_scaled_and_columns_shifted_each_their_own_way():
    assert key(E * np.array([[1.0], [2.0], [0.5], [3.0], [1.5]])) == "row_factor"
    assert key(E + np.array([0.1, -0.3, 0.7, 0.0])) == "column_offset"
