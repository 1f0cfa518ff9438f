#!/usr/bin/env python
"""Seconds per epoch and epochs to 99 % of the lab's learning to add, as workflows/config/lab.yaml runs it.

    python scripts/measure_lab_addition.py                       # lstm, seed 0, the cell's 50 epochs
    python scripts/measure_lab_addition.py --arch gru --epochs 80 --out results/bench/lab-addition

The run is the lab config's own addition cell (expanded by rnnbench.grid, so what is measured is
what the pipeline runs: variant repeat, one-hot input, 128 units, batch 128, Adam 1e-3), trained
by train.run at --threads (default 1) into --out/<arch>-s<seed>/ (an existing finished run there
is reused, not retrained). Validation exact match is read from curve.csv after every epoch; "to
99 %" is the first epoch at which it reaches --target. Reported: the runner's seconds per epoch
(optimizer steps only), the training CPU seconds to the target (process CPU at 1 thread: what an
idle core would take; scripts/bench_addition.py's clock), the wall seconds with evaluations, the
load average and the CPU share the run got (well below 1: other jobs inflated the wall times).
Not a test: it takes minutes. Writes --out/measure.json and prints a markdown table row.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

import yaml  # noqa: E402

from rnnbench import grid as G  # noqa: E402
from rnnbench.errors import UsageError  # noqa: E402
from rnnbench.train import run, with_task_defaults  # noqa: E402


def _bench_addition():
    spec = importlib.util.spec_from_file_location("bench_addition", ROOT / "scripts" / "bench_addition.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def lab_cell(arch: str, seed: int, config: Path = ROOT / "workflows" / "config" / "lab.yaml") -> dict:
    """The RunConfig dict of the lab config's addition cell for (arch, seed)."""
    grid = yaml.safe_load(config.read_text())
    grid.setdefault("plugins", [])
    for c in G.expand(grid):
        if c.task == "addition" and c.arch == arch and c.config.get("seed") == seed:
            return dict(c.config)
    raise UsageError(f"{config} has no addition cell for arch {arch!r}, seed {seed}")


def measure(arch: str, seed: int, out: Path, *, threads: int = 1, epochs: int | None = None,
            target: float = 0.99, overrides: dict | None = None, quiet: bool = True) -> dict:
    bench = _bench_addition()
    cfg = {**lab_cell(arch, seed), "threads": threads, "device": "cpu", **(overrides or {})}
    if epochs:
        cfg["epochs"] = epochs
    from rnnbench.tasks.seq2seq import Addition

    load0, cpu0, wall0 = os.getloadavg()[0], bench.cpu_seconds(), time.perf_counter()
    with bench.TrainCpuClock(Addition) as clock:
        m = run(with_task_defaults(cfg), out, quiet=quiet)
    wall, cpu = time.perf_counter() - wall0, bench.cpu_seconds() - cpu0
    rows = list(csv.DictReader(open(out / "curve.csv")))
    curve = [(float(r["epoch"]), float(r["val_metric"])) for r in rows if r["val_metric"]]
    hit = next((i for i, (_, v) in enumerate(curve) if v >= target), None)
    fresh = len(clock.marks) == len(curve)          # trained now (not a reused finished run)
    return {
        "arch": arch, "seed": seed, "threads": m["threads"], "epochs_run": m["epochs"], "n_params": m["n_params"],
        "model_params": m["params"]["model_params"],
        "train": {k: m["params"]["train"].get(k) for k in ("epochs", "batch_size", "optimizer", "lr", "clip")},
        "seconds_per_epoch": m["seconds_per_epoch"], "train_seconds": m["train_seconds"],
        "wall_seconds": round(wall, 1) if fresh else None,
        "train_cpu_seconds_per_epoch": round(clock.marks[-1] / len(clock.marks), 2) if fresh and clock.marks else None,
        "epochs_to_target": curve[hit][0] if hit is not None else None,
        "train_cpu_seconds_to_target": clock.marks[hit] if hit is not None and fresh else None,
        "best_val": m["best_val"], "test_exact_match": m["value"],
        "test_char_accuracy": m["metrics"].get("char_accuracy"),
        "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
        "cpu_share": round(cpu / wall / max(1, m["threads"]), 2) if fresh else None,
        "val_curve": curve, "target": target,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", default="lstm", help="the cell of the lab config's addition cell (lstm | gru)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, help="epochs (default: the cell's, 50)")
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="RunConfig override (tests)")
    p.add_argument("--out", default="results/bench/lab-addition")
    p.add_argument("--verbose", action="store_true", help="the runner's progress lines")
    args = p.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    out = Path(args.out)
    r = measure(args.arch, args.seed, out / f"{args.arch}-s{args.seed}", threads=args.threads, epochs=args.epochs,
                target=args.target, overrides=overrides, quiet=not args.verbose)
    fmt = lambda v, f="{:.1f}": "not reached" if v is None else f.format(v)  # noqa: E731
    print(f"| arch | params | s/epoch | train CPU s/epoch | epochs to {args.target:.0%} | train CPU s to "
          f"{args.target:.0%} | wall s ({r['epochs_run']} epochs) | best val | test EM | load | cpu share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['arch']} | {r['n_params']:,} | {r['seconds_per_epoch']:.2f} | {fmt(r['train_cpu_seconds_per_epoch'], '{:.2f}')} | "
          f"{fmt(r['epochs_to_target'], '{:.0f}')} | {fmt(r['train_cpu_seconds_to_target'])} | "
          f"{fmt(r['wall_seconds'])} | {r['best_val']:.4f} | {r['test_exact_match']:.4f} | "
          f"{r['load_before']}/{r['load_after']} | {r['cpu_share']} |", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "measure.json").write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
