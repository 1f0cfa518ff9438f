"""Side-by-side timing of bare torch.nn, our fused backend and our cell backend.

    python scripts/bench_backends.py [--arch lstm gru rnn] [--batch 64 --seq 100 --size 256]

Forward (under no_grad) and forward+backward, float32, default threads. The variants run
interleaved (A B C A B C ...) so that load from other processes spreads over all of them;
each cell of the table is the median of the rounds. Targets: fused / bare >= 0.97 (the
wrapper costs nothing), cell / fused >= 0.8 (speed ratios: time of the reference / time).
"""
from __future__ import annotations

import argparse
import statistics
from typing import Callable

import torch

from rnnbench.models import build
from rnnbench.throughput import time_fn   # time_fn(fn, *, warmup, repeat, device) -> seconds


def passes(model, x) -> dict[str, Callable[[], None]]:
    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        model(x)[0].sum().backward()
        model.zero_grad(set_to_none=True)

    return {"forward": forward, "forward+backward": forward_backward}


def models(arch: str, size: int) -> dict[str, torch.nn.Module]:
    bare = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[arch](size, size)
    fused = build(arch, size, size, backend="fused")
    cell = build(arch, size, size, backend="cell")
    fused.load_state_dict(bare.state_dict())
    cell.load_state_dict(bare.state_dict())
    return {"bare": bare, "fused": fused, "cell": cell}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["lstm", "gru", "rnn"], choices=["lstm", "gru", "rnn"])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq", type=int, default=100)
    ap.add_argument("--size", type=int, default=256, help="input size = hidden size")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved timed calls per variant")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.seq, args.batch, args.size)
    print(f"batch {args.batch}, seq {args.seq}, input = hidden = {args.size}, float32, "
          f"{torch.get_num_threads()} threads; median of {args.rounds} interleaved rounds (ms)")
    print(f"| {'arch':<5}| {'pass':<17}| {'bare':>7} | {'fused':>7} | {'cell':>7} | bare/fused | fused/cell |")
    print("|" + "|".join("-" * w for w in (6, 18, 9, 9, 9, 12, 12)) + "|")
    for arch in args.arch:
        fns = {name: passes(m, x) for name, m in models(arch, args.size).items()}
        for pass_ in ("forward", "forward+backward"):
            times = {name: [] for name in fns}
            for _ in range(2):                                      # warm-up
                for name in fns:
                    fns[name][pass_]()
            for _ in range(args.rounds):
                for name in fns:
                    times[name] += time_fn(fns[name][pass_], warmup=0, repeat=1)
            ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
            print(f"| {arch:<5}| {pass_:<17}| {ms['bare']:7.1f} | {ms['fused']:7.1f} | {ms['cell']:7.1f} "
                  f"| {ms['bare'] / ms['fused']:10.3f} | {ms['fused'] / ms['cell']:10.3f} |")


if __name__ == "__main__":
    main()
