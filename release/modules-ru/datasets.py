"""Data helpers: the scikit-learn digits set, one-hot labels, mini-batches and
MNIST / Fashion-MNIST files in the IDX format."""

import gzip
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits as _sklearn_load_digits
from sklearn.model_selection import train_test_split

# IDX type code -> big-endian NumPy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

GZIP_MAGIC = b"\x1f\x8b"


def load_digits(test_size=0.2, seed=0):
    """Return ``(X_train, y_train, X_test, y_test)`` for the 8x8 digits set.

    Pixels are scaled to [0, 1] (float64, shape ``(n, 64)``), labels are
    int64, and the split is stratified by label and reproducible via ``seed``.
    """
    digits = _sklearn_load_digits()
    X = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=seed
    )
    return X_train, y_train, X_test, y_test


def one_hot(labels, n_classes=None, dtype=np.float64):
    """Turn integer labels of shape ``(N,)`` into an array ``(N, n_classes)`` of zeros and ones.

    ``n_classes`` defaults to ``max(labels) + 1``. ``dtype`` (float64 by default) should
    match the model's, e.g. ``np.float32`` for a float32 network, so that the targets do
    not silently turn its loss and gradients into float64.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size > 0 and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.size > 0 and labels.min() < 0:
        raise ValueError(f"labels must be non-negative, got {labels.min()}")

    if n_classes is None:
        n_classes = int(labels.max()) + 1 if labels.size > 0 else 0
    elif int(n_classes) != n_classes or n_classes < 0:
        raise ValueError(f"n_classes must be a non-negative integer, got {n_classes!r}")
    n_classes = int(n_classes)
    if labels.size > 0 and labels.max() >= n_classes:
        raise ValueError(
            f"label {labels.max()} does not fit in n_classes={n_classes} "
            f"(labels must be < n_classes)"
        )

    encoded = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    encoded[np.arange(labels.shape[0]), labels] = 1.0
    return encoded


def iterate_minibatches(X, Y, batch_size, shuffle=True, rng=None):
    """Yield ``(x_batch, y_batch)`` pairs that together cover every sample once.

    The last batch may be smaller than ``batch_size``. ``rng`` is an int seed
    or a ``np.random.Generator`` and is only used when ``shuffle`` is true.
    Arguments are checked immediately, before the first batch is requested.
    """
    if len(X) != len(Y):
        raise ValueError(f"X and Y have different lengths: {len(X)} != {len(Y)}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    batch_size = int(batch_size)

    indices = np.arange(len(X))
    if shuffle:
        rng = np.random.default_rng(rng)  # accepts None, an int or a Generator
        rng.shuffle(indices)

    def batches():
        for start in range(0, len(indices), batch_size):
            idx = indices[start:start + batch_size]
            yield X[idx], Y[idx]

    return batches()


def read_idx(path):
    """Read one IDX file (raw or gzip-compressed) into a native-byte-order array."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == GZIP_MAGIC:  # trust the content, not the file name
        raw = gzip.decompress(raw)

    if len(raw) < 4:
        raise ValueError(f"{path}: file too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: bad IDX magic, expected two zero bytes, got {raw[:2]!r}")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{type_code:02X}")
    dtype = IDX_DTYPES[type_code]

    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions announced)")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)
    )

    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual < expected:
        raise ValueError(
            f"{path}: truncated IDX data, expected {expected} bytes for shape "
            f"{shape}, got {actual}"
        )
    if actual > expected:
        raise ValueError(
            f"{path}: {actual - expected} trailing bytes after IDX data of shape {shape}"
        )

    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize,
                         offset=header_size)
    # astype copies, so the result is writable and in native byte order.
    return data.astype(dtype.newbyteorder("=")).reshape(shape)


def _find_idx_file(folder, kind, what, idx):
    """Return the first existing ``{kind}-{what}-{idx}-ubyte`` variant in ``folder``."""
    candidates = []
    for stem in (f"{kind}-{what}-{idx}-ubyte", f"{kind}-{what}.{idx}-ubyte"):
        candidates += [stem, stem + ".gz"]
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        f"no {what} file for kind={kind!r} in {folder}; looked for: "
        + ", ".join(candidates)
    )


def load_mnist(folder, kind="train", flatten=True, normalize=True):
    """Load MNIST or Fashion-MNIST images and labels from ``folder``.

    ``kind`` is ``"train"`` or ``"t10k"``. Returns ``(X, y)``: X is float64 of
    shape ``(N, 784)`` (or ``(N, 28, 28)`` when ``flatten`` is false), scaled
    to [0, 1] when ``normalize`` is true; y is int64 of shape ``(N,)``.
    """
    if kind not in ("train", "t10k"):
        raise ValueError(f"kind must be 'train' or 't10k', got {kind!r}")
    folder = Path(folder)
    image_path = _find_idx_file(folder, kind, "images", "idx3")
    label_path = _find_idx_file(folder, kind, "labels", "idx1")

    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3:
        raise ValueError(f"{image_path}: expected 3-D images, got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{label_path}: expected 1-D labels, got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path.name} has {len(images)} images but "
            f"{label_path.name} has {len(labels)} labels"
        )

    X = images.astype(np.float64)
    if normalize:
        X /= 255.0
    if flatten:
        X = X.reshape(len(X), -1)
    return X, labels.astype(np.int64)
