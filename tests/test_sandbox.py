"""The sandbox: isolation, limits, restarts, and a protocol that trusts nothing from the worker."""
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox.client import Limits, Sandbox, StudentError, WorkerDied, WorkerTimeout, bubblewrap_works
from autograder.sandbox.protocol import Unsendable, decode

PROJECT = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(not bubblewrap_works(), reason="bubblewrap is not installed or cannot run here")
FAST = Limits(cell_seconds=2, call_seconds=3, start_seconds=20)


@pytest.fixture(params=["full", "reduced"])
def sandbox(request):
    if request.param == "full" and not bubblewrap_works():
        pytest.skip("bubblewrap is not installed or cannot run here")
    with Sandbox(FAST, isolation=request.param) as box:
        yield box


def run(box, source):
    (report,) = box.run_cells([("cell 1", source)])
    return report


def call(box, source_expression):
    """Evaluate an expression in the worker by assigning it in a cell and reading it back."""
    run(box, f"def _probe():\n    return {source_expression}")
    reply, arrays = box.request("call", function="_probe", args=[])
    return decode(reply["result"], arrays)


def test_cells_run_like_a_kernel(sandbox):
    reports = sandbox.run_cells([("cell 1", "x = 2"), ("cell 2", "raise ValueError('boom')"),
                                 ("cell 3", "y = x * 3\nprint(y)")])
    assert [r.ok for r in reports] == [True, False, True]
    assert isinstance(reports[1].error, StudentError) and "boom" in str(reports[1].error)
    assert "cell 2" in reports[1].error.traceback_text()
    assert reports[2].output == "6\n"


def test_printing_a_lot_is_bounded(sandbox):
    report = run(sandbox, "for i in range(200000):\n    print('spam spam spam')")
    assert report.ok and len(report.output) < 30_000 and "not shown" in report.output


def test_hanging_code_times_out_and_the_worker_comes_back(sandbox):
    sandbox.run_cells([("cell 1", "value = 41")])
    report = run(sandbox, "while True:\n    pass")
    assert not report.ok and isinstance(report.error, WorkerTimeout)
    assert sandbox.restarts == 1
    assert call(sandbox, "value + 1") == 42  # earlier cells were run again


@pytest.mark.parametrize("source", ["import os\nos._exit(3)", "import os, signal\nos.kill(os.getpid(), 9)",
                                    "import sys\nsys.exit(0)"])
def test_exits_cost_only_the_request(sandbox, source):
    sandbox.run_cells([("cell 1", "kept = 'yes'")])
    report = run(sandbox, source)
    assert not report.ok
    if "sys.exit" in source:
        assert isinstance(report.error, StudentError) and report.error.type == "SystemExit"
    else:
        assert isinstance(report.error, WorkerDied)
    assert call(sandbox, "kept") == "yes"


def test_memory_limit_is_a_student_error_not_a_crash(sandbox):
    report = run(sandbox, "import numpy as np\nbig = np.ones((1 << 40,), dtype=np.uint8)")
    assert not report.ok and isinstance(report.error, StudentError) and report.error.type == "MemoryError"


def test_odd_return_values_are_converted_or_reported(sandbox):
    run(sandbox, "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
                 "class ArrayLike:\n    def __array__(self, dtype=None, copy=None):\n        return np.arange(3.0)\n")
    liar = call(sandbox, "np.zeros(3).view(Liar)")
    assert type(liar) is np.ndarray and not np.any(liar)
    assert np.array_equal(call(sandbox, "ArrayLike()"), [0.0, 1.0, 2.0])
    assert isinstance(call(sandbox, "object()"), Unsendable)
    assert isinstance(call(sandbox, "np.array([object()])"), Unsendable)
    assert call(sandbox, "[1, 'a', None, (2.5,)]") == [1, "a", None, [2.5]]


def test_limits_apply_without_bubblewrap_too():
    with Sandbox(FAST, isolation="reduced") as box:
        report = run(box, "open('big.bin', 'wb').write(b'0' * (100 << 20))")
        assert not report.ok  # the 64 MB file-size limit


