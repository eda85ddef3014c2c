"""Building submissions for the tests."""
import dataclasses

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import heldout
from autograder.course_demo import filled_notebook  # noqa: F401 - used by the tests
from autograder.selftest.reference_submission import reference_source


def notebook_from_source(path, source, order=None, nbgrader_metadata=False):
    """A notebook whose code cells are the source's top-level chunks (split at blank-line pairs)."""
    chunks = [chunk for chunk in source.split("\n\n\n") if chunk.strip()]
    if order is not None:
        chunks = [chunks[i] for i in order(len(chunks))]
    cells = [new_markdown_cell("# Homework")]
    for i, chunk in enumerate(chunks):
        cell = new_code_cell(chunk)
        if nbgrader_metadata:
            cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": f"s{i}", "locked": False}
        cells.append(cell)
    nbformat.write(new_notebook(cells=cells), path)
    return path


def reference_notebook(path, **kwargs):
    return notebook_from_source(path, reference_source(), **kwargs)



def with_heldout(assignment, folder, seed=0, count=500):
    """``assignment`` with a held-out set of its own in ``folder`` (made from the digits with a
    fixed seed), so that a test neither needs nor touches the course folder's private set."""
    assignment = dataclasses.replace(assignment, private_dir=folder)
    heldout.save(heldout.make_from_digits(count=count, seed=seed), heldout.path_of(assignment))
    return assignment


def mnist_style(counts):
    """28x28 grey images (uint8) laid out as MNIST's are, drawn from 8x8 digit counts: the digit's
    bitmap, softened, scaled to fit a 20x20 box and placed with its centre of mass in the middle.
    A stand-in for MNIST's own files, which the tests cannot download."""
    import numpy as np
    from scipy import ndimage

    images = np.zeros((len(counts), 28, 28))
    for i, row in enumerate(counts):
        picture = heldout.soften(heldout.bitmap_from_counts(row))
        rows, cols = np.flatnonzero(picture.max(axis=1) > 0.1), np.flatnonzero(picture.max(axis=0) > 0.1)
        crop = picture[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        factor = 20.0 / max(crop.shape)
        small = np.clip(ndimage.zoom(crop, factor, order=1, grid_mode=True, mode="nearest"), 0, 1)
        box = np.zeros((28, 28))
        top, left = (np.array([14, 14]) - np.array(ndimage.center_of_mass(small))).round().astype(int)
        top, left = min(max(top, 0), 28 - small.shape[0]), min(max(left, 0), 28 - small.shape[1])
        box[top:top + small.shape[0], left:left + small.shape[1]] = small
        images[i] = box
    return np.rint(images * 255).astype(np.uint8)


def write_mnist(folder, images, labels, kind="t10k"):
    """``images`` (n, 28, 28) uint8 and their labels as MNIST's IDX files in ``folder``."""
    import struct

    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    images, labels = np.asarray(images, dtype=np.uint8), np.asarray(labels, dtype=np.uint8)
    (folder / f"{kind}-images-idx3-ubyte").write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, *images.shape)
                                                        + images.tobytes())
    (folder / f"{kind}-labels-idx1-ubyte").write_bytes(struct.pack(">BBBBI", 0, 0, 8, 1, len(labels))
                                                        + labels.tobytes())
    return folder
