"""The prepared worker: forks each submission's worker with NumPy and common modules already imported.

This file runs *inside* bubblewrap, started by the trusted side (``client.ForkServer``) only when
the grader runs as root: as root in bubblewrap's namespaces, with no capability but the two that
change user. It never runs a student's code and reads nothing of a submission. It imports the
worker (and with it NumPy) and the modules named on its command line, then answers requests on
its control socket (file descriptor 0): each asks for one worker, and brings the descriptors
that worker is to use (its request and reply pipes, its arena, the submission's files, opened by
the trusted side), a socket for the answers and a lifeline: a pipe whose other end the grading
that asked holds, and whose end kills the worker (as bubblewrap's ``--die-with-parent`` does).
For each request it forks a child that, before anything of the submission is read:

1. becomes the request's unprivileged uid, a uid of its own (which clears every capability),
   and stops to be placed in its ``pids`` cgroup by the trusted side;
2. enters namespaces of its own (user, mount, PID, network, IPC, UTS): nothing it mounts is
   seen elsewhere, and it reaches no process, socket or shared memory of another worker by
   a name of its own namespaces;
3. mounts fresh size-limited tmpfs on ``/tmp`` and ``/submission``, copies the submission's files
   into the latter from their descriptors and makes each read-only;
4. gives up every capability its user namespace gave it, sets no-new-privileges and a seccomp
   filter that refuses to make another user namespace (in one, the worker's code would have
   every capability again there: enough to mount a tmpfs of no size limit, say);
5. forks the init of its PID namespace, which forks the worker (``worker.main``). When the
   worker ends, the init ends with its status (a code, or 128 + the signal, as bubblewrap
   reports it), and every process left in the namespace is killed with it.

The answers on the request's socket are ``{"pid": ...}`` (the child's pid as this process sees
it) once it is forked, and ``{"status": ...}`` (its wait status) once it has ended.
"""
import ctypes
import errno
import gc
import importlib
import json
import os
import random
import resource
import select
import signal
import socket
import sys

libc = ctypes.CDLL(None, use_errno=True)
worker = None  # worker.py, beside this file (not on the import path), loaded by main()

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_MOVE = 1, 2, 4, 32, 4096, 8192
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAPABILITY_VERSION_3 = 0x20080522
MAX_REQUEST = 1 << 16
MAX_FDS = 64
CHILD_FAILED = 70  # the child could not make its sandbox: the trusted side sees a worker that died


PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
# for each machine: its audit architecture and its numbers of clone, unshare and clone3 (the
# trusted side starts no prepared worker on another machine: client.FORK_SERVER_MACHINES)
SYSCALLS = {"x86_64": (0xC000003E, 56, 272, 435), "aarch64": (0xC00000B7, 220, 97, 435)}


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), flags,
                     data and data.encode()), f"mount {target}")


def write_file(path, text):
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def become(uid):
    """The request's uid, with its own group and no other: from root, this clears every capability."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if (os.getuid(), os.geteuid(), os.getgid()) != (uid, uid, uid):
        raise OSError("the uid could not be changed")


def enter_namespaces():
    """Namespaces of its own, with this uid and gid mapped to themselves in the new user namespace."""
    uid, gid = os.getuid(), os.getgid()
    check(libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")  # the maps are written through /proc/self
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
          "unshare")
    write_file("/proc/self/setgroups", "deny")
    write_file("/proc/self/uid_map", f"{uid} {uid} 1")
    write_file("/proc/self/gid_map", f"{gid} {gid} 1")
    # not dumpable again: no process of this uid may read or write this one's memory through /proc
    check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "dumpable")


def make_folders(disk_bytes, files, kept=()):
    """Fresh tmpfs on /tmp and /submission (``disk_bytes`` each); ``files`` (name -> descriptor)
    copied into /submission, each then read-only. ``kept``: folders under /tmp that bubblewrap
    bound into the sandbox (a Python installed under /tmp), carried over the fresh /tmp as they
    were (read-only, with what is mounted inside them)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    options = f"size={int(disk_bytes)},mode=1777"
    mount("tmpfs", "/submission", "tmpfs", MS_NOSUID | MS_NODEV, options)
    staged = []
    for index, path in enumerate(kept):
        if not path.startswith("/tmp/") or "/../" in path + "/" or not os.path.isdir(path):
            raise OSError(f"not a folder under /tmp: {path!r}")
        stage = f"/submission/.kept{index}"
        os.mkdir(stage, 0o700)
        mount(path, stage, None, MS_BIND | MS_REC)
        staged.append((stage, path))
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, options)
    for stage, path in staged:
        folder = "/tmp"
        for part in path.split("/")[2:]:
            folder += "/" + part
            if not os.path.isdir(folder):
                os.mkdir(folder)
                os.chmod(folder, 0o755)
        mount(stage, path, None, MS_MOVE)
        os.rmdir(stage)
    for name, fd in files.items():
        if not name or "/" in name or name in (".", ".."):
            raise OSError(f"not a file name: {name!r}")
        path = f"/submission/{name}"
        out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
        finally:
            os.close(out)
            os.close(fd)
        mount(path, path, None, MS_BIND)
        mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/submission")


