"""Rebuild the example submissions in examples/submissions/ from the reference.

    .venv/bin/python examples/make_examples.py

Each example is a notebook a student could have handed in: a complete one, one with three
classic mistakes, one in the snake dialect, the untouched stub, one that hangs and crashes,
and one that is not a notebook at all.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.selftest.bank import load_mutants
from autograder.selftest.dialect_variants import snake_source
from autograder.selftest.reference_submission import reference_source, stub_source

HERE = Path(__file__).resolve().parent / "submissions"


def notebook(path, source, intro):
    cells = [new_markdown_cell(intro)] + [new_code_cell(chunk) for chunk in source.split("\n\n\n") if chunk.strip()]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}),
                   path)


def main():
    HERE.mkdir(exist_ok=True)
    mutants = {m.id: m for m in load_mutants()}
    buggy = [mutants[i] for i in ("linear_grad_overwritten", "softmax_overflow", "dropout_keep_probability")]
    notebook(HERE / "alice.ipynb", reference_source(), "# Alice: every module done")
    notebook(HERE / "bob.ipynb", reference_source([e for m in buggy for e in m.edits]),
             "# Bob: three classic mistakes (= instead of +=, no max shift in SoftMax, p as keep probability)")
    notebook(HERE / "carol.ipynb",
             snake_source().replace("self.gradb += grad_output.sum(axis=0)", "self.gradb += grad_output.mean(axis=0)"),
             "# Carol: the snake dialect, with a wrong gradb")
    notebook(HERE / "dave.ipynb", stub_source(), "# Dave: the stubs, untouched")
    hostile = reference_source().replace(
        "    def updateOutput(self, input):\n        # exp only ever sees",
        "    def updateOutput(self, input):\n        while True:\n            pass\n        # exp only ever sees",
    ).replace(
        "    def updateOutput(self, input):\n        # log(1 + exp(x))",
        "    def updateOutput(self, input):\n        import os\n        os._exit(1)\n        # log(1 + exp(x))",
    )
    notebook(HERE / "erin.ipynb", hostile, "# Erin: ELU.forward never returns, SoftPlus kills its own process")
    (HERE / "frank.ipynb").write_text('{"cells": [ this is not JSON')


if __name__ == "__main__":
    main()
