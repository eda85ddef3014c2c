"""Building submissions for the tests."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

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


def filled_notebook(release_path, source_path, out_path, replace=()):
    """A student's submission: the released notebook with every solution cell answered by the
    instructor's solution (markers removed), then ``replace``'s (old, new) edits applied."""
    release = nbformat.read(release_path, as_version=4)
    source = nbformat.read(source_path, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            lines = answers[meta["grade_id"]].splitlines()
            cell.source = "\n".join(line for line in lines if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line)
            for old, new in replace:
                cell.source = cell.source.replace(old, new)
    nbformat.write(release, out_path)
    return out_path
