"""Our grading against the least any in-kernel autograder does, and batch throughput.

Twenty submissions (the reference and mutants of it, each a notebook) are graded:

(a) with our pipeline, in one warmed-up process, one at a time: read the notebook, start the
    sandbox, run the cells, run every grader test, build and write results.json and
    feedback.md (``autograder.batch.run_local_job``, what each batch worker does);
(b) by merely executing each notebook in a fresh Jupyter kernel with nbclient: the least work
    an in-kernel autograder (nbgrader's autograde, Otter) does per notebook, before any test;
(c) as ``autograder grade`` does: each in a grading process forked for it from a prepared parent
    (``GradingServer``), whose copy-on-write of the parent's memory it pays.

(a), (c) and (b) alternate submission by submission, so that a change of load on the machine
affects both alike; each pair gives a ratio (a) / (b), in wall time and in CPU time (this
process and the children it reaped: the kernel, but not the sandbox worker, which the init
process of bubblewrap's PID namespace reaps), and the medians of those ratios
are the figures to read. Then it times ``autograder grade -j 1`` and ``-j 2`` on the same
twenty (``--force``), alternated, and gives the throughput ratio of each pair.
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

from autograder import batch, manifest  # noqa: E402
from autograder.grading_processes import GradingServer  # noqa: E402
from autograder.selftest.bank import load_mutants  # noqa: E402
from autograder.selftest.reference_submission import reference_source  # noqa: E402
from autograder.submissions import discover  # noqa: E402
from tests.helpers import notebook_from_source  # noqa: E402

N_CORRECT = 6


def make_submissions(folder, count):
    """``count`` notebooks: ``N_CORRECT`` correct, the rest each with one mistake from the mutant
    bank, spread over the items."""
    folder.mkdir(parents=True, exist_ok=True)
    mutants = load_mutants()
    step = max(1, len(mutants) // max(1, count - N_CORRECT))
    chosen = mutants[::step][: count - N_CORRECT]
    for i in range(count):
        if i < N_CORRECT:
            source = reference_source()
        else:
            source = chosen[i - N_CORRECT].source()
        notebook_from_source(folder / f"student{i:02d}.ipynb", source)
    return folder


def ensure_kernel():
    """A ``python3`` Jupyter kernel of this environment; installed into it when missing."""
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--sys-prefix"], check=True,
                       capture_output=True)


def cpu_seconds():
    """CPU time of this process and of its children that have ended (user and system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measured(action):
    """``(wall seconds, CPU seconds, result)`` of ``action()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = action()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def execute_in_kernel(path):
    """(b): run every cell of the notebook in a fresh kernel, as nbgrader's Execute does."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(stderr=subprocess.DEVNULL)  # the kernel's start-up warnings


def grade_ours(assignment, job, out):
    """(a): our whole pipeline for one submission; returns its cells' seconds and its score."""
    outcome = batch.run_local_job(assignment, job, out)
    if outcome.status == "error":
        raise RuntimeError(outcome.error)
    return sum(c.seconds for c in outcome.results.cells), outcome.results.score


def cli_batch(folder, out, jobs):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "modules", str(folder), "--out", str(out),
                             "-j", str(jobs), "--force", "--quiet"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return seconds


def row(label, values, unit=" "):
    return f"{label:58s} {statistics.median(values):7.3f}{unit} {min(values):7.3f} {max(values):7.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20, help="submissions (default 20)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each batch; the fastest counts, as the least disturbed (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    assignment = manifest.load("modules")
    ensure_kernel()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        tmp = Path(tmp)
        folder = make_submissions(tmp / "submissions", args.count)
        jobs = batch.make_jobs(assignment, discover([folder], assignment))
        load_before = os.getloadavg()[0]
        print(f"{len(jobs)} submissions ({N_CORRECT} correct, {len(jobs) - N_CORRECT} with one mistake each), "
              f"{len(assignment.items)} items, {sum(len(i.tests) for i in assignment.items.values())} tests; "
              f"{batch.cpu_count()} cores")
        start = time.perf_counter()
        batch.warm_up()  # once per worker process: imports the graders
        warm = time.perf_counter() - start
        execute_in_kernel(Path(jobs[0].files["modules.ipynb"]))  # nbclient's imports, likewise once
        ours, forked, kernel, cells, scores = [], [], [], [], []
        with GradingServer(batch.grade_job) as server:
            server.grade(assignment, jobs[0], 600)  # its start-up, once per batch
            for job in jobs:  # alternated pair by pair
                wall, cpu, (cell_seconds, score) = measured(lambda: grade_ours(assignment, job, tmp / "ours"))
                ours.append((wall, cpu))
                cells.append(cell_seconds)
                scores.append(score)
                wall, cpu, reply = measured(lambda: server.grade(assignment, job, 600))
                if reply.status != "done":
                    raise RuntimeError(f"{job.name}: {reply.status} {reply.error}")
                forked.append(wall)
                wall, cpu, _ = measured(lambda: execute_in_kernel(Path(job.files["modules.ipynb"])))
                kernel.append((wall, cpu))
        serial_runs, parallel_runs = [], []
        for _ in range(args.repeat):
            serial_runs.append(cli_batch(folder, tmp / "j1", 1))
            parallel_runs.append(cli_batch(folder, tmp / "j2", 2))
    load_after = os.getloadavg()[0]

    wall_ratios = [a[0] / b[0] for a, b in zip(ours, kernel)]
    forked_ratios = [c / b[0] for c, b in zip(forked, kernel)]
    cpu_ratios = [a[1] / b[1] for a, b in zip(ours, kernel)]
    speedups = [s / p for s, p in zip(serial_runs, parallel_runs)]
    ratio, speedup = statistics.median(wall_ratios), statistics.median(speedups)
    print(f"scores: {min(scores):g} to {max(scores):g} of {assignment.max_score:g}")
    print()
    print(f"{'Per submission (seconds; ratios per pair)':58s}  median      min     max")
    print(row("(a) ours: sandbox + cells + all grader tests + results", [w for w, _ in ours]))
    print(row("    CPU time (this process; not the worker, see above)", [c for _, c in ours]))
    print(row("    of which running the cells in the sandbox (wall)", cells))
    print(row("(b) nbclient: execute the notebook in a fresh kernel", [w for w, _ in kernel]))
    print(row("    CPU time (this process and the kernel)", [c for _, c in kernel]))
    print(row("ratio (a) / (b), wall time, per pair", wall_ratios))
    print(row("ratio (a) / (b), CPU time, per pair", cpu_ratios))
    print(row("(c) ours in a forked grading process (autograder grade)", forked))
    print(row("ratio (c) / (b), wall time, per pair", forked_ratios))
    print(f"(one-off per worker process, not in (a): importing the graders {warm:.2f} s)")
    print()
    print(f"Batch of the same submissions: autograder grade --force, {args.repeat} alternated pairs")
    print(row("-j 1 wall seconds", serial_runs))
    print(row("-j 2 wall seconds", parallel_runs))
    print(row("throughput -j 2 / -j 1, per pair", speedups))
    print()
    print(f"load average (1 min) before and after: {load_before:.2f}, {load_after:.2f} "
          "(other work on the machine slows both sides and the parallel run most)")
    print(f"goal: ours per submission <= half of executing it in a kernel (median ratio <= 0.5): "
          f"{'PASS' if ratio <= 0.5 else 'FAIL'} ({ratio:.2f})")
    print(f"goal: -j 2 gives >= 1.8x the throughput of -j 1: {'PASS' if speedup >= 1.8 else 'FAIL'} ({speedup:.2f}x)")
    if args.json:
        args.json.write_text(json.dumps({
            "ours": ours, "forked": forked, "forked_ratios": forked_ratios, "kernel": kernel, "cells": cells,
            "wall_ratios": wall_ratios, "cpu_ratios": cpu_ratios,
            "ratio": ratio, "j1_runs": serial_runs, "j2_runs": parallel_runs, "speedups": speedups,
            "speedup": speedup, "warm_up": warm, "count": len(jobs), "cores": batch.cpu_count(),
            "load": [load_before, load_after],
        }, indent=2))


if __name__ == "__main__":
    main()
