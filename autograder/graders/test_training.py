"""The final model of training.ipynb: its accuracy on held-out digits.

The held-out images go to the worker; their labels never leave this process, where the
predictions are scored. Partial credit comes from three marks: 80%, 90% and 95%.
"""
import numpy as np

from autograder.checks import expect, fail
from autograder.student import StudentFailure, as_array
from reference_impl.data import load_digits


def held_out_digits():
    """The test split of the digits that the course's default split leaves out of training."""
    _, _, X_test, y_test = load_digits(test_size=0.2, seed=0)
    return X_test, y_test


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
                fail("model_missing", "The final model")
            raise
        model.evaluate()
        scores = as_array(model.call("forward", X), "model.forward")
        expect(scores.shape == (len(X), 10), "wrong_shape", "model.forward on the held-out digits",
               f"Expected scores of shape {(len(X), 10)} (one row per image, one column per class), got {scores.shape}.")
        expect(bool(np.all(np.isfinite(scores))), "nonfinite", "model.forward on the held-out digits")
        return float(np.mean(scores.argmax(axis=1) == y))
    except StudentFailure as failure:
        return failure


def check_mark(submission, mark):
    accuracy = model_accuracy(submission)
    expect(accuracy >= mark, "low_accuracy", f"Accuracy on {len(held_out_digits()[1])} held-out digits",
           f"It is {accuracy:.1%}; this mark needs {mark:.0%}.")


def test_accuracy_80(submission):
    """the final model classifies at least 80% of held-out digits correctly"""
    check_mark(submission, 0.80)


def test_accuracy_90(submission):
    """the final model classifies at least 90% of held-out digits correctly"""
    check_mark(submission, 0.90)


def test_accuracy_95(submission):
    """the final model classifies at least 95% of held-out digits correctly"""
    check_mark(submission, 0.95)
