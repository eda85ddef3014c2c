"""Building submissions for the tests."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

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

