"""Reading submissions: notebooks of any origin and .py files, without running them."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.sandbox.reader import UnreadableNotebook, neutralise_magics, read_cells


def write_notebook(path, cells):
    nb = new_notebook(cells=cells)
    nbformat.write(nb, path)
    return path


def test_code_cells_in_order_without_markdown_or_grader_cells(tmp_path):
    grade_cell = new_code_cell("assert False  # hidden test")
    grade_cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    solution_cell = new_code_cell("y = 2")
    solution_cell.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "s", "points": 1}
    path = write_notebook(tmp_path / "a.ipynb", [
        new_markdown_cell("# title"), new_code_cell("x = 1"), grade_cell, solution_cell, new_code_cell("   "),
    ])
    cells = read_cells(path)
    assert [c.source for c in cells] == ["x = 1", "y = 2"]
    assert [c.name for c in cells] == ["a.ipynb, cell 2", "a.ipynb, cell 4"]


def test_magics_and_shell_lines_are_neutralised():
    source = ("%matplotlib inline\nimport numpy as np\n!pip install foo\nfiles = !ls\n"
              "for i in range(2):\n    %time f()\n")
    result = neutralise_magics(source)
    compile(result, "<test>", "exec")
    assert "pip" not in result.replace("# IPython magic removed", "") or "pass" in result
    assert "files = None" in result
    assert neutralise_magics("%%bash\necho hi") is None
    assert neutralise_magics("%%time\nx = 1") == "x = 1"


def test_nbformat_v3_notebooks_are_converted(tmp_path):
    v3 = {
        "nbformat": 3, "nbformat_minor": 0, "metadata": {},
        "worksheets": [{"cells": [{"cell_type": "code", "input": "z = 3", "language": "python", "outputs": []}]}],
    }
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(v3))
    assert [c.source for c in read_cells(path)] == ["z = 3"]


@pytest.mark.parametrize("content,message", [
    ("{not json", "not a valid notebook"),
    ("[1, 2]", "not a notebook"),
    ('{"nbformat": 99}', "could not be read"),
])
def test_broken_notebooks_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(UnreadableNotebook, match=message):
        read_cells(path)


def test_source_as_list_crlf_and_latin1(tmp_path):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "source": ["a = 1\r\n", "b = 'é'"], "metadata": {}, "outputs": [],
         "execution_count": None},
    ]}
    path = tmp_path / "x.ipynb"
    path.write_bytes(json.dumps(nb, ensure_ascii=False).encode("latin-1"))
    (cell,) = read_cells(path)
    assert cell.source == "a = 1\nb = 'é'"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_notebooks_saved_with_a_byte_order_mark(tmp_path, codec):
    nb = nbformat.writes(new_notebook(cells=[new_code_cell("b = 'é ß ✓'")]))
    data = nb.encode(codec)
    if codec == "utf-16-be":  # Python writes no mark for an explicit byte order
        data = b"\xfe\xff" + data
    path = tmp_path / "x.ipynb"
    path.write_bytes(data)
    (cell,) = read_cells(path)
    assert cell.source == "b = 'é ß ✓'"


def test_python_files_split_at_cell_markers_and_keep_line_numbers(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text("import numpy as np\n# %%\nx = 1\n# In[3]:\ny = 2\n")
    cells = read_cells(path)
    assert len(cells) == 3
    assert [c.line for c in cells] == [1, 2, 4]  # where each cell starts in the file
    assert cells[2].source.splitlines()[1] == "y = 2"  # so this is line 5 of the file


def test_run_magic_includes_the_other_notebook(tmp_path):
    write_notebook(tmp_path / "modules.ipynb",
                   [new_code_cell("class Linear:\n    pass"), new_code_cell("%matplotlib inline\nk = 1")])
    write_notebook(tmp_path / "training.ipynb",
                   [new_code_cell("import numpy as np\n%run modules.ipynb\nmodel = Linear()"),
                    new_code_cell("%run missing.ipynb\nz = 2")])
    cells = read_cells(tmp_path / "training.ipynb")
    assert [c.name for c in cells] == ["training.ipynb, cell 1", "modules.ipynb, cell 1", "modules.ipynb, cell 2",
                                       "training.ipynb, cell 1", "training.ipynb, cell 2"]
    assert cells[0].source == "import numpy as np"
    assert cells[2].source.startswith("pass")
    assert cells[3].source.strip() == "model = Linear()" and cells[3].line == 3
    assert "pass" in cells[4].source and "z = 2" in cells[4].source


def test_run_magic_cannot_leave_the_folder_or_recurse(tmp_path):
    write_notebook(tmp_path / "a.ipynb", [new_code_cell("%run a.ipynb\nx = 1")])
    write_notebook(tmp_path / "c.ipynb", [new_code_cell("%run d.ipynb\ny = 1")])
    write_notebook(tmp_path / "d.ipynb", [new_code_cell("%run c.ipynb\nz = 1")])
    (tmp_path / "sub").mkdir()
    write_notebook(tmp_path / "sub" / "b.ipynb", [new_code_cell("%run ../a.ipynb")])
    assert [c.source for c in read_cells(tmp_path / "a.ipynb")] == ["pass  # IPython magic removed\nx = 1"]
    # c includes d, whose %run of c is left out: no file is included by one it includes
    assert [c.name for c in read_cells(tmp_path / "c.ipynb")] == ["d.ipynb, cell 1", "c.ipynb, cell 1"]
    assert [c.source for c in read_cells(tmp_path / "sub" / "b.ipynb")] == ["pass  # IPython magic removed"]


def test_run_magic_fan_out_is_capped(tmp_path):
    """A notebook that includes another thousands of times costs what its cells cost, up to a cap."""
    write_notebook(tmp_path / "inner.ipynb", [new_code_cell("x = 1") for _ in range(3)])
    write_notebook(tmp_path / "outer.ipynb", [new_code_cell("\n".join(["%run inner.ipynb"] * 2000))])
    with pytest.raises(UnreadableNotebook, match="more than 5000 code cells"):
        read_cells(tmp_path / "outer.ipynb")
    assert len(read_cells(tmp_path / "outer.ipynb", max_cells=10_000)) == 6000


def test_python_file_with_many_cell_markers_is_read_in_linear_time(tmp_path):
    """Cells keep their first line number instead of being padded with blank lines."""
    path = tmp_path / "many.py"
    path.write_text("# %%\nx = 1\n" * 2000)
    cells = read_cells(path)
    assert len(cells) == 2000 and sum(len(c.source) for c in cells) == len("# %%\nx = 1") * 2000
    assert cells[-1].line == 3999
