"""The private reference implementation of every module, criterion and optimizer.

Torch7 "legacy" API: ``updateOutput`` / ``updateGradInput`` / ``accGradParameters``.
The graders trust these classes as ground truth; students never see them.
"""
from .activations import ELU, LeakyReLU, LogSoftMax, ReLU, SoftMax, SoftPlus
from .base import Criterion, Module
from .containers import Sequential
from .convolution import Conv2d, MaxPool2d
from .criterions import (
    ClassContrastiveCriterion,
    ClassNLLCriterion,
    ClassNLLCriterionUnstable,
    MSECriterion,
)
from .linear import Linear
from .normalization import BatchNormalization, ChannelwiseScaling
from .optimizers import adam_optimizer, sgd_momentum
from .regularization import Dropout
from .shape import Flatten

__all__ = [
    "Module", "Criterion", "Sequential", "Linear", "SoftMax", "LogSoftMax",
    "BatchNormalization", "ChannelwiseScaling", "Dropout", "ReLU", "LeakyReLU", "ELU",
    "SoftPlus", "Flatten", "MSECriterion", "ClassNLLCriterionUnstable", "ClassNLLCriterion",
    "ClassContrastiveCriterion", "sgd_momentum", "adam_optimizer", "Conv2d", "MaxPool2d",
]
