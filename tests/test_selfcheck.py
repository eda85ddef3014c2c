"""The students' self-check module: readable tables, no reference inside, kind to stubs."""
import importlib.util

import numpy as np
import pytest

import reference_impl as ref
from autograder import manifest

PATH = manifest.SOURCE_NOTEBOOKS / "modules" / "selfcheck.py"
spec = importlib.util.spec_from_file_location("selfcheck", PATH)
selfcheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(selfcheck)


@pytest.mark.parametrize("layer,shape", [
    (ref.Linear(4, 3), (5, 4)), (ref.SoftMax(), (3, 4)), (ref.LogSoftMax(), (3, 4)),
    (ref.BatchNormalization(0.5), (6, 3)),
    (ref.Dropout(0.3), (4, 5)), (ref.LeakyReLU(), (3, 3)), (ref.ELU(), (3, 3)), (ref.SoftPlus(), (3, 3)),
    (ref.Conv2d(2, 3, 3), (2, 2, 4, 4)), (ref.MaxPool2d(2), (1, 2, 4, 4)), (ref.ChannelwiseScaling(3), (4, 3)),
], ids=repr)
def test_correct_layers_pass(layer, shape, capsys):
    assert selfcheck.layer_table(layer, shape).passed
    selfcheck.check_layer(layer, shape)
    assert "all checks passed" in capsys.readouterr().out


def test_criterions_pass(capsys):
    targets = np.eye(3)[[0, 1, 2, 0]]
    assert selfcheck.criterion_table(ref.MSECriterion(), (4, 3), np.zeros((4, 3))).passed
    assert selfcheck.criterion_table(ref.ClassNLLCriterion(), (4, 3), targets).passed
    assert selfcheck.criterion_table(ref.ClassNLLCriterionUnstable(), (4, 3), targets, positive=True).passed


def test_a_stub_says_not_implemented_without_a_traceback(capsys):
    class Stub(ref.Linear):
        def updateOutput(self, input):
            raise NotImplementedError

    assert not selfcheck.layer_table(Stub(4, 3), (5, 4)).passed
    selfcheck.check_layer(Stub(4, 3), (5, 4))
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Traceback" not in out


def test_a_wrong_gradient_is_marked(capsys):
    class Wrong(ref.Linear):
        def accGradParameters(self, input, gradOutput):
            self.gradW += 2 * gradOutput.T @ input
            self.gradb += gradOutput.sum(axis=0)

    assert not selfcheck.layer_table(Wrong(4, 3), (5, 4)).passed
    selfcheck.check_layer(Wrong(4, 3), (5, 4))
    assert "FAIL" in capsys.readouterr().out


def test_a_loss_not_averaged_over_the_batch_is_marked(capsys):
    class Summed(ref.MSECriterion):
        def updateOutput(self, input, target):
            self.output = np.sum((input - target) ** 2)
            return self.output

        def updateGradInput(self, input, target):
            self.gradInput = 2 * (input - target)
            return self.gradInput

    table = selfcheck.criterion_table(Summed(), (4, 3), np.zeros((4, 3)))
    assert not table.passed and ("loss is an average over the batch", False) in [row[:2] for row in table.rows]


def test_it_holds_no_reference_and_no_answers():
    text = PATH.read_text()
    assert "reference_impl" not in text and "autograder" not in text


class TransposedBackward(ref.Linear):
    """The most common bug: ``gradOutput @ W.T`` instead of ``gradOutput @ W``, a shape mismatch."""

    def updateGradInput(self, input, gradOutput):
        self.gradInput = gradOutput @ self.W.T
        return self.gradInput


def test_an_exception_in_backward_is_a_row_of_the_table_with_the_shapes(capsys):
    selfcheck.check_layer(TransposedBackward(4, 3), (5, 4))
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.strip().startswith("backward"))
    assert "FAIL" in row and "raised ValueError" in row, out
    assert "TransposedBackward.updateGradInput" in out and "gradOutput @ self.W.T" in out, out
    assert "gradOutput (5, 3)" in out and "self.W (3, 4)" in out, out
    assert "Traceback" not in out and "selfcheck" not in out and "-> see the lines marked FAIL" in out


