"""The reference implementation as one ``.py`` submission, the way a student would hand it in;
also with one mistake planted (a mutant) or with every graded method stubbed out."""
import ast
from pathlib import Path

import reference_impl

# Files in dependency order; each is pasted whole, without its relative imports.
FILES = [
    "base.py", "containers.py", "linear.py", "activations.py", "normalization.py",
    "regularization.py", "shape.py", "convolution.py", "criterions.py", "optimizers.py",
]
GIVEN = {"Module", "Criterion", "ReLU", "Flatten", "ChannelwiseScaling"}  # code students receive complete
# The oracle computes these in NumPy, so that the grading process needs no SciPy; the submission
# imports SciPy's, as the course's notebook does (and its cells pay for that import, as a student's do).
AS_STUDENTS_WRITE = {"expit": "from scipy.special import expit",
                     "cdist": "from scipy.spatial.distance import cdist"}


class MutationError(Exception):
    pass


def reference_source(replacements=()):
    """The submission's text; ``replacements`` are ``(file, old, new)`` edits, each of which must apply once."""
    folder = Path(reference_impl.__file__).parent
    texts = {name: as_students_write((folder / name).read_text()) for name in FILES}
    for file, old, new in replacements:
        if file not in texts:
            raise MutationError(f"no reference file {file}")
        count = texts[file].count(old)
        if count != 1:
            raise MutationError(f"{file}: the text to replace occurs {count} times, not once: {old!r}")
        texts[file] = texts[file].replace(old, new)
    parts = []
    for name in FILES:
        lines = texts[name].splitlines()
        parts.append("\n".join(line for line in lines if not line.startswith("from .")))
    return "\n\n\n".join(parts) + "\n"


def as_students_write(text):
    """``text`` with each top-level function of :data:`AS_STUDENTS_WRITE` replaced by its import."""
    lines = text.splitlines()
    for node in reversed(ast.parse(text).body):
        if isinstance(node, ast.FunctionDef) and node.name in AS_STUDENTS_WRITE:
            lines[node.lineno - 1:node.end_lineno] = [AS_STUDENTS_WRITE[node.name]]
    return "\n".join(lines) + "\n"


def stub_source():
    """Every method of every graded class (and the optimizers) raises NotImplementedError,
    as in the released notebook before the student starts."""
    tree = ast.parse(reference_source())
    stub = ast.parse("raise NotImplementedError").body

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name not in GIVEN:
            for member in node.body:
                if isinstance(member, ast.FunctionDef) and member.name not in {"__init__", "__repr__"}:
                    member.body = list(stub)
        elif isinstance(node, ast.FunctionDef) and node.name in {"sgd_momentum", "adam_optimizer"}:
            node.body = list(stub)
    return ast.unparse(tree) + "\n"


def write_reference_submission(path):
    path = Path(path)
    path.write_text(reference_source())
    return path
