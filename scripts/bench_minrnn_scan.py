"""minGRU / minLSTM: the parallel log-space scan against the sequential step, as a function of T.

    python scripts/bench_minrnn_scan.py [--T 16 64 256 1024 4096] [--batch 64 --size 128]
                                        [--arch mingru minlstm] [--compare gru lstm] [--out scan.csv]

Where does the parallel form start to pay on this machine? For each T, one layer of each cell
(input = hidden = size, float32, 1 thread unless --threads) runs, after the same projection
W_ih x for every t in one matmul:

    log          the parallel form: cumsum + logcumsumexp over t (minrnn.scan_log)
    linear       the same recurrence h_t = a_t h_{t-1} + b_t step by step as one autograd node
                 with its own backward (minrnn.LinearScan): what the cell backend runs on CPU
    step         the step (`CellSpec.step`) looped over t with autograd through every step
                 (the reference loop, without probes)
    <compare>    --compare cells (gru, lstm) at the same size, fused backend: what the min-RNNs
                 are measured against in issue 18 (their parameter counts differ: shown)

forward (no_grad) and forward+backward of sum(output). Variants run interleaved (A B C A B C
...), each number is the median of the rounds; step/log and step/linear are ratios (> 1: the
scan beats the step loop). Timings need a quiet machine: the lead runs this, not the test suite.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
from typing import Callable

import torch
import torch.nn.functional as F

from rnnbench.models import CELLS, build
from rnnbench.models.minrnn import PARALLEL
from rnnbench.models.recurrent import _unroll
from rnnbench.throughput import time_fn   # time_fn(fn, *, warmup, repeat, device) -> seconds


def sequential(m) -> Callable[[torch.Tensor], torch.Tensor]:
    """One layer of cell backend module `m` through its step, t by t (no probes, no lengths)."""
    p = m._params(0, 0)
    step = m.spec.step

    def run(x):
        h0 = x.new_zeros(x.shape[1], m.hidden_size)
        return _unroll(step, F.linear(x, p["weight_ih"], p["bias_ih"]), (h0,), p, None, None)[0]
    return run


def scanned(m, arch: str, scan: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """One layer of cell backend module `m`: the projection, then PARALLEL[arch] with `scan`."""
    p = m._params(0, 0)

    def run(x):
        h0 = x.new_zeros(x.shape[1], m.hidden_size)
        return PARALLEL[arch](F.linear(x, p["weight_ih"], p["bias_ih"]), h0, scan)
    return run


def passes(fn: Callable[[torch.Tensor], torch.Tensor], params, x) -> dict[str, Callable[[], None]]:
    def forward():
        with torch.no_grad():
            fn(x)

    def forward_backward():
        fn(x).sum().backward()
        for q in params:
            q.grad = None
    return {"forward": forward, "forward+backward": forward_backward}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, nargs="+", default=[16, 64, 256, 1024, 4096], help="sequence lengths")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=128, help="input size = hidden size")
    ap.add_argument("--arch", nargs="+", default=["mingru", "minlstm"], choices=["mingru", "minlstm"])
    ap.add_argument("--compare", nargs="*", default=["gru", "lstm"], choices=["gru", "lstm", "rnn"],
                    help="fused cells timed beside them (none: --compare)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timed calls per variant")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", help="also write the rows as CSV here")
    args = ap.parse_args()
    if min(args.T + [args.batch, args.size, args.rounds, args.threads]) < 1:
        print("bench_minrnn_scan: --T, --batch, --size, --rounds and --threads must be positive", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    S = args.size
    mods = {a: build(a, S, S, backend="cell") for a in args.arch}
    ref = {a: build(a, S, S, backend="fused") for a in args.compare}
    count = {a: CELLS.get(a).n_params(S, S) for a in [*args.arch, *args.compare]}
    print(f"batch {args.batch}, input = hidden = {S}, float32, {torch.get_num_threads()} thread(s); "
          f"median of {args.rounds} interleaved rounds (ms); parameters: "
          + ", ".join(f"{a} {n:,}" for a, n in count.items()))
    head = ["T", "pass", *(f"{a} {v}" for a in args.arch for v in ("log", "linear", "step", "step/log", "step/linear")),
            *(f"{a} fused" for a in args.compare)]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    rows = []
    for T in args.T:
        x = torch.randn(T, args.batch, S)
        variants = {}
        for a, m in mods.items():
            for scan in ("log", "linear"):
                variants[(a, scan)] = passes(scanned(m, a, scan), list(m.parameters()), x)
            variants[(a, "step")] = passes(sequential(m), list(m.parameters()), x)
        for a, m in ref.items():
            variants[(a, "fused")] = passes(lambda x, m=m: m(x)[0], list(m.parameters()), x)
        for pass_ in ("forward", "forward+backward"):
            times: dict = {k: [] for k in variants}
            for _ in range(args.rounds):
                for k, fns in variants.items():
                    times[k] += time_fn(fns[pass_], warmup=1 if not times[k] else 0, repeat=1)
            ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
            cells = [str(T), pass_]
            for a in args.arch:
                lg, lin, seq = ms[(a, "log")], ms[(a, "linear")], ms[(a, "step")]
                cells += [f"{lg:.2f}", f"{lin:.2f}", f"{seq:.2f}", f"{seq / lg:.2f}", f"{seq / lin:.2f}"]
            cells += [f"{ms[(a, 'fused')]:.2f}" for a in args.compare]
            print("| " + " | ".join(cells) + " |", flush=True)
            rows += [{"T": T, "pass": pass_, "arch": a, "variant": v, "ms": t, "batch": args.batch, "size": S,
                      "threads": torch.get_num_threads(), "n_params": count[a]} for (a, v), t in ms.items()]
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
