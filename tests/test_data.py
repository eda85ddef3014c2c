"""Tests for reference_impl.data."""

import gzip
import struct

import numpy as np
import pytest

from reference_impl.data import (
    iterate_minibatches,
    load_digits,
    load_mnist,
    one_hot,
    read_idx,
)

# IDX type code -> (struct format letter, NumPy dtype of the result)
IDX_TYPES = {
    0x08: ("B", np.uint8),
    0x09: ("b", np.int8),
    0x0B: ("h", np.int16),
    0x0C: ("i", np.int32),
    0x0D: ("f", np.float32),
    0x0E: ("d", np.float64),
}


def idx_bytes(array, type_code=None, shape=None, extra=b"", cut=0):
    """Encode ``array`` as IDX bytes with ``struct`` (big-endian).

    ``shape`` overrides the header shape, ``extra`` is appended and ``cut``
    bytes are dropped from the end, to build broken files.
    """
    array = np.asarray(array)
    if type_code is None:
        type_code = next(c for c, (_, dt) in IDX_TYPES.items() if dt == array.dtype)
    shape = array.shape if shape is None else shape
    letter = IDX_TYPES[type_code][0]
    header = struct.pack(">BBBB", 0, 0, type_code, len(shape))
    header += struct.pack(f">{len(shape)}I", *shape)
    flat = array.ravel().tolist()
    body = struct.pack(f">{len(flat)}{letter}", *flat)
    data = header + body + extra
    return data[: len(data) - cut] if cut else data


def write_idx(path, array, compress=False, **kwargs):
    """Write ``array`` to ``path`` as an IDX file, optionally gzip-compressed."""
    data = idx_bytes(array, **kwargs)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --------------------------------------------------------------------------- digits


def test_load_digits_shapes_and_dtypes():
    X_train, y_train, X_test, y_test = load_digits()
    assert X_train.shape[1] == X_test.shape[1] == 64
    assert len(X_train) == len(y_train) and len(X_test) == len(y_test)
    assert len(X_train) + len(X_test) == 1797
    assert len(X_test) == pytest.approx(0.2 * 1797, abs=1)
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64


def test_load_digits_ranges():
    X_train, y_train, X_test, y_test = load_digits()
    for X in (X_train, X_test):
        assert X.min() >= 0.0 and X.max() <= 1.0
    assert X_train.max() == 1.0  # 16 / 16
    assert set(np.unique(y_train)) == set(range(10))
    assert set(np.unique(y_test)) == set(range(10))


def test_load_digits_is_stratified():
    _, y_train, _, y_test = load_digits(test_size=0.25)
    train_freq = np.bincount(y_train, minlength=10) / len(y_train)
    test_freq = np.bincount(y_test, minlength=10) / len(y_test)
    np.testing.assert_allclose(train_freq, test_freq, atol=0.01)


def test_load_digits_seed_reproducibility():
    a = load_digits(seed=3)
    b = load_digits(seed=3)
    c = load_digits(seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


# -------------------------------------------------------------------------- one_hot


def test_one_hot_basic():
    out = one_hot([2, 0, 1, 2])
    expected = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


def test_one_hot_explicit_n_classes():
    out = one_hot(np.array([1, 3], dtype=np.int64), n_classes=5)
    assert out.shape == (2, 5)
    np.testing.assert_array_equal(out.argmax(axis=1), [1, 3])
    np.testing.assert_array_equal(out.sum(axis=1), [1.0, 1.0])


def test_one_hot_dtype():
    assert one_hot([1, 0]).dtype == np.float64
    out = one_hot([1, 0], 3, dtype=np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 1, 0], [1, 0, 0]])


def test_one_hot_empty():
    assert one_hot(np.array([], dtype=np.int64), n_classes=4).shape == (0, 4)


@pytest.mark.parametrize(
    "labels, n_classes",
    [
        (np.array([[0, 1]]), None),           # not 1-D
        (np.array(3), None),                  # 0-D
        (np.array([0.0, 1.5]), None),         # not integers
        (np.array([0, -1]), None),            # negative
        (np.array([0, 3]), 3),                # label == n_classes
        (np.array([0, 1]), -1),               # bad n_classes
    ],
)
def test_one_hot_errors(labels, n_classes):
    with pytest.raises(ValueError):
        one_hot(labels, n_classes)


# --------------------------------------------------------------- iterate_minibatches


def test_minibatches_cover_every_sample_once():
    X = np.arange(23).reshape(23, 1) * 10
    Y = np.arange(23)
    seen = []
    for xb, yb in iterate_minibatches(X, Y, batch_size=5, rng=0):
        np.testing.assert_array_equal(xb[:, 0], yb * 10)  # pairs stay aligned
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(23))


def test_minibatches_partial_last_batch():
    X, Y = np.zeros((10, 3)), np.zeros(10)
    sizes = [len(xb) for xb, _ in iterate_minibatches(X, Y, 4, shuffle=False)]
    assert sizes == [4, 4, 2]


