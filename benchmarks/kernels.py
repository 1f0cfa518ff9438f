"""Recurrent kernels: every cell x backend x direction x layers x shape (see common.py).

    Kernel            time_forward, time_forward_backward, peakmem_forward_backward   (gate on these)
    Throughput        track_step_samples_per_s, track_gflops                        (reports only)
    KernelCuda, ThroughputCuda   the same on CUDA, synchronised; skipped without CUDA

FLOPs: the cell's own count (`CellSpec.flops` in rnnbench/models/cells.py, through
rnnbench.throughput.flops): matmul FLOPs, forward+backward = 3x forward.
One step-sample is one time step of one sequence: a pass over
a [T, N, I] batch processes T * N of them.
"""
from __future__ import annotations

from rnnbench import throughput as tp

from .common import (ARCHS, BACKENDS, DIRECTIONS, LAYERS, PASSES, SHAPES, Benchmark, built,
                     kernel_case, require_device)

GRID = [ARCHS, BACKENDS, DIRECTIONS, LAYERS, list(SHAPES)]
GRID_NAMES = ["arch", "backend", "direction", "layers", "shape"]

# Throughput's measurement (rnnbench.throughput.compare): per round, each case and pass gets
# `warmup` untimed calls then `repeat` timed ones; rounds interleave fused and cell.
# Sized for `asv run --quick` (setup_cache is not shortened by --quick): 3 calls per case
# and pass, the throughput the median (mean) of the 2 timed ones.
TRACK = {"warmup": 1, "repeat": 2, "rounds": 1}


class _Kernel(Benchmark):
    params = GRID
    param_names = GRID_NAMES

    def setup(self, arch, backend, direction, layers, shape):
        self.case = kernel_case(arch, backend, direction, layers, shape, self.device)
        model, x = built(self.case)
        self.forward = tp.step_fn(model, x, "forward")
        self.forward_backward = tp.step_fn(model, x, "forward_backward")

    def time_forward(self, *params):
        """One forward pass over the batch (no autograd graph)."""
        self.forward()
        tp.sync(self.device)

    def time_forward_backward(self, *params):
        """Forward, backward of sum(output) into the parameters, gradients dropped."""
        self.forward_backward()
        tp.sync(self.device)


class Kernel(_Kernel):
    """Seconds per pass of one recurrent stack: the numbers to gate regressions on."""

    def peakmem_forward_backward(self, *params):
        """Peak resident memory of the process through one forward+backward (asv's peakmem:
        the whole process, torch and the model included)."""
        self.forward_backward()


class KernelCuda(_Kernel):
    """Kernel on CUDA: the clock stops after torch.cuda.synchronize(); skipped without CUDA."""
    device = "cuda"

    def track_peak_cuda_memory(self, *params):
        """torch.cuda.max_memory_allocated over one forward+backward (host RSS says nothing
        about the GPU). Larger is worse, as asv assumes."""
        import torch

        torch.cuda.reset_peak_memory_stats()
        self.forward_backward()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()

    track_peak_cuda_memory.unit = "bytes"


def measure_grid(device: str) -> dict:
    """Step-samples/s and GFLOP/s of every (case, pass), by `rnnbench.throughput.compare`:
    the backends of one (arch, direction, layers, shape) are timed round-robin in one
    process, so the cell/fused ratio is measured side by side. {} without the device (not
    None: asv passes no cache argument at all for None)."""
    try:
        require_device(device)
    except NotImplementedError:
        return {}
    out = {}
    for arch in ARCHS:
        for direction in DIRECTIONS:
            for layers in LAYERS:
                for shape in SHAPES:
                    cases = {}
                    for backend in BACKENDS:
                        try:
                            cases[backend] = kernel_case(arch, backend, direction, layers, shape, device)
                        except NotImplementedError:
                            pass
                    by_case = {c: b for b, c in cases.items()}
                    for row in tp.compare(list(cases.values()), PASSES, **TRACK):
                        case = tp.Case(**{k: row[k] for k in tp.Case.__dataclass_fields__})
                        key = (arch, by_case[case], direction, layers, shape, row["pass"])
                        out[key] = {"step_samples_per_s": row["step_samples_per_s"], "gflops": row["gflops"]}
    return out


class _Throughput(Benchmark):
    """Throughput of each kernel, for reports and the README's tables: NOT for regression
    gating. asv reads a larger number as worse for every benchmark type, so a faster kernel
    shows here as a "regression" and a slower one as an "improvement": gate on Kernel's
    times, read these as tables (`asv show`, `asv publish`, scripts/asv_table.py).
    The grid is measured once per run in `setup_cache` (see measure_grid)."""
    params = GRID + [PASSES]
    param_names = GRID_NAMES + ["pass_"]
    timeout = 60.0

    def setup(self, grid, arch, backend, direction, layers, shape, pass_):
        if not grid:
            raise NotImplementedError(f"no {self.device} device on this machine")
        key = (arch, backend, direction, layers, shape, pass_)
        if key not in grid:   # the same reasons as Kernel's
            kernel_case(arch, backend, direction, layers, shape, self.device)
            raise NotImplementedError(f"not measured: {key}")
        self.row = grid[key]

    def track_step_samples_per_s(self, grid, *params):
        """Step-samples per second (batch * seq_len / seconds per pass): higher is better;
        for reports, not regression gating."""
        return self.row["step_samples_per_s"]

    track_step_samples_per_s.unit = "step-samples/s (higher is better; report only)"

    def track_gflops(self, grid, *params):
        """GFLOP/s by the formula in this module's docstring: higher is better; for reports,
        not regression gating."""
        return self.row["gflops"]

    track_gflops.unit = "GFLOP/s (higher is better; report only)"


class Throughput(_Throughput):
    __doc__ = _Throughput.__doc__

    def setup_cache(self):
        return measure_grid("cpu")

    setup_cache.timeout = 1800


class ThroughputCuda(_Throughput):
    """Throughput on CUDA (synchronised before each clock stop); skipped without CUDA."""
    device = "cuda"

    def setup_cache(self):
        return measure_grid("cuda")

    setup_cache.timeout = 1800
