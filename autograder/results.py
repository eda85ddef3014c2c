"""What grading produces: Gradescope's ``results.json`` and the student's ``feedback.md``."""
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import dialects, i18n
from .diagnoses import DIAGNOSES
from .i18n import _
from .manifest import ADDITIVE, ALL_OR_NOTHING, SCORING_RULES
from .markdown import block, sanitize

# The key, in a grade cell's feedback output (nbgrader autograde), of what the grading found for
# the class report: ``nbgrader_plugin.grading_summary`` writes it, ``export.load_gradebook`` reads it.
GRADING_METADATA = "autograder"


def _number(x):
    return round(float(x), 4)


class MalformedResults(ValueError):
    """Results (from a grading process, a file) that do not have the structure of ``results.json``."""


def _need(condition, what):
    if not condition:
        raise MalformedResults(what)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass
class TestResult:
    """One grader test's result: its points and the Markdown the student reads."""
    __test__ = False  # not a pytest test class
    item: str
    test: str  # the manifest's test key
    title: str
    score: float
    max_score: float
    passed: bool
    output: str  # Markdown, sanitized
    diagnosis: str | None = None

    @property
    def name(self):
        return f"{self.item}: {self.title}"

    def to_json(self):
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "status": "passed" if self.passed else "failed",
            "output": self.output,
            "output_format": "md",
            "tags": [self.item],
            "extra_data": {"test": self.test, "diagnosis": self.diagnosis},
        }

    @classmethod
    def from_json(cls, data):
        _need(isinstance(data, dict), "a test that is not an object")
        _need(isinstance(data.get("name"), str) and isinstance(data.get("output"), str),
              "a test without name or output")
        _need(_is_number(data.get("score")) and _is_number(data.get("max_score")), "a test without valid points")
        _need(0 <= data["score"] <= data["max_score"], "a test with more points than it is worth")
        _need(data.get("status") in ("passed", "failed"), "a test with an unknown status")
        _need(isinstance(data.get("tags"), list) and data["tags"] and all(isinstance(t, str) for t in data["tags"]),
              "a test without its item")
        extra = data.get("extra_data")
        _need(isinstance(extra, dict), "a test without extra_data")
        _need(isinstance(extra.get("test"), str) and (extra.get("diagnosis") is None
                                                      or isinstance(extra["diagnosis"], str)), "a test without its key")
        item = data["tags"][0]
        title = data["name"].split(": ", 1)[1] if data["name"].startswith(f"{item}: ") else data["name"]
        return cls(item, extra["test"], title, data["score"], data["max_score"], data["status"] == "passed",
                   data["output"], extra.get("diagnosis"))


@dataclass
class ItemScore:
    score: float
    max_score: float
    track: str | None = None
    derivation: str | None = None  # the grade_id of its hand-graded derivation cell, if it has one

    @property
    def full(self):
        return self.score == self.max_score


@dataclass
class Diagnosis:
    """A mistake a test named (a key of ``diagnoses.DIAGNOSES``)."""
    item: str
    test: str
    diagnosis: str


@dataclass
class CellRun:
    """One of the notebook's cells, run top to bottom in the sandbox before any test."""
    name: str
    ok: bool
    error: str | None = None
    seconds: float = 0.0


@dataclass
class BatchStamp:
    """What a batch records of whose results these are (see ``batch.stamp``)."""
    submission: str
    student: str | None
    file: str
    fingerprint: str


