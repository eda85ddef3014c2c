"""More attacks on workers forked from the prepared worker (``autograder/sandbox/forkserver.py``).

Each comes from a worker's cells, as a student's notebook would, and checks a property that a
worker started afresh under bubblewrap has: nothing it does reaches another worker, the
prepared worker, or anything outside its own folders and processes.
"""
import os
import subprocess
import threading
import time

import pytest

from autograder.sandbox.client import ForkedWorker, Limits, Sandbox, start_fork_server, stop_fork_server

FAST = Limits(cell_seconds=10, call_seconds=5, cpu_seconds=60, submission_seconds=60, start_seconds=20, disk_mb=16)


@pytest.fixture(scope="module")
def server():
    stop_fork_server()
    started = start_fork_server(FAST)
    if started is None:
        pytest.skip("workers are forked only where bubblewrap works and the grader runs as root")
    yield started
    stop_fork_server()


def run(box, source):
    """Run one cell; its printed output."""
    report = box.run_cells([("attack", source)])[0]
    assert report.ok, f"{report.error}\n{report.output}"
    return report.output


def take_pid(pid):
    """A process of this test, leader of its own process group (as every worker's first process
    is), that has the pid ``pid`` once it is free again: the pids are used up (with threads, as
    a student's code or the machine's other work would) until the next one is ``pid``."""
    pid_max = int(open("/proc/sys/kernel/pid_max", encoding="ascii").read())
    for _ in range(10):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            thread = threading.Thread(target=int)
            thread.start()
            thread.join()
            if 0 < (pid - thread.native_id) % pid_max <= 40:  # the pids just below may be in use
                break
        else:
            break
        for _ in range(50):
            process = subprocess.Popen(["sleep", "60"], start_new_session=True)
            if process.pid == pid:
                return process
            process.kill()
            process.wait()
            if not 0 < (pid - process.pid) % pid_max <= 40:  # gone past it
                break
    pytest.skip("the pid could not be had again (the machine forks too much)")


def test_a_forked_worker_that_ended_itself_leaves_its_pid_to_others_unharmed(server):
    """The prepared worker reaps a forked worker as soon as it ends, so its pid may belong to
    another process (another submission's worker) before the grading notices the end: the
    grading must not signal that pid, nor its process group, when it cleans up and restarts."""
    with Sandbox(FAST) as box:
        assert isinstance(box.process, ForkedWorker)
        old = box.process.pid
        # the cell answers, then its worker ends itself while the grading waits for nothing
        run(box, """
import os, threading, time
threading.Thread(target=lambda: (time.sleep(1.5), os._exit(0)), daemon=True).start()
""")
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{old}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{old}")
        stranger = take_pid(old)
        try:
            report = box.run_cells([("next", "print(6 * 7)")])[0]  # finds the worker gone, restarts it
            assert not report.ok and box.restarts == 1
            assert run(box, "print(6 * 7)").strip() == "42"
            time.sleep(0.1)
            assert stranger.poll() is None, "the grading killed a process that was not its worker's"
        finally:
            stranger.kill()
            stranger.wait()
