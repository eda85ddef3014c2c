"""One rule for what is grading code: the Gradescope wheel ships it, the fingerprint hashes it."""
from autograder import fingerprints


def test_the_grading_code_holds_the_graders_and_the_reference_and_no_answers():
    names = {name for name, _ in fingerprints.code_files()}
    assert "autograder/graders/test_linear.py" in names and "autograder/sandbox/worker.py" in names
    assert any(name.startswith("reference_impl/") for name in names)
    assert not [name for name in names if name.removeprefix("autograder/").startswith(fingerprints.ANSWERS)]
    assert not [name for name in names if "__pycache__" in name]


def test_the_fingerprint_hashes_the_shipped_code_less_what_cannot_change_a_grade():
    shipped = {name for name, _ in fingerprints.code_files()}
    hashed = {name for name, _ in fingerprints.grading_files()}
    assert hashed < shipped
    assert shipped - hashed == {f"autograder/{name}" for name in fingerprints.NOT_GRADING}  # each one exists
    for module in ("runner.py", "student.py", "checks.py", "analyser.py", "results.py", "manifest.py"):
        assert f"autograder/{module}" in hashed


def test_the_code_version_follows_the_grading_code(monkeypatch, tmp_path):
    before = fingerprints.code_version()
    edited = tmp_path / "checks.py"
    edited.write_text("# another grader\n")
    files = [(name, edited if name == "autograder/checks.py" else path) for name, path in fingerprints.grading_files()]
    monkeypatch.setattr(fingerprints, "grading_files", lambda: files)
    fingerprints.code_version.cache_clear()
    try:
        assert fingerprints.code_version() != before
    finally:
        fingerprints.code_version.cache_clear()
