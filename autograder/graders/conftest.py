"""Fixtures of the graders.

``submission`` is the student's running submission when ``autograder grade`` runs the graders;
run on their own (``pytest autograder/graders``) they grade the reference itself, run through
the sandbox as if it were a submission, so every test must pass (the final model on the
course's held-out set, made on first use as ``autograder grade`` does).
"""
import tempfile
from pathlib import Path

import numpy as np
import pytest

import reference_impl
from autograder import heldout, i18n, manifest
from autograder.graders.support import RNG_SEED
from autograder.grading_session import SUBMISSION_KEY
from autograder.runner import open_submission
from autograder.selftest.reference_submission import write_reference_submission

# What a student's training notebook ends with: a model trained on the digits, in `model`.
TRAINING_CODE = """
from datasets import iterate_minibatches, load_digits, one_hot

X_train, y_train, X_test, y_test = load_digits()
np.random.seed(0)
model = Sequential()
for layer in (Linear(64, 128), ReLU(), Linear(128, 10), LogSoftMax()):
    model.add(layer)
criterion, config, state = ClassNLLCriterion(), {"learning_rate": 0.05, "momentum": 0.9}, {}
for epoch in range(30):
    for x, y in iterate_minibatches(X_train, one_hot(y_train, 10), 32, rng=epoch):
        model.zeroGradParameters()
        prediction = model.forward(x)
        criterion.forward(prediction, y)
        model.backward(x, criterion.backward(prediction, y))
        sgd_momentum(model.getParameters(), model.getGradParameters(), config, state)
"""


@pytest.fixture(scope="module")
def submission(request):
    provided = request.config.stash.get(SUBMISSION_KEY, None)
    if provided is not None:
        return provided
    folder = tempfile.TemporaryDirectory()
    request.addfinalizer(folder.cleanup)
    path = write_reference_submission(Path(folder.name) / "reference.py")
    if request.module.__name__.endswith("test_training"):
        path.write_text(path.read_text() + TRAINING_CODE)
    running = open_submission(path, course_files=manifest.load("modules").course_files)
    request.addfinalizer(running.close)
    return running.submission


@pytest.fixture(scope="module", autouse=True)
def graded_assignment(request):
    """Run on their own, the graders judge the final model on the course's held-out set, made on
    first use as ``autograder grade`` makes it; run by ``autograder grade``, on the one it gives."""
    if request.config.stash.get(SUBMISSION_KEY, None) is not None:
        yield None
        return
    assignment = manifest.load("modules")
    heldout.ensure(assignment, say=heldout.say_on_stderr)
    with heldout.grading(assignment):
        yield assignment


@pytest.fixture(autouse=True)
def fresh_test(request):
    """Each test starts with no recorded input mutations and a fixed NumPy seed, and its messages
    name the code in the submission's dialect (``i18n.dialect``)."""
    naming = None
    if "submission" in request.fixturenames:
        submission = request.getfixturevalue("submission")
        submission.mutations.clear()
        naming = submission.dialect
    np.random.seed(0)
    with i18n.dialect(naming):
        yield


@pytest.fixture
def ref():
    return reference_impl


@pytest.fixture
def rng():
    return np.random.default_rng(RNG_SEED)
