"""The final model is judged on a private held-out set that the student cannot obtain.

The attacks: a `model` whose forward looks the labels up by image, from a table of the public
digits' test split embedded in the notebook, or from scikit-learn's digits loaded in the
sandbox; a model that reads the instructor's held-out file. Each must score 0 on the accuracy
marks, while the course's own training code keeps them all. Then where the set lives: never in
the release, mode 0600, carried to Gradescope's and Dask's graders, and what happens without one.
"""
import dataclasses
import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import batch, fingerprints, gradescope, gradescope_build, heldout, manifest, release
from autograder.graders.conftest import TRAINING_CODE
from autograder.runner import grade
from autograder.selftest.reference_submission import reference_source
from reference_impl.data import load_digits
from tests.helpers import mnist_style, reference_notebook, with_heldout, write_mnist

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = manifest.load("modules")
FINAL = dataclasses.replace(ASSIGNMENT, items={"final_model": ASSIGNMENT.items["final_model"]})

# A model that answers from a table of images: unknown images get class 0.
LOOKUP_MODEL = """
class LookupModel(Sequential):
    def forward(self, input):
        keys = np.rint(np.asarray(input) * 16).astype(np.uint8)
        labels = [TABLE.get(bytes(row).hex(), 0) for row in keys]
        self.output = np.full((len(keys), 10), -10.0)
        self.output[np.arange(len(keys)), labels] = 0.0
        return self.output

model = LookupModel()
"""

EMBEDDED_TABLE = """
import numpy as np
TABLE = {table!r}
""" + LOOKUP_MODEL

SKLEARN_TABLE = """
import numpy as np
from sklearn.datasets import load_digits as public_digits
digits = public_digits()
TABLE = {bytes(row).hex(): int(label) for row, label in zip(digits.data.astype(np.uint8), digits.target)}
""" + LOOKUP_MODEL

# A model that answers with the labels of the instructor's held-out file, if it can read it.
READS_THE_FILE = """
import numpy as np
try:
    with open({path!r}, "rb") as handle:
        LABELS = np.load(handle)["labels"].astype(int)
    print("read the held-out file")
except OSError as error:
    LABELS = None
    print("cannot read the held-out file:", type(error).__name__)

class Cheat(Sequential):
    def forward(self, input):
        self.output = np.zeros((len(input), 10))
        if LABELS is not None and len(LABELS) == len(input):
            self.output[np.arange(len(input)), LABELS] = 1.0
        return self.output

model = Cheat()
"""


def public_test_table():
    """The test split of the course's default split, as the old grader used it: image -> label."""
    _, _, X_test, y_test = load_digits(test_size=0.2, seed=0)
    return {bytes(np.rint(x * 16).astype(np.uint8)).hex(): int(y) for x, y in zip(X_test, y_test)}


def training_submission(folder, code):
    folder.mkdir(parents=True)
    reference_notebook(folder / "modules.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("%run modules.ipynb"), new_code_cell(code)]),
                   folder / "training.ipynb")
    return folder