def drop_capabilities():
    """No capability left in any set, none to be had again (checked from /proc/self/status)."""
    last = int(open("/proc/sys/kernel/cap_last_cap", encoding="ascii").read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "bounding set")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "ambient set")
    header, data = CapHeader(CAPABILITY_VERSION_3, 0), (CapData * 2)()
    check(libc.capset(ctypes.byref(header), data), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    refuse_user_namespaces()
    with open("/proc/self/status", encoding="ascii") as status:
        sets = {line.split(":")[0]: int(line.split()[1], 16) for line in status if line.startswith("Cap")}
    if any(sets.get(name, 1) for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
        raise OSError("capabilities are left")


def refuse_user_namespaces():
    """A seccomp filter: ``clone`` and ``unshare`` with ``CLONE_NEWUSER`` fail with EPERM, and
    ``clone3`` (whose flags a filter cannot read) with ENOSYS, so that the C library makes
    threads and processes with ``clone``; so do the system calls of another architecture (the
    32-bit ones on x86_64, say), which the filter does not know. Requires no-new-privileges."""
    arch, clone, unshare, clone3 = SYSCALLS[os.uname().machine]
    load, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, refuse = 0x7FFF0000, 0x00050000
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (jeq, 0, 9, arch),  # else: 11
        (load, 0, 0, 0),  # seccomp_data.nr
        (jge, 7, 0, 0x40000000),  # x32's numbers: 11
        (jeq, 6, 0, clone3),  # 11
        (jeq, 1, 0, unshare),  # 7
        (jeq, 0, 2, clone),  # 7, else 9
        (load, 0, 0, 16),  # the low half of seccomp_data.args[0]: the flags
        (jset, 1, 0, CLONE_NEWUSER),  # 10, else 9
        (ret, 0, 0, allow),
        (ret, 0, 0, refuse | errno.EPERM),
        (ret, 0, 0, refuse | errno.ENOSYS),
    ]
    filters = (SockFilter * len(program))(*[SockFilter(*instruction) for instruction in program])
    fprog = SockFprog(len(program), ctypes.cast(filters, ctypes.POINTER(SockFilter)))
    check(libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0), "seccomp")


def exit_code(status):
    """A wait status as bubblewrap reports its child's: the exit code, or 128 + the signal."""
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def die_with_parent():
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "parent death signal")


def end_with(step, *args):
    """In a forked process: end it with the exit code ``step(*args)`` returns (or its
    ``SystemExit``'s), or :data:`CHILD_FAILED` when it raises; it never returns to the caller."""
    code = CHILD_FAILED
    try:
        code = step(*args)
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else 1
    except BaseException:  # noqa: BLE001 - whatever failed, this process only ends
        pass
    os._exit(code)