@dataclass
class SubmissionResult:
    """Everything grading says about one submission: the tests, the items' totals, the mistakes
    named, the cells run, and how it was graded. ``results.json`` is its JSON
    (:meth:`to_json`, Gradescope's schema with our fields in ``extra_data``), ``feedback.md``
    its Markdown (:meth:`to_markdown`); Gradescope's own results are :meth:`to_gradescope`."""
    assignment: str
    score: float
    max_score: float
    output: str  # the summary line (Markdown)
    tests: list  # TestResult
    items: dict  # item name -> ItemScore
    diagnoses: list = field(default_factory=list)  # Diagnosis
    cells: list = field(default_factory=list)  # CellRun
    dialect: str | None = None
    isolation: str | None = None
    process_limit: str | None = None
    worker_user: str | None = None
    worker_restarts: int = 0
    error: str | None = None  # why the submission could not be graded, if it could not
    seconds: float = 0.0
    stamp: BatchStamp | None = None
    scoring: str = ADDITIVE  # the manifest's [scoring] rule the points were counted by
    language: str = i18n.SOURCE  # the language of the messages and of the feedback's headings

    @classmethod
    def build(cls, assignment, outcomes, info, language=None):
        """The result of ``runner.grade``'s ``outcomes`` (and its ``info``) for ``assignment``,
        its points counted by the assignment's scoring rule (:func:`count_points`), its words in
        ``language`` (by default the assignment's): the tests' titles are translated here, their
        messages were written in it by the graders."""
        language = i18n.check(language or assignment.language)
        with i18n.language(language):
            return cls._build(assignment, outcomes, info, language)

    @classmethod
    def _build(cls, assignment, outcomes, info, language):
        tests, items, diagnoses = [], {}, []
        naming = dialects.by_name(info["dialect"]) if info.get("dialect") else None
        for item in assignment.items.values():
            items[item.name] = ItemScore(0.0, _number(item.max_score), item.track, assignment.derivation_of(item.name))
        for outcome in outcomes:
            points = assignment.items[outcome.item].tests[outcome.test]
            tests.append(TestResult(outcome.item, outcome.test, title_in(outcome.title, naming), 0.0, _number(points),
                                    bool(outcome.passed), sanitize(outcome.message), outcome.diagnosis))
            if outcome.diagnosis:
                diagnoses.append(Diagnosis(outcome.item, outcome.test, outcome.diagnosis))
        cells = [CellRun(c.name, c.ok, None if c.ok else str(c.error), _number(c.seconds))
                 for c in info.get("cells", [])]
        score = count_points(tests, items, assignment.scoring)
        return cls(
            assignment=assignment.name, score=score, max_score=_number(assignment.max_score),
            output=summary_line(score, assignment.max_score, info.get("error")), tests=tests, items=items,
            diagnoses=diagnoses, cells=cells, dialect=info.get("dialect"), isolation=info.get("isolation"),
            process_limit=info.get("process_limit"), worker_user=info.get("worker_user"),
            worker_restarts=info.get("restarts", 0), error=info.get("error"),
            seconds=_number(info.get("seconds", 0.0)), scoring=assignment.scoring, language=language,
        )

    def rescored(self, rule):
        """A copy of this result with its points counted by ``rule`` (the manifest's, when the
        results were written under another): each test keeps whether it passed."""
        import copy

        result = copy.deepcopy(self)
        result.scoring = rule
        result.score = count_points(result.tests, result.items, rule)
        with i18n.language(result.language):
            result.output = summary_line(result.score, result.max_score, result.error)
        return result

    # -- reading -------------------------------------------------------------------------------

    @property
    def status(self):
        """``"failed"`` when the submission could not be graded (unreadable, no sandbox), else ``"graded"``."""
        return "failed" if self.error else "graded"

    @property
    def failed_cells(self):
        return [cell for cell in self.cells if not cell.ok]

    def tests_of(self, item):
        return [test for test in self.tests if test.item == item]

    def not_counted(self, item):
        """True when ``item``'s points do not count although tests of it may have passed: under
        the all-or-nothing rule, one of its tests failed."""
        return self.scoring == ALL_OR_NOTHING and any(not t.passed for t in self.tests_of(item))

    def withheld(self, item):
        """The points the passed tests of ``item`` would have earned, had they counted."""
        if not self.not_counted(item):
            return 0.0
        return _number(sum(t.max_score for t in self.tests_of(item) if t.passed))

    @property
    def grader_errors(self):
        """The names of the tests the graders could not complete (a grader's bug, never the student's)."""
        return [test.name for test in self.tests if test.diagnosis == "grader_error"]

    # -- JSON ----------------------------------------------------------------------------------

    def to_json(self):
        extra = {
            "assignment": self.assignment,
            "dialect": self.dialect,
            "isolation": self.isolation,
            "process_limit": self.process_limit,
            "worker_user": self.worker_user,
            "scoring": self.scoring,
            "language": self.language,
            "items": {name: {"score": s.score, "max_score": s.max_score, "track": s.track,
                             "derivation": s.derivation} for name, s in self.items.items()},
            "diagnoses": [{"item": d.item, "test": d.test, "diagnosis": d.diagnosis} for d in self.diagnoses],
            "cells": [{"name": c.name, "ok": c.ok, "error": c.error, "seconds": c.seconds} for c in self.cells],
            "worker_restarts": self.worker_restarts,
            "error": self.error,
            "seconds": self.seconds,
        }
        if self.stamp is not None:
            extra.update(submission=self.stamp.submission, student=self.stamp.student, file=self.stamp.file,
                         fingerprint=self.stamp.fingerprint)
        return {
            "score": self.score,
            "max_score": self.max_score,
            "output": self.output,
            "output_format": "md",
            "tests": [test.to_json() for test in self.tests],
            "extra_data": extra,
        }

    @classmethod
    def from_json(cls, data, assignment=None):
        """The result ``to_json`` wrote, checked: types, a total that is the sum of the tests, and,
        given ``assignment``, that it is this assignment's and names only its items. Anything else
        is :class:`MalformedResults` (a grading process or a file may hold anything)."""
        _need(isinstance(data, dict), "not an object")
        for key, check in (("score", _is_number), ("max_score", _is_number), ("output", lambda v: isinstance(v, str)),
                           ("tests", lambda v: isinstance(v, list)), ("extra_data", lambda v: isinstance(v, dict))):
            _need(key in data and check(data[key]), f"no valid {key}")
        tests = [TestResult.from_json(test) for test in data["tests"]]
        _need(abs(data["score"] - sum(t.score for t in tests)) < 1e-3, "a total that is not the sum")
        extra = data["extra_data"]
        _need(isinstance(extra.get("assignment"), str), "no assignment")
        if assignment is not None:
            _need(extra["assignment"] == assignment.name, "another assignment's results")
        items = extra.get("items")
        _need(isinstance(items, dict) and all(isinstance(k, str) for k in items), "no items")
        if assignment is not None:
            _need(set(items) <= set(assignment.items), "unknown items")
        _need(all(isinstance(v, dict) and _is_number(v.get("score")) and _is_number(v.get("max_score"))
                  for v in items.values()), "an item without valid points")
        diagnoses = extra.get("diagnoses", [])
        _need(isinstance(diagnoses, list) and all(
            isinstance(d, dict) and all(isinstance(d.get(k), str) for k in ("item", "test", "diagnosis"))
            for d in diagnoses), "malformed diagnoses")
        cells = extra.get("cells", [])
        _need(isinstance(cells, list) and all(isinstance(c, dict) and isinstance(c.get("name"), str)
                                              and isinstance(c.get("ok"), bool)
                                              and (c.get("error") is None or isinstance(c["error"], str))
                                              for c in cells), "malformed cells")
        _need(extra.get("error") is None or isinstance(extra["error"], str), "a malformed error")
        _need(extra.get("scoring", ADDITIVE) in SCORING_RULES, "an unknown scoring rule")
        _need(extra.get("language", i18n.SOURCE) in i18n.LANGUAGES, "an unknown language")
        text = {key: extra.get(key) if isinstance(extra.get(key), str) else None
                for key in ("dialect", "isolation", "process_limit", "worker_user")}
        stamp = None
        if "fingerprint" in extra:
            _need(isinstance(extra.get("fingerprint"), str) and isinstance(extra.get("submission"), str)
                  and isinstance(extra.get("file"), str)
                  and (extra.get("student") is None or isinstance(extra["student"], str)), "a malformed stamp")
            stamp = BatchStamp(extra["submission"], extra.get("student"), extra["file"], extra["fingerprint"])
        restarts, seconds = extra.get("worker_restarts", 0), extra.get("seconds", 0.0)
        return cls(
            assignment=extra["assignment"], score=data["score"], max_score=data["max_score"], output=data["output"],
            tests=tests,
            items={name: ItemScore(v["score"], v["max_score"], _text(v.get("track")), _text(v.get("derivation")))
                   for name, v in items.items()},
            diagnoses=[Diagnosis(d["item"], d["test"], d["diagnosis"]) for d in diagnoses],
            cells=[CellRun(c["name"], c["ok"], c.get("error"), c["seconds"] if _is_number(c.get("seconds")) else 0.0)
                   for c in cells],
            worker_restarts=restarts if type(restarts) is int else 0, error=extra.get("error"),
            seconds=seconds if _is_number(seconds) else 0.0, stamp=stamp, scoring=extra.get("scoring", ADDITIVE),
            language=extra.get("language", i18n.SOURCE),
            **text,
        )

    # -- Markdown and Gradescope -------------------------------------------------------------------

    def to_markdown(self):
        """``feedback.md``: per item, the score, then each failed check and what went wrong."""
        return feedback_markdown(self)

    def to_gradescope(self, assignment, seconds=None):
        """Gradescope's ``results.json`` (hidden tests kept hidden; see ``gradescope.gradescope_results``)."""
        from .gradescope import gradescope_results

        return gradescope_results(assignment, self, seconds)


