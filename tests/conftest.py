"""Fixtures several test files share."""
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class DemoCourse:
    """What ``make demo`` leaves: the course folder, the gradebook's rows and the lines it printed."""
    course: Path
    rows: dict  # student -> (scores by grade id, total)
    lines: list


@pytest.fixture(scope="session")
def demo_course(tmp_path_factory):
    """One run of the demo (about a minute and a half) for every test that needs a graded course."""
    from autograder.course_demo import run

    out = tmp_path_factory.mktemp("demo")
    lines = []
    rows = {student: (scores, total) for student, scores, total in run(out, say=lines.append)}
    return DemoCourse(out / "course", rows, lines)
