"""The final model's private held-out set: digits that no public data set holds.

The final model of ``training.ipynb`` is judged on images the student cannot obtain. The
scikit-learn digits (and their test split) are public and installed in the sandbox, so a
model that looks their labels up would score full marks on them; this set is made by the
instructor, with randomness that is never stored, and kept where neither the release nor
the sandbox reaches.

Where it lives: ``private/<assignment>/heldout.npz`` in the course folder (the folder of
``assignments/``, ``source_notebooks/`` and ``release/``; git-ignored), file mode 0600 in a
folder of mode 0700. nbgrader copies only ``source_notebooks/<assignment>/`` into the
release, ``autograder release`` refuses a release that would carry it, and the sandbox sees
only the submission's own files. An installed copy (Gradescope, a Dask worker) is told the
folder through :attr:`Assignment.private_dir <autograder.manifest.Assignment>`.

How it is made (``autograder heldout ASSIGNMENT``):

- by default, from the test split of the digits that the course's training leaves out:
  each image is drawn again as the 32x32 bitmap that its 8x8 counts summarise, moved by a
  random sub-pixel shift, turned, scaled, blurred and noised, binarised and counted in 4x4
  blocks again, like the original digits; an image equal to any public digit is drawn again;
- from MNIST IDX files the instructor supplies: each 28x28 grey image is cropped to its ink,
  scaled to the full height of a 32x32 box and centred, as the digits' bitmaps are,
  binarised at the threshold that gives the digits' share of ink, then jittered and counted
  the same way.

The file holds the 8x8 counts (0..16, ``uint8``), the labels and a line of description (the
source, the number of images, when it was made); never the seed.
"""
import contextlib
import contextvars
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FILE_NAME = "heldout.npz"
DEFAULT_COUNT = 2000
FORMAT = "autograder held-out digits 1"

# The jitter: mild enough that a model's accuracy barely changes (see the README for the
# measurements), strong enough that no image is a public one. Lengths in pixels of the
# 32x32 bitmap (a quarter of a pixel of the 8x8 image).
ROTATION_DEGREES = 3.0
SCALE = 0.03
SHIFT = 0.5
BLUR = 0.5
NOISE = 0.05
TRIES = 50


class HeldOutSetMissing(Exception):
    """The assignment being graded has no held-out set where the grader looks: a configuration
    error for the instructor (the final-model tests report "please tell your instructor")."""


class HeldOutSetError(Exception):
    """A held-out file that cannot be trusted or read (its permissions, its format)."""


@dataclass(frozen=True)
class HeldOutSet:
    counts: np.ndarray  # (n, 64) uint8, 0..16: the digits' own format
    labels: np.ndarray  # (n,) uint8, 0..9
    about: dict

    @property
    def images(self):
        """The images as the course's ``load_digits`` gives them: float64 in [0, 1], shape (n, 64)."""
        return self.counts.astype(np.float64) / 16.0

    @property
    def targets(self):
        return self.labels.astype(np.int64)

    def __len__(self):
        return len(self.labels)


# -- where it lives, and who is being graded -----------------------------------------------------

def path_of(assignment):
    """The held-out file of ``assignment``: ``<private_dir>/heldout.npz``."""
    return Path(assignment.private_folder) / FILE_NAME


_GRADING = contextvars.ContextVar("heldout_assignment", default=None)


@contextlib.contextmanager
def grading(assignment):
    """Within this block the graders judge the final model on ``assignment``'s held-out set."""
    token = _GRADING.set(assignment)
    try:
        yield assignment
    finally:
        _GRADING.reset(token)


def current():
    """The held-out set of the assignment being graded; :class:`HeldOutSetMissing` when there
    is none (never a public split in its place)."""
    assignment = _GRADING.get()
    if assignment is None:
        raise HeldOutSetMissing("the grader was not told which assignment it grades, so it has no held-out set")
    path = path_of(assignment)
    if not path.is_file():
        raise HeldOutSetMissing(f"no held-out set at {path}: make one with `autograder heldout {assignment.name}`")
    return load(path)


# -- reading and writing ----------------------------------------------------------------------------

def _check_private(path):
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise HeldOutSetError(f"{path} is readable by other users (mode {mode:04o}): "
                              f"`chmod 600 {path}` before grading")


