"""A student's score never depends on how busy the grading machine is: grading the reference
and the slow-but-legal alternative solutions while other processes keep every core busy gives
the same scores as grading them beside no such load."""
import dataclasses
import multiprocessing
import os

import pytest

from autograder import manifest
from autograder.selftest.bank import alternative_text, alternatives, grade_source
from autograder.selftest.reference_submission import reference_source

# The items whose tests judge speed, and the solutions that are slow on purpose (loops).
ITEMS = ("Conv2d", "ClassContrastiveCriterion", "MaxPool2d", "SoftMax")
SLOW = ("adv_conv_scipy", "adv_contrastive_broadcast", "adv_maxpool_loops", "act_loops_inplace")


def spin(stop):
    while not stop.is_set():
        pass


def submissions():
    paths = dict(alternatives())
    return [("reference", reference_source())] + [(name, alternative_text(name, paths[name])) for name in SLOW]


def scores(assignment):
    graded = {}
    for name, source in submissions():
        results = grade_source(assignment, source, name)
        graded[name] = {t.name: t.score for t in results.tests}
    return graded


@pytest.fixture(scope="module")
def assignment():
    base = manifest.load("modules")
    return dataclasses.replace(base.main_only(), items={k: base.items[k] for k in ITEMS})


def test_scores_are_the_same_under_full_cpu_load(assignment):
    quiet = scores(assignment)
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    busy = [context.Process(target=spin, args=(stop,), daemon=True) for _ in range(2 * (os.cpu_count() or 1))]
    for process in busy:
        process.start()
    try:
        loaded = scores(assignment)
    finally:
        stop.set()
        for process in busy:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    assert loaded == quiet
    full = {name: sum(tests.values()) for name, tests in quiet.items()}
    assert len(set(full.values())) == 1, full  # every one of them is a correct solution: full marks
