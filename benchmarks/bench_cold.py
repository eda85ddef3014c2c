"""One submission graded cold from the command line, against executing it with nbconvert.

This is the Gradescope case (one container per submission) and an instructor's quick check:
nothing is warm. Each pair runs, one after the other,

(a) ``autograder grade modules SUBMISSION.ipynb --out FOLDER``: a fresh interpreter reads the
    notebook, starts the sandbox, runs the cells and every grader test and writes the results;
(b) ``jupyter nbconvert --to notebook --execute SUBMISSION.ipynb``: a fresh interpreter starts a
    kernel and runs the cells, the least an in-kernel autograder does,

and gives the ratio (a) / (b) of the pair, in wall time and in CPU time (the command and the
processes it reaped; under bubblewrap the sandbox worker is reaped inside its PID namespace and
is not counted, so read the wall time). The medians of the ratios over the pairs are the figures to read.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.selftest.reference_submission import reference_source  # noqa: E402
from benchmarks.bench_batch import ensure_kernel, row  # noqa: E402
from tests.helpers import notebook_from_source  # noqa: E402


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_command(argv):
    """``(wall seconds, CPU seconds)`` of a command and everything it started."""
    wall, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}:\n{result.stderr[-2000:]}")
    return time.perf_counter() - wall, children_cpu() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    ensure_kernel()
    bin_folder = Path(sys.executable).parent
    ours, theirs = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        tmp = Path(tmp)
        notebook = notebook_from_source(tmp / "alice.ipynb", reference_source())
        grade = [sys.executable, "-m", "autograder", "grade", "modules", str(notebook), "--force", "--quiet"]
        execute = [str(bin_folder / "jupyter"), "nbconvert", "--to", "notebook", "--execute", str(notebook),
                   "--output-dir", str(tmp / "executed")]
        timed_command(execute)  # the first run of each fills the disk cache; not counted
        timed_command(grade + ["--out", str(tmp / "warmup")])
        for i in range(args.pairs):
            ours.append(timed_command(grade + ["--out", str(tmp / f"out{i}")]))
            theirs.append(timed_command(execute))
        results = json.loads((tmp / "out0" / "alice" / "results.json").read_text())
    load_after = os.getloadavg()[0]
    wall_ratios = [a[0] / b[0] for a, b in zip(ours, theirs)]
    cpu_ratios = [a[1] / b[1] for a, b in zip(ours, theirs)]
    print(f"One submission, cold, from the command line (score {results['score']:g}); {args.pairs} pairs")
    print(f"{'seconds; ratios per pair':58s}  median      min     max")
    print(row("(a) autograder grade modules alice.ipynb, wall", [w for w, _ in ours]))
    print(row("    CPU time (the command and its processes)", [c for _, c in ours]))
    print(row("(b) jupyter nbconvert --execute alice.ipynb, wall", [w for w, _ in theirs]))
    print(row("    CPU time (the command and its kernel)", [c for _, c in theirs]))
    print(row("ratio (a) / (b), wall time, per pair", wall_ratios))
    print(row("ratio (a) / (b), CPU time, per pair", cpu_ratios))
    print(f"load average (1 min) before and after: {load_before:.2f}, {load_after:.2f}")
    ratio = statistics.median(wall_ratios)
    print(f"goal: cold grading <= half of nbconvert --execute (median wall ratio <= 0.5): "
          f"{'PASS' if ratio <= 0.5 else 'FAIL'} ({ratio:.2f})")
    if args.json:
        args.json.write_text(json.dumps({"ours": ours, "nbconvert": theirs, "wall_ratios": wall_ratios,
                                         "cpu_ratios": cpu_ratios, "ratio": ratio,
                                         "load": [load_before, load_after]}, indent=2))


if __name__ == "__main__":
    main()