def test_minibatches_no_shuffle_keeps_order():
    X = np.arange(7)
    batches = [xb.tolist() for xb, _ in iterate_minibatches(X, X, 3, shuffle=False)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_minibatches_shuffle_determinism():
    X = np.arange(50)

    def order(rng):
        return np.concatenate([xb for xb, _ in iterate_minibatches(X, X, 8, rng=rng)])

    np.testing.assert_array_equal(order(7), order(7))
    np.testing.assert_array_equal(order(np.random.default_rng(7)), order(7))
    assert not np.array_equal(order(7), order(8))
    assert not np.array_equal(order(7), X)


@pytest.mark.parametrize(
    "X, Y, batch_size",
    [
        (np.zeros(5), np.zeros(4), 2),
        (np.zeros(5), np.zeros(5), 0),
        (np.zeros(5), np.zeros(5), -3),
    ],
)
def test_minibatches_errors(X, Y, batch_size):
    with pytest.raises(ValueError):
        iterate_minibatches(X, Y, batch_size)


# ------------------------------------------------------------------------- read_idx


def sample_array(type_code):
    dtype = IDX_TYPES[type_code][1]
    if type_code == 0x08:
        values = [0, 1, 127, 128, 254, 255]
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = [info.min, -1, 0, 1, 2, info.max]
    else:
        values = [-1.5, 0.0, 0.25, 3.0, 1e-3, 1e6]
    return np.array(values, dtype=dtype).reshape(2, 3)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize("type_code", sorted(IDX_TYPES), ids=lambda c: f"0x{c:02X}")
def test_read_idx_round_trip(tmp_path, type_code, compress):
    array = sample_array(type_code)
    suffix = ".gz" if compress else ""
    path = write_idx(tmp_path / f"data.idx{suffix}", array, compress=compress)
    out = read_idx(path)
    assert out.dtype == IDX_TYPES[type_code][1]
    assert out.dtype.isnative
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, array)
    out[0, 0] = out[0, 1]  # result is writable


def test_read_idx_one_and_three_dims(tmp_path):
    vec = np.arange(5, dtype=np.uint8)
    cube = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "v", vec)), vec)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "c", cube)), cube)


def test_read_idx_detects_gzip_by_content(tmp_path):
    array = sample_array(0x0C)
    # gzip data without the .gz suffix
    hidden = write_idx(tmp_path / "no-suffix", array, compress=True)
    np.testing.assert_array_equal(read_idx(hidden), array)
    # raw data with a misleading .gz suffix
    fake = write_idx(tmp_path / "raw.gz", array, compress=False)
    np.testing.assert_array_equal(read_idx(fake), array)


def test_read_idx_accepts_str_path(tmp_path):
    array = sample_array(0x08)
    path = write_idx(tmp_path / "s", array)
    np.testing.assert_array_equal(read_idx(str(path)), array)


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    "make_bytes, message",
    [
        (lambda a: b"\x01\x00" + idx_bytes(a)[2:], "magic"),
        (lambda a: idx_bytes(a)[:2] + b"\x0a" + idx_bytes(a)[3:], "type code"),
        (lambda a: idx_bytes(a, cut=1), "truncated"),
        (lambda a: idx_bytes(a, shape=(3, 3)), "truncated"),
        (lambda a: idx_bytes(a, extra=b"\x00"), "trailing"),
        (lambda a: idx_bytes(a, shape=(2,)), "trailing"),
        (lambda a: b"\x00\x00", "short"),
        (lambda a: idx_bytes(a)[:6], "truncated"),
    ],
    ids=["magic", "type", "cut", "big-shape", "extra", "small-shape", "short", "header"],
)
def test_read_idx_errors(tmp_path, make_bytes, message, compress):
    data = make_bytes(np.arange(6, dtype=np.uint8).reshape(2, 3))
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert "broken-idx3-ubyte" in str(info.value)  # the error names the file


# ----------------------------------------------------------------------- load_mnist

N_FAKE = 5


def fake_mnist(folder, kind="train", compress=True, dotted=False, n_labels=N_FAKE):
    """Write a tiny fake MNIST pair (5 random 28x28 images) into ``folder``."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N_FAKE, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255
    labels = rng.integers(0, 10, size=n_labels).astype(np.uint8)
    sep = "." if dotted else "-"
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{kind}-images{sep}idx3-ubyte{suffix}", images, compress=compress)
    write_idx(folder / f"{kind}-labels{sep}idx1-ubyte{suffix}", labels, compress=compress)
    return images, labels


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("kind", ["train", "t10k"])
def test_load_mnist(tmp_path, kind, compress):
    images, labels = fake_mnist(tmp_path, kind=kind, compress=compress)
    X, y = load_mnist(tmp_path, kind=kind)
    assert X.shape == (N_FAKE, 784) and X.dtype == np.float64
    assert y.shape == (N_FAKE,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X, images.reshape(N_FAKE, -1) / 255.0)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_unflattened_and_unnormalized(tmp_path):
    images, _ = fake_mnist(tmp_path)
    X, _ = load_mnist(tmp_path, flatten=False, normalize=False)
    assert X.shape == (N_FAKE, 28, 28) and X.dtype == np.float64
    np.testing.assert_array_equal(X, images)
    X, _ = load_mnist(str(tmp_path), flatten=False)
    assert X.shape == (N_FAKE, 28, 28) and X.max() == 1.0


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_load_mnist_dotted_names(tmp_path, compress):
    images, labels = fake_mnist(tmp_path, compress=compress, dotted=True)
    X, y = load_mnist(tmp_path)
    np.testing.assert_allclose(X, images.reshape(N_FAKE, -1) / 255.0)
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, kind="t10k")
    message = str(info.value)
    assert "t10k-images-idx3-ubyte" in message
    assert "t10k-images-idx3-ubyte.gz" in message
    assert "t10k-images.idx3-ubyte" in message


def test_load_mnist_missing_labels_only(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path):
    fake_mnist(tmp_path, n_labels=N_FAKE - 1)
    with pytest.raises(ValueError, match="5 images .* 4 labels"):
        load_mnist(tmp_path)


def test_load_mnist_bad_kind(tmp_path):
    fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, kind="test")
