"""Kernel throughput: one implementation for `rnnbench throughput` and the asv suites.

A `Case` is one (cell, backend, direction, layers, shape). `bench(case, pass_)`
builds the module and input outside the clock, warms up, and times the pass
with the device synchronised before the clock stops.

FLOPs: the cell's own count (`CellSpec.flops`, rnnbench/models/cells.py: matmul FLOPs,
a forward+backward pass counted as 3x the forward).

seeds > 1: a group of that many stacks (backend cell), their parameters stacked and the pass run
under torch.func.vmap, as seed-parallel training runs them (rnnbench/group.py): the recurrence
in the grouped scans. FLOPs and step-samples count every seed.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch

from . import allocator
from .models import CELLS, MODELS, build as build_model, zoo

PASSES = ("forward", "forward_backward")
BARE = "torch.nn"   # the pseudo-backend: a bare torch.nn.LSTM/GRU/RNN, the reference


@dataclass(frozen=True)
class Case:
    arch: str = "lstm"
    backend: str = "fused"
    bidirectional: bool = False
    layers: int = 1
    batch: int = 64
    seq_len: int = 100
    input_size: int = 256
    hidden: int = 256
    device: str = "cpu"
    seeds: int = 1          # > 1: a group of seeds trained in lockstep (backend cell)

    @property
    def label(self) -> str:
        d = "bi" if self.bidirectional else "uni"
        group = f"/S{self.seeds}" if self.seeds > 1 else ""
        return (f"{self.arch}/{self.backend}/{d}/L{self.layers}/"
                f"N{self.batch}xT{self.seq_len}xI{self.input_size}xH{self.hidden}{group}")


def flops(case: Case, pass_: str = "forward") -> float:
    """Matmul FLOPs of one pass of the case (the cell's `CellSpec.flops`; a sequence model's
    `zoo.flops`)."""
    if case.arch in MODELS:
        with torch.device("meta"):
            module = zoo.features(case.arch, case.input_size, case.hidden, case.layers, case.seq_len)
        return zoo.flops(module, case.batch, case.seq_len, backward=pass_ == "forward_backward")
    return case.seeds * CELLS.get(case.arch).flops(
        case.input_size, case.hidden, batch=case.batch, seq_len=case.seq_len, layers=case.layers,
        bidirectional=case.bidirectional, backward=pass_ == "forward_backward")


def n_params(case: Case) -> int:
    """Parameters of the timed module (the bare stack, or a sequence model's features)."""
    if case.arch in MODELS:
        with torch.device("meta"):
            module = zoo.features(case.arch, case.input_size, case.hidden, case.layers, case.seq_len)
        return sum(p.numel() for p in module.parameters())
    return CELLS.get(case.arch).n_params(case.input_size, case.hidden, case.layers, case.bidirectional)


def matched(case: Case, cell: str) -> Case:
    """The case at the width whose timed module has as many parameters as `cell`'s bare stack at
    the case's sizes (zoo.match_params): throughput at the same parameter count."""
    target = n_params(replace(case, arch=cell, backend="fused"))
    step = 1
    if case.arch in MODELS:
        spec = MODELS.get(case.arch)
        step = spec.options[spec.width_multiple_of] if spec.width_multiple_of else 1
    return replace(case, hidden=zoo.match_params(target, lambda h: n_params(replace(case, hidden=h)), step=step))


def build(case: Case) -> tuple[torch.nn.Module, torch.Tensor]:
    """The module and a [T, N, I] input, on the case's device; a sequence model of MODELS
    (tcn, transformer, window-mlp: unidirectional, backend "cell") its features module and a
    batch-first [N, T, I] input."""
    torch.manual_seed(0)
    if case.backend == BARE:
        kinds = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
        model = kinds[case.arch](case.input_size, case.hidden, num_layers=case.layers,
                                 bidirectional=case.bidirectional)
    elif case.arch in MODELS:
        model = zoo.features(case.arch, case.input_size, case.hidden, case.layers, case.seq_len).to(case.device)
        return model, torch.randn(case.batch, case.seq_len, case.input_size, device=case.device)
    elif case.seeds > 1:
        stacks = [build_model(case.arch, case.input_size, case.hidden, backend="cell",
                              bidirectional=case.bidirectional, layers=case.layers) for _ in range(case.seeds)]
        model = Grouped(stacks).to(case.device)
        return model, torch.randn(case.seeds, case.seq_len, case.batch, case.input_size, device=case.device)
    else:
        model = build_model(case.arch, case.input_size, case.hidden, backend=case.backend,
                            bidirectional=case.bidirectional, layers=case.layers)
    model = model.to(case.device)
    x = torch.randn(case.seq_len, case.batch, case.input_size, device=case.device)
    return model, x


class Grouped(torch.nn.Module):
    """S recurrent stacks as one module: parameters stacked [S, ...], `forward(x [S, T, N, I])`
    runs each stack on its slice under torch.func.vmap (the grouped scans), -> output [S, T, N, H]."""

    def __init__(self, stacks: list[torch.nn.Module]):
        super().__init__()
        from torch.func import stack_module_state

        params, _ = stack_module_state(stacks)
        self.names = list(params)
        self.stacked = torch.nn.ParameterList([torch.nn.Parameter(params[k].detach()) for k in self.names])
        self._base = [stacks[0]]        # a list: not a submodule, its own parameters are not timed

    def forward(self, x):
        from torch.func import functional_call, vmap

        base = self._base[0]
        params = dict(zip(self.names, self.stacked))
        return vmap(lambda p, xx: functional_call(base, p, (xx,))[0], randomness="error")(params, x)


def step_fn(model: torch.nn.Module, x: torch.Tensor, pass_: str) -> Callable[[], None]:
    """A closure running one pass (no allocation of inputs inside)."""
    if pass_ == "forward":
        def fwd():
            with torch.no_grad():
                model(x)
        return fwd
    x = x.clone().requires_grad_(False)

    def fwd_bwd():
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out   # a recurrent stack's (output, h_n)
        out.sum().backward()
        for p in model.parameters():
            p.grad = None
    return fwd_bwd


def sync(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def time_fn(fn: Callable[[], None], *, warmup: int = 2, repeat: int = 5, device="cpu") -> list[float]:
    """Seconds of each of `repeat` calls after `warmup` calls; synchronised on CUDA."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def bench(case: Case, pass_: str = "forward", *, warmup: int = 2, repeat: int = 5) -> dict:
    """One tidy row: the case, the pass, median seconds, step-samples/s, GFLOP/s."""
    allocator.tune()                       # what `rnnbench train` runs with
    model, x = build(case)
    times = time_fn(step_fn(model, x, pass_), warmup=warmup, repeat=repeat, device=case.device)
    sec = statistics.median(times)
    return {**asdict(case), "pass": pass_, "seconds": sec, "seconds_min": min(times),
            "repeat": repeat, "step_samples_per_s": case.seeds * case.batch * case.seq_len / sec,
            "n_params": n_params(case),
            "gflops": flops(case, pass_) / sec / 1e9, "threads": torch.get_num_threads()}


def compare(cases: list[Case], passes=PASSES, *, warmup: int = 2, repeat: int = 5, rounds: int = 3) -> list[dict]:
    """Interleave the cases round-robin (ABAB...) so machine noise hits them alike.

    Returns one row per (case, pass) with the median over all rounds' repeats, and each
    round's median as `round_seconds` (space-separated): the samples an interval between two
    cases is computed from (rnnbench.claims: GRU vs LSTM per hidden size).
    """
    allocator.tune()                       # what `rnnbench train` runs with
    built = {c: build(c) for c in cases}
    samples: dict[tuple, list[list[float]]] = {(c, p): [] for c in cases for p in passes}
    for _ in range(rounds):
        for c in cases:
            model, x = built[c]
            for p in passes:
                samples[(c, p)].append(time_fn(step_fn(model, x, p), warmup=warmup, repeat=repeat, device=c.device))
    rows = []
    for (c, p), per_round in samples.items():
        times = [t for r in per_round for t in r]
        sec = statistics.median(times)
        rows.append({**asdict(c), "pass": p, "seconds": sec, "seconds_min": min(times),
                     "repeat": len(times), "rounds": len(per_round),
                     "round_seconds": " ".join(f"{statistics.median(r):.6g}" for r in per_round),
                     "step_samples_per_s": c.seeds * c.batch * c.seq_len / sec, "n_params": n_params(c),
                     "gflops": flops(c, p) / sec / 1e9, "threads": torch.get_num_threads()})
    return rows
