"""The `autograder grade` command-line contract that other tools rely on."""
import json
import subprocess
import sys

from autograder import manifest
from autograder.selftest.reference_submission import reference_source
from tests.helpers import notebook_from_source, reference_notebook

ASSIGNMENT = manifest.load("modules")
MAIN = ASSIGNMENT.main_only()  # a lone notebook stands for the main notebook only


def grade(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "modules", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_json_output_is_the_results_file_and_follows_gradescope(tmp_path):
    path = reference_notebook(tmp_path / "some_renamed_file.ipynb")
    result = grade(path, "--json", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)  # nothing else on stdout
    assert results == json.loads((tmp_path / "out" / "some_renamed_file" / "results.json").read_text())
    assert (tmp_path / "out" / "some_renamed_file" / "feedback.md").read_text().startswith("# Feedback")
    assert results["max_score"] == ASSIGNMENT.max_score and results["score"] == MAIN.max_score
    for item in set(ASSIGNMENT.items) - set(MAIN.items):
        outputs = {t["output"] for t in results["tests"] if t["tags"] == [item]}
        assert outputs == {f"{ASSIGNMENT.notebook_of(ASSIGNMENT.items[item])} was not submitted."}
    assert results["extra_data"]["dialect"] == "torch-legacy"
    assert results["extra_data"]["isolation"] in {"full", "reduced"}
    assert results["extra_data"]["process_limit"] in {"cgroup", "rlimit", "none"}
    assert set(results["extra_data"]["items"]) == set(ASSIGNMENT.items)
    for test in results["tests"]:
        assert {"name", "score", "max_score", "status", "output", "tags"} <= set(test)
        item = test["tags"][0]
        assert item in ASSIGNMENT.items and test["name"].startswith(f"{item}: ")


def test_missing_classes_score_zero_and_every_item_is_reported(tmp_path):
    source = reference_source().replace("class Linear(Module):", "class LinearLayer(Module):")
    path = tmp_path / "partial.py"
    path.write_text(source)
    result = grade(path, "--json", "--out", tmp_path / "out")
    assert result.returncode == 0
    results = json.loads(result.stdout)
    assert results["extra_data"]["items"]["Linear"]["score"] == 0
    assert set(results["extra_data"]["items"]) == set(ASSIGNMENT.items)
    linear = [t for t in results["tests"] if t["tags"] == ["Linear"]]
    assert all("not defined" in t["output"] for t in linear)


def test_broken_file_is_a_report_not_a_crash(tmp_path):
    (tmp_path / "broken.ipynb").write_text("{ this is not json")
    result = grade(tmp_path / "broken.ipynb", "--json", "--out", tmp_path / "out")
    assert result.returncode == 0
    results = json.loads(result.stdout)
    assert results["score"] == 0 and "not a valid notebook" in results["output"]


def test_folders_nbgrader_tree_and_flat(tmp_path):
    submitted = tmp_path / "submitted"
    for student in ["alice", "bob"]:
        folder = submitted / student / "modules"
        folder.mkdir(parents=True)
        reference_notebook(folder / ("modules.ipynb" if student == "alice" else "my_work.ipynb"))
        (folder / "training.ipynb").write_text("{}")
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "carol.py").write_text(reference_source())
    result = grade(submitted, flat, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for name in ["alice", "bob", "carol"]:
        results = json.loads((tmp_path / "out" / name / "results.json").read_text())
        assert results["score"] == MAIN.max_score, (name, results["output"])
    assert "alice" in result.stdout and "total" in result.stdout


def test_cells_in_any_order_and_without_nbgrader_metadata(tmp_path):
    # Reverse the order of the cells: classes are defined after the cells that subclass them fail,
    # so only the self-contained ones survive; the grading must still finish and report per item.
    path = notebook_from_source(tmp_path / "reversed.ipynb", reference_source(), order=lambda n: list(range(n))[::-1])
    result = grade(path, "--json", "--out", tmp_path / "out")
    assert result.returncode == 0
    results = json.loads(result.stdout)
    failed = [c["name"] for c in results["extra_data"]["cells"] if not c["ok"]]
    assert failed and all(name.startswith("modules.ipynb, cell ") for name in failed), failed  # the notebook named
    feedback = (tmp_path / "out" / "reversed" / "feedback.md").read_text()
    assert f"{failed[0]}: " in feedback


def test_grading_is_deterministic(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(reference_source().replace("self.gradW += gradOutput.T @ input",
                                               "self.gradW = gradOutput.T @ input"))
    runs = [json.loads(grade(path, "--json", "--out", tmp_path / f"out{i}").stdout) for i in range(2)]
    for run in runs:
        run.pop("signature")  # each output folder's own key, over the timings as well
        run["extra_data"].pop("seconds")
        for cell in run["extra_data"]["cells"]:
            cell.pop("seconds")
    assert runs[0] == runs[1]


def test_a_link_to_another_students_notebook_is_not_graded(tmp_path):
    from autograder.submissions import discover

    submitted = tmp_path / "submitted"
    for student in ["alice", "eve"]:
        (submitted / student / "modules").mkdir(parents=True)
    reference_notebook(submitted / "alice" / "modules" / "modules.ipynb")
    (submitted / "alice" / "modules" / "training.ipynb").write_text("{}")
    (submitted / "eve" / "modules" / "training.ipynb").symlink_to(submitted / "alice" / "modules" / "training.ipynb")
    (submitted / "eve" / "modules" / "modules.ipynb").symlink_to(submitted / "alice" / "modules" / "modules.ipynb")
    found = {sub.name: sub for sub in discover([submitted], ASSIGNMENT)}
    assert found["alice"].others and found["alice"].problem is None
    assert "symbolic link" in found["eve"].problem  # refused and reported, never graded as alice's
