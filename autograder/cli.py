"""The ``autograder`` command."""
import argparse


def _demo(args):
    from reference_impl.training import train_digits_mlp

    result = train_digits_mlp(n_epochs=args.epochs, seed=args.seed, verbose=True)
    print(f"Reference MLP on the scikit-learn digits: test accuracy {result.test_accuracy:.2%}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="train the reference MLP on the bundled digits")
    demo.add_argument("--epochs", type=int, default=30)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)
