"""What every suite shares: the `Benchmark` base (timer settings), the kernel grid and its shapes.

The timing code itself is not here: it is `rnnbench.throughput` (`build`, `step_fn`, `flops`,
`sync`, `compare`), the same code behind `rnnbench throughput`, so asv and the command
measure exactly the same thing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

# Imported here, once, in asv's forkserver: every benchmark process is forked from it and
# would otherwise pay for these itself. torch.optim imports torch._dynamo lazily at the
# first optimizer (about 3 s on this machine), the seq2seq suite's every process.
import torch
import torch._dynamo  # noqa: F401

import rnnbench.models  # noqa: F401
import rnnbench.train  # noqa: F401

# torch intra-op threads in every benchmark process. 1 by default: on a shared or loaded
# machine (CI, 2 cores) OpenMP threads waiting on a descheduled peer made single calls 3 to
# 10 times slower and the spread unusable; one thread measures the kernel's own work.
# RNNBENCH_BENCH_THREADS=N pins N, 0 leaves torch's default (all cores): only compare
# results taken with the same setting.
THREADS = int(os.environ.get("RNNBENCH_BENCH_THREADS", "1"))

# The grid. Spelled out (not read from rnnbench.models) so that asv's parameter keys stay the
# same across commits; tests/test_benchmarks.py checks it against the model registry, so a new
# cell or backend (a compiled / scripted one, say) fails CI until it is added here. A plugin's
# cells (`RNNBENCH_PLUGINS=my_cells asv run ...`, rnnbench/plugins.py) follow the zoo's.
ARCHS = ["rnn", "irnn", "lstm", "gru", "gru-cho", "jordan", "mingru", "minlstm"]
ARCHS += [name for name, spec in rnnbench.models.CELLS.items()
          if name not in ARCHS and not spec.step.__module__.startswith("rnnbench.")]
BACKENDS = ["fused", "cell"]          # fused: rnn, irnn, lstm, gru; cell: every cell
DIRECTIONS = ["uni", "bi"]
LAYERS = [1, 2]
PASSES = ["forward", "forward_backward"]


@dataclass(frozen=True)
class Shape:
    batch: int
    seq_len: int
    input_size: int
    hidden: int


# name -> shape; tests/test_benchmarks.py swaps these for tiny ones.
SHAPES = {
    "latency": Shape(batch=1, seq_len=100, input_size=256, hidden=256),      # one stream, online
    "throughput": Shape(batch=64, seq_len=100, input_size=256, hidden=256),  # training-sized batch
    "deepbench": Shape(batch=32, seq_len=25, input_size=512, hidden=512),    # DeepBench-like, CPU-scaled
    "longseq": Shape(batch=16, seq_len=784, input_size=1, hidden=128),       # pixel-by-pixel MNIST
}


# The sized grid. The full product costs about 105 CPU-seconds for one forward and one
# forward+backward of every point (1 thread, this machine), 57 % of it at `longseq`, where
# the reference-path cells (gru-cho, jordan) backpropagate step by step over 784 steps
# (gru-cho bi 2-layer: 15 s). `longseq` therefore runs unidirectional, 1 layer only: it is
# there for the per-step overhead of long sequences, which that point shows for every cell.
# The other shapes run the whole direction x layers product.
FULL_PRODUCT_ONLY = ("latency", "throughput", "deepbench")


def sized_out(direction: str, layers: int, shape: str) -> str | None:
    """Why a grid point is left out of the sized grid, or None if it is in."""
    if shape not in FULL_PRODUCT_ONLY and (direction, int(layers)) != ("uni", 1):
        return f"{shape} runs uni, 1 layer only (the sized grid: benchmarks/common.py)"
    return None


class Benchmark:
    """Base of every suite (numpy / scikit-learn style): asv's timer settings in one place.

    Every timed call here takes a millisecond or more, so one call per sample (`number`);
    asv warms up with at least one untimed call (oneDNN primitive cache, allocator), then
    takes 3 to 10 samples per process, adding none after 10 s, in 2 processes (`rounds`).
    `timeout` bounds one benchmark at one parameter combination: past it that combination
    is reported failed and the run goes on. `asv run --quick` overrides all of these but
    `timeout` with a single call.
    """
    timeout = 180.0
    number = 1
    repeat = (3, 10, 10.0)
    warmup_time = 0.1
    rounds = 2
    device = "cpu"      # the *Cuda subclasses set "cuda"


def pin_threads() -> None:
    """Apply THREADS, and the allocator settings training runs with (rnnbench/allocator.py);
    called at the start of every setup (in the forked process)."""
    from rnnbench import allocator
    allocator.tune()
    if THREADS > 0 and torch.get_num_threads() != THREADS:
        torch.set_num_threads(THREADS)


def require_device(device: str) -> None:
    """Skip (asv's NotImplementedError) when the device is absent. Called in setup, never at
    import: CUDA must not be initialised in asv's forkserver before it forks."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise NotImplementedError("CUDA is not available on this machine")


def kernel_case(arch: str, backend: str, direction: str, layers: int, shape: str, device: str = "cpu"):
    """The `rnnbench.throughput.Case` of one grid point; NotImplementedError where the
    combination does not exist (no fused gru-cho / jordan, no CUDA) or is sized out."""
    from rnnbench.models import backends_for
    from rnnbench.throughput import Case

    if backend not in backends_for(arch):
        raise NotImplementedError(f"{arch} has no {backend} backend")
    reason = sized_out(direction, layers, shape)
    if reason:
        raise NotImplementedError(reason)
    require_device(device)
    pin_threads()
    s = SHAPES[shape]
    return Case(arch, backend, direction == "bi", int(layers), s.batch, s.seq_len, s.input_size,
                s.hidden, device)


_BUILT: dict = {}


def built(case):
    """(model, x) of a case, built once per process: this asv re-runs `setup` before every
    sample, and a sample should not pay for building the model. One entry only, so a loop
    over the grid (the test suite) never holds more than one model."""
    from rnnbench.throughput import build

    if case not in _BUILT:
        _BUILT.clear()
        _BUILT[case] = build(case)
    return _BUILT[case]
