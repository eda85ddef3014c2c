"""How long grading one complete submission takes, worker start-up included.

Grades the reference, saved as a notebook, several times in one process and prints the
median wall time with a breakdown: starting the sandbox and running the cells, then the
graders. The first run pays the one-off cost of importing the graders; it is reported
apart and left out of the median, as it is paid once per batch.
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder import manifest  # noqa: E402
from autograder.runner import open_submission, run_graders  # noqa: E402
from autograder.selftest.reference_submission import reference_source  # noqa: E402
from tests.helpers import notebook_from_source  # noqa: E402


def grade_once(assignment, path):
    start = time.perf_counter()
    running = open_submission(path, assignment.limits)
    opened = time.perf_counter()
    try:
        outcomes = run_graders(assignment, running.submission)
    finally:
        running.close()
    end = time.perf_counter()
    score = sum(assignment.items[o.item].tests[o.test] for o in outcomes if o.passed)
    return {"total": end - start, "start_and_cells": opened - start, "graders": end - opened, "score": score}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    assignment = manifest.load("modules").main_only()  # the modules notebook: every item but the final model
    with tempfile.TemporaryDirectory() as folder:
        path = notebook_from_source(Path(folder) / "modules.ipynb", reference_source())
        first = grade_once(assignment, path)
        runs = [grade_once(assignment, path) for _ in range(args.repeat)]
    n_tests = sum(len(item.tests) for item in assignment.items.values())
    print(f"Grading one complete submission: {len(assignment.items)} items, {n_tests} tests, "
          f"score {runs[0]['score']:g}/{assignment.max_score:g}")
    print(f"{'phase':24s} {'median s':>9s} {'min s':>7s} {'max s':>7s}")
    for key in ("start_and_cells", "graders", "total"):
        values = [r[key] for r in runs]
        print(f"{key:24s} {statistics.median(values):9.3f} {min(values):7.3f} {max(values):7.3f}")
    print(f"first run (imports the graders once per process): {first['total']:.3f} s")
    median = statistics.median(r["total"] for r in runs)
    print(f"goal: median total <= 3 s: {'PASS' if median <= 3 else 'FAIL'} ({median:.2f} s)")
    if args.json:
        args.json.write_text(json.dumps({"first": first, "runs": runs, "median_total": median}, indent=2))


if __name__ == "__main__":
    main()
