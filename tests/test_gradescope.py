"""Gradescope: the autograder.zip, and its run_autograder run in a folder laid out like Gradescope's."""
import base64
import csv
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from autograder import gradescope, manifest
from autograder.selftest.reference_submission import reference_source
from tests.helpers import notebook_from_source

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = manifest.load("modules")
MUTANT = reference_source().replace("self.gradW += gradOutput.T @ input", "self.gradW = gradOutput.T @ input")


def hidden_manifest(tmp_path):
    """modules.toml with two of Linear's tests hidden until grades are published."""
    text = (manifest.ASSIGNMENTS / "modules.toml").read_text()
    marker = 'grader = "test_linear"\n'
    assert marker in text
    path = tmp_path / "modules.toml"
    path.write_text(text.replace(marker, marker + 'hidden = ["accumulates", "zero_grad"]\n', 1))
    return path


def test_manifest_visibility():
    assert all(item.hidden == frozenset() for item in ASSIGNMENT.items.values())
    assert ASSIGNMENT.items["Linear"].visibility("forward") == "visible"


def test_manifest_hidden_tests(tmp_path):
    linear = manifest.load(hidden_manifest(tmp_path)).items["Linear"]
    assert linear.hidden == {"accumulates", "zero_grad"}
    assert linear.visibility("accumulates") == "after_published" and linear.visibility("forward") == "visible"
    text = (tmp_path / "modules.toml").read_text()
    (tmp_path / "all.toml").write_text(text.replace('hidden = ["accumulates", "zero_grad"]', "hidden = true"))
    assert manifest.load(tmp_path / "all.toml").items["Linear"].hidden == set(ASSIGNMENT.items["Linear"].tests)
    (tmp_path / "bad.toml").write_text(text.replace('hidden = ["accumulates", "zero_grad"]', 'hidden = ["nope"]'))
    with pytest.raises(manifest.ManifestError, match="hidden"):
        manifest.load(tmp_path / "bad.toml")


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zip")
    path = hidden_manifest(folder)
    result = subprocess.run([sys.executable, "-m", "autograder", "gradescope", str(path), "--out",
                             str(folder / "autograder.zip")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return folder / "autograder.zip"


def test_zip_holds_the_scripts_the_wheel_and_the_manifest_and_no_answers(built_zip):
    with zipfile.ZipFile(built_zip) as archive:
        names = set(archive.namelist())
        wheel_name = next(n for n in names if n.startswith("wheels/"))
        assert names == {"setup.sh", "run_autograder", wheel_name, "assignment/modules.toml",
                         "assignment/course/datasets.py", "assignment/course/selfcheck.py",
                         "assignment/private/heldout.npz"}  # the final model's held-out set, for the graders
        assert archive.getinfo("assignment/private/heldout.npz").external_attr >> 16 & 0o777 == 0o600
        for script in ("setup.sh", "run_autograder"):
            mode = archive.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, f"{script} is not executable"
            assert archive.read(script).startswith(b"#!/usr/bin/env bash\n")
        assert tomllib.loads(archive.read("assignment/modules.toml").decode())["items"]["Linear"]["hidden"]
        wheel = zipfile.ZipFile(io.BytesIO(archive.read(wheel_name)))
        setup = archive.read("setup.sh").decode()
    assert "apt-get install -y -qq bubblewrap" in setup and "pip install" in setup and "wheels/" in setup
    content = set(wheel.namelist())
    assert {"autograder/runner.py", "autograder/graders/test_linear.py", "autograder/graders/pytest.ini",
            "autograder/sandbox/worker.py", "autograder/gradescope.py", "reference_impl/linear.py"} <= content
    # The graders need the reference (their oracle); nothing else that answers the homework.
    assert not [n for n in content if "alternatives/" in n or n.endswith((".ipynb", "mutants.toml"))]
    assert not [n for n in content if n.split("/")[0] not in {"autograder", "reference_impl"}
                and ".dist-info/" not in n]
    # A valid wheel: RECORD lists every file with its hash, METADATA the runtime dependencies.
    dist_info = next(n.split("/")[0] for n in content if ".dist-info/" in n)
    rows = list(csv.reader(io.StringIO(wheel.read(f"{dist_info}/RECORD").decode())))
    assert {row[0] for row in rows} == content
    for name, digest, size in rows:
        if digest:
            data = wheel.read(name)
            assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert int(size) == len(data)
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = sorted(line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist"))
    assert required == sorted(runtime)


def test_scripts_are_valid_bash(built_zip, tmp_path):
    with zipfile.ZipFile(built_zip) as archive:
        archive.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        result = subprocess.run(["bash", "-n", str(tmp_path / script)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def gradescope_layout(built_zip, tmp_path):
    """A folder laid out like Gradescope's /autograder after setup.sh: source/ (the unpacked
    zip), run_autograder, submission/, results/, and venv/ whose python is this environment's
    with the zip's wheel installed (setup.sh would install it with its dependencies)."""
    root = tmp_path / "autograder"
    for folder in ("source", "submission", "results", "venv/bin"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(built_zip) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    site = tmp_path / "site"
    wheel = next((root / "source" / "wheels").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(site),
                    str(wheel)], check=True, timeout=300)
    python = root / "venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH="{site}" exec "{sys.executable}" "$@"\n')
    os.chmod(python, 0o755)
    return root, site


def run_autograder(root):
    env = {**os.environ, "AUTOGRADER_ROOT": str(root)}
    env.pop("PYTHONPATH", None)
    return subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, env=env, cwd=root,
                          timeout=600)


def test_run_autograder_grades_a_submission_into_results_json(built_zip, tmp_path):
    root, site = gradescope_layout(built_zip, tmp_path)
    # The graders that run are the wheel's, not this checkout's.
    where = subprocess.run([str(root / "venv" / "bin" / "python"), "-c",
                            "import autograder; print(autograder.__file__)"],
                           capture_output=True, text=True, cwd=root)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    notebook_from_source(root / "submission" / "modules.ipynb", MUTANT)
    result = run_autograder(root)
    assert result.returncode == 0, result.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    linear = ASSIGNMENT.items["Linear"]
    main_points = ASSIGNMENT.main_only().max_score
    # With hidden tests there is no top-level score: Gradescope sums the tests, and shows the
    # total only once grades are published.
    assert "score" not in results and results["visibility"] == "after_published"
    summary, *tests = results["tests"]
    assert sum(t["score"] for t in tests) == main_points - linear.tests["accumulates"]
    assert sum(t["max_score"] for t in tests) == ASSIGNMENT.max_score
    assert len(tests) == sum(len(item.tests) for item in ASSIGNMENT.items.values())
    hidden = [t for t in tests if t["visibility"] == "after_published"]
    assert len(hidden) == 2 and {t["tags"][0] for t in hidden} == {"Linear"}
    assert all(t["visibility"] == "visible" for t in tests if t not in hidden)
    accumulates = next(t for t in hidden if t["score"] == 0)
    assert accumulates["status"] == "failed" and "overwritten instead of accumulated" in accumulates["output"]
    assert all(t["output_format"] == "md" for t in tests)
    missing = [t for t in tests if t["tags"] == ["final_model"]]
    assert missing and all(t["output"] == "training.ipynb was not submitted." for t in missing)
    # The summary, the top-level output and extra_data say nothing of the hidden tests.
    visible_points = ASSIGNMENT.max_score - sum(t["max_score"] for t in hidden)
    visible_score = sum(t["score"] for t in tests if t not in hidden)
    assert summary["visibility"] == "visible" and "score" not in summary
    assert summary["output"].startswith(f"{visible_score:g} / {visible_points:g} points on the visible tests")
    assert results["output"].startswith(f"Tests worth {ASSIGNMENT.max_score - visible_points:g} of the "
                                        f"{ASSIGNMENT.max_score:g} points are shown")
    assert set(results["extra_data"]) == {"assignment", "dialect", "isolation", "error"}
    assert "execution_time" not in results


def test_run_autograder_without_a_notebook_still_writes_results(built_zip, tmp_path):
    root, _ = gradescope_layout(built_zip, tmp_path)
    (root / "submission" / "answers.pdf").write_bytes(b"%PDF-1.4")
    result = run_autograder(root)
    assert result.returncode == 0, result.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and "No notebook was found" in results["output"]


def test_find_submission_in_an_uploaded_folder(tmp_path):
    nested = tmp_path / "submission" / "hw" / "modules"
    nested.mkdir(parents=True)
    (tmp_path / "submission" / "README.md").write_text("hi")
    (nested / "modules.ipynb").write_text("{}")
    (nested / "training.ipynb").write_text("{}")
    files = gradescope.find_submission(tmp_path / "submission", ASSIGNMENT)
    assert files == {"modules.ipynb": nested / "modules.ipynb", "training.ipynb": nested / "training.ipynb"}
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "my_homework.ipynb").write_text("{}")
    assert gradescope.find_submission(flat, ASSIGNMENT) == {"modules.ipynb": flat / "my_homework.ipynb"}
