"""Seed-parallel training (issue 17): a group of S seeds against S solo fused runs, per cell and width.

    python scripts/bench_groups.py [--arch rnn lstm gru] [--hidden 32 64 128 256] [--seeds 1 4 8]
                                   [--rounds 3] [--threads 1] [--out groups.csv]

The training step of the issue: batch 50, T 100, input 1, forward + backward of sum(output), one
thread. Per (cell, width) it times, interleaved round-robin (rnnbench.throughput.compare, the code
behind `rnnbench throughput` and asv's groups.GroupedStep):

    fused x1     one seed on the fused backend (torch.nn's kernel: what a solo lstm / rnn run uses)
    cell x1      one seed on the cell backend (the compiled scans; what a solo gru run uses)
    group xS     S seeds in lockstep: stacked parameters under torch.func.vmap, the grouped scans

and prints step-samples/s (every seed's), GFLOP/s (the cells' matmul count, forward+backward = 3x
forward), `vs fused`: a group's step-samples/s over one fused run's (= its speed-up over S fused
runs one after another), `of sgemm`: GFLOP/s as a share of one core's sgemm rate, measured
in the same process on a 1024^3 float32 matmul, and `4x needs`: the share of sgemm a group must
reach to step 4x as fast as one fused run (the issue's target): 4 x the fused run's share. Where it
is near or above 100 %, no kernel built from products of these sizes reaches 4x on this core.
Timings need a quiet machine (or 1 thread).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def sgemm_gflops(n: int = 1024, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def main(argv=None) -> int:
    from rnnbench.throughput import Case, compare

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=["rnn", "lstm", "gru"])
    p.add_argument("--hidden", nargs="+", type=int, default=[32, 64, 128, 256])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 4, 8])
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", help="also write the rows as CSV")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    peak = sgemm_gflops()
    print(f"sgemm 1024^3, {args.threads} thread(s): {peak:.1f} GFLOP/s", file=sys.stderr)
    rows = []
    for arch in args.arch:
        for h in args.hidden:
            cases = [Case(arch, "fused", False, 1, args.batch, args.seq_len, 1, h, "cpu", 1)]
            cases += [Case(arch, "cell", False, 1, args.batch, args.seq_len, 1, h, "cpu", s) for s in args.seeds]
            got = compare(cases, ("forward_backward",), warmup=1, repeat=args.repeat, rounds=args.rounds)
            fused = next(r for r in got if r["backend"] == "fused")
            for r in got:
                r["vs_fused"] = r["step_samples_per_s"] / fused["step_samples_per_s"]
                r["four_x_needs"] = 4 * fused["gflops"] / peak
                r["of_sgemm"] = r["gflops"] / peak
                r["sgemm_gflops"] = peak
                rows.append(r)
            print(f"{arch} H={h}: " + ", ".join(
                f"{r['backend']} x{r['seeds']} {r['step_samples_per_s']:.3g}/s ({r['vs_fused']:.2f}x)" for r in got),
                file=sys.stderr, flush=True)
    print("| cell | H | mode | ms per step | step-samples/s | GFLOP/s | vs fused | of sgemm | 4x needs |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mode = f"{r['backend']} x{r['seeds']}" if r["seeds"] == 1 else f"group x{r['seeds']}"
        print(f"| {r['arch']} | {r['hidden']} | {mode} | {r['seconds'] * 1e3:.1f} | {r['step_samples_per_s']:.3g} | "
              f"{r['gflops']:.1f} | {r['vs_fused']:.2f} | {r['of_sgemm']:.0%} | {r['four_x_needs']:.0%} |")
    if args.out:
        import pandas as pd
        pd.DataFrame(rows).to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
