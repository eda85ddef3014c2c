"""Gradescope's ``autograder.zip``, built by ``autograder gradescope ASSIGNMENT``; what runs
inside the container for each submission is :mod:`autograder.gradescope`.

The zip holds:

- ``setup.sh``: run once by Gradescope when it builds the image (Ubuntu, as root): installs
  bubblewrap when the distribution has it, a Python >= 3.11 with venv, and the wheel below
  into ``/autograder/venv``;
- ``run_autograder``: run for every submission; grades ``/autograder/submission/`` with our
  sandboxed graders and writes ``/autograder/results/results.json``. The environment variable
  ``AUTOGRADER_ROOT`` (default ``/autograder``) moves the whole layout, so a test can run it
  in a temporary folder;
- ``wheels/``: the project as a wheel: the grading code (``fingerprints.code_files``: the
  graders, what runs them, and ``reference_impl``, which is the graders' oracle and so has to
  be there). Not in the zip: the instructor notebooks, the self-test's mutants and alternative
  solutions, examples, tests;
- ``assignment/``: the manifest and the course's public helper files (``datasets.py``...);
  ``assignment/private/heldout.npz``, the final model's private held-out set, for the
  graders only (mode 0600; see ``autograder.heldout``).

Students never see the zip; their code, run in the sandbox, cannot read it when bubblewrap
works in the container (see the README for when it does not).
"""
import base64
import csv
import hashlib
import io
import os
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from . import manifest
from .fingerprints import code_files

DISTRIBUTION = "nn-homework-autograder"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs bubblewrap (the sandbox's full isolation, where the container allows it), a
# Python >= 3.11 with venv, and this assignment's autograder wheel into $ROOT/venv.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${AUTOGRADER_ROOT:-/autograder}"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq bubblewrap \
    || echo "bubblewrap is not available: submissions will be graded with reduced isolation"

python_ok() { command -v "$1" >/dev/null 2>&1 && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; }
PYTHON=""
for candidate in python3 python3.13 python3.12 python3.11; do
    if python_ok "$candidate"; then PYTHON="$candidate"; break; fi
done
if [ -z "$PYTHON" ]; then  # Ubuntu 22.04's python3 is 3.10; its universe has 3.11
    apt-get install -y -qq python3.11 python3.11-venv
    PYTHON=python3.11
fi
VERSION="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
apt-get install -y -qq "python${VERSION}-venv" || apt-get install -y -qq python3-venv || true

"$PYTHON" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet "$HERE"/wheels/*.whl
# Fail the image build now, not at the first submission, if the graders cannot load.
"$ROOT/venv/bin/python" -c "import autograder.gradescope, autograder.runner; autograder.runner.grader_titles()"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission, in a fresh container:
# it grades $ROOT/submission/ and writes $ROOT/results/results.json.
# AUTOGRADER_ROOT (default /autograder) moves the whole layout, for testing it elsewhere.
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
exec "$ROOT/venv/bin/python" -m autograder.gradescope run --root "$ROOT"
"""


# -- building the zip -----------------------------------------------------------------------------

def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def runtime_requirements():
    """The project's runtime dependencies (not its extras): from ``pyproject.toml`` in a checkout,
    else from the installed metadata."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])
    return [r for r in metadata.requires(DISTRIBUTION) or [] if "extra ==" not in r.replace("'", '"')]


def build_wheel(folder):
    """A wheel of the project's grading code (``fingerprints.code_files``), built without network or
    build tools: a wheel is a zip with a ``.dist-info`` folder."""
    version = metadata.version(DISTRIBUTION)
    name = DISTRIBUTION.replace("-", "_")
    dist_info = f"{name}-{version}.dist-info"
    meta = [
        "Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {version}", "Requires-Python: >=3.11",
        "Summary: The sandboxed graders of the NumPy neural-network homework (Gradescope build)",
        *[f"Requires-Dist: {r}" for r in runtime_requirements()],
    ]
    generated = {
        f"{dist_info}/METADATA": "\n".join(meta) + "\n",
        f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: autograder.gradescope_build\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": "[console_scripts]\nautograder = autograder.cli:main\n",
        f"{dist_info}/top_level.txt": "autograder\nreference_impl\n",
    }
    path = Path(folder) / f"{name}-{version}-py3-none-any.whl"
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        entries = [(arcname, file.read_bytes()) for arcname, file in code_files()]
        entries += [(arcname, text.encode()) for arcname, text in generated.items()]
        for arcname, data in entries:
            wheel.writestr(_zip_info(arcname), data)
            writer.writerow([arcname, _record_hash(data), len(data)])
        writer.writerow([f"{dist_info}/RECORD", "", ""])
        wheel.writestr(_zip_info(f"{dist_info}/RECORD"), record.getvalue())
    return path


def _zip_info(name, mode=0o644):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def manifest_path(name_or_path):
    path = Path(name_or_path)
    return path if path.suffix else manifest.ASSIGNMENTS / f"{name_or_path}.toml"


def build_zip(name_or_path, out="autograder.zip"):
    """Write Gradescope's ``autograder.zip`` for the assignment; returns its path."""
    from . import heldout

    assignment = manifest.load(name_or_path)  # validates the manifest first
    source = manifest_path(name_or_path)
    held_out = heldout.ensure(assignment, say=heldout.say_on_stderr) if assignment.uses_heldout else None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        wheel = build_wheel(folder)
        tmp = out.with_name(f".{out.name}.tmp")
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr(_zip_info("setup.sh", 0o755), SETUP_SH)
            archive.writestr(_zip_info("run_autograder", 0o755), RUN_AUTOGRADER)
            archive.writestr(_zip_info(f"wheels/{wheel.name}"), wheel.read_bytes())
            archive.writestr(_zip_info(f"assignment/{assignment.name}.toml"), source.read_bytes())
            for file in assignment.course_files:
                archive.writestr(_zip_info(f"assignment/course/{Path(file).name}"), Path(file).read_bytes())
            if held_out is not None:
                archive.writestr(_zip_info(f"assignment/private/{held_out.name}", 0o600), held_out.read_bytes())
        os.replace(tmp, out)
    return out
