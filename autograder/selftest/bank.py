"""The grader's quality checks: the reference, a bank of mutants (each the reference with one
known mistake), a bank of other correct solutions and a bank of degenerate submissions (code
that computes nothing), all graded as real submissions."""
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..runner import grade_submission
from .degenerate import KINDS, UNAFFECTED, degenerate_source
from .dialect_variants import GENERATED
from .reference_submission import reference_source, stub_source

HERE = Path(__file__).resolve().parent
ALTERNATIVES = HERE / "alternatives"
EXTENDS_REFERENCE = "# extends: reference"


@dataclass(frozen=True)
class Mutant:
    id: str
    item: str
    diagnosis: str
    edits: tuple  # (file, old, new)
    mistake: str = ""
    fails: tuple = ()  # the tests of its item that own the property it breaks: exactly these fail

    def source(self):
        return reference_source(self.edits)


def load_mutants(path=HERE / "mutants.toml"):
    data = tomllib.loads(Path(path).read_text())
    mutants = []
    for entry in data.get("mutant", []):
        edits = tuple((e["file"], e["old"], e["new"]) for e in entry["edit"])
        mutants.append(Mutant(entry["id"], entry["item"], entry["diagnosis"], edits, entry.get("mistake", ""),
                              tuple(entry.get("fails", ()))))
    ids = [m.id for m in mutants]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate mutant ids: {sorted(duplicates)}")
    return mutants


def alternative_source(path):
    """An alternative solution: a whole submission, or, when it starts with ``# extends: reference``,
    classes that replace the reference's (defined after it, as a student redefining a class would)."""
    text = Path(path).read_text()
    if text.startswith(EXTENDS_REFERENCE):
        return reference_source() + "\n\n" + text
    return text


def alternatives():
    """``(name, file)`` of every alternative: the files, then the generated dialect rewrites (file None)."""
    return ([(path.stem, path) for path in sorted(ALTERNATIVES.glob("*.py"))]
            + [(name, None) for name in sorted(GENERATED)])


def alternative_text(name, path):
    return GENERATED[name]() if path is None else alternative_source(path)


def grade_source(assignment, source, name="submission"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(source)
        return grade_submission(assignment, path)


@dataclass
class Verdict:
    name: str
    ok: bool
    problems: list = field(default_factory=list)
    results: object = None  # the SubmissionResult judged


def item_scores(results):
    return {name: (v.score, v.max_score) for name, v in results.items.items()}


def judge_full_marks(name, results):
    problems = [f"{item}: {s:g}/{m:g}" for item, (s, m) in item_scores(results).items() if s != m]
    problems += [f"grader error in {t}" for t in results.grader_errors]
    failing = [f"{t.name}: {t.output}" for t in results.tests if not t.passed]
    return Verdict(name, not problems, problems + failing[:5], results)


def judge_mutant(mutant, results):
    problems = []
    scores = item_scores(results)
    if mutant.item not in scores:
        problems.append(f"item {mutant.item} is not in the manifest")
    else:
        score, max_score = scores[mutant.item]
        if score >= max_score:
            problems.append(f"{mutant.item} kept full marks ({score:g}/{max_score:g})")
    for item, (score, max_score) in scores.items():
        if item != mutant.item and score != max_score:
            problems.append(f"another item lost points: {item} {score:g}/{max_score:g}")
    found = {d.diagnosis for d in results.diagnoses if d.item == mutant.item}
    if mutant.diagnosis not in found:
        problems.append(f"expected diagnosis {mutant.diagnosis!r}, got {sorted(found) or 'none'}")
    failed = {t.test for t in results.tests_of(mutant.item) if not t.passed}
    if set(mutant.fails) != failed:
        problems.append(f"expected exactly the tests {sorted(mutant.fails)} to fail, the tests that own its property; "
                        f"failed: {sorted(failed)}")
    problems += [f"{t.name}: the message says only that the result differs" for t in results.tests
                 if not t.passed and t.diagnosis == "wrong_values" and "It differs in" not in t.output]
    problems += [f"grader error in {t}" for t in results.grader_errors]
    return Verdict(mutant.id, not problems, problems, results)


def judge_stub(results):
    problems = [f"{item}: {s:g} points" for item, (s, _) in item_scores(results).items() if s != 0]
    problems += [f"grader error in {t}" for t in results.grader_errors]
    for item in item_scores(results):
        messages = {t.output for t in results.tests_of(item)}
        if not any("not implemented" in m for m in messages):
            problems.append(f"{item}: no 'not implemented' message ({sorted(messages)[:1]})")
    return Verdict("stub", not problems, problems, results)


def judge_degenerate(kind, results):
    """A degenerate submission passes only the tests its kind cannot affect (``degenerate.UNAFFECTED``)."""
    allowed = UNAFFECTED[kind]
    problems = [f"{t.name} passed" for t in results.tests if t.passed and t.test not in allowed.get(t.item, set())]
    problems += [f"grader error in {t}" for t in results.grader_errors]
    return Verdict(f"degenerate {kind}", not problems, problems, results)


def _check(task):
    """One check of the bank, in whatever process runs it: ``task`` is (kind, name, assignment, payload)."""
    kind, name, assignment, payload = task
    if kind == "reference":
        return judge_full_marks(name, grade_source(assignment, reference_source(), "reference"))
    if kind == "stub":
        return judge_stub(grade_source(assignment, stub_source(), "stub"))
    if kind == "mutant":
        return judge_mutant(payload, grade_source(assignment, payload.source(), payload.id))
    if kind == "degenerate":
        return judge_degenerate(payload, grade_source(assignment, degenerate_source(payload), payload))
    stem, path = payload
    return judge_full_marks(name, grade_source(assignment, alternative_text(stem, path), stem))


def run_all(assignment, mutants=None, progress=None, include_alternatives=True, jobs=1):
    """Every check of the bank; returns a list of :class:`Verdict`, in a fixed order."""
    assignment = assignment.main_only()  # the bank's submissions are single files
    tasks = [("reference", "reference", assignment, None), ("stub", "stub", assignment, None)]
    tasks += [("mutant", m.id, assignment, m) for m in (mutants if mutants is not None else load_mutants())]
    if mutants is None:
        tasks += [("degenerate", f"degenerate {kind}", assignment, kind) for kind in KINDS]
    if include_alternatives:
        tasks += [("alternative", f"alternative {stem}", assignment, (stem, path)) for stem, path in alternatives()]
    say = progress or (lambda name: None)
    if jobs <= 1:
        verdicts = []
        for task in tasks:
            say(task[1])
            verdicts.append(_check(task))
        return verdicts
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=jobs) as pool:
        verdicts = []
        for task, verdict in zip(tasks, pool.map(_check, tasks)):
            say(task[1])
            verdicts.append(verdict)
        return verdicts
