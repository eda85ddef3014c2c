#!/usr/bin/env python
"""Time the reference implementation against PyTorch (CPU) and a loop-based Conv2d.

Run with ``make bench`` or ``.venv/bin/python benchmarks/bench_reference.py``.

Cases, each in float64 and in float32:

1. ``mlp_step``: one training step of ``Linear(784, 256) -> ReLU -> Linear(256, 10) ->
   LogSoftMax`` with ``ClassNLLCriterion`` and ``sgd_momentum`` on a batch of 128
   (zeroGradParameters, forward, loss, backward, optimizer step), against the same step
   in PyTorch (``nn.Linear``/``relu``/``log_softmax``, ``nll_loss`` (mean), ``optim.SGD``
   with momentum).
2. ``conv2d_fwd_bwd``: forward and backward (gradInput, gradW, gradb) of a 3x3
   ``Conv2d(16, 32)`` on a ``(32, 16, 28, 28)`` batch with a random upstream gradient,
   against ``F.conv2d(padding=1)`` + autograd, and against the loop-over-channels
   ``scipy.signal.correlate2d`` version students usually write (``LoopConv2d`` below).

Before timing, the script checks that the implementations compute the same thing
(the loop version against the reference, the reference against PyTorch) and that the
reference keeps float32 through a float32 step. Each timing is the median of
repetitions after a warm-up, the implementations taking turns in short blocks (see
``timed_blocks``). Next to the medians it reports the minor page faults per call and,
on Linux, how much CPU other processes used meanwhile (numbers taken on a busy machine
are flagged). The goals are printed as PASS/FAIL lines; the exit status is 0 whatever
they say (a benchmark reports, it does not gate).

Options: ``--quick`` (fewer repetitions), ``--json PATH`` (write the numbers),
``--threads N`` (set both NumPy's BLAS and PyTorch to N threads; default: leave both
at their defaults), ``--reps``/``--loop-reps``/``--block``/``--settle`` (the schedule).
"""
import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Goals: (case, quantity, comparison, bound)
GOALS = [
    ("mlp_step", "reference/pytorch", "<=", 1.5),
    ("conv2d_fwd_bwd", "reference/pytorch", "<=", 4.0),
    ("conv2d_fwd_bwd", "loop/reference", ">=", 10.0),
]
DTYPES = ("float64", "float32")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, noisy numbers)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="use N threads in NumPy's BLAS and in PyTorch (default: both at their defaults)")
    parser.add_argument("--reps", type=int, help="timed repetitions of the fast implementations (default 30, quick 6)")
    parser.add_argument("--block", type=int, help="consecutive timed calls per turn (default 5, quick 3)")
    parser.add_argument("--settle", type=float, default=0.3, metavar="SECONDS",
                        help="pause before each block so the other library's threads stop spinning (default 0.3)")
    parser.add_argument("--loop-reps", type=int, help="timed repetitions of the loop Conv2d (default 3, quick 1)")
    return parser.parse_args(argv)


# Parsed before NumPy is imported, for --threads. Imported as a module: the defaults.
ARGS = parse_args(None if __name__ == "__main__" else [])
if ARGS.threads is not None:
    # Must happen before NumPy (and its BLAS) is loaded.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402
import scipy  # noqa: E402
from scipy.signal import convolve2d, correlate2d  # noqa: E402

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference_impl import (  # noqa: E402
    ClassNLLCriterion,
    Conv2d,
    Linear,
    LogSoftMax,
    ReLU,
    Sequential,
    sgd_momentum,
)
from reference_impl.base import Module  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except Exception as error:  # ImportError, or a broken install (OSError from a shared library)
    torch = None
    F = None
    TORCH_ERROR = f"{type(error).__name__}: {error}"
else:
    TORCH_ERROR = None

try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None


# --------------------------------------------------------------------------------------
# The loop-based Conv2d, written the way students usually write it.
# --------------------------------------------------------------------------------------

