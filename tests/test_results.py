"""The typed result of one grading: built from outcomes, written and read back as results.json,
refused when malformed, and rendered as feedback and as Gradescope's results."""
import json

import pytest

from autograder import manifest
from autograder.results import BatchStamp, MalformedResults, SubmissionResult
from autograder.runner import TestOutcome

ASSIGNMENT = manifest.load("modules").main_only()


class Cell:
    def __init__(self, name, ok, error=None):
        self.name, self.ok, self.error, self.seconds = name, ok, error, 0.25


def built(failures=(), error=None):
    """Every test passes but ``failures`` ((item, test) pairs, diagnosed ``wrong_values``)."""
    outcomes = [TestOutcome(item.name, key, (item.name, key) not in failures,
                        "" if (item.name, key) not in failures else f"{item.name}.{key} is off <b>here</b>",
                        None if (item.name, key) not in failures else "wrong_values", f"the {key} test")
                for item in ASSIGNMENT.items.values() for key in item.tests]
    info = {"cells": [Cell("modules.ipynb, cell 1", True), Cell("modules.ipynb, cell 2", False, "NameError: x")],
            "dialect": "snake", "isolation": "full", "process_limit": "cgroup", "worker_user": "unprivileged",
            "restarts": 1, "error": error, "seconds": 2.5}
    return SubmissionResult.build(ASSIGNMENT, outcomes, info)


def test_a_built_result_sums_its_tests_and_its_items():
    result = built(failures=[("Linear", "forward"), ("Linear", "accumulates")])
    linear = ASSIGNMENT.items["Linear"]
    lost = linear.tests["forward"] + linear.tests["accumulates"]
    assert result.score == ASSIGNMENT.max_score - lost and result.max_score == ASSIGNMENT.max_score
    assert result.items["Linear"].score == linear.max_score - lost and not result.items["Linear"].full
    assert all(score.full for name, score in result.items.items() if name != "Linear")
    assert [(d.item, d.test, d.diagnosis) for d in result.diagnoses] == [
        ("Linear", "forward", "wrong_values"), ("Linear", "accumulates", "wrong_values")]
    assert [c.name for c in result.failed_cells] == ["modules.ipynb, cell 2"]
    assert "<b>" not in result.tests_of("Linear")[0].output  # student text is sanitized on the way in
    assert result.status == "graded" and built(error="not a notebook").status == "failed"


def test_json_round_trip_keeps_every_field():
    result = built(failures=[("SoftMax", "stable")])
    result.stamp = BatchStamp("bob", "Bob", "bob.ipynb", "abc")
    data = json.loads(json.dumps(result.to_json()))
    assert SubmissionResult.from_json(data, ASSIGNMENT) == result
    assert data["extra_data"]["fingerprint"] == "abc" and data["tests"][0]["extra_data"]["test"] == "forward"
    assert "fingerprint" not in built().to_json()["extra_data"]  # unstamped: no batch fields


@pytest.mark.parametrize("forge", [
    lambda d: d.update(score=d["score"] + 1),  # a total that is not the sum of the tests
    lambda d: d["tests"][0].update(score=d["tests"][0]["max_score"] + 1),  # more points than the test is worth
    lambda d: d["tests"][0].update(status="maybe"),
    lambda d: d["tests"][0].pop("tags"),
    lambda d: d["extra_data"].update(assignment="another"),
    lambda d: d["extra_data"]["items"].update(Unknown={"score": 0, "max_score": 1}),
    lambda d: d["extra_data"].update(cells=[{"name": 1, "ok": True}]),
    lambda d: d["extra_data"].update(diagnoses=[{"item": "Linear"}]),
    lambda d: d["extra_data"].update(error=["not", "text"]),
    lambda d: d["extra_data"].update(fingerprint=7, submission="bob", file="bob.ipynb"),
    lambda d: d.update(score=float("nan")),
])
def test_malformed_results_are_refused(forge):
    data = json.loads(json.dumps(built().to_json()))
    forge(data)
    with pytest.raises(MalformedResults):
        SubmissionResult.from_json(data, ASSIGNMENT)


def test_feedback_names_the_failed_checks_once_and_the_failed_cells():
    result = built(failures=[("Linear", "forward")])
    text = result.to_markdown()
    assert text.startswith(f"# Feedback: {ASSIGNMENT.name}") and f"**Total: {result.score:g} /" in text
    assert "## ✗ Linear:" in text and "## ✓ SoftMax:" in text
    assert text.count("Linear.forward is off") == 1 and "modules.ipynb, cell 2: NameError: x" in text


def test_gradescope_results_keep_the_tests_and_their_sum():
    result = built(failures=[("Linear", "forward")])
    gradescope = result.to_gradescope(ASSIGNMENT, seconds=3.0)
    tests = [t for t in gradescope["tests"] if t.get("max_score")]
    assert len(tests) == len(result.tests) and sum(t["score"] for t in tests) == result.score
