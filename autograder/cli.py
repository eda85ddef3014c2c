"""The ``autograder`` command."""
import argparse
import os
import sys
from pathlib import Path

from . import i18n


def _demo(args):
    """Release, hand in, grade with nbgrader autograde, write feedback: the whole course in one command."""
    from .course_demo import run

    run(args.out)
    return 0

def _lab(args):
    """JupyterLab on a course, for hand grading in formgrader (see ``autograder.lab``)."""
    from .lab import NotACourse, start

    try:
        start(args.course, args.jupyter_args)
    except NotACourse as error:
        print(f"autograder lab: {error}", file=sys.stderr)
        return 2
    return 0  # not reached: JupyterLab replaces this process


def _train_digits(args):
    from reference_impl.training import train_digits_mlp

    result = train_digits_mlp(n_epochs=args.epochs, seed=args.seed, verbose=True)
    print(f"Reference MLP on the scikit-learn digits: test accuracy {result.test_accuracy:.2%}")
    return 0


def _grade(args):
    from . import i18n, manifest
    from .batch import ResultsKeyError, grade_batch
    from .submissions import discover

    assignment = with_language(manifest.load(args.assignment), getattr(args, "lang", None))
    problem = path_problem(args.paths, args.out)
    if problem:
        print(f"autograder grade: {problem}", file=sys.stderr)
        return 2
    problem = heldout_problem(assignment)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    try:
        with i18n.language(assignment.language):  # a refused submission's reason is feedback too
            submissions = discover(args.paths, assignment)
    except OSError as error:
        print(f"autograder grade: {os_error_words(error)}", file=sys.stderr)
        return 2
    if not submissions:
        print("No submissions found in the given paths.", file=sys.stderr)
        return 1
    if args.json and len(submissions) != 1:
        print("--json needs exactly one submission", file=sys.stderr)
        return 2
    out = Path(args.out)
    progress = not args.json and not getattr(args, "quiet", False)
    try:
        report = grade_batch(assignment, submissions, out, jobs=getattr(args, "jobs", None),
                             force=getattr(args, "force", False), scheduler=getattr(args, "dask_scheduler", None),
                             progress=progress)
    except ResultsKeyError as error:
        print(error, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nInterrupted. The results written so far in {out}/ are kept; the same command resumes.",
              file=sys.stderr)
        return 130
    if report.distrusted:
        print(f"{len(report.distrusted)} earlier result(s) failed verification and were regraded: "
              f"{', '.join(name for name, _ in report.distrusted)}", file=sys.stderr)
    errors = [o for o in report.outcomes if o.status == "error"]
    for outcome in errors:
        print(f"\nGrading {outcome.job.name} ({outcome.job.file}) failed; nothing was written for it "
              f"(a rerun retries it):\n{outcome.error}", file=sys.stderr)
    refused = [o for o in report.outcomes if o.status == "refused"]
    for outcome in refused:
        print(f"\nRefused {outcome.job.file}: {outcome.error}", file=sys.stderr)
    if args.json:
        if not report.rows:
            return 1
        # as written, signed
        print((Path(out) / report.rows[0][0] / "results.json").read_text(encoding="utf-8"), end="")
    else:
        print_summary(assignment, report.rows, out)
        counts = {status: report.count(status) for status in ("graded", "skipped", "failed", "error", "refused")}
        print(f"{counts['graded']} graded, {counts['skipped']} unchanged (skipped), "
              f"{counts['failed']} could not be graded (see their feedback), {counts['error']} failed to grade"
              + (f", {counts['refused']} refused (they would share an output folder)" if counts["refused"] else ""))
    return 1 if errors or refused else 0


def with_language(assignment, language):
    """``assignment`` with its feedback in ``language`` (``--lang``), when one is given: the
    language travels with the assignment to the grading processes, and is part of the manifest's
    fingerprint, so results in another language are graded again."""
    import dataclasses

    return dataclasses.replace(assignment, language=language) if language else assignment


