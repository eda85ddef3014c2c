"""The ``autograder`` command."""
import argparse
import json
import os
import sys
from pathlib import Path


def _demo(args):
    """Grade the bundled example submissions and show what a student reads."""
    examples = Path(__file__).resolve().parent.parent / "examples" / "submissions"
    out = Path(args.out)
    status = _grade(argparse.Namespace(assignment="modules", paths=[str(examples)], out=str(out), json=False))
    for name in args.show:
        feedback = out / name / "feedback.md"
        if feedback.is_file():
            print(f"\n{'=' * 30} {feedback} {'=' * 30}\n")
            print(feedback.read_text())
    return status


def _train_digits(args):
    from reference_impl.training import train_digits_mlp

    result = train_digits_mlp(n_epochs=args.epochs, seed=args.seed, verbose=True)
    print(f"Reference MLP on the scikit-learn digits: test accuracy {result.test_accuracy:.2%}")
    return 0


def _grade(args):
    from . import manifest
    from .results import build_results, write_submission_results
    from .runner import grade
    from .submissions import discover

    assignment = manifest.load(args.assignment)
    submissions = discover(args.paths, assignment)
    if not submissions:
        print("No submissions found in the given paths.", file=sys.stderr)
        return 1
    out = Path(args.out)
    quiet = args.json
    rows = []
    for sub in submissions:
        outcomes, info = grade(assignment, sub.files(assignment))
        results = build_results(assignment, outcomes, info)
        results["extra_data"]["submission"] = sub.name
        results["extra_data"]["student"] = sub.student
        results["extra_data"]["file"] = str(sub.path)
        write_submission_results(out / sub.name, results)
        rows.append((sub.name, results))
        if not quiet:
            print(f"{sub.name:30s} {results['score']:7.2f} / {results['max_score']:g}"
                  f"   {info.get('seconds', 0):5.1f} s   {info.get('dialect') or '-'}", file=sys.stderr)
    if args.json:
        if len(rows) != 1:
            print("--json needs exactly one submission", file=sys.stderr)
            return 2
        print(json.dumps(rows[0][1], indent=2))
    else:
        print_summary(assignment, rows, out)
    return 0


def _selftest(args):
    import dataclasses

    from . import manifest
    from .selftest.bank import load_mutants, run_all

    assignment = manifest.load(args.assignment)
    if args.items:
        unknown = set(args.items) - set(assignment.items)
        if unknown:
            print(f"unknown items: {sorted(unknown)}", file=sys.stderr)
            return 2
        assignment = dataclasses.replace(assignment, items={k: v for k, v in assignment.items.items() if k in args.items})
    mutants = [m for m in load_mutants() if m.item in assignment.items and (not args.only or m.id in args.only)]
    verdicts = run_all(assignment, mutants, include_alternatives=not args.only, jobs=args.jobs)
    failed = [v for v in verdicts if not v.ok]
    for verdict in verdicts:
        print(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.name}")
        for problem in verdict.problems if not verdict.ok else []:
            print(f"       {problem}")
    print(f"{len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _release(args):
    from .release import release

    report = release(args.assignment, quick=args.quick)
    return 0 if report.ok else 1


def print_summary(assignment, rows, out):
    items = list(assignment.items)
    header = ["submission"] + items + ["total"]
    table = [header]
    for name, results in rows:
        per_item = results["extra_data"]["items"]
        table.append([name] + [f"{per_item[i]['score']:g}/{per_item[i]['max_score']:g}" for i in items]
                     + [f"{results['score']:g}/{results['max_score']:g}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print(f"\nResults and feedback written to {out}/<submission>/")


def build_parser():
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="grade the bundled example submissions")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.add_argument("--show", nargs="*", default=["bob", "erin"], help="submissions whose feedback to print")
    demo.set_defaults(run=_demo)

    train = commands.add_parser("train-digits", help="train the reference MLP on the bundled digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=_train_digits)

    grade = commands.add_parser("grade", help="grade submissions in the sandbox")
    grade.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    grade.add_argument("paths", nargs="+", help="notebooks, .py files, or folders of them")
    grade.add_argument("--out", default="graded", help="output folder (default: graded)")
    grade.add_argument("--json", action="store_true", help="print the one submission's results.json to stdout")
    grade.set_defaults(run=_grade)

    release = commands.add_parser("release", help="validate the instructor notebooks and generate the student release")
    release.add_argument("assignment")
    release.add_argument("--quick", action="store_true", help="grade only the main notebook's solutions")
    release.set_defaults(run=_release)

    selftest = commands.add_parser("selftest", help="check the graders: reference, stub, mutants, alternatives")
    selftest.add_argument("assignment", nargs="?", default="modules")
    selftest.add_argument("--items", nargs="+", help="only these items (the manifest restricted to them)")
    selftest.add_argument("--only", nargs="+", help="only these mutants (and the reference and stub)")
    selftest.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel gradings")
    selftest.set_defaults(run=_selftest)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)
