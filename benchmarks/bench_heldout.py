"""The held-out set of the final model: how much harder it is for an honest model, and what a
lookup of the public digits still gets.

Trains eight MLPs as the course's training notebook does (``TRAINING_CODE`` of the graders:
Linear(64, 128), ReLU, Linear(128, 10), LogSoftMax, SGD with momentum, 30 epochs, the
course's split; eight initialisations), then compares, for each, the accuracy on the public
test split with the accuracy on three held-out sets made as ``autograder heldout`` makes
them (fresh private randomness each), and on one made from an MNIST-style IDX file that is
drawn from the test split (MNIST itself cannot be downloaded here). Then the lookups: an
exact (hash) lookup of the public digits, a nearest-neighbour lookup over all public
digits, and, for comparison, a nearest-neighbour classifier of the training split only.

Run: ``.venv/bin/python benchmarks/bench_heldout.py`` (about a minute).
"""
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import reference_impl as R  # noqa: E402
from autograder import heldout  # noqa: E402
from reference_impl.data import iterate_minibatches, load_digits, one_hot  # noqa: E402
from reference_impl.training import accuracy  # noqa: E402
from tests.helpers import mnist_style, write_mnist  # noqa: E402

MODELS = 8
SETS = 3


def train(seed, X_train, y_train):
    """The final model as the course's notebook trains it, with initialisation ``seed``."""
    np.random.seed(seed)
    model = R.Sequential()
    for layer in (R.Linear(64, 128), R.ReLU(), R.Linear(128, 10), R.LogSoftMax()):
        model.add(layer)
    criterion, config, state = R.ClassNLLCriterion(), {"learning_rate": 0.05, "momentum": 0.9}, {}
    for epoch in range(30):
        for x, y in iterate_minibatches(X_train, one_hot(y_train, 10), 32, rng=epoch + 1000 * seed):
            model.zeroGradParameters()
            prediction = model.forward(x)
            criterion.forward(prediction, y)
            model.backward(x, criterion.backward(prediction, y))
            R.sgd_momentum(model.getParameters(), model.getGradParameters(), config, state)
    return model


def line(name, values):
    values = np.asarray(values)
    print(f"{name:44s} min {values.min():6.1%}  mean {values.mean():6.1%}  max {values.max():6.1%}")


def lookups(held_out, everything, labels_everything, X_train, y_train):
    from sklearn.neighbors import KNeighborsClassifier

    known = {row.tobytes(): label for row, label in zip(everything, labels_everything)}
    exact = np.mean([known.get(row.tobytes(), -1) == label for row, label in zip(held_out.counts, held_out.labels)])
    nearest_public = KNeighborsClassifier(1).fit(everything, labels_everything).predict(held_out.counts)
    nearest_train = KNeighborsClassifier(1).fit(np.rint(X_train * 16), y_train).predict(held_out.counts)
    distance = np.abs(held_out.counts[:, None, :].astype(int) - everything[None, :, :].astype(int)).sum(-1).min(1)
    return exact, np.mean(nearest_public == held_out.labels), np.mean(nearest_train == held_out.labels), distance


def main():
    from sklearn.datasets import load_digits as sklearn_digits

    X_train, y_train, X_test, y_test = load_digits()
    models = [train(seed, X_train, y_train) for seed in range(MODELS)]
    public = [accuracy(model, X_test, y_test) for model in models]
    line("public test split (360)", public)
    sets = [heldout.make_from_digits() for _ in range(SETS)]
    drops = []
    for i, held_out in enumerate(sets):
        scores = [accuracy(model, held_out.images, held_out.targets) for model in models]
        drops += list(np.array(public) - scores)
        line(f"held-out set {i + 1} from the digits ({len(held_out)})", scores)
    line("drop from public to held-out (per model and set)", drops)
    with tempfile.TemporaryDirectory() as folder:
        write_mnist(Path(folder), mnist_style(np.rint(X_test * 16)), y_test)
        from_mnist = heldout.make_from_mnist(folder)
    line(f"held-out set from MNIST-style IDX ({len(from_mnist)})",
         [accuracy(model, from_mnist.images, from_mnist.targets) for model in models])
    digits = sklearn_digits()
    everything, labels = digits.data.astype(np.uint8), digits.target
    for name, held_out in [("set 1 from the digits", sets[0]), ("set from MNIST-style IDX", from_mnist)]:
        exact, nearest_public, nearest_train, distance = lookups(held_out, everything, labels, X_train, y_train)
        print(f"\n{name}: exact lookup of the public digits finds {exact:.1%}; 1-NN over all 1797 public digits "
              f"{nearest_public:.1%}; 1-NN over the training split only {nearest_train:.1%}")
        print(f"  L1 distance (in counts) to the nearest public digit: min {distance.min()}, "
              f"1% {np.quantile(distance, 0.01):g}, median {np.median(distance):g}")


if __name__ == "__main__":
    main()
