"""What grading produces: Gradescope's ``results.json`` and the student's ``feedback.md``."""
import json
import os
import re
import tempfile
from pathlib import Path

from .diagnoses import DIAGNOSES
from .markdown import block, sanitize

# The key, in a grade cell's feedback output (nbgrader autograde), of what the grading found for
# the class report: ``nbgrader_plugin.grading_summary`` writes it, ``export.load_gradebook`` reads it.
GRADING_METADATA = "autograder"


def _number(x):
    return round(float(x), 4)


def build_results(assignment, outcomes, info):
    tests, items, diagnoses = [], {}, []
    for item in assignment.items.values():
        items[item.name] = {"score": 0.0, "max_score": _number(item.max_score), "track": item.track}
    for outcome in outcomes:
        points = assignment.items[outcome.item].tests[outcome.test]
        score = points if outcome.passed else 0.0
        items[outcome.item]["score"] = _number(items[outcome.item]["score"] + score)
        tests.append({
            "name": f"{outcome.item}: {outcome.title}",
            "score": _number(score),
            "max_score": _number(points),
            "status": "passed" if outcome.passed else "failed",
            "output": sanitize(outcome.message),
            "output_format": "md",
            "tags": [outcome.item],
            "extra_data": {"test": outcome.test, "diagnosis": outcome.diagnosis},
        })
        if outcome.diagnosis:
            diagnoses.append({"item": outcome.item, "test": outcome.test, "diagnosis": outcome.diagnosis})
    cells = [
        {"name": c.name, "ok": c.ok, "error": None if c.ok else str(c.error), "seconds": _number(c.seconds)}
        for c in info.get("cells", [])
    ]
    return {
        "score": _number(sum(t["score"] for t in tests)),
        "max_score": _number(assignment.max_score),
        "output": summary_line(assignment, tests, info),
        "output_format": "md",
        "tests": tests,
        "extra_data": {
            "assignment": assignment.name,
            "dialect": info.get("dialect"),
            "isolation": info.get("isolation"),
            "process_limit": info.get("process_limit"),
            "worker_user": info.get("worker_user"),
            "items": items,
            "diagnoses": diagnoses,
            "cells": cells,
            "worker_restarts": info.get("restarts", 0),
            "error": info.get("error"),
            "seconds": _number(info.get("seconds", 0.0)),
        },
    }


def summary_line(assignment, tests, info):
    score = sum(t["score"] for t in tests)
    line = f"{score:g} / {assignment.max_score:g} points."
    if info.get("error"):
        line += f" The submission could not be graded:\n\n{block(str(info['error']))}"
    return sanitize(line)


def failed_cells_markdown(cells):
    """The cells that raised when run top to bottom, with their errors in a code block."""
    failed = [c for c in cells if not c["ok"]]
    if not failed:
        return []
    text = "\n".join(f"{c['name']}: {c['error'].splitlines()[0] if c['error'] else 'error'}" for c in failed)
    return ["Cells that raised an error when run top to bottom:", "", block(text), ""]


def feedback_markdown(results):
    """Per item: the score, then each failed check and what went wrong. Identical messages of
    one item (for instance a stub that fails every check) are shown once."""
    extra = results["extra_data"]
    lines = [f"# Feedback: {extra['assignment']}", "", f"**Total: {results['score']:g} / {results['max_score']:g}**", ""]
    if extra.get("error"):
        lines += ["The submission could not be graded:", "", block(str(extra["error"])), ""]
    lines += failed_cells_markdown(extra.get("cells", []))
    for item in extra["items"]:
        lines += item_feedback(results, item)
    if extra.get("isolation") == "reduced":
        lines += ["", "_Graded with reduced isolation (bubblewrap is not available on the grading machine)._"]
    return sanitize("\n".join(lines).rstrip() + "\n")


def item_feedback(results, item):
    """The lines of ``feedback.md`` about one item: its score, then what went wrong."""
    tests = [t for t in results["tests"] if t["tags"][0] == item]
    totals = results["extra_data"]["items"][item]
    mark = "✓" if totals["score"] == totals["max_score"] else "✗"
    lines = [f"## {mark} {item}: {totals['score']:g} / {totals['max_score']:g}", ""]
    failed = [t for t in tests if t["status"] != "passed"]
    if failed and all(t["extra_data"]["diagnosis"] == "not_implemented" for t in failed):
        methods = list(dict.fromkeys(name for t in failed
                                     for name in re.split(r" (?:is|are) not implemented", t["output"])[0].split(", ")))
        verb = "still raises" if len(methods) == 1 else "still raise"
        return sanitize("\n".join(lines + [f"- **Not implemented yet**: {', '.join(methods)} {verb} "
                                            "NotImplementedError.", ""])).split("\n")
    shown = set()
    for test in failed:
        if test["output"] in shown:
            continue
        shown.add(test["output"])
        lines.append(f"- **{test['name'].split(': ', 1)[1]}**: {test['output']}")
    return sanitize("\n".join(lines + ([""] if shown else []))).split("\n")


def write_atomic(path, text):
    """Write to a temporary file beside ``path`` and rename it: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_submission_results(folder, results):
    write_atomic(Path(folder) / "feedback.md", feedback_markdown(results))
    write_atomic(Path(folder) / "results.json", json.dumps(results, indent=2))


__all__ = ["build_results", "feedback_markdown", "write_submission_results", "DIAGNOSES"]