def load(path):
    """Read a held-out file (mode 0600, no pickles); cached while the file is unchanged."""
    path = Path(path)
    _check_private(path)
    stat = path.stat()
    return _read_unchanged(str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_unchanged(path, inode, size, mtime):
    return _read(Path(path))


def _read(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            counts, labels, about = data["counts"], data["labels"], json.loads(str(data["about"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise HeldOutSetError(f"{path} is not a held-out set: {error}") from None
    ok = (about.get("format") == FORMAT and counts.dtype == np.uint8 and labels.dtype == np.uint8
          and counts.ndim == 2 and counts.shape[1] == 64 and labels.shape == (len(counts),) and len(counts) > 0
          and counts.max() <= 16 and labels.max() <= 9)
    if not ok:
        raise HeldOutSetError(f"{path} is not a held-out set of 8x8 digits")
    return HeldOutSet(counts, labels, about)


def save(held_out, path, replace=False):
    """Write ``held_out`` to ``path`` (mode 0600; its folder 0700), atomically. Without
    ``replace`` an existing file wins (two gradings that make one at once agree on it);
    returns the path of the file that is there."""
    path = Path(path)
    _private_folder(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, counts=held_out.counts, labels=held_out.labels,
                                about=np.array(json.dumps(held_out.about)))
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def _private_folder(folder):
    """``folder``, and each of its parents that does not exist yet, made with mode 0700."""
    missing = [parent for parent in [folder, *folder.parents] if not parent.exists()]
    for parent in reversed(missing):
        parent.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid == os.geteuid():
        os.chmod(folder, 0o700)


def digest(assignment):
    """A hash of the assignment's held-out images and labels ("" when there is none, "unreadable"
    when it cannot be read): a new set regrades, a copy elsewhere does not."""
    path = path_of(assignment)
    if not path.is_file():
        return ""
    try:
        held_out = _read(path)
    except HeldOutSetError:
        return "unreadable"
    return hashlib.sha256(held_out.counts.tobytes() + held_out.labels.tobytes()).hexdigest()


def ensure(assignment, say=None):
    """The held-out file of ``assignment``, made from the digits on first use (and ``say``
    told so). Used by the commands that grade in the instructor's course folder; an installed
    copy (Gradescope, Dask) never makes one: it is given the instructor's."""
    path = path_of(assignment)
    if not assignment.uses_heldout or path.is_file():
        return path
    save(make_from_digits(), path)
    if say is not None:
        say(f"Made a new held-out set for the final model of {assignment.name} ({DEFAULT_COUNT} new digits, kept "
            f"private): {path}. Keep it for the whole course; `autograder heldout {assignment.name}` makes "
            "another (from MNIST with --from-mnist).")
    return path


def say_on_stderr(text):
    print(text, file=sys.stderr)


# -- making one -------------------------------------------------------------------------------------

def private_rng(seed=None):
    """A generator seeded from the operating system's randomness (``os.urandom``), never stored;
    ``seed`` only for the project's tests."""
    return np.random.default_rng(seed if seed is not None else int.from_bytes(os.urandom(32), "big"))


def bitmap_from_counts(counts):
    """A 32x32 bitmap whose 4x4 blocks hold exactly the 8x8 ``counts`` (0..16): in each block
    the pixels where a smooth (bicubic) picture of the digit is darkest are set. It stands for
    the original bitmap the digits were counted from."""
    from scipy import ndimage

    counts = np.asarray(counts, dtype=np.int64).reshape(8, 8)
    density = ndimage.zoom(counts / 16.0, 4, order=3, grid_mode=True, mode="grid-constant")
    blocks = density.reshape(8, 4, 8, 4).transpose(0, 2, 1, 3).reshape(8, 8, 16)
    ranks = np.argsort(np.argsort(-blocks, axis=2, kind="stable"), axis=2)
    return (ranks < counts[:, :, None]).reshape(8, 8, 4, 4).transpose(0, 2, 1, 3).reshape(32, 32)


def counts_from_bitmap(bitmap):
    """The digits' format: the number of set pixels in each 4x4 block of a 32x32 bitmap."""
    return np.asarray(bitmap, dtype=bool).reshape(8, 4, 8, 4).sum(axis=(1, 3)).astype(np.uint8)


def soften(bitmap):
    """A bitmap as a grey picture with soft edges (a Gaussian blur), ready to be moved by less than a pixel."""
    from scipy import ndimage

    return ndimage.gaussian_filter(np.asarray(bitmap, dtype=np.float64), BLUR)


def jitter(picture, rng):
    """A softened bitmap turned, scaled, shifted by a fraction of a pixel, noised and binarised again."""
    from scipy import ndimage

    angle = np.deg2rad(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    scale = rng.uniform(1 - SCALE, 1 + SCALE, size=2)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    matrix = turn @ np.diag(1 / scale)
    centre = np.full(2, 15.5)
    offset = centre - matrix @ centre + rng.uniform(-SHIFT, SHIFT, size=2)
    moved = ndimage.affine_transform(picture, matrix, offset=offset, order=1, mode="constant")
    return moved + rng.normal(0.0, NOISE, moved.shape) > 0.5


def public_digits():
    """All 1797 public digits as counts (for the check that no new image is one of them), and
    the test split of the course's default split with its labels."""
    from sklearn.datasets import load_digits

    from reference_impl.data import load_digits as course_split

    everything = load_digits().data.astype(np.uint8)
    _, _, X_test, y_test = course_split()
    return everything, np.rint(X_test * 16).astype(np.uint8), y_test


def derive(bitmaps, labels, count, rng, public):
    """``count`` new images: the bitmaps in a random order (each used about equally often), each
    jittered until it equals no public digit. Returns ``(counts, labels)``."""
    known = {row.tobytes() for row in public}
    pictures = [soften(bitmap) for bitmap in bitmaps]
    order = np.concatenate([rng.permutation(len(bitmaps)) for _ in range(-(-count // len(bitmaps)))])
    counts, chosen = [], []
    for index in order:
        if len(counts) == count:
            break
        for _ in range(TRIES):
            image = counts_from_bitmap(jitter(pictures[index], rng)).reshape(64)
            if image.tobytes() not in known:
                counts.append(image)
                chosen.append(labels[index])
                break
    return np.array(counts, dtype=np.uint8), np.array(chosen, dtype=np.uint8)


def _about(source, count):
    return {"format": FORMAT, "source": source, "count": int(count),
            "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def make_from_digits(count=DEFAULT_COUNT, seed=None):
    """New images from the test split of the digits (see the module's docstring)."""
    rng = private_rng(seed)
    everything, test_counts, test_labels = public_digits()
    bitmaps = [bitmap_from_counts(image) for image in test_counts]
    counts, labels = derive(bitmaps, test_labels, count, rng, everything)
    return HeldOutSet(counts, labels, _about("the digits' test split, jittered", len(labels)))


# The digits' bitmaps sit half a pixel (of 32) right of the centre of the box, on average.
DIGITS_CENTRE = np.array([16.0, 16.5])


def mnist_pictures(images):
    """28x28 grey images (values 0..1) as 32x32 grey pictures laid out like the digits' bitmaps:
    their ink (grey above 0.3) scaled, keeping the aspect, to the box's full height (or full
    width when wider than tall) and centred where the digits' bitmaps are, in one bilinear
    resampling of the whole image (sub-pixel placement, no cropped edges)."""
    from scipy import ndimage

    pictures = np.zeros((len(images), 32, 32))
    for i, image in enumerate(np.asarray(images, dtype=np.float64)):
        rows, cols = np.flatnonzero(image.max(axis=1) > 0.3), np.flatnonzero(image.max(axis=0) > 0.3)
        if not len(rows):
            continue
        start = np.array([rows[0], cols[0]])
        size = np.array([rows[-1] + 1, cols[-1] + 1]) - start
        factor = 32.0 / size.max()
        corner = DIGITS_CENTRE - size * factor / 2  # where the ink's top left corner goes
        offset = start + (0.5 - corner) / factor - 0.5  # output pixel centre -> input pixel index
        pictures[i] = ndimage.affine_transform(image, np.diag([1 / factor, 1 / factor]), offset=offset, order=1,
                                               mode="constant", output_shape=(32, 32))
    return pictures


def ink_threshold(pictures, ink):
    """The grey level at which the pictures, binarised, have the share ``ink`` of set pixels."""
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if np.mean(pictures > middle) > ink else (low, middle)
    return (low + high) / 2


def make_from_mnist(folder, count=DEFAULT_COUNT, seed=None):
    """New images from MNIST IDX files in ``folder`` (its ``t10k`` files, else ``train``)."""
    from reference_impl.data import load_mnist

    try:
        images, labels = load_mnist(folder, kind="t10k", flatten=False)
    except FileNotFoundError:
        images, labels = load_mnist(folder, kind="train", flatten=False)
    if labels.min() < 0 or labels.max() > 9:
        raise HeldOutSetError(f"{folder}: labels outside 0..9; the held-out set must be digits")
    rng = private_rng(seed)
    everything, _, _ = public_digits()
    picked = rng.permutation(len(labels))[:count]
    pictures = mnist_pictures(images[picked])
    bitmaps = pictures > ink_threshold(pictures, everything.mean() / 16.0)
    counts, chosen = derive(bitmaps, labels[picked].astype(np.uint8), min(count, len(picked)), rng, everything)
    return HeldOutSet(counts, chosen, _about(f"MNIST ({Path(folder).name}), jittered", len(chosen)))


# -- the command ------------------------------------------------------------------------------------

def reference_accuracy(held_out):
    """The course's reference MLP (``reference_impl.training``) on the public test split and on
    ``held_out``: how much harder the new set is for an honest model."""
    from reference_impl.training import accuracy, train_digits_mlp

    result = train_digits_mlp()
    return result.test_accuracy, accuracy(result.model, held_out.images, held_out.targets)
