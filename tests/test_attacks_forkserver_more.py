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

from autograder.sandbox.client import ForkedWorker, Sandbox
from tests import test_attacks_forkserver
from tests.test_attacks_forkserver import FAST, run

server = test_attacks_forkserver.server  # the prepared worker, for this module too


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


def test_a_forked_worker_cannot_make_a_user_namespace_to_mount_a_folder_of_no_size_limit(server):
    """In a user namespace of its own the worker's code would have every capability there: it
    could mount a tmpfs of no size limit (half the machine's memory, each) and fill it, beyond
    ``disk_mb``, or mount anything else a user namespace may."""
    with Sandbox(FAST) as box:
        out = run(box, """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
read_end, write_end = os.pipe()
pid = os.fork()
if pid == 0:
    said = []
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0:
        said.append("unshared")
        if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0:
            said.append("mounted")
    child = libc.syscall(56, CLONE_NEWUSER | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
    if child == 0:
        os._exit(0)
    if child > 0:
        os.waitpid(child, 0)
        said.append("cloned")
    os.write(write_end, " ".join(said).encode() or b"refused")
    os._exit(0)
os.close(write_end)
os.waitpid(pid, 0)
print(os.read(read_end, 100).decode())
import subprocess, threading
threading.Thread(target=int).start()  # threads and processes are still made (clone3 gives way to clone)
print(subprocess.run(["/bin/echo", "ran"], capture_output=True, text=True).stdout.strip())
""")
        assert out.split() == ["refused", "ran"], out


def test_the_prepared_worker_goes_on_serving_when_it_cannot_fork(monkeypatch):
    """When the machine has no memory or pid left for a fork (a worker's code may bring it
    there), the prepared worker turns that request down and goes on: were it to end, every
    worker forked from it would die with it (each dies with its parent)."""
    import errno
    import json
    import socket

    from autograder.sandbox import forkserver

    control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    answers, answers_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pipes = [os.pipe() for _ in range(3)]
    request = {"uid": None, "disk_bytes": 1 << 20, "files": [], "rlimits": [], "arena_size": 0}
    socket.send_fds(theirs, [json.dumps(request).encode()],
                    [answers_theirs.fileno(), pipes[0][0], pipes[1][1], pipes[2][0], pipes[2][0]])
    answers_theirs.close()
    theirs.close()  # and then the trusted side has gone: serve() returns

    def no_fork():
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(forkserver.os, "fork", no_fork)
    try:
        forkserver.serve(control)
    finally:
        monkeypatch.undo()
        control.close()
    answers.settimeout(1)
    assert answers.recv(1 << 10) == b""  # refused at once: the grading does not wait for its start
    answers.close()
    for read_end, write_end in pipes:
        os.close(read_end)
        os.close(write_end)
