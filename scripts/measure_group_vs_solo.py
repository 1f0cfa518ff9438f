#!/usr/bin/env python
"""Does training in a group change a seed's final metric? Each seed grouped and alone, side by side.

    python scripts/measure_group_vs_solo.py [--arch lstm gru rnn] [--seeds 8] [--steps 200 600]
                                            [--out DIR]

Per cell and step budget: seeds 0..S-1 of one adding config (T = 12, hidden 16, Adam 1e-2, batch
32, 512 training sequences) trained once as a group (rnnbench.group.run_group: in lockstep) and once
each alone (rnnbench.train.run, the cell backend), at one thread, in this process. The group's
arithmetic differs from a solo run's only in float32 rounding (first step within 1e-5, tested);
what this measures is where those differences go by the end of training:

    |g - s|      per seed, the group's test mse minus its solo run's: the mean and the largest
    seed sd      the solo runs' standard deviation over seeds (the seed-to-seed spread)
    pair/seeds   mean |g - s| over the mean |s_i - s_j| of two different seeds: ~0 where a grouped
                 seed ends where its solo run does; ~1 where it ends as far away as another seed
    g - s        the paired mean difference with its 95 % t interval (rnnbench.report.stats.paired):
                 whether grouping moves the metric one way (an interval that excludes 0) or not
    first step   the largest relative difference in the first 100 steps' losses (steps.csv)

Prints a markdown table and writes it to --out/summary.md, with each run under --out.
Measured 2026-12-01 (README, "Does a seed's result depend on its group?").
"""
from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install


def config(arch: str, steps: int) -> dict:
    return {"task": "adding", "task_params": {"seq_len": 12, "n_train": 512, "n_val": 128, "n_test": 128},
            "arch": arch, "backend": "cell", "hidden": 16, "steps": steps, "batch_size": 32, "lr": 0.01,
            "eval_every": steps, "device": "cpu", "threads": 1}


def losses(run_dir: Path, n: int) -> list[float]:
    return [float(r["loss"]) for r in itertools.islice(csv.DictReader(open(run_dir / "steps.csv")), n)]


def measure(arch: str, steps: int, seeds: list[int], out: Path) -> dict:
    import pandas as pd

    from rnnbench.config import with_task_defaults
    from rnnbench.group import run_group
    from rnnbench.report.stats import paired
    from rnnbench.train import run

    cfg = config(arch, steps)
    where = out / f"{arch}-{steps}"
    grouped = run_group(with_task_defaults({**cfg, "seed": seeds[0]}), [where / f"group{s}" for s in seeds],
                        seeds=seeds, quiet=True)
    solo = [run(with_task_defaults({**cfg, "seed": s}), where / f"solo{s}", quiet=True) for s in seeds]
    g = pd.Series([m["value"] for m in grouped], index=seeds, dtype=float)
    s = pd.Series([m["value"] for m in solo], index=seeds, dtype=float)
    gap = (g - s).abs()
    between = statistics.mean(abs(a - b) for a, b in itertools.combinations(s.tolist(), 2))
    first = max(abs(a - b) / max(abs(b), 1e-12)
                for k in seeds for a, b in zip(losses(where / f"group{k}", 100), losses(where / f"solo{k}", 100)))
    return {"arch": arch, "steps": steps, "seeds": len(seeds), "baseline": solo[0]["baseline"],
            "solo_mean": float(s.mean()), "group_mean": float(g.mean()), "seed_sd": float(s.std(ddof=1)),
            "gap_mean": float(gap.mean()), "gap_max": float(gap.max()), "pair_over_seeds": float(gap.mean() / between),
            "paired": paired(g, s), "first_steps": first}


def table(rows: list[dict]) -> str:
    lines = ["| cell | steps | seeds | test mse, solo (mean) | grouped (mean) | seed sd | |g - s| mean / max | "
             "pair/seeds | g - s [95 % CI] | first 100 steps, rel. |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['arch']} | {r['steps']} | {r['seeds']} | {r['solo_mean']:.4g} | {r['group_mean']:.4g} | "
                     f"{r['seed_sd']:.2g} | {r['gap_mean']:.2g} / {r['gap_max']:.2g} | {r['pair_over_seeds']:.2g} | "
                     f"{r['paired'].text('.2g')} | {r['first_steps']:.1g} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["lstm", "gru", "rnn"])
    ap.add_argument("--seeds", type=int, default=8, help="seeds 0..N-1")
    ap.add_argument("--steps", type=int, nargs="+", default=[200, 600])
    ap.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    out = args.out or Path(tempfile.mkdtemp(prefix="group-vs-solo-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for arch in args.arch:
        for steps in args.steps:
            rows.append(measure(arch, steps, list(range(args.seeds)), out))
            print(f"{arch} {steps} steps: pair/seeds {rows[-1]['pair_over_seeds']:.2g}", file=sys.stderr, flush=True)
    text = table(rows)
    (out / "summary.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