def _text(value):
    return value if isinstance(value, str) else None


def count_points(tests, items, rule):
    """Set each test's and each item's points by ``rule`` and return the total. A test that
    passed earns its points; under the all-or-nothing rule only when every test of its item
    passed (a passed test of a failed item keeps ``passed`` and has 0 points). The total is the
    sum of the tests, as Gradescope and :meth:`SubmissionResult.from_json` require."""
    failed = {test.item for test in tests if not test.passed}
    for totals in items.values():
        totals.score = 0.0
    for test in tests:
        counts = test.passed and not (rule == ALL_OR_NOTHING and test.item in failed)
        test.score = test.max_score if counts else 0.0
        if test.item in items:
            items[test.item].score = _number(items[test.item].score + test.score)
    return _number(sum(test.score for test in tests))


def title_in(title, naming=None):
    """A grader test's title (its docstring's first line) in the current language, its code
    names in the dialect ``naming`` (the submission's; None: torch-legacy)."""
    return i18n.fill(i18n.translate(title), naming)


def summary_line(score, max_score, error=None):
    line = _("{score:g} / {max_score:g} points.", score=score, max_score=max_score)
    if error:
        line += " " + _("The submission could not be graded:\n\n{error}", error=block(str(error)))
    return sanitize(line)


def failed_cells_markdown(cells):
    """The cells (:class:`CellRun`) that raised when run top to bottom, with their errors in a code block."""
    failed = [c for c in cells if not c.ok]
    if not failed:
        return []
    text = "\n".join(f"{c.name}: {c.error.splitlines()[0] if c.error else _('error')}" for c in failed)
    return [_("Cells that raised an error when run top to bottom:"), "", block(text), ""]


