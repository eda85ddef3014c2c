"""Attacks on what a submission's sandbox can reach, beyond the corpus of test_hostile.py:
another student's notebook through %run, and the machine when the grader runs as root
without bubblewrap."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autograder import manifest
from autograder.results import SubmissionResult
from autograder.runner import grade
from autograder.selftest.reference_submission import reference_source
from tests.helpers import notebook_from_source, reference_notebook

ITEMS = ("Linear", "SoftMax")
BASE = manifest.load("modules")


def small_assignment():
    import dataclasses

    return dataclasses.replace(BASE.main_only(), items={k: BASE.items[k] for k in ITEMS})


def test_run_cannot_include_a_classmates_notebook(tmp_path):
    """In a flat folder of notebooks each file is a submission of its own: `%run alice.ipynb`
    in mallory's notebook finds nothing, so mallory gets none of alice's points or text."""
    folder = tmp_path / "flat"
    folder.mkdir()
    reference_notebook(folder / "alice.ipynb")
    notebook_from_source(folder / "mallory.ipynb", "import numpy as np\n\n\n%run alice.ipynb\n\n\n%run ./alice.ipynb")
    assignment = small_assignment()
    outcomes, info = grade(assignment, folder / "mallory.ipynb")
    results = SubmissionResult.build(assignment, outcomes, info)
    assert results.score == 0, results.to_markdown()
    assert {o.diagnosis for o in outcomes} == {"missing"}
    alice, _ = grade(assignment, folder / "alice.ipynb")
    assert all(o.passed for o in alice)


def test_run_includes_the_students_own_other_notebook(tmp_path):
    """The same %run between a student's own notebooks of the assignment keeps working, whatever
    the files are called: each is in the sandbox under its name in the manifest."""
    from autograder.runner import open_submission

    folder = tmp_path / "student"
    folder.mkdir()
    reference_notebook(folder / "my-modules.ipynb")
    notebook_from_source(folder / "my-training.ipynb", "%run modules.ipynb\n\n\nlayer = Linear(3, 2)")
    running = open_submission(folder / "my-training.ipynb", BASE.limits, BASE.course_files,
                              {"modules.ipynb": folder / "my-modules.ipynb",
                               "training.ipynb": folder / "my-training.ipynb"})
    try:
        assert [c.ok for c in running.cells] == [True] * len(running.cells) and running.submission.defines("Linear")
    finally:
        running.close()


# -- reduced isolation, grading as root ---------------------------------------------------------

PROBE = textwrap.dedent("""
    import os
    found = []
    if 0 in (os.getuid(), os.geteuid()):
        found.append("runs as root")
    for name in ("/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "@SECRET@", "@RESULTS@"):
        try:
            os.close(os.open(name, os.O_WRONLY if "proc" in name or "results" in name else os.O_RDONLY))
            found.append(f"opened {name}")
        except OSError:
            pass
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified"):
        try:
            with open(os.path.join(root, "cgroup.procs"), "w") as procs:
                procs.write(str(os.getpid()))
            found.append(f"moved itself to {root}")
        except OSError:
            pass
    if found:
        raise RuntimeError("; ".join(found))
""")


def first_closed_ancestor(path):
    """The highest folder above ``path`` that other users may not enter, or None."""
    for parent in reversed(Path(path).parents):
        if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
            return parent
    return None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                    reason="shows something only when the grader runs as root, and needs unshare")
def test_reduced_isolation_as_root_runs_the_student_as_an_unprivileged_user(tmp_path):
    """Without bubblewrap and grading as root, the student's code runs as a uid of its own: it
    cannot write the host's sysctls, leave its cgroup, read a root-only file or touch results.
    Where this machine's Python lies under a folder only root may enter, the grading runs in a
    private mount namespace in which that folder is opened (as a machine with a system-wide
    Python would have it)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor only")
    secret.chmod(0o600)
    results_file = tmp_path / "results.json"
    results_file.write_text("{}")
    results_file.chmod(0o644)
    source = reference_source([("linear.py", "        self.output = input @ self.W.T + self.b\n",
                                textwrap.indent(PROBE.replace("@SECRET@", str(secret))
                                                .replace("@RESULTS@", str(results_file)), " " * 8)
                                + "        self.output = input @ self.W.T + self.b\n")])
    submission = tmp_path / "attack.py"
    submission.write_text(source)
    script = textwrap.dedent(f"""
        import dataclasses, json
        from autograder import manifest
        from autograder.runner import grade
        base = manifest.load("modules")
        assignment = dataclasses.replace(base.main_only(), items={{k: base.items[k] for k in {ITEMS!r}}})
        outcomes, info = grade(assignment, {str(submission)!r})
        print(json.dumps({{"failed": [o.message for o in outcomes if not o.passed], "user": info.get("worker_user"),
                          "isolation": info["isolation"]}}))
    """)
    command = [sys.executable, "-c", script]
    closed = first_closed_ancestor(os.path.realpath(sys.base_prefix))
    if closed is not None:
        inner = Path(os.path.realpath(sys.base_prefix)).relative_to(closed)
        keep = tmp_path / "python-view"
        keep.mkdir()
        mounts = (f"mount --bind {closed / inner.parts[0]} {keep} && mount -t tmpfs -o mode=755 tmpfs {closed} && "
                  f"mkdir -p {closed / inner.parts[0]} && mount --bind {keep} {closed / inner.parts[0]} && ")
        command = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   mounts + " ".join(f"'{part}'" for part in command[:2]) + ' "$0"', script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1],
                          env=dict(os.environ, AUTOGRADER_ISOLATION="reduced"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["isolation"] == "reduced"
    assert report["user"] == "unprivileged", report
    assert report["failed"] == [], report["failed"][:3]
    assert json.loads(results_file.read_text()) == {}
