"""Grade one submission: read its cells, run them in the sandbox, run the graders with pytest."""
import dataclasses
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import heldout, i18n, markdown
from .dialects import TORCH_LEGACY, detect
from .i18n import _
from .sandbox.client import Limits, Sandbox, SandboxError
from .sandbox.reader import UnreadableNotebook
from .student import StudentCode

GRADERS = Path(__file__).resolve().parent / "graders"


@dataclass
class SandboxedNotebook:
    """One notebook of a submission, its cells run in a sandbox of its own, ready for the graders."""
    sandbox: Sandbox
    submission: StudentCode
    cells: list
    dialect: object

    def close(self):
        self.sandbox.close()


def sandbox_name(notebook, path):
    """The name a submission's file gets in its sandbox: the manifest's notebook name where the
    file is of that kind (so that ``%run modules.ipynb`` finds the student's own modules
    notebook whatever it was called), else its own name."""
    path = Path(path)
    return notebook if notebook and Path(notebook).suffix == path.suffix else path.name


def open_submission(path, limits=Limits(), course_files=(), own_files=None):
    """Start a sandbox, have it read and run the submission's cells and find out what it defines.

    The sandbox's folder holds the submission's own files (``own_files``: sandbox name -> path,
    the file ``path`` among them; by default only ``path``) and ``course_files``, public helpers
    such as ``datasets.py``; nothing else, so ``%run`` can include only the submission's own
    notebooks. The notebook is read inside the sandbox, under its limits."""
    path = Path(path)
    own = dict(own_files) if own_files else {path.name: path}
    name = next((n for n, p in own.items() if Path(p) == path), path.name)
    own.setdefault(name, path)
    files = {Path(f).name: f for f in course_files if Path(f).name not in own}
    files.update(own)
    sandbox = Sandbox(limits, files=files)
    import_graders_meanwhile()  # after the worker's fork: this thread never sees a fork
    try:
        cells = sandbox.read(name)
        reports = sandbox.run_cells(cells)
        reply, _ = sandbox.request("inspect", timeout=limits.call_seconds)
    except (SandboxError, UnreadableNotebook):
        sandbox.close()
        raise
    # Only names that are identifiers: they appear in the student's feedback as code.
    classes = {name: [a for a in info.get("attributes", []) if a.isidentifier()]
               for name, info in reply["classes"].items() if name.isidentifier()}
    functions = [name for name in reply["functions"] if name.isidentifier()]
    dialect = detect(classes, functions)
    submission = StudentCode(sandbox, dialect or TORCH_LEGACY, classes, functions)
    return SandboxedNotebook(sandbox, submission, reports, dialect)


@dataclass
class TestOutcome:
    """How one grader test went on one submission (what ``results.SubmissionResult.build`` reads)."""
    __test__ = False  # not a pytest test class
    item: str
    test: str
    passed: bool
    message: str = ""
    diagnosis: str | None = None
    title: str = ""
    seconds: float = 0.0


def test_node(item, key):
    return f"{GRADERS / (item.grader + '.py')}::test_{key}"


_IMPORTING = []  # the thread importing the graders, while it runs


def import_graders_meanwhile():
    """In a process that has not imported the graders yet (one submission graded from the
    command line, say), import them in a thread while the sandbox runs the cells: the worker
    works on its own core and this process mostly waits for it. :func:`run_graders` waits for
    the thread. A batch's prepared parent imports them before it forks (``batch.warm_up``)."""
    if _IMPORTING or all(f"autograder.graders.{p.stem}" in sys.modules for p in GRADERS.glob("test_*.py")):
        return
    thread = threading.Thread(target=_import_graders, name="import graders", daemon=True)
    _IMPORTING.append(thread)
    thread.start()


def _import_graders():
    from . import grading_session  # noqa: F401 - pytest, for the session that runs the graders

    grader_titles()
    import_reference_extras()


# What the reference imports only when a grader first needs it (SciPy's distances, for the
# contrastive loss: 0.4 s): imported with the graders, before a prepared parent forks, so that
# no grading process pays for it again.
REFERENCE_EXTRAS = ("scipy.spatial.distance",)


def import_reference_extras():
    import importlib

    for name in REFERENCE_EXTRAS:
        importlib.import_module(name)


def measure_speed_baselines():
    """The reference's CPU time for every speed test (the ``speed_baselines`` of the grader
    modules), measured now: a prepared parent does this before it forks, so that every grading
    process holds its submission to the same figure without measuring it again (0.08 s each)."""
    import reference_impl

    from .graders.support_adv import reference_cpu

    for path in sorted(GRADERS.glob("test_*.py")):
        module = sys.modules.get(f"autograder.graders.{path.stem}")
        for what, run in getattr(module, "speed_baselines", lambda ref: {})(reference_impl).items():
            reference_cpu(what, run)


def grader_titles():
    """Each grader test's title (the first line of its docstring), by (module, test key)."""
    import importlib

    titles = {}
    for path in GRADERS.glob("test_*.py"):
        module = importlib.import_module(f"autograder.graders.{path.stem}")
        for name, value in vars(module).items():
            if name.startswith("test_") and callable(value):
                titles[(path.stem, name[5:])] = (value.__doc__ or name).strip().splitlines()[0].rstrip(".")
    return titles


