"""The final model of training.ipynb: its accuracy on held-out digits.

The held-out digits are the assignment's private set (``autograder.heldout``): images that no
public data set holds, so a model cannot look their labels up. The images go to the worker;
their labels never leave this process, where the predictions are scored. Partial credit
comes from three marks: 80%, 90% and 95%. Without a held-out set the tests fail as a
grader error for the instructor; they never fall back to public data.
"""
import numpy as np

from autograder import heldout
from autograder.checks import expect, fail
from autograder.i18n import _
from autograder.student import StudentFailure, as_array

MARKS = (0.80, 0.90, 0.95)


def held_out_digits():
    """The private held-out set of the assignment being graded: ``(images, labels)``."""
    held_out = heldout.current()
    return held_out.images, held_out.targets


def model_accuracy(submission):
    if "accuracy" not in submission.cache:
        submission.cache["accuracy"] = measure(submission)
    result = submission.cache["accuracy"]
    if isinstance(result, StudentFailure):
        raise result
    return result


def measure(submission):
    X, y = held_out_digits()
    try:
        try:
            model = submission.variable("model")
        except StudentFailure as failure:
            if "NameError" in str(failure):
                fail("model_missing", _("The final model"))
            raise
        model.evaluate()
        scores = as_array(model.call("forward", X), "model.forward")
        expect(scores.shape == (len(X), 10), "wrong_shape", _("model.forward on the held-out digits"),
               _("Expected scores of shape {expected} (one row per image, one column per class), got {shape}.",
                 expected=(len(X), 10), shape=scores.shape))
        expect(bool(np.all(np.isfinite(scores))), "nonfinite", _("model.forward on the held-out digits"))
        return float(np.mean(scores.argmax(axis=1) == y))
    except StudentFailure as failure:
        return failure


def check_mark(submission, mark):
    accuracy = model_accuracy(submission)
    expect(accuracy >= mark, "low_accuracy", _("Accuracy on {count} held-out digits", count=len(held_out_digits()[1])),
           _("It is {accuracy:.1%}; this mark needs {mark:.0%}.", accuracy=accuracy, mark=mark))


def test_accuracy_80(submission):
    """the final model classifies at least 80% of held-out digits correctly"""
    check_mark(submission, MARKS[0])


def test_accuracy_90(submission):
    """the final model classifies at least 90% of held-out digits correctly"""
    check_mark(submission, MARKS[1])


def test_accuracy_95(submission):
    """the final model classifies at least 95% of held-out digits correctly"""
    check_mark(submission, MARKS[2])