class LoopConv2d(Module):
    """Same contract as ``reference_impl.Conv2d`` (stride 1, "same" zero padding),
    but one ``scipy.signal`` call per (sample, output channel, input channel)."""

    def __init__(self, W, b):
        super().__init__()
        self.W = W.copy()
        self.b = b.copy()
        self.gradW = np.zeros_like(self.W)
        self.gradb = np.zeros_like(self.b)

    def updateOutput(self, input):
        n, c_in, h, w = input.shape
        c_out = self.W.shape[0]
        self.output = np.empty((n, c_out, h, w), dtype=np.result_type(input, self.W))
        for i in range(n):
            for o in range(c_out):
                acc = np.full((h, w), self.b[o], dtype=self.output.dtype)
                for c in range(c_in):
                    acc += correlate2d(input[i, c], self.W[o, c], mode="same")
                self.output[i, o] = acc
        return self.output

    def updateGradInput(self, input, gradOutput):
        n, c_in, h, w = input.shape
        c_out = self.W.shape[0]
        self.gradInput = np.empty(input.shape, dtype=np.result_type(gradOutput, self.W))
        for i in range(n):
            for c in range(c_in):
                acc = np.zeros((h, w), dtype=self.gradInput.dtype)
                for o in range(c_out):
                    # the adjoint of a "same" correlation is a "same" convolution
                    acc += convolve2d(gradOutput[i, o], self.W[o, c], mode="same")
                self.gradInput[i, c] = acc
        return self.gradInput

    def accGradParameters(self, input, gradOutput):
        n, c_in, h, w = input.shape
        c_out = self.W.shape[0]
        pad = self.W.shape[-1] // 2
        for i in range(n):
            padded = np.pad(input[i], ((0, 0), (pad, pad), (pad, pad)))
            for o in range(c_out):
                for c in range(c_in):
                    self.gradW[o, c] += correlate2d(padded[c], gradOutput[i, o], mode="valid")
        self.gradb += gradOutput.sum(axis=(0, 2, 3))

    def getParameters(self):
        return [self.W, self.b]

    def getGradParameters(self):
        return [self.gradW, self.gradb]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------

def modules_of(model):
    """The layers of a container (anything with a ``modules`` list), or the layer itself."""
    return list(model.modules) if isinstance(getattr(model, "modules", None), list) else [model]


def cast_reference(model, dtype):
    """Cast every parameter and gradient buffer of a reference model to ``dtype``."""
    for module in modules_of(model):
        for name in ("W", "b", "gradW", "gradb"):
            if hasattr(module, name):
                setattr(module, name, getattr(module, name).astype(dtype))


def dtype_leaks(model, dtype, extra=()):
    """Every array touched by the last step whose dtype is not ``dtype``: ``[(where, dtype)]``."""
    leaks = []

    def check(where, value):
        if value is not None and np.asarray(value).dtype != dtype:
            leaks.append((where, str(np.asarray(value).dtype)))

    for i, module in enumerate(modules_of(model)):
        label = f"{i}:{type(module).__name__}"
        check(f"{label}.output", module.output)
        check(f"{label}.gradInput", module.gradInput)
        for name in ("W", "b", "gradW", "gradb"):
            if hasattr(module, name):
                check(f"{label}.{name}", getattr(module, name))
    for where, value in extra:
        check(where, value)
    return leaks


