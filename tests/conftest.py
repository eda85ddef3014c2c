"""What several test files share: the demo course, the browser fixtures, and a pytest marker per
graded item of the course, so that ``pytest -m Linear`` runs what is about Linear: the item's
self-test mutants (marked where they are made) and every test whose file or name speaks of the
item, by its name or by its grader module's (``test_nll_unstable``)."""
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder import manifest
from tests.browser import chromium, jupyterlab, page, shot  # noqa: F401 - fixtures for the browser tests


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


def item_words():
    """Each graded item's marker with the words that name it in a test: its own name and its
    grader module's, lower case, the longest first (``nll_unstable`` before ``nll``)."""
    words = {}
    for item in manifest.load("modules").items.values():
        words[item.name.lower()] = item.name
        words[item.grader.removeprefix("test_")] = item.name
    return dict(sorted(words.items(), key=lambda pair: -len(pair[0])))


def items_named_in(text, words):
    """The items whose words appear in ``text`` as whole ``_``-separated words."""
    found, text = set(), f"_{re.sub(r'[^a-z0-9]+', '_', text.lower())}_"
    for word, item in words.items():
        if f"_{word}_" in text:
            found.add(item)
            text = text.replace(f"_{word}_", "__")  # a longer name is not matched again by a shorter one
    return found


def pytest_configure(config):
    for item in manifest.load("modules").items.values():
        config.addinivalue_line("markers", f"{item.name}: tests about the graded item {item.name}")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    words = item_words()
    for test in items:
        named = items_named_in(f"{test.path.stem} {test.name}", words)
        for name in sorted(named - {mark.name for mark in test.iter_markers()}):
            test.add_marker(getattr(pytest.mark, name))
