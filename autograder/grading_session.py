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
    """Run the grader tests ``nodes`` on ``submission``; returns :attr:`Collector.outcomes`."""
    collector = Collector()
    pytest.main(PYTEST_ARGS + list(nodes), plugins=[collector, _SubmissionPlugin(submission)])
    return collector.outcomes


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
        config.stash[SUBMISSION_KEY] = self.submission