def run_graders(assignment, submission):
    """Run the manifest's tests on ``submission``; returns a list of :class:`TestOutcome`."""
    while _IMPORTING:
        _IMPORTING.pop().join()
    from . import grading_session  # pytest: imported with the graders, not before the sandbox starts

    titles = grader_titles()
    nodes, outcomes = {}, []
    # Tests students see before grades are published run first: a hidden test that hangs, or
    # kills the worker, can then change nothing that a student sees early.
    tests = [(item, key) for item in assignment.items.values() for key in item.tests]
    for item, key in sorted(tests, key=lambda pair: pair[1] in pair[0].hidden):
        title = titles.get((item.grader, key), key)
        if not item.defined or submission.defines(item.name):
            nodes[test_node(item, key)] = (item.name, key)
        else:
            name = submission.name_of(item.name)
            outcomes.append(TestOutcome(item.name, key, False,
                                        _("`{name}` is not defined in the submission.", name=name), "missing", title))
    collected = grading_session.run(list(nodes), submission) if nodes else {}
    if any(failure is not None and failure[1] == "MemoryError" for _, failure, _, _ in collected.values()):
        # the grading process itself ran out of memory: the batch reports that for this submission
        raise MemoryError("the grading process ran out of memory while grading this submission")
    for node, (item, key) in nodes.items():
        module = Path(node.split("::")[0]).stem
        passed, failure, title, seconds = collected.get(
            (module, f"test_{key}"), (False, None, titles.get((module, key), key), 0.0))
        if passed:
            outcomes.append(TestOutcome(item, key, True, "", None, title, seconds))
        elif failure is not None and failure[0] is not None:
            outcomes.append(TestOutcome(item, key, False, failure[0], failure[1], title, seconds))
        else:
            # A failure that is not the student's (a grader bug, or the test did not run): no
            # grader source or trace is shown; the instructor sees the type in the summary.
            kind = failure[1] if failure is not None else "not run"
            outcomes.append(TestOutcome(item, key, False, _("The grader could not complete this test ({kind}); "
                                                            "please tell your instructor.", kind=kind),
                                        "grader_error", title, seconds))
    order = {(name, key): i
             for i, (name, key) in enumerate((it.name, k) for it in assignment.items.values() for k in it.tests)}
    return sorted(outcomes, key=lambda o: order[(o.item, o.test)])


def grade_submission(assignment, files, language=None):
    """Grade one submission (see :func:`grade`); returns its :class:`~autograder.results.SubmissionResult`.
    The one way to grade: the batch, the release, Gradescope, the nbgrader step and the selftest
    all come here. The messages are in ``language`` (by default the assignment's, ``i18n``): the
    graders build them in this process, inside pytest."""
    from .results import SubmissionResult

    language = i18n.check(language or assignment.language)
    with i18n.language(language):  # the feedback's language, for every message of this grading
        outcomes, info = grade(assignment, files)
        return SubmissionResult.build(assignment, outcomes, info, language)


def grade(assignment, files):
    """Grade one submission; ``files`` maps a manifest notebook name to the file that stands for
    it (a single path stands for the main notebook). Each notebook runs in its own sandbox with
    the items it carries. Returns ``(outcomes, info)``; never raises for bad input."""
    if not isinstance(files, dict):
        files = {assignment.main_notebook: files}
    started = time.monotonic()
    info = {"cells": [], "dialect": None, "isolation": None, "process_limit": None, "error": None, "restarts": 0}
    outcomes = []
    groups = {}
    for item in assignment.items.values():
        groups.setdefault(assignment.notebook_of(item), []).append(item)
    with heldout.grading(assignment):
        for notebook, items in groups.items():
            outcomes += _grade_notebook(assignment, notebook, items, files, info)
    order = {(it.name, k): i for i, (it, k) in enumerate((it, k) for it in assignment.items.values() for k in it.tests)}
    info["seconds"] = time.monotonic() - started
    return sorted(outcomes, key=lambda o: order[(o.item, o.test)]), info


def _grade_notebook(assignment, notebook, items, files, info):
    """The outcomes of the items that ``notebook`` carries, graded in a sandbox of its own."""
    part = dataclasses.replace(assignment, items={item.name: item for item in items})
    path = files.get(notebook)
    if path is None:
        missing = _("{notebook} was not submitted.", notebook=notebook)
        return [TestOutcome(item.name, key, False, missing, "missing", key) for item in items for key in item.tests]
    own = {sandbox_name(name, file): file for name, file in files.items()}
    try:
        running = open_submission(path, assignment.limits_for(notebook), assignment.course_files, own)
    except (UnreadableNotebook, SandboxError, OSError) as error:
        info["error"] = str(error)
        message = _("The submission could not be graded:\n\n{error}", error=markdown.block(str(error)))
        return [TestOutcome(item.name, key, False, message, "unreadable", key) for item in items for key in item.tests]
    try:
        if notebook == assignment.main_notebook or info["dialect"] is None:
            info["dialect"] = running.dialect.name if running.dialect else info["dialect"]
        info["isolation"] = running.sandbox.isolation
        info["process_limit"] = running.sandbox.process_limit
        info["worker_user"] = running.sandbox.user
        info["cells"] += running.cells
        outcomes = run_graders(part, running.submission)
        info["restarts"] += running.sandbox.restarts
        return outcomes
    finally:
        running.close()
