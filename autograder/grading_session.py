"""One pytest session that runs the grader tests on one submission.

Apart from ``runner`` so that starting a submission's sandbox does not wait for pytest's import:
a process that grades one submission imports this module with the graders, in a thread, while
the sandbox runs the cells (``runner.import_graders_meanwhile``)."""
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .student import StudentFailure

GRADERS = Path(__file__).resolve().parent / "graders"
SUBMISSION_KEY = pytest.StashKey()
PYTEST_ARGS = [
    # no third-party plugin of the environment takes part in grading (nor costs start-up time)
    "--disable-plugin-autoload",
    "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings",
    # these two collect garbage after every test, a third of pytest's time here
    "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:logging",
    "-c", str(GRADERS / "pytest.ini"), "--rootdir", str(GRADERS),
]


def run(nodes, submission):
    """Run the grader tests ``nodes`` (``path::test_name``) on ``submission``, in the order given;
    returns :attr:`Collector.outcomes`."""
    session = prepared_session()
    if session is None:  # a pytest whose internals differ: a whole session per submission
        collector = Collector()
        pytest.main(PYTEST_ARGS + list(nodes), plugins=[collector, _SubmissionPlugin(submission)])
        return collector.outcomes
    return session.run(nodes, submission)


class PreparedSession:
    """pytest configured and every grader collected once per process; each submission then runs
    the items it needs through pytest's own run protocol (``pytest_runtest_protocol``, fixtures,
    reports), as pytest-xdist's workers run the items they are sent. After each submission every
    fixture is finalised, so that nothing of it is kept for the next. Configuring pytest and
    collecting the graders cost about 0.15 s per submission when each had a session of its own."""

    def __init__(self):
        from _pytest.config import _prepareconfig
        from _pytest.main import Session

        self.collector, self.plugin = Collector(), _SubmissionPlugin(None)
        self.config = _prepareconfig(PYTEST_ARGS + [str(GRADERS)], plugins=[self.collector, self.plugin])
        self.config._do_configure()
        self.session = Session.from_config(self.config)
        self.config.hook.pytest_sessionstart(session=self.session)
        self.session.perform_collect()
        self.items = {f"{Path(str(item.path)).stem}::{item.name}": item for item in self.session.items}

    def run(self, nodes, submission):
        items = [self.items[key] for key in (f"{Path(node.split('::')[0]).stem}::{node.split('::')[1]}"
                                             for node in nodes) if key in self.items]
        self.collector.outcomes = {}
        self.config.stash[SUBMISSION_KEY] = submission
        try:
            for index, item in enumerate(items):
                following = items[index + 1] if index + 1 < len(items) else None
                self.config.hook.pytest_runtest_protocol(item=item, nextitem=following)
        finally:
            self.session._setupstate.teardown_exact(None)
            del self.config.stash[SUBMISSION_KEY]
        return self.collector.outcomes


_PREPARED = []


def prepared_session():
    """This process's :class:`PreparedSession`, made on first use; None where it cannot be made."""
    if not _PREPARED:
        try:
            _PREPARED.append(PreparedSession())
        except (ImportError, AttributeError, TypeError):
            _PREPARED.append(None)
    return _PREPARED[0]


@dataclass
class Collector:
    """A pytest plugin that keeps each grader test's outcome and the student-facing message:
    words only, never the exception (whose traceback would keep every array the test held
    until the whole submission is graded)."""

    outcomes: dict = field(default_factory=dict)  # (module, test) -> (passed, failure, title, seconds)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        result = yield
        report = result.get_result()
        if report.when == "call" or (report.when == "setup" and not report.passed):
            error = call.excinfo.value if call.excinfo else None
            if isinstance(error, StudentFailure):
                failure = (str(error), error.diagnosis)
            else:
                failure = None if error is None else (None, type(error).__name__)
            title = (item.function.__doc__ or item.name).strip().splitlines()[0].rstrip(".")
            self.outcomes[(Path(str(item.path)).stem, item.name)] = (report.passed, failure, title, call.duration)
            report.longrepr = None  # pytest's own copy of the failure, with the test's frames



class _SubmissionPlugin:
    def __init__(self, submission):
        self.submission = submission

    def pytest_configure(self, config):
        if self.submission is not None:
            config.stash[SUBMISSION_KEY] = self.submission
