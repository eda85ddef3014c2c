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
    (ref.Linear(4, 3), (5, 4)), (ref.SoftMax(), (3, 4)), (ref.LogSoftMax(), (3, 4)), (ref.BatchNormalization(0.5), (6, 3)),
    (ref.Dropout(0.3), (4, 5)), (ref.LeakyReLU(), (3, 3)), (ref.ELU(), (3, 3)), (ref.SoftPlus(), (3, 3)),
    (ref.Conv2d(2, 3, 3), (2, 2, 4, 4)), (ref.MaxPool2d(2), (1, 2, 4, 4)), (ref.ChannelwiseScaling(3), (4, 3)),
], ids=repr)
def test_correct_layers_pass(layer, shape, capsys):
    assert selfcheck.check_layer(layer, shape) is True
    assert "all checks passed" in capsys.readouterr().out


def test_criterions_pass(capsys):
    targets = np.eye(3)[[0, 1, 2, 0]]
    assert selfcheck.check_criterion(ref.MSECriterion(), (4, 3), np.zeros((4, 3)))
    assert selfcheck.check_criterion(ref.ClassNLLCriterion(), (4, 3), targets)
    assert selfcheck.check_criterion(ref.ClassNLLCriterionUnstable(), (4, 3), targets, positive=True)


def test_a_stub_says_not_implemented_without_a_traceback(capsys):
    class Stub(ref.Linear):
        def updateOutput(self, input):
            raise NotImplementedError

    assert selfcheck.check_layer(Stub(4, 3), (5, 4)) is False
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "Traceback" not in out


def test_a_wrong_gradient_is_marked(capsys):
    class Wrong(ref.Linear):
        def accGradParameters(self, input, gradOutput):
            self.gradW += 2 * gradOutput.T @ input
            self.gradb += gradOutput.sum(axis=0)

    assert selfcheck.check_layer(Wrong(4, 3), (5, 4)) is False
    assert "FAIL" in capsys.readouterr().out


def test_a_loss_not_averaged_over_the_batch_is_marked(capsys):
    class Summed(ref.MSECriterion):
        def updateOutput(self, input, target):
            self.output = np.sum((input - target) ** 2)
            return self.output

        def updateGradInput(self, input, target):
            self.gradInput = 2 * (input - target)
            return self.gradInput

    assert selfcheck.check_criterion(Summed(), (4, 3), np.zeros((4, 3))) is False


def test_it_holds_no_reference_and_no_answers():
    text = PATH.read_text()
    assert "reference_impl" not in text and "autograder" not in text