def feedback_markdown(result):
    """Per item: the score, then each failed check and what went wrong. Identical messages of
    one item (for instance a stub that fails every check) are shown once. In the result's language."""
    with i18n.language(result.language):
        return _feedback_markdown(result)


def _feedback_markdown(result):
    lines = [_("# Feedback: {assignment}", assignment=result.assignment), "",
             _("**Total: {score:g} / {max_score:g}**", score=result.score, max_score=result.max_score), ""]
    if result.error:
        lines += [_("The submission could not be graded:"), "", block(str(result.error)), ""]
    lines += failed_cells_markdown(result.cells)
    for item in result.items:
        lines += item_feedback(result, item)
    if result.isolation == "reduced":
        lines += ["", _("_Graded with reduced isolation (bubblewrap is not available on the grading machine)._")]
    return sanitize("\n".join(lines).rstrip() + "\n")


def all_or_nothing_rule():
    """Why a passed test, or a derivation, earned nothing under the all-or-nothing rule (its
    derivation's points included: the note names the derivation when the item has one)."""
    return _("this course counts an item's points only when all its tests pass")


def not_counted_note(result, item):
    """Markdown saying why ``item``'s points (its passed tests', its derivation's) do not count,
    or None when nothing that would have counted was lost."""
    withheld, derivation = result.withheld(item), result.items[item].derivation
    if not result.not_counted(item) or not (withheld or derivation):
        return None
    tests = result.tests_of(item)
    failed = sum(not t.passed for t in tests)
    if withheld and derivation:
        lost = _("the {points:g} points of the tests that passed and the points of its hand-graded derivation "
                 "(`{derivation}`)", points=withheld, derivation=derivation)
    elif withheld:
        lost = _("the {points:g} points of the tests that passed", points=withheld)
    else:
        lost = _("the points of its hand-graded derivation (`{derivation}`)", derivation=derivation)
    return _("**Points not counted**: {rule}; {failed} of {total} tests failed, so {lost} do not count.",
             rule=all_or_nothing_rule(), failed=failed, total=len(tests), lost=lost)