@needs_bwrap
def test_full_isolation_hides_the_project_and_the_network():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        with Sandbox(FAST, isolation="full") as box:
            assert call(box, f"__import__('os').path.exists({str(PROJECT / 'reference_impl')!r})") is False
            assert call(box, "__import__('importlib.util').util.find_spec('reference_impl') is None") is True
            assert call(box, "__import__('importlib.util').util.find_spec('autograder') is None") is True
            report = run(box, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
            assert not report.ok
            report = run(box, "open('/usr/evil', 'w')")
            assert not report.ok
            assert run(box, "open('notes.txt', 'w').write('mine')").ok  # its own private folder is writable
            assert call(box, "__import__('os').listdir('/')") is not None
    finally:
        server.close()


def test_the_worker_cannot_send_pickles_or_objects():
    import io

    from autograder.sandbox import protocol
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    plain = protocol.array_frame(np.arange(6.0).reshape(2, 3))
    assert np.array_equal(protocol.parse_array(plain), np.arange(6.0).reshape(2, 3))
    for payload in [
        buffer.getvalue(),  # a pickle in .npy clothing
        b"|O8 " + plain[4:],  # object dtype
        b"<V8 " + plain[4:],  # raw bytes
        b"<f8 " + bytes([40]) + plain[5:],  # more dimensions than numpy has
        plain[:-8],  # fewer elements than the shape says
        plain + b"\0" * 8,  # more
        plain[:3],
        b"<f8 " + struct.pack(">BQQ", 2, 0, (1 << 64) - 1),  # no elements, but a dimension NumPy cannot hold
    ]:
        with pytest.raises(protocol.ProtocolError):
            protocol.parse_array(payload)
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_header(b"\x80\x04not json")
    with pytest.raises(protocol.ProtocolError):
        protocol.frame_length((1 << 62).to_bytes(8, "big"))


def test_array_frames_keep_dtype_shape_and_values():
    from autograder.sandbox import protocol

    for array in [np.float32(3.5) * np.ones((2, 0, 3), np.float32), np.array(7), np.array([True, False]),
                  np.arange(12, dtype=">i4").reshape(3, 4).T, np.array([1 + 2j]), np.arange(5, dtype=np.uint8)]:
        back = protocol.parse_array(protocol.array_frame(array))
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
        assert back.flags.writeable


def test_sandboxes_run_side_by_side():
    boxes = []
    errors = []

    def work(i):
        try:
            with Sandbox(FAST) as box:
                box.run_cells([("cell 1", f"v = {i}")])
                boxes.append(call(box, "v"))
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(boxes) == [0, 1, 2]


def test_a_submission_has_a_total_time_budget():
    with Sandbox(Limits(cell_seconds=2, call_seconds=2, submission_seconds=3), isolation="reduced") as box:
        reports = box.run_cells([("cell 1", "import time\ntime.sleep(1.5)"), ("cell 2", "time.sleep(1.5)"),
                                 ("cell 3", "x = 1")])
        assert reports[0].ok and not reports[2].ok
        assert "grading time" in str(reports[2].error)


@pytest.fixture
def unprobed(monkeypatch):
    """A process that has neither probed bubblewrap nor started a worker under it yet."""
    from autograder.sandbox import client

    monkeypatch.setattr(client, "_BWRAP_STARTED", [])
    monkeypatch.setattr(client, "_FORK_SERVER", {})  # workers start afresh, as a first one does
    client.bubblewrap_works.cache_clear()
    yield client
    client.bubblewrap_works.cache_clear()


@needs_bwrap
def test_the_first_worker_under_bubblewrap_is_its_own_probe(unprobed):
    with Sandbox(FAST) as box:
        assert box.isolation == "full"
        assert call(box, "__import__('os').getuid() != 0")
    assert unprobed.bubblewrap_works.cache_info().misses == 0  # no separate probe was started
    assert unprobed.bubblewrap_works()


def test_a_bubblewrap_that_cannot_start_a_worker_leaves_reduced_isolation(unprobed, monkeypatch):
    # as bubblewrap does without user namespaces: it says why and exits
    monkeypatch.setattr(unprobed.shutil, "which", lambda name: "/usr/bin/bwrap")
    monkeypatch.setattr(unprobed, "_bwrap_prefix", lambda *a, **k: ["sh", "-c", "echo no namespaces >&2; exit 1", "--"])
    with Sandbox(FAST) as box:
        assert box.isolation == "reduced"
        assert call(box, "6 * 7") == 42
    assert unprobed.bubblewrap_works() is False


def test_parameter_gradients_reach_a_snake_scaling_whose_getter_hands_out_copies():
    """Where the getter gives copies, the values are set on the layer's own attributes, by the
    dialect's names (snake's Scaling keeps ``grad_gamma`` and ``grad_beta``)."""
    from autograder.dialects import SNAKE
    from autograder.student import StudentCode

    with Sandbox(FAST) as box:
        run(box, "import numpy as np\n"
                 "class Scaling:\n"
                 "    def __init__(self, n):\n"
                 "        self.gamma, self.beta = np.ones((1, n)), np.zeros((1, n))\n"
                 "        self.grad_gamma, self.grad_beta = np.zeros((1, n)), np.zeros((1, n))\n"
                 "    def get_grad_params(self):\n"
                 "        return [self.grad_gamma.copy(), self.grad_beta.copy()]\n")
        submission = StudentCode(box, SNAKE, {"Scaling": ["get_grad_params"]}, [])
        layer = submission.new("ChannelwiseScaling", 3)
        layer.set_grad_parameters([np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])])
        assert np.array_equal(layer.attribute("grad_gamma"), [[1.0, 2.0, 3.0]])
        assert np.array_equal(layer.attribute("grad_beta"), [[4.0, 5.0, 6.0]])


