"""What the instructor sees on stderr while a batch runs."""
import sys


class Progress:
    """What the instructor sees on stderr while a batch runs: a tqdm bar with the running count of
    graded, failed and remaining submissions (on a terminal, or always with ``bar=True``) and a
    line per finished submission (unless ``lines=False``)."""

    def __init__(self, total, skipped, bar="auto", lines=True):
        from tqdm import tqdm

        tqdm.monitor_interval = 0  # no monitor thread in the batch's process
        self.lines = lines
        self.total = total
        self.counts = {"graded": 0, "failed": 0, "error": 0, "refused": 0}
        enabled = bar is True or (bar == "auto" and lines and sys.stderr.isatty())
        self.bar = tqdm(total=total, file=sys.stderr, disable=not enabled, unit="sub", dynamic_ncols=True,
                        desc="grading", smoothing=0.1)
        if lines and skipped:
            self.write(f"{skipped} submission(s) unchanged since they were graded: skipped (--force regrades them)")
        self._postfix()

    def write(self, line):
        from tqdm import tqdm

        if self.lines:
            tqdm.write(line, file=sys.stderr)

    @property
    def status(self):
        done = sum(self.counts.values())
        failed = self.counts["failed"] + self.counts["error"] + self.counts["refused"]
        return f"graded {self.counts['graded']}, failed {failed}, remaining {self.total - done}"

    def _postfix(self):
        self.bar.set_postfix_str(self.status, refresh=False)

    def update(self, outcome):
        self.counts[outcome.status] += 1
        self._postfix()
        self.bar.update(1)
        if self.lines:
            done = sum(self.counts.values())
            if outcome.results is not None:
                result = outcome.results
                line = (f"{outcome.job.name:30s} {result.score:7.2f} / {result.max_score:g}"
                        f"   {result.seconds:5.1f} s   {result.dialect or '-'}")
                if result.error:
                    line += f"   could not be graded: {str(result.error).splitlines()[0][:60]}"
            elif outcome.status == "refused":
                line = f"{outcome.job.name:30s} refused: {outcome.error}"
            else:
                line = f"{outcome.job.name:30s} grading failed: {outcome.error.strip().splitlines()[-1]}"
            if self.bar.disable:
                line = f"[{done}/{self.total}] {line}"
            self.write(line)

    def close(self):
        self.bar.close()
        if self.total:
            self.write(f"done: {self.status}")