def final_model_scores(out, name):
    results = json.loads((out / name / "results.json").read_text())
    return {t["extra_data"]["test"]: t for t in results["tests"] if t["tags"] == ["final_model"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Three students graded by `autograder grade`, as an instructor grades: two lookups of the
    public digits and the course's honest training code."""
    root = tmp_path_factory.mktemp("heldout")
    submitted = root / "submitted"
    training_submission(submitted / "embedded" / "modules", EMBEDDED_TABLE.format(table=public_test_table()))
    training_submission(submitted / "sklearn" / "modules", SKLEARN_TABLE)
    training_submission(submitted / "honest" / "modules", TRAINING_CODE)
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "modules", str(submitted), "-j", "1",
                             "--quiet", "--out", str(root / "out")], capture_output=True, text=True, cwd=ROOT,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    return root / "out"


def names_of(out):
    return {path.parent.name for path in out.glob("*/results.json")}


def submission_named(out, student):
    return next(name for name in names_of(out) if student in name)


def test_a_table_of_the_public_test_labels_in_the_notebook_scores_zero(graded):
    tests = final_model_scores(graded, submission_named(graded, "embedded"))
    assert tests and all(t["score"] == 0 for t in tests.values()), {k: t["output"] for k, t in tests.items()}
    assert all(t["extra_data"]["diagnosis"] == "low_accuracy" for t in tests.values())


def test_a_lookup_of_scikit_learns_digits_in_the_sandbox_scores_zero(graded):
    tests = final_model_scores(graded, submission_named(graded, "sklearn"))
    assert tests and all(t["score"] == 0 for t in tests.values()), {k: t["output"] for k, t in tests.items()}
    assert all(t["extra_data"]["diagnosis"] == "low_accuracy" for t in tests.values())


def test_the_course_training_code_keeps_every_mark(graded):
    tests = final_model_scores(graded, submission_named(graded, "honest"))
    assert tests and all(t["score"] == t["max_score"] > 0 for t in tests.values()), \
        {k: t["output"] for k, t in tests.items()}


def test_the_sandbox_cannot_read_the_held_out_file(tmp_path):
    assignment = with_heldout(FINAL, tmp_path / "private")
    path = heldout.path_of(assignment)
    folder = training_submission(tmp_path / "student", READS_THE_FILE.format(path=str(path)))
    with heldout.grading(assignment):
        outcomes, info = grade(assignment, {"modules.ipynb": folder / "modules.ipynb",
                                            "training.ipynb": folder / "training.ipynb"})
    if info["isolation"] != "full":
        pytest.skip("reduced isolation: the worker runs as the grading user and reads what it can (README)")
    assert outcomes and not any(o.passed for o in outcomes), [(o.test, o.message) for o in outcomes]


# -- where the set lives ---------------------------------------------------------------------------

def test_the_held_out_set_lives_in_the_private_folder_that_is_never_released():
    path = heldout.path_of(ASSIGNMENT)
    assert path == manifest.PRIVATE / "modules" / "heldout.npz"
    for public in (manifest.SOURCE_NOTEBOOKS, ROOT / "release"):
        assert not path.is_relative_to(public)
    ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, capture_output=True)
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert ignored.returncode == 0, "private/ must be git-ignored"