def _profile(args):
    from .profiles import ProfileError, generate, names, stale_files

    try:
        for name in args.names or names():
            if args.check:
                stale = stale_files(name)
                print(f"{'STALE' if stale else 'ok   '} source_notebooks/{name}/"
                      + (f": {', '.join(stale)}" if stale else ""))
                if stale:
                    return 1
                continue
            generated = generate(name)
            print(f"Wrote source_notebooks/{name}/: {', '.join(p.name for p in generated.files)}")
            if generated.untranslated:
                print(f"  {len(generated.untranslated)} cells have no translation yet: "
                      f"{', '.join(generated.untranslated)}")
    except ProfileError as error:
        print(error, file=sys.stderr)
        return 2
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
        assignment = dataclasses.replace(assignment,
                                         items={k: v for k, v in assignment.items.items() if k in args.items})
    mutants = [m for m in load_mutants() if m.item in assignment.items and (not args.only or m.id in args.only)]
    verdicts = run_all(assignment, mutants, include_alternatives=not args.only, jobs=args.jobs)
    failed = [v for v in verdicts if not v.ok]
    for verdict in verdicts:
        print(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.name}")
        for problem in verdict.problems if not verdict.ok else []:
            print(f"       {problem}")
    print(f"{len(verdicts) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _gradescope(args):
    from .gradescope_build import build_zip

    path = build_zip(args.assignment, args.out)
    print(f"Wrote {path}: upload it as the assignment's autograder (Configure Autograder > Zip file upload).")
    return 0


def _export(args):
    from . import manifest
    from .export import load_grades, write_csv

    assignment = manifest.load(args.assignment)
    try:
        grades = load_grades(assignment, args.results, args.gradebook, args.nbgrader_assignment)
    except (FileNotFoundError, KeyError) as error:
        print(error.args[0] if error.args else error, file=sys.stderr)
        return 1
    for warning in grades.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    out = args.out or f"{assignment.name}-grades.csv"
    write_csv(grades, out, bom=not args.no_bom)
    if out != "-":
        print(f"Wrote {out}: {len(grades.records)} students, columns: student, {', '.join(grades.columns)}, total",
              file=sys.stderr)
    return 0


def _report(args):
    from . import manifest
    from .report import write_report

    assignment = manifest.load(args.assignment)
    try:
        path = write_report(assignment, args.results, args.out, args.threshold / 100, gradebook=args.gradebook)
    except (FileNotFoundError, KeyError) as error:
        print(error.args[0] if error.args else error, file=sys.stderr)
        return 1
    print(f"Wrote {path}")
    return 0


def path_problem(paths, out):
    """What is wrong with the paths given to ``autograder grade``, in one line, or None: each must
    be a file or a folder, and the output folder may not be a file."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            return f"{raw}: no such file or folder"
        if not (path.is_file() or path.is_dir()):
            return f"{raw} is neither a file nor a folder"
    if Path(out).exists() and not Path(out).is_dir():
        return f"the output folder {out} is a file"
    return None


def os_error_words(error):
    """An OSError as one line: what failed on which path, without Python's traceback."""
    reason = error.strerror or str(error)
    return f"{error.filename}: {reason.lower()}" if error.filename else str(error)


def heldout_problem(assignment):
    """Make the assignment's held-out set on first use and check that it can be read: a
    configuration error stops the command before any submission is graded without it."""
    from . import heldout

    try:
        path = heldout.ensure(assignment, say=heldout.say_on_stderr)
        if assignment.uses_heldout:
            heldout.load(path)
    except (OSError, heldout.HeldOutSetError) as error:
        return f"The held-out set of {assignment.name} cannot be used: {error}"
    return None


def _heldout(args):
    """Make the assignment's private held-out set (see ``autograder.heldout``)."""
    from . import heldout, manifest
    from .graders.test_training import MARKS

    assignment = manifest.load(args.assignment)
    path = heldout.path_of(assignment)
    if path.is_file() and not args.force:
        try:
            about = heldout.load(path).about
            what = f"{about['count']} images from {about['source']}, made {about['made']}"
        except heldout.HeldOutSetError as error:
            what = str(error)
        print(f"{path} exists ({what}); --force replaces it (then regrade: scores on the final model change "
              "a little).", file=sys.stderr)
        return 1
    try:
        if args.from_mnist:
            held_out = heldout.make_from_mnist(args.from_mnist, count=args.count)
        else:
            held_out = heldout.make_from_digits(count=args.count)
    except (OSError, ValueError, heldout.HeldOutSetError) as error:
        print(f"Could not make the held-out set: {error}", file=sys.stderr)
        return 1
    heldout.save(held_out, path, replace=True)
    print(f"Wrote {path} (mode 0600): {len(held_out)} images from {held_out.about['source']}. "
          "Keep it private: it is not released, not put in the sandbox, and git ignores private/.")
    public, private = heldout.reference_accuracy(held_out)
    print(f"The reference MLP of the course: {public:.1%} on the public test split, {private:.1%} on this set.")
    if private < MARKS[-1] + 0.01:
        print(f"Warning: that is close to or under the top mark ({MARKS[-1]:.0%}): an honest model may miss it on "
              "this set. Compare with the public split before grading.", file=sys.stderr)
    return 0


def _release(args):
    from .release import release

    report = release(args.assignment, quick=args.quick)
    return 0 if report.ok else 1


def print_summary(assignment, rows, out):
    items = list(assignment.items)
    header = ["submission"] + items + ["total"]
    table = [header]
    for name, result in rows:
        table.append([name] + [f"{result.items[i].score:g}/{result.items[i].max_score:g}" for i in items]
                     + [f"{result.score:g}/{result.max_score:g}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))
    print(f"\nResults and feedback written to {out}/<submission>/")


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="release, hand in for four students, nbgrader autograde, feedback")
    demo.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    demo.set_defaults(run=_demo)

    lab = commands.add_parser("lab", help="JupyterLab on an nbgrader course, for hand grading in formgrader",
                              description="Start JupyterLab from this environment on COURSE_ROOT, with nbgrader's "
                                          "course root and this project's nbgrader_config.py; then Nbgrader > "
                                          "Formgrader. Other options are passed to JupyterLab (e.g. --port 8890 "
                                          "--no-browser).")
    lab.add_argument("course", nargs="?", default=".", metavar="COURSE_ROOT",
                     help="the course folder: gradebook.db, source_notebooks/, submitted/ ... (default: .)")
    lab.set_defaults(run=_lab, jupyter_args=[])

    train = commands.add_parser("train-digits", help="train the reference MLP on the bundled digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(run=_train_digits)

    grade = commands.add_parser("grade", help="grade submissions in the sandbox")
    grade.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    grade.add_argument("paths", nargs="+", help="notebooks, .py files, or folders of them")
    grade.add_argument("--out", default="graded", help="output folder (default: graded)")
    grade.add_argument("--json", action="store_true", help="print the one submission's results.json to stdout")
    grade.add_argument("-j", "--jobs", type=int, default=None,
                       help="submissions graded in parallel, each in its own process (default: the number of cores)")
    grade.add_argument("--force", action="store_true",
                       help="regrade every submission, even those whose files, manifest and graders are unchanged")
    grade.add_argument("--dask-scheduler", metavar="ADDRESS",
                       help="grade on a Dask cluster (e.g. tcp://host:8786) instead of this machine "
                            "(needs the dask extra)")
    grade.add_argument("--quiet", action="store_true", help="no progress bar and no line per submission")
    grade.add_argument("--lang", choices=i18n.LANGUAGES,
                       help="the language of the feedback (default: the assignment's [profile] language, else en)")
    grade.set_defaults(run=_grade)

    gradescope = commands.add_parser("gradescope", help="build Gradescope's autograder.zip for an assignment")
    gradescope.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    gradescope.add_argument("--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    gradescope.set_defaults(run=_gradescope)

    export = commands.add_parser("export", help="grades as a CSV for a learning-management system")
    export.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    export.add_argument("--format", choices=["csv"], default="csv", help="the file format (default: csv)")
    export.add_argument("--results", default="graded",
                        help="folder of graded submissions, or an nbgrader course folder (its gradebook.db is read) "
                             "(default: graded)")
    export.add_argument("--gradebook", help="read this nbgrader gradebook.db instead of the results folders")
    export.add_argument("--nbgrader-assignment", help="the assignment's name in the gradebook, if not the manifest's")
    export.add_argument("--out", help="the CSV to write, or - for stdout (default: <assignment>-grades.csv)")
    export.add_argument("--no-bom", action="store_true", help="no UTF-8 byte-order mark (Excel needs it for accents)")
    export.set_defaults(run=_export)

    report = commands.add_parser("report", help="an HTML class report: scores, items, mistakes, students to follow up")
    report.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    report.add_argument("--results", default="graded",
                        help="folder of graded submissions, or an nbgrader course folder (its gradebook.db, with the "
                             "hand-graded scores, is read) (default: graded)")
    report.add_argument("--gradebook", help="read this nbgrader gradebook.db instead of the results folders")
    report.add_argument("--out", help="the HTML file to write (default: report.html in the results or course folder)")
    report.add_argument("--threshold", type=float, default=50,
                        help="follow up students whose total is under this percentage (default: 50)")
    report.set_defaults(run=_report)

    held = commands.add_parser("heldout", help="make the final model's private held-out set (private/<assignment>/)")
    held.add_argument("assignment", help="assignment name (assignments/<name>.toml) or a manifest path")
    held.add_argument("--from-mnist", metavar="DIR",
                      help="make it from the MNIST IDX files in DIR (t10k-images-idx3-ubyte[.gz] and its labels)")
    held.add_argument("--count", type=positive_int, default=2000, help="number of images (default: 2000)")
    held.add_argument("--force", action="store_true", help="replace an existing held-out set")
    held.set_defaults(run=_heldout)

    release = commands.add_parser("release", help="validate the instructor notebooks and generate the student release")
    release.add_argument("assignment")
    release.add_argument("--quick", action="store_true", help="grade only the main notebook's solutions")
    release.set_defaults(run=_release)

    profile = commands.add_parser("profile", help="a course profile's notebooks, generated from the main course")
    profile_commands = profile.add_subparsers(dest="profile_command", required=True)
    profile_generate = profile_commands.add_parser("generate", help="write source_notebooks/<name>/ from its [profile]")
    profile_generate.add_argument("names", nargs="*", help="profiles to generate (default: every assignment with a "
                                  "[profile] table)")
    profile_generate.add_argument("--check", action="store_true",
                                  help="write nothing; fail when the committed source differs from a fresh one")
    profile_generate.set_defaults(run=_profile)

    selftest = commands.add_parser("selftest", help="check the graders: reference, stub, mutants, alternatives")
    selftest.add_argument("assignment", nargs="?", default="modules")
    selftest.add_argument("--items", nargs="+", help="only these items (the manifest restricted to them)")
    selftest.add_argument("--only", nargs="+", help="only these mutants (and the reference and stub)")
    selftest.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="parallel gradings")
    selftest.set_defaults(run=_selftest)
    return parser


def main(argv=None):
    from .manifest import ManifestError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra if args.command == "lab" else []
    try:
        return args.run(args)
    except ManifestError as error:
        print(error, file=sys.stderr)
        return 2