def run_child(request, fds):
    """The child: its sandbox, then the init of its PID namespace, which runs the worker."""
    requests, replies, arena, lifeline = fds[1:5]
    files = dict(zip(request["files"], fds[5:]))
    keep = {requests, replies, arena, lifeline, *files.values()}
    for fd in [int(entry) for entry in os.listdir("/proc/self/fd")]:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:  # the descriptor of the listing itself
                pass
    os.setsid()
    write_file("/proc/self/oom_score_adj", "1000")  # the first the kernel kills when memory runs out
    if request.get("uid") is not None:
        become(int(request["uid"]))
    die_with_parent()  # set after the change of user, which clears it
    enter_namespaces()
    make_folders(request["disk_bytes"], files, request.get("kept", ()))
    drop_capabilities()
    # the trusted side places this process in its cgroup, then says go
    if os.read(requests, 1) != b"g":
        raise OSError("no go")
    init = os.fork()
    if init == 0:
        os.close(lifeline)
        end_with(run_init, request, requests, replies, arena)
    for fd in (requests, replies, arena):
        os.close(fd)
    ended = os.pidfd_open(init)
    # the grading that asked for this worker holds the other end: when it ends, so does the worker
    ready, _, _ = select.select([ended, lifeline], [], [])
    if ended not in ready:
        os.kill(init, signal.SIGKILL)
    _, status = os.waitpid(init, 0)
    return exit_code(status)


def run_init(request, requests, replies, arena):
    """PID 1 of the child's namespace: forks the worker, reaps everything, ends with the worker."""
    die_with_parent()
    pid = os.fork()
    if pid == 0:
        end_with(run_worker, request, requests, replies, arena)
    for fd in (requests, replies, arena):
        os.close(fd)
    while True:
        ended, status = os.waitpid(-1, 0)
        if ended == pid:
            return exit_code(status)


def run_worker(request, requests, replies, arena):
    """The worker, as ``python -I worker.py --arena FD --arena_size N`` would start, with its limits."""
    die_with_parent()
    for name, soft, hard in request["rlimits"]:
        resource.setrlimit(int(name), (int(soft), int(hard)))
    os.dup2(requests, 0)
    os.dup2(replies, 1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 2)
    for fd in (requests, replies, null):
        if fd > 2:
            os.close(fd)
    worker.MAIN_TID = worker.main_thread_id()
    sys.modules["__main__"] = worker  # as when worker.py is the program
    random.seed()
    worker.np.random.seed()
    sys.argv = [worker.__file__, "--arena", str(arena), "--arena_size", str(int(request["arena_size"]))]
    worker.main()
    return 0


def answer(sock, message):
    try:
        sock.send(json.dumps(message).encode())
    except OSError:  # the grading that asked has gone: its worker is killed with it
        pass


def serve(control):
    children = {}  # pidfd -> (pid, answer socket)
    while True:
        ready, _, _ = select.select([control, *children], [], [])
        for fd in ready:
            if fd in children:
                pid, sock = children.pop(fd)
                _, status = os.waitpid(pid, 0)
                os.close(fd)
                answer(sock, {"status": status})
                sock.close()
        if control not in ready:
            continue
        try:
            data, fds, flags, _ = socket.recv_fds(control, MAX_REQUEST, MAX_FDS)
        except OSError:
            return
        if not data and not fds:  # the trusted side has gone
            return
        try:
            request = json.loads(data)
            if flags & socket.MSG_CTRUNC or len(fds) != 5 + len(request["files"]):
                raise ValueError("descriptors missing")
        except (ValueError, KeyError, TypeError):
            for fd in fds:
                os.close(fd)
            continue
        try:
            pid = os.fork()
        except OSError:  # no memory or pid left: this request is refused (its answers closed), the next served
            for fd in fds:
                os.close(fd)
            continue
        if pid == 0:
            control.close()
            end_with(run_child, request, fds)
        sock = socket.socket(fileno=fds[0])
        for fd in fds[1:]:
            os.close(fd)
        try:
            ended = os.pidfd_open(pid)
        except OSError:  # no descriptor left: the child is not waited for by select, so it is ended now
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sock.close()
            continue
        children[ended] = (pid, sock)
        answer(sock, {"pid": pid})


def load_worker():
    """``worker.py``, beside this file, as a module of its own (as ``worker.load_reader`` loads the reader)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_autograder_worker",
                                                  os.path.join(os.path.dirname(__file__), "worker.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    global worker
    worker = load_worker()
    reader = worker.load_reader()
    worker.load_reader = lambda: reader  # read once, here: the folder it came from may be gone later
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    gc.collect()
    gc.freeze()  # what is imported here stays out of every worker's collections
    control = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    control.send(b'{"ready": true}')
    serve(control)


if __name__ == "__main__":
    main()
