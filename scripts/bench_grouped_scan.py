"""A group of S seeds through the cell backend's grouped scans, against S solo runs.

    python scripts/bench_grouped_scan.py [--arch lstm gru rnn] [--hidden 32 64 128] [--S 1 4 8]
                                         [--batch 50 --T 100 --input 1] [--rounds 5] [--out g.csv]

Forward + backward of one layer (the sum of its outputs; every weight's gradient), float32,
1 thread unless --threads, per (arch, hidden, S):

    grouped     one call of the cell's Function (scan_functions: RNNScan / LSTMScan / GRUScan)
                on S seeds at once: x [S, T, B, in], weights [S, ...] (what torch.func.vmap over
                S stacked models runs)
    solo cell   S calls of the same Function with S = 1 (the cell backend's solo fast path)
    fused       S calls of torch.nn.RNN / LSTM / GRU (oneDNN)

Variants run interleaved (A B C A B C ...), each time is the median of the rounds, in ms per
group of S: the thread's CPU time by default (--clock cpu: on a shared machine the time the
process waits for a core is not counted; page faults are), or wall time (--clock wall, for a
quiet machine; threads > 1 needs it). GFLOP/s counts the matmuls (`CellSpec.flops`, backward = 3x forward); x fused is
the grouped step-samples/s over the fused ones (issue 17's target: >= 4 at S = 8, hidden 32
and 64). Timings need a quiet machine.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time

import torch

from rnnbench.models import CELLS, build
from rnnbench.models.cells import ACTIVATIONS
from rnnbench.models.scan_functions import GRUScan, LSTMScan, RNNScan
from rnnbench.throughput import time_fn

CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def cpu_time_fn(fn, *, warmup: int, repeat: int) -> list[float]:
    """time_fn's seconds, on the thread's CPU clock."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return times


def grouped(arch: str, S: int, T: int, B: int, I: int, H: int):
    """A forward+backward callable of one Function call over S seeds (torch.nn's init)."""
    G = {"lstm": 4, "gru": 3}.get(arch, 1) * H
    k = H ** -0.5
    w = [(torch.rand(*shape) * 2 - 1).mul_(k).requires_grad_() for shape in ((S, G, I), (S, G), (S, G, H), (S, G))]
    w_ih, b_ih, w_hh, b_hh = w
    x, h0 = torch.randn(S, T, B, I), torch.zeros(S, B, H)

    def run():
        if arch == "lstm":
            out = LSTMScan.apply(x, w_ih, b_ih + b_hh, h0, h0, w_hh, None, True)[0]
        elif arch == "gru":
            out = GRUScan.apply(x, w_ih, b_ih, h0, w_hh, b_hh, None, True)[0]
        else:
            out = RNNScan.apply(x, w_ih, b_ih + b_hh, h0, w_hh, ACTIVATIONS["tanh"], None)[0]
        out.sum().backward()
        for p in w:
            p.grad = None
    return run


def fused(arch: str, S: int, T: int, B: int, I: int, H: int):
    """S forward+backward calls of torch.nn (one model each)."""
    models = [build(arch, I, H, backend="fused") for _ in range(S)]
    xs = [torch.randn(T, B, I) for _ in range(S)]

    def run():
        for m, x in zip(models, xs):
            m(x)[0].sum().backward()
            for p in m.parameters():
                p.grad = None
    return run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["lstm", "gru", "rnn"], choices=["lstm", "gru", "rnn"])
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--S", type=int, nargs="+", default=[1, 4, 8], help="seeds per group")
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--input", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timed calls per variant")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=list(CLOCKS), default="cpu", help="cpu: the thread's CPU time (default); wall")
    ap.add_argument("--out", help="also write the rows as CSV here")
    args = ap.parse_args()
    if min(args.hidden + args.S + [args.batch, args.T, args.input, args.rounds, args.threads]) < 1:
        print("bench_grouped_scan: every number must be positive", file=sys.stderr)
        return 2
    if args.clock == "cpu" and args.threads > 1:
        print("bench_grouped_scan: --threads > 1 needs --clock wall (CPU time adds up the threads)", file=sys.stderr)
        return 2
    timer = cpu_time_fn if args.clock == "cpu" else time_fn
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    T, B, I = args.T, args.batch, args.input
    print(f"batch {B}, T {T}, input {I}, float32, {torch.get_num_threads()} thread(s); forward+backward, "
          f"median of {args.rounds} interleaved rounds, ms ({args.clock} time) per group of S")
    head = ["arch", "hidden", "S", "grouped ms", "solo cell ms", "fused ms", "grouped GFLOP/s",
            "fused GFLOP/s", "grouped Mstep-samples/s", "x solo cell", "x fused"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    rows = []
    for arch in args.arch:
        for H in args.hidden:
            for S in args.S:
                torch.manual_seed(0)
                solo = [grouped(arch, 1, T, B, I, H) for _ in range(S)]
                variants = {"grouped": grouped(arch, S, T, B, I, H),
                            "solo cell": lambda solo=solo: [f() for f in solo],
                            "fused": fused(arch, S, T, B, I, H)}
                times = {k: [] for k in variants}
                for _ in range(args.rounds):
                    for k, fn in variants.items():
                        times[k] += timer(fn, warmup=1 if not times[k] else 0, repeat=1)
                sec = {k: statistics.median(v) for k, v in times.items()}
                flop = S * CELLS.get(arch).flops(I, H, batch=B, seq_len=T, backward=True)
                row = {"arch": arch, "hidden": H, "S": S, "batch": B, "T": T, "input": I,
                       "threads": torch.get_num_threads(), "clock": args.clock,
                       **{f"{k} ms": 1e3 * s for k, s in sec.items()},
                       "grouped GFLOP/s": flop / sec["grouped"] / 1e9, "fused GFLOP/s": flop / sec["fused"] / 1e9,
                       "grouped Mstep-samples/s": S * B * T / sec["grouped"] / 1e6,
                       "x solo cell": sec["solo cell"] / sec["grouped"], "x fused": sec["fused"] / sec["grouped"]}
                rows.append(row)
                print("| " + " | ".join(f"{row[h]:.2f}" if isinstance(row[h], float) else str(row[h])
                                        for h in head) + " |", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