def test_a_new_set_is_private_to_its_owner(tmp_path):
    assignment = dataclasses.replace(ASSIGNMENT, private_dir=tmp_path / "private" / "modules")
    messages = []
    path = heldout.ensure(assignment, say=messages.append)
    assert path.is_file() and len(messages) == 1 and str(path) in messages[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    first = path.read_bytes()
    assert heldout.ensure(assignment, say=messages.append) == path and path.read_bytes() == first
    assert len(messages) == 1  # made once, kept after
    path.chmod(0o644)
    with pytest.raises(heldout.HeldOutSetError, match="chmod 600"):
        heldout.load(path)


def test_release_refuses_when_the_held_out_set_would_be_released(tmp_path):
    assignment = with_heldout(ASSIGNMENT, tmp_path / "private")
    released = tmp_path / "release"
    released.mkdir()
    (released / "modules.ipynb").write_text("{}")
    report = release.Report()
    release.check_heldout_private(assignment, ROOT / "source_notebooks" / "modules", released, report)
    assert report.ok, [(c.name, c.detail) for c in report.checks]
    (released / "data.npz").write_bytes(heldout.path_of(assignment).read_bytes())  # a copy under another name
    report = release.Report()
    release.check_heldout_private(assignment, ROOT / "source_notebooks" / "modules", released, report)
    assert not report.ok and "data.npz" in " ".join(c.detail for c in report.checks)
    inside = with_heldout(ASSIGNMENT, tmp_path / "source" / "modules")  # where nbgrader would copy it
    report = release.Report()
    release.check_heldout_private(inside, tmp_path / "source" / "modules", released, report)
    assert not report.ok


def test_the_committed_release_holds_no_held_out_set():
    path = heldout.ensure(ASSIGNMENT)
    secret = path.read_bytes()
    for file in (ROOT / "release").rglob("*"):
        assert not file.is_file() or (file.suffix not in {".npz", ".npy"} and file.read_bytes() != secret), file


# -- without a held-out set --------------------------------------------------------------------------

def test_without_a_held_out_set_the_final_model_is_a_grader_error_not_a_public_split(tmp_path):
    assignment = dataclasses.replace(FINAL, private_dir=tmp_path / "nothing")
    folder = training_submission(tmp_path / "student", TRAINING_CODE)
    with heldout.grading(assignment):
        outcomes, _ = grade(assignment, {"modules.ipynb": folder / "modules.ipynb",
                                         "training.ipynb": folder / "training.ipynb"})
    assert len(outcomes) == 3
    for outcome in outcomes:
        assert not outcome.passed and outcome.diagnosis == "grader_error"
        assert "HeldOutSetMissing" in outcome.message and "tell your instructor" in outcome.message
    assert not (tmp_path / "nothing").exists()  # the grader never makes one itself


def test_grading_makes_the_set_on_first_use_and_says_so(tmp_path, monkeypatch, capsys):
    from autograder import cli

    private = tmp_path / "private"
    monkeypatch.setattr(manifest, "PRIVATE", private)
    (tmp_path / "student.py").write_text("x = 1\n")
    code = cli.main(["grade", "modules", str(tmp_path / "student.py"), "--out", str(tmp_path / "out"), "--quiet",
                     "-j", "1"])
    assert code == 0
    assert (private / "modules" / "heldout.npz").is_file()
    assert "Made a new held-out set for the final model of modules" in capsys.readouterr().err


def test_a_held_out_set_other_users_can_read_stops_grading_before_it_starts(tmp_path, monkeypatch, capsys):
    from autograder import cli

    monkeypatch.setattr(manifest, "PRIVATE", tmp_path / "private")
    path = heldout.ensure(ASSIGNMENT)
    path.chmod(0o644)
    (tmp_path / "student.py").write_text("x = 1\n")
    assert cli.main(["grade", "modules", str(tmp_path / "student.py"), "--out", str(tmp_path / "out")]) == 2
    assert "chmod 600" in capsys.readouterr().err and not (tmp_path / "out").exists()


# -- sources ---------------------------------------------------------------------------------------

def test_sets_from_the_digits_hold_no_public_digit_and_differ_each_time():
    everything, _, _ = heldout.public_digits()
    public = {row.tobytes() for row in everything}
    first, second = heldout.make_from_digits(count=400), heldout.make_from_digits(count=400)
    for held_out in (first, second):
        assert len(held_out) == 400 and held_out.counts.max() <= 16
        assert not any(row.tobytes() in public for row in held_out.counts)
        assert np.bincount(held_out.labels, minlength=10).min() >= 30  # every digit, about evenly
    assert not np.array_equal(first.counts, second.counts)


def test_a_set_from_mnist_idx_files(tmp_path):
    _, _, X_test, y_test = load_digits()
    folder = write_mnist(tmp_path / "mnist", mnist_style(np.rint(X_test * 16)), y_test)
    held_out = heldout.make_from_mnist(folder, count=300, seed=1)
    assert len(held_out) == 300 and held_out.counts.dtype == np.uint8 and held_out.counts.max() <= 16
    everything, _, _ = heldout.public_digits()
    assert abs(held_out.images.mean() - everything.mean() / 16) < 0.02  # the digits' share of ink
    public, on_set = heldout.reference_accuracy(held_out)
    assert on_set > 0.9 and public > 0.95


def test_the_heldout_command(tmp_path, monkeypatch, capsys):
    from autograder import cli

    monkeypatch.setattr(manifest, "PRIVATE", tmp_path / "private")
    _, _, X_test, y_test = load_digits()
    folder = write_mnist(tmp_path / "mnist", mnist_style(np.rint(X_test[:200] * 16)), y_test[:200])
    assert cli.main(["heldout", "modules", "--from-mnist", str(folder), "--count", "150"]) == 0
    path = tmp_path / "private" / "modules" / "heldout.npz"
    made = heldout.load(path)
    assert len(made) == 150 and made.about["source"].startswith("MNIST")
    assert "reference MLP" in capsys.readouterr().out
    assert cli.main(["heldout", "modules"]) == 1  # kept: --force replaces it
    assert "--force" in capsys.readouterr().err and heldout.load(path) is made
    assert cli.main(["heldout", "modules", "--force", "--from-mnist", str(tmp_path / "nowhere")]) == 1
    assert "Could not make" in capsys.readouterr().err and heldout.load(path) is made
    assert cli.main(["heldout", "modules", "--force", "--count", "300"]) == 0
    assert len(heldout.load(path)) == 300 and "digits" in heldout.load(path).about["source"]


# -- carried to the trusted side only ----------------------------------------------------------------

def test_gradescope_zip_carries_the_set_for_the_graders(tmp_path):
    zip_path = gradescope_build.build_zip("modules", tmp_path / "autograder.zip")
    secret = heldout.path_of(ASSIGNMENT).read_bytes()
    with zipfile.ZipFile(zip_path) as archive:
        assert archive.read("assignment/private/heldout.npz") == secret
        archive.extractall(tmp_path / "source")
    os.chmod(tmp_path / "source" / "assignment" / "private" / "heldout.npz", 0o644)  # as an unzip might leave it
    assignment = gradescope.load_assignment(tmp_path)
    assert heldout.path_of(assignment) == tmp_path / "source" / "assignment" / "private" / "heldout.npz"
    assert stat.S_IMODE(heldout.path_of(assignment).stat().st_mode) == 0o600
    assert heldout.load(heldout.path_of(assignment)).counts.shape[1] == 64


def test_a_dask_job_grades_with_the_set_the_client_sends(tmp_path):
    assignment = with_heldout(FINAL, tmp_path / "private")
    # One notebook with the modules and the training: a Dask job puts each notebook in a folder of
    # its own, where `%run modules.ipynb` would not find its sibling.
    folder = training_submission(tmp_path / "student", reference_source() + "\n" + TRAINING_CODE)
    files = {"modules.ipynb": str(folder / "modules.ipynb"), "training.ipynb": str(folder / "training.ipynb")}
    job = batch.Job("student", None, files["training.ipynb"], files, "")
    contents = [Path(p).read_bytes() for p in files.values()]
    remote = dataclasses.replace(assignment, private_dir=None)
    sent = batch._held_out_bytes(assignment)
    assert sent == heldout.path_of(assignment).read_bytes()
    course = {Path(p).name: Path(p).read_bytes() for p in assignment.course_files}

    def results(private):
        reply = json.loads(batch.run_remote_job(remote, job.to_json(), contents, course, batch.deadline(assignment),
                                                private))
        assert reply["status"] == "done", reply["error"]
        return json.loads(reply["results_text"])

    assert results(sent)["extra_data"]["items"]["final_model"]["score"] == 10
    diagnoses = {t["extra_data"]["diagnosis"] for t in results(None)["tests"]}  # an old client that sends none
    assert diagnoses == {"grader_error"}


def test_a_new_held_out_set_regrades(tmp_path):
    assignment = with_heldout(FINAL, tmp_path / "private", seed=1)
    before = fingerprints.manifest_digest(assignment)
    heldout.save(heldout.make_from_digits(count=500, seed=2), heldout.path_of(assignment), replace=True)
    assert fingerprints.manifest_digest(assignment) != before
    moved = with_heldout(FINAL, tmp_path / "elsewhere", seed=2)
    assert fingerprints.manifest_digest(moved) == fingerprints.manifest_digest(assignment)  # where it is does not count