def timed_blocks(impls, block, settle):
    """Time ``impls``, a list of ``(name, fn, n_reps, n_warmup)``, interleaved in blocks.

    Every implementation is first called ``n_warmup`` times. The timed calls are then
    cut into blocks of at most ``block`` consecutive calls, and the implementations take
    turns block by block (the order rotating from round to round), so that slow drift
    of the machine hits all of them alike; an implementation with fewer repetitions is
    spread evenly over the rounds.

    Why blocks and a pause rather than strict call-by-call alternation: after a call,
    OpenBLAS (NumPy) and OpenMP (PyTorch) keep their idle worker threads spinning for a
    while (OpenBLAS by default about 2**28 cycles, ~0.1 s). On a machine with few cores
    those spinning threads steal the cores from the *other* library's next call, which
    measured up to 2x slower right after a switch. So before each block we sleep
    ``settle`` seconds and make one untimed call (not for implementations whose
    ``n_warmup`` is 0, meant for the slow loop version). The garbage collector is off
    while timing, as in ``timeit``.

    Returns ``({name: [seconds, ...]}, {name: minor page faults per timed call or None})``.
    """
    for _, fn, _, n_warmup in impls:
        for _ in range(n_warmup):
            fn()
    longest = max(n for _, _, n, _ in impls)
    rounds = -(-longest // block)
    plan = {}
    for name, _, n, _ in impls:
        per_round = [0] * rounds
        if n >= rounds:  # as even as possible, the larger blocks first
            for i in range(n):
                per_round[i % rounds] += 1
        else:
            for r in np.round(np.linspace(0, rounds - 1, n)).astype(int):
                per_round[r] += 1
        plan[name] = per_round
    times = {name: [] for name, _, _, _ in impls}
    faults = {name: 0 for name, _, _, _ in impls}
    gc_was_enabled = gc.isenabled()
    try:
        for r in range(rounds):
            order = impls[r % len(impls):] + impls[:r % len(impls)]
            for name, fn, _, n_warmup in order:
                if not plan[name][r]:
                    continue
                time.sleep(settle)
                if n_warmup:
                    fn()
                gc.collect()
                gc.disable()
                faults_before = minor_page_faults()
                for _ in range(plan[name][r]):
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
                faults_after = minor_page_faults()
                if faults[name] is not None and faults_before is not None:
                    faults[name] += faults_after - faults_before
                else:
                    faults[name] = None
                if gc_was_enabled:
                    gc.enable()
    finally:
        if gc_was_enabled:
            gc.enable()
    faults = {name: None if f is None else f / len(times[name]) for name, f in faults.items()}
    return times, faults


def minor_page_faults():
    """Minor page faults of this process so far (all threads), or None where unknown.

    Fresh memory costs one fault per 4 KiB page on first touch; a step that allocates
    large temporaries which the allocator hands back to the system every time pays them
    on every call.
    """
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class BackgroundLoad:
    """How busy *other* processes kept the machine since this object was made.

    Linux only (``/proc/stat``, which counts every CPU's busy and stolen time, minus this
    process's own CPU time); ``share()`` is None elsewhere. A benchmark on a shared
    machine is only as good as this number is small.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        try:
            import resource

            with open("/proc/stat") as stat:
                ticks = [int(t) for t in stat.readline().split()[1:9]]  # user .. steal
            hz = os.sysconf("SC_CLK_TCK")
            usage = resource.getrusage(resource.RUSAGE_SELF)
        except (ImportError, OSError, ValueError, AttributeError):
            return None
        busy = (sum(ticks) - ticks[3] - ticks[4]) / hz  # all but idle and iowait
        return time.perf_counter(), busy, usage.ru_utime + usage.ru_stime

    def share(self):
        """CPU time of other processes (and the hypervisor's steal) / (wall time * CPUs)."""
        end = self._sample()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        others = (end[1] - self.start[1]) - (end[2] - self.start[2])
        return max(0.0, others) / ((end[0] - self.start[0]) * (os.cpu_count() or 1))


class PrintingList(list):
    """A list of report lines that also prints each line as it is added."""

    def append(self, line):
        print(f"  {line}", flush=True)
        super().append(line)


def thread_report():
    lines = []
    blas_threads = None
    if threadpoolctl is not None:
        for pool in threadpoolctl.threadpool_info():
            lines.append(f"  threadpool: {pool.get('user_api')}/{pool.get('internal_api')} "
                         f"{pool.get('version') or ''} num_threads={pool.get('num_threads')} "
                         f"({os.path.basename(pool.get('filepath', ''))})")
            if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", "").lower():
                blas_threads = pool.get("num_threads")
        if blas_threads is None:
            blas = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
            blas_threads = blas[0]["num_threads"] if blas else None
    else:
        lines.append("  threadpoolctl is not importable: NumPy's BLAS thread count is not shown")
    return lines, blas_threads


# --------------------------------------------------------------------------------------
# Case 1: MLP training step
# --------------------------------------------------------------------------------------

MLP = dict(batch=128, n_in=784, hidden=256, n_out=10, learning_rate=0.01, momentum=0.9)


def make_mlp_reference(dtype, seed=0):
    np.random.seed(seed)
    model = Sequential()
    model.add(Linear(MLP["n_in"], MLP["hidden"]))
    model.add(ReLU())
    model.add(Linear(MLP["hidden"], MLP["n_out"]))
    model.add(LogSoftMax())
    cast_reference(model, dtype)
    return model


def mlp_data(dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((MLP["batch"], MLP["n_in"])).astype(dtype)
    labels = rng.integers(0, MLP["n_out"], size=MLP["batch"])
    target = np.zeros((MLP["batch"], MLP["n_out"]), dtype=dtype)
    target[np.arange(MLP["batch"]), labels] = 1
    return x, labels, target


def mlp_reference_step_fn(model, x, target):
    criterion = ClassNLLCriterion()
    config = {"learning_rate": MLP["learning_rate"], "momentum": MLP["momentum"]}
    state = {}

    def step():
        model.zeroGradParameters()
        predictions = model.forward(x)
        loss = criterion.forward(predictions, target)
        model.backward(x, criterion.backward(predictions, target))
        sgd_momentum(model.getParameters(), model.getGradParameters(), config, state)
        return float(loss)

    step.criterion = criterion
    step.state = state
    return step


def mlp_torch_step_fn(reference_model, x, labels, dtype):
    tdtype = getattr(torch, dtype)
    lin1 = torch.nn.Linear(MLP["n_in"], MLP["hidden"]).to(tdtype)
    lin2 = torch.nn.Linear(MLP["hidden"], MLP["n_out"]).to(tdtype)
    with torch.no_grad():  # start from the reference's weights
        for lin, ref in ((lin1, reference_model[0]), (lin2, reference_model[2])):
            lin.weight.copy_(torch.from_numpy(np.array(ref.W)))
            lin.bias.copy_(torch.from_numpy(np.array(ref.b)))
    params = list(lin1.parameters()) + list(lin2.parameters())
    optimizer = torch.optim.SGD(params, lr=MLP["learning_rate"], momentum=MLP["momentum"])
    xt = torch.from_numpy(x)
    yt = torch.from_numpy(labels)

    def step():
        optimizer.zero_grad()
        log_probs = F.log_softmax(lin2(F.relu(lin1(xt))), dim=1)
        loss = F.nll_loss(log_probs, yt, reduction="mean")
        loss.backward()
        optimizer.step()
        return loss.item()

    step.modules = (lin1, lin2)
    return step


def check_mlp(report):
    """Float64: three steps of the reference and of PyTorch land on the same weights.
    Float32: the reference keeps float32 everywhere (also reports what a float64 target does)."""
    x, labels, target = mlp_data(np.float64)
    ref = make_mlp_reference(np.float64)
    if torch is not None:
        torch_step = mlp_torch_step_fn(ref, x, labels, "float64")
        ref_step = mlp_reference_step_fn(ref, x, target)
        for _ in range(3):
            loss_ref, loss_torch = ref_step(), torch_step()
            assert np.isclose(loss_ref, loss_torch, rtol=1e-10), (loss_ref, loss_torch)
        lin1, lin2 = torch_step.modules
        for lin, module in ((lin1, ref[0]), (lin2, ref[2])):
            np.testing.assert_allclose(module.W, lin.weight.detach().numpy(), rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(module.b, lin.bias.detach().numpy(), rtol=1e-9, atol=1e-12)
        report.append("mlp_step: reference and PyTorch give the same loss and weights after 3 steps (float64)")

    x32, _, target32 = mlp_data(np.float32)
    ref32 = make_mlp_reference(np.float32)
    step = mlp_reference_step_fn(ref32, x32, target32)
    step()
    extra = [("criterion.output", step.criterion.output),
             ("criterion.gradInput", step.criterion.gradInput)]
    extra += [(f"sgd velocity {k}", v) for k, v in step.state["accumulated_grads"].items()]
    leaks = dtype_leaks(ref32, np.float32, extra)
    result = {"float32_target": leaks}
    report.append("mlp_step float32: " + ("the reference keeps float32 through the step" if not leaks else
                  "the reference UPCASTS: " + ", ".join(f"{w}->{d}" for w, d in leaks)))

    # The same step with the float64 one-hot target that reference_impl.data.one_hot returns.
    ref32b = make_mlp_reference(np.float32)
    step = mlp_reference_step_fn(ref32b, x32, target32.astype(np.float64))
    step()
    leaks = dtype_leaks(ref32b, np.float32, [("criterion.gradInput", step.criterion.gradInput)])
    result["float64_target"] = leaks
    if leaks:
        report.append("mlp_step float32 with a float64 one-hot target (what data.one_hot returns): silently "
                      "computes in float64: " + ", ".join(f"{w}->{d}" for w, d in leaks))
    return result


# --------------------------------------------------------------------------------------
# Case 2: Conv2d forward + backward
# --------------------------------------------------------------------------------------

CONV = dict(batch=32, c_in=16, c_out=32, size=28, kernel=3)


def conv_setup(dtype, seed=0):
    np.random.seed(seed)
    layer = Conv2d(CONV["c_in"], CONV["c_out"], CONV["kernel"])
    cast_reference(layer, dtype)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((CONV["batch"], CONV["c_in"], CONV["size"], CONV["size"])).astype(dtype)
    g = rng.standard_normal((CONV["batch"], CONV["c_out"], CONV["size"], CONV["size"])).astype(dtype)
    return layer, x, g


def conv_module_step_fn(layer, x, g):
    def step():
        layer.zeroGradParameters()
        layer.forward(x)
        return layer.backward(x, g)
    return step


def conv_torch_step_fn(layer, x, g):
    xt = torch.from_numpy(x).requires_grad_(True)
    w = torch.from_numpy(layer.W.copy()).requires_grad_(True)
    b = torch.from_numpy(layer.b.copy()).requires_grad_(True)
    gt = torch.from_numpy(g)
    pad = CONV["kernel"] // 2

    def step():
        xt.grad = w.grad = b.grad = None  # like zeroGradParameters (set_to_none, PyTorch's default)
        out = F.conv2d(xt, w, b, padding=pad)
        out.backward(gt)
        return out

    step.tensors = (xt, w, b)
    return step


def check_conv(report, dtype):
    """The loop version (and PyTorch) compute what the reference computes."""
    layer, x, g = conv_setup(dtype)
    loop = LoopConv2d(layer.W, layer.b)
    conv_module_step_fn(layer, x, g)()
    conv_module_step_fn(loop, x, g)()
    def tol(desired):
        # float32 sums of up to N*H*W = 25088 terms: absolute error relative to the largest entry
        scale = float(np.abs(desired).max())
        if dtype == np.float64:
            return dict(rtol=1e-9, atol=1e-11 * scale)
        return dict(rtol=1e-4, atol=1e-4 * scale)

    for name in ("output", "gradInput", "gradW", "gradb"):
        np.testing.assert_allclose(getattr(loop, name), getattr(layer, name), **tol(getattr(layer, name)),
                                   err_msg=f"LoopConv2d.{name} differs from the reference")
    report.append(f"conv2d_fwd_bwd {np.dtype(dtype).name}: loop version matches the reference "
                  "(output, gradInput, gradW, gradb)")
    if torch is not None:
        step = conv_torch_step_fn(layer, x, g)
        out = step()
        xt, w, b = step.tensors
        for name, mine, theirs in (("output", layer.output, out.detach()), ("gradInput", layer.gradInput, xt.grad),
                                   ("gradW", layer.gradW, w.grad), ("gradb", layer.gradb, b.grad)):
            np.testing.assert_allclose(mine, theirs.numpy(), **tol(mine),
                                       err_msg=f"PyTorch {name} differs from the reference")
        report.append(f"conv2d_fwd_bwd {np.dtype(dtype).name}: PyTorch matches the reference")
    leaks = dtype_leaks(layer, dtype)
    if dtype == np.float32:
        report.append("conv2d_fwd_bwd float32: " + ("the reference keeps float32 through the step" if not leaks else
                      "the reference UPCASTS: " + ", ".join(f"{w}->{d}" for w, d in leaks)))
    return leaks


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------

def main():
    reps = ARGS.reps or (6 if ARGS.quick else 30)
    block = ARGS.block or (3 if ARGS.quick else 5)
    settle = ARGS.settle
    loop_reps = ARGS.loop_reps or (1 if ARGS.quick else 3)
    warmup = 1 if ARGS.quick else 3
    if ARGS.threads is not None and torch is not None:
        torch.set_num_threads(ARGS.threads)

    print("bench_reference: reference_impl vs PyTorch CPU vs a loop-based Conv2d")
    print(f"  python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs")
    thread_lines, blas_threads = thread_report()
    if torch is None:
        print(f"  PyTorch is not importable ({TORCH_ERROR}): the PyTorch baseline is skipped")
        torch_threads = None
    else:
        torch_threads = torch.get_num_threads()
        print(f"  torch {torch.__version__}, torch.get_num_threads() = {torch_threads}")
    for line in thread_lines:
        print(line)
    if torch is not None and blas_threads is not None and blas_threads != torch_threads:
        print(f"  WARNING: NumPy's BLAS uses {blas_threads} threads but PyTorch {torch_threads}; "
              "use --threads N to compare like with like")
    print(f"  median of {reps} timed calls ({loop_reps} for the loop Conv2d), time.perf_counter, after "
          f"{warmup} warm-up call(s);")
    print(f"  implementations take turns in blocks of {block} calls, each block after a {settle:g} s pause "
          "and one untimed call")
    print()

    # -- checks, then timings, case by case -------------------------------------------
    # The MLP goes first, before the Conv2d case's large arrays exist: glibc's malloc
    # adapts its thresholds to the largest blocks freed so far, so whether the MLP's
    # 1.6 MB float64 temporaries cost fresh page faults on every step depends on what ran
    # before in the process (the faults/call column shows whether they did).
    results = []
    shares = []
    checks = PrintingList()

    def record(case, dtype, impls):
        load = BackgroundLoad()
        times, faults = timed_blocks(impls, block, settle)
        share = load.share()
        for impl, ts in times.items():
            results.append({"case": case, "dtype": dtype, "implementation": impl, "reps": len(ts),
                            "median_ms": statistics.median(ts) * 1e3, "min_ms": min(ts) * 1e3,
                            "times_ms": [t * 1e3 for t in ts], "page_faults_per_call": faults[impl],
                            "background_cpu_share": share})
        shown = "" if share is None else f" (other processes meanwhile: {share:.0%} of the CPUs)"
        print(f"  timed {case} {dtype}{shown}", flush=True)
        shares.append(share)

    print("mlp_step:")
    mlp_leaks = check_mlp(checks)
    for dtype in DTYPES:
        x, labels, target = mlp_data(np.dtype(dtype))
        ref = make_mlp_reference(np.dtype(dtype))
        impls = [("reference", mlp_reference_step_fn(ref, x, target), reps, warmup)]
        if torch is not None:
            impls.append(("pytorch", mlp_torch_step_fn(ref, x, labels, dtype), reps, warmup))
        record("mlp_step", dtype, impls)
    print()

    print("conv2d_fwd_bwd:")
    conv_leaks = {dtype: check_conv(checks, getattr(np, dtype)) for dtype in DTYPES}
    for dtype in DTYPES:
        layer, x, g = conv_setup(np.dtype(dtype))
        impls = [("reference", conv_module_step_fn(layer, x, g), reps, warmup)]
        if torch is not None:
            impls.append(("pytorch", conv_torch_step_fn(layer, x, g), reps, warmup))
        # the loop version takes seconds per call: one warm-up run (none with --quick)
        loop = LoopConv2d(layer.W, layer.b)
        impls.append(("loop", conv_module_step_fn(loop, x, g), loop_reps, 0 if ARGS.quick else 1))
        record("conv2d_fwd_bwd", dtype, impls)
    print()

    # -- ratios -----------------------------------------------------------------------
    medians = {(r["case"], r["dtype"], r["implementation"]): r["median_ms"] for r in results}
    for r in results:
        key = (r["case"], r["dtype"])
        torch_ms = medians.get(key + ("pytorch",))
        ref_ms = medians.get(key + ("reference",))
        r["ratio_to_pytorch"] = r["median_ms"] / torch_ms if torch_ms else None
        r["ratio_loop_to_reference"] = (r["median_ms"] / ref_ms
                                        if r["implementation"] == "loop" and ref_ms else None)

    # -- table ------------------------------------------------------------------------
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    header = ("case", "dtype", "implementation", "reps", "median ms", "min ms", "x PyTorch", "loop/ref",
              "faults/call")
    rows = [(r["case"], r["dtype"], r["implementation"], str(r["reps"]), fmt(r["median_ms"], ".2f"),
             fmt(r["min_ms"], ".2f"), fmt(r["ratio_to_pytorch"], ".2f"), fmt(r["ratio_loop_to_reference"], ".1f"),
             fmt(r["page_faults_per_call"], ".0f"))
            for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    aligns = ["<", "<", "<", ">", ">", ">", ">", ">", ">"]
    line = "  ".join(f"{h:{a}{w}}" for h, a, w in zip(header, aligns, widths))
    print(line)
    print("-" * len(line))
    previous = None
    for row in rows:
        if previous is not None and row[:2] != previous:
            print()
        previous = row[:2]
        print("  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, aligns, widths)))
    print()
    print("x PyTorch = median / PyTorch median in the same case and dtype; loop/ref = loop median / reference median;")
    print("faults/call = minor page faults per timed call (fresh memory touched: allocator churn)")
    busiest = max((s for s in shares if s is not None), default=None)
    if busiest is not None and busiest > 0.05:
        print(f"WARNING: other processes used up to {busiest:.0%} of the CPUs while timing: "
              "the numbers are noisy, re-run on an idle machine")
    print()

    # -- goals ------------------------------------------------------------------------
    goals = []
    print("Goals (reported, not enforced):")
    for case, quantity, op, bound in GOALS:
        num, den = quantity.split("/")
        for dtype in DTYPES:
            a, b = medians.get((case, dtype, num)), medians.get((case, dtype, den))
            if a is None or b is None:
                status, ratio = "SKIP", None
            else:
                ratio = a / b
                ok = ratio <= bound if op == "<=" else ratio >= bound
                status = "PASS" if ok else "FAIL"
            goals.append({"case": case, "dtype": dtype, "quantity": quantity, "op": op, "bound": bound,
                          "ratio": ratio, "status": status})
            shown = "n/a (PyTorch not available)" if ratio is None else f"{ratio:.2f}"
            print(f"  {status}  {case} {quantity} {op} {bound:g} [{dtype}]: {shown}")

    if ARGS.json:
        payload = {
            "meta": {
                "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                "torch": None if torch is None else torch.__version__, "torch_error": TORCH_ERROR,
                "torch_num_threads": torch_threads, "blas_num_threads": blas_threads,
                "threadpool_info": threadpoolctl.threadpool_info() if threadpoolctl else None,
                "cpu_count": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform(),
                "reps": reps, "loop_reps": loop_reps, "warmup": warmup, "block": block, "settle_s": settle,
                "quick": ARGS.quick,
                "mlp": MLP, "conv": CONV,
            },
            "checks": checks,
            "dtype_leaks": {"mlp_step": mlp_leaks, "conv2d_fwd_bwd": conv_leaks},
            "results": results,
            "goals": goals,
        }
        path = Path(ARGS.json)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True)
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    main()
    sys.exit(0)
