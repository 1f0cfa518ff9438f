"""Seed-parallel training (issue 17, rnnbench/group.py): the training step of a group of seeds
against the same seeds trained one by one on the fused backend, at the issue's shape (batch 50,
T 100, input 1, forward+backward) and two widths.

    GroupedStep   time_forward_backward                  (gate on this: a regression in the grouped
                                                          scans or in vmap's overhead shows here)
                  track_step_samples_per_s               (every seed's step-samples per second)

`mode`: "fused x1" one seed on the fused backend (what a solo run of lstm/rnn does), "group x8" a
group of 8 seeds in lockstep (the cell backend's grouped scans under torch.func.vmap). The ratio of
their step-samples/s is the speed-up of grouping; `rnnbench throughput --seeds 1 8` prints it.
"""
from __future__ import annotations

from rnnbench import throughput as tp

from .common import Benchmark, pin_threads

ARCHS = ["rnn", "lstm", "gru"]
HIDDEN = [32, 128]
MODES = {"fused x1": ("fused", 1), "group x8": ("cell", 8)}
BATCH, SEQ_LEN, INPUT = 50, 100, 1     # the shape; tests/test_benchmarks.py shrinks it


class GroupedStep(Benchmark):
    params = [ARCHS, HIDDEN, list(MODES)]
    param_names = ["arch", "hidden", "mode"]

    def setup(self, arch, hidden, mode):
        pin_threads()
        backend, seeds = MODES[mode]
        self.case = tp.Case(arch, backend, False, 1, BATCH, SEQ_LEN, INPUT, int(hidden), "cpu", seeds)
        model, x = tp.build(self.case)
        self.step = tp.step_fn(model, x, "forward_backward")
        self.step()                     # the kernels built, the allocator warm

    def time_forward_backward(self, *params):
        """Forward and backward of sum(output) over every seed's batch, gradients dropped."""
        self.step()

    def track_step_samples_per_s(self, *params):
        """Step-samples per second over the group (seeds x batch x T), median of 3 calls."""
        times = tp.time_fn(self.step, warmup=0, repeat=3)
        return self.case.seeds * BATCH * SEQ_LEN / sorted(times)[1]

    track_step_samples_per_s.unit = "step-samples/s"