def test_an_exception_in_a_property_check_is_a_row_of_its_table(capsys):
    def properties():
        layer = TransposedBackward(4, 3)
        x = np.ones((5, 4))
        layer.forward(x)
        layer.backward(x, np.ones((5, 3)))
        return [("never reached", True)]

    selfcheck.property_check("Properties of Linear", properties)
    out = capsys.readouterr().out
    assert "TransposedBackward.updateGradInput" in out and "FAIL" in out and "raised ValueError" in out, out
    assert "Traceback" not in out


def test_a_stub_in_a_property_check_names_the_method(capsys):
    class Stub(ref.Linear):
        def accGradParameters(self, input, gradOutput):
            raise NotImplementedError()

    def properties():
        layer = Stub(4, 3)
        layer.backward(np.ones((5, 4)), np.ones((5, 3)))
        return [("never reached", True)]

    selfcheck.property_check("Properties of Linear", properties)
    out = capsys.readouterr().out
    assert "Stub.accGradParameters" in out and "not implemented yet" in out, out


def test_the_checks_echo_no_value_in_a_notebook(capsys):
    """A cell's last expression is echoed under its output: the printing checks return None, and
    the tables say whether they passed."""
    targets = np.eye(3)[[0, 1, 2, 0]]
    assert selfcheck.check_layer(ref.Linear(4, 3), (5, 4)) is None
    assert selfcheck.check_criterion(ref.MSECriterion(), (4, 3), np.zeros((4, 3))) is None
    assert selfcheck.property_check("Properties", lambda: [("one", True), ("two", False)]) is None
    assert selfcheck.layer_table(ref.Linear(4, 3), (5, 4)).passed is True
    assert selfcheck.layer_table(TransposedBackward(4, 3), (5, 4)).passed is False
    assert selfcheck.criterion_table(ref.ClassNLLCriterion(), (4, 3), targets).passed is True
    assert selfcheck.property_table("", lambda: [("one", True), ("two", False)]).passed is False
    assert capsys.readouterr().out.count("Self-check of") == 2


def test_stubs_are_found_in_classes_and_functions():
    class Half(ref.Linear):
        def updateGradInput(self, input, gradOutput):
            # YOUR CODE HERE
            raise NotImplementedError()

        def accGradParameters(self, input, gradOutput):
            """Docstring first."""
            raise NotImplementedError

    def optimizer(params, grads, config, state):
        raise NotImplementedError()

    assert selfcheck.stubs_in(Half) == ["updateGradInput", "accGradParameters"]
    assert selfcheck.stubs_in(optimizer) == ["optimizer"]
    assert selfcheck.stubs_in(ref.Linear) == [] and selfcheck.stubs_in(ref.sgd_momentum) == []


def test_unfinished_speaks_only_under_nbgrader_validate(monkeypatch, capsys):
    class Half(ref.Linear):
        def accGradParameters(self, input, gradOutput):
            raise NotImplementedError()

    cell = 'unfinished("Half"); unfinished("Linear"); unfinished("Done")'
    namespace = {"Half": Half, "Done": ref.Linear, "unfinished": selfcheck.unfinished}
    exec(cell, namespace)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("NBGRADER_VALIDATING", "1")
    exec(cell, namespace)
    err = " ".join(capsys.readouterr().err.split())
    assert "Half is not finished: accGradParameters still raises NotImplementedError." in err
    assert "Linear is not defined" in err and "Done" not in err


def test_progress_says_what_is_written_what_is_a_stub_and_what_is_missing(capsys):
    class Stub(ref.Linear):
        def updateOutput(self, input):
            raise NotImplementedError()

    exec('show_progress("Basic track", ["Linear", "Stub", "Missing"])',
         {"Linear": ref.Linear, "Stub": Stub, "show_progress": selfcheck.show_progress})
    out = capsys.readouterr().out
    assert "Basic track: 1 of 3 written." in out
    assert "written:     Linear" in out and "still stubs: Stub" in out and "not defined: Missing" in out