# Where the names end in a "not implemented" message (``student.not_implemented``), in any language.
NOT_IMPLEMENTED = re.compile(r" (?:is|are) not implemented| ещё не написаны?\b")


def item_feedback(result, item):
    """The lines of ``feedback.md`` about one item: its score, why its points do not count (if
    they do not, under the all-or-nothing rule), then what went wrong; in the result's language."""
    with i18n.language(result.language):
        return _item_feedback(result, item)


def shown_name(result, item):
    """``item`` (its canonical, torch-legacy name) as the submission's dialect names its class or
    function (``ClassNLLCriterion`` is ``NLLCriterion`` in snake)."""
    try:
        return dialects.by_name(result.dialect).name_of(item) if result.dialect else item
    except KeyError:
        return item


def _item_feedback(result, item):
    tests = result.tests_of(item)
    totals = result.items[item]
    mark = "✓" if totals.full else "✗"
    lines = [f"## {mark} {shown_name(result, item)}: {totals.score:g} / {totals.max_score:g}", ""]
    note = not_counted_note(result, item)
    if note:
        lines.append(f"- {note}")
    failed = [t for t in tests if not t.passed]
    if failed and all(t.diagnosis == "not_implemented" for t in failed):
        methods = list(dict.fromkeys(name for t in failed
                                     for name in NOT_IMPLEMENTED.split(t.output)[0].split(", ")))
        text = _("- **Not implemented yet**: {methods} still raises NotImplementedError.", methods=methods[0]) \
            if len(methods) == 1 else \
            _("- **Not implemented yet**: {methods} still raise NotImplementedError.", methods=", ".join(methods))
        return sanitize("\n".join(lines + [text, ""])).split("\n")
    shown = set()
    for test in failed:
        if test.output in shown:
            continue
        shown.add(test.output)
        lines.append(f"- **{test.title}**: {test.output}")
    return sanitize("\n".join(lines + ([""] if shown or note else []))).split("\n")


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


def write_submission_results(folder, result, sign=None):
    """``feedback.md`` then ``results.json`` (its JSON passed through ``sign`` when given), each atomically."""
    data = result.to_json()
    write_atomic(Path(folder) / "feedback.md", result.to_markdown())
    write_atomic(Path(folder) / "results.json", json.dumps(sign(data) if sign else data, indent=2))


__all__ = ["SubmissionResult", "TestResult", "ItemScore", "Diagnosis", "CellRun", "BatchStamp", "MalformedResults",
           "count_points", "feedback_markdown", "write_submission_results", "DIAGNOSES"]
