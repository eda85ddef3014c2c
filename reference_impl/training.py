"""Train a small MLP built from the reference modules: the training loop of the course."""
from dataclasses import dataclass, field

import numpy as np

from .activations import LogSoftMax, ReLU
from .containers import Sequential
from .criterions import ClassNLLCriterion
from .data import iterate_minibatches, load_digits, one_hot
from .linear import Linear
from .optimizers import sgd_momentum


@dataclass
class TrainingResult:
    model: Sequential
    test_accuracy: float
    losses: list = field(default_factory=list)


def accuracy(model, X, y):
    """Share of rows whose highest-scoring class is the label."""
    model.evaluate()
    return float(np.mean(model.forward(X).argmax(axis=1) == y))


def train_digits_mlp(n_epochs=30, batch_size=32, hidden=128, seed=0, verbose=False):
    """Train ``Linear -> ReLU -> Linear -> LogSoftMax`` with SGD-momentum on the digits."""
    np.random.seed(seed)
    X_train, y_train, X_test, y_test = load_digits(seed=seed)
    Y_train = one_hot(y_train, 10)

    model = Sequential()
    model.add(Linear(X_train.shape[1], hidden))
    model.add(ReLU())
    model.add(Linear(hidden, 10))
    model.add(LogSoftMax())
    criterion = ClassNLLCriterion()
    config, state = {"learning_rate": 0.05, "momentum": 0.9}, {}

    rng = np.random.default_rng(seed)
    losses = []
    for epoch in range(n_epochs):
        model.train()
        for x_batch, y_batch in iterate_minibatches(X_train, Y_train, batch_size, rng=rng):
            model.zeroGradParameters()
            predictions = model.forward(x_batch)
            loss = criterion.forward(predictions, y_batch)
            model.backward(x_batch, criterion.backward(predictions, y_batch))
            sgd_momentum(model.getParameters(), model.getGradParameters(), config, state)
            losses.append(float(loss))
        if verbose and (epoch + 1) % 5 == 0:
            print(f"epoch {epoch + 1:3d}: training loss {np.mean(losses[-10:]):.4f}")
    return TrainingResult(model, accuracy(model, X_test, y_test), losses)
