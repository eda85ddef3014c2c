"""Fixtures of the graders.

``submission`` is the student's running submission when ``autograder grade`` runs the graders;
run on their own (``pytest autograder/graders``) they grade the reference itself, run through
the sandbox as if it were a submission, so every test must pass.
"""
import tempfile
from pathlib import Path

import numpy as np
import pytest

import reference_impl
from autograder.runner import SUBMISSION_KEY, open_submission
from autograder.selftest.reference_submission import write_reference_submission


@pytest.fixture(scope="session")
def submission(request):
    provided = request.config.stash.get(SUBMISSION_KEY, None)
    if provided is not None:
        return provided
    folder = tempfile.TemporaryDirectory()
    request.addfinalizer(folder.cleanup)
    path = write_reference_submission(Path(folder.name) / "reference.py")
    running = open_submission(path)
    request.addfinalizer(running.close)
    return running.submission


@pytest.fixture(autouse=True)
def fresh_test(request):
    """Each test starts with no recorded input mutations and a fixed NumPy seed."""
    if "submission" in request.fixturenames:
        request.getfixturevalue("submission").mutations.clear()
    np.random.seed(0)


@pytest.fixture
def ref():
    return reference_impl


@pytest.fixture
def rng():
    return np.random.default_rng(2024)