def test_what_earlier_requests_kept_is_not_examined_again_by_each_collection(sandbox):
    """Each request ends with a garbage collection (so that a ``__del__`` is charged to the request
    that made the garbage); what survives it is set aside, so a collection costs what its own
    request made. Compared in the worker's CPU time: the last requests, with a million objects
    kept by earlier ones, cost about what the first ones did."""
    grow = "kept.extend([i] for i in range(50_000))"
    run(sandbox, "kept = []")
    costs = []
    for _ in range(24):
        before = sandbox.cpu_seconds()
        assert run(sandbox, grow).ok
        costs.append(sandbox.cpu_seconds() - before)
    first, last = sum(costs[:6]), sum(costs[-6:])
    assert last <= 2.5 * first + 0.05, f"the first six requests took {first:.2f} s of CPU, the last six {last:.2f} s"


def test_an_argument_counts_as_changed_by_its_values_not_its_bytes():
    """The arena's byte comparison is only a shortcut: an array whose bytes changed but whose
    values did not (-0.0 written over 0.0, another NaN) is not a change made in place."""
    from types import SimpleNamespace

    from autograder.sandbox.client import Arena
    from autograder.student import StudentModule

    arena = Arena(1 << 16)
    try:
        sent = [np.array([0.0, 1.0, np.nan]), np.array([2.0, 3.0])]
        shared = [(arena.put(array), array) for array in sent]
        assert all(arena.holds(descriptor, array) for descriptor, array in shared)
        submission = SimpleNamespace(sandbox=SimpleNamespace(arena=arena), mutations=[])
        module = StudentModule.__new__(StudentModule)
        module.submission = submission

        first = arena.read(shared[0][0])
        first[0], first[2] = -0.0, -np.nan
        offset = shared[0][0]["$s"][0]
        arena.memory[offset:offset + first.nbytes] = first.tobytes()
        assert not arena.holds(*shared[0])
        module._record_mutations("Layer.forward", sent, shared)
        assert submission.mutations == []

        offset = shared[1][0]["$s"][0]
        arena.memory[offset:offset + 8] = np.array([2.5]).tobytes()
        module._record_mutations("Layer.forward", sent, shared)
        assert submission.mutations == ["Layer.forward changed its argument 2 in place"]
    finally:
        arena.close()
