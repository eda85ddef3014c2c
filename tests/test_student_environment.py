"""The release's requirements.txt is all a student needs: a virtual environment made from it
alone (not from this project's environment), by the command the README gives students, runs
both released notebooks to the end."""
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import manifest
from autograder.release import ROOT

RELEASE = ROOT / "release" / "modules"
REQUIREMENTS = RELEASE / "requirements.txt"
README = ROOT / "README.md"
KERNEL = "student-env"  # a kernel of its own name, so that no other environment's python3 kernel is used
# pip's words for a package index it cannot reach (not for a requirement that does not exist)
UNREACHABLE = re.compile(r"NewConnectionError|Temporary failure in name resolution|Network is unreachable|"
                         r"Max retries exceeded|ProxyError|Could not fetch URL|ConnectTimeoutError", re.I)

# Runs inside the student's environment: every cell of each notebook in a fresh kernel of that
# environment, then what went wrong, as JSON.
RUN_NOTEBOOKS = """
import json, sys
import nbformat
from nbclient import NotebookClient

report = {}
for path in sys.argv[2:]:
    nb = nbformat.read(path, 4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel prefix:', sys.prefix)"))
    NotebookClient(nb, timeout=600, kernel_name=sys.argv[1], allow_errors=True,
                   resources={"metadata": {"path": path.rsplit("/", 1)[0]}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    report[path] = {
        "errors": [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"],
        "stderr": [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"],
        "last": "".join(o.get("text", "") for o in nb.cells[-1].outputs),
    }
print(json.dumps(report))
"""


def readme_install_command():
    """The line of the README's student section that makes the environment and installs
    requirements.txt into it."""
    section = README.read_text().split("## For students", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.splitlines() if "pip install -r requirements.txt" in line]
    assert len(lines) == 1, f"the student section should give one install command, not {lines}"
    return lines[0]


def test_the_release_carries_requirements_txt_and_the_readme_the_command_that_installs_it():
    assert REQUIREMENTS.is_file(), "nothing in the release says what to install"
    names = {re.split(r"[<>=~!; ]", line.strip(), maxsplit=1)[0].lower()
             for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")}
    assert {"numpy", "scikit-learn", "matplotlib", "tqdm", "ipywidgets", "jupyterlab"} <= names
    command = readme_install_command()
    assert command.startswith("python3 -m venv .venv && ") and ".venv/bin/" in command, command


def cache_folder():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nn-homework-autograder"


def student_environment():
    """A virtual environment made from requirements.txt alone, with a kernel of its own. Making
    one takes a minute (pip asks the package index about a hundred packages), so it is kept in
    the user's cache folder under a hash of requirements.txt and of this Python's version: a
    changed requirements.txt gets a new one. Skips the test when pip cannot reach the index."""
    command = readme_install_command()
    key = hashlib.sha256(REQUIREMENTS.read_bytes() + command.encode() + sys.version.encode()).hexdigest()[:16]
    folder = cache_folder() / f"student-env-{key}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"student-env-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test run making the same environment finishes first
        if not (folder / "complete").exists():
            make_environment(folder, command)
    return folder


def make_environment(folder, command):
    """The README's ``command`` run in the release, with ``folder`` for its ``.venv`` (a venv's
    scripts name its folder: it is made in place) and this Python for ``python3``: a new virtual
    environment with requirements.txt and nothing else installed. Then a kernel of its own."""
    shutil.rmtree(folder, ignore_errors=True)
    command = command.replace(".venv", shlex.quote(str(folder)))
    command = command.replace("python3 ", f"{shlex.quote(sys.executable)} ", 1)
    install = subprocess.run(["bash", "-c", command], cwd=RELEASE, capture_output=True, text=True, timeout=1500)
    python = str(folder / "bin" / "python")
    if install.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        if UNREACHABLE.search(install.stdout + install.stderr):
            pytest.skip(f"pip cannot reach the package index: {install.stderr.strip().splitlines()[-1]}")
        pytest.fail(f"pip install -r requirements.txt failed:\n{install.stderr[-3000:]}")
    subprocess.run([python, "-m", "ipykernel", "install", "--sys-prefix", "--name", KERNEL], check=True,
                   capture_output=True)
    (folder / "complete").touch()


def test_a_fresh_environment_from_requirements_txt_runs_both_notebooks(tmp_path):
    environment = student_environment()
    shutil.copytree(RELEASE, tmp_path / "modules")
    paths = [str(tmp_path / "modules" / name) for name in manifest.load("modules").notebooks]
    result = subprocess.run([str(environment / "bin" / "python"), "-c", RUN_NOTEBOOKS, KERNEL, *paths],
                            capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    for path in paths:
        assert report[path]["last"].strip() == f"kernel prefix: {environment}", "the kernel ran elsewhere"
        assert report[path]["errors"] == [], path
        assert report[path]["stderr"] == [], path  # e.g. tqdm's warning when ipywidgets is missing
