#!/usr/bin/env python
"""Epochs and seconds to 99 % exact match on the addition task (the lab's task 5).

    python scripts/bench_addition.py                       # plain, peeking, attention x lstm, gru
    python scripts/bench_addition.py --archs lstm --variants attention --epochs 15 --threads 1

Each cell of the grid is one ordinary `rnnbench train` run (train.run, the task's
defaults unless overridden: the lab's setting of 128 units, 1 layer, 3 digits, 50,000
problems) into --out/<arch>-<variant>/. The validation split (half of the 10 % held out)
is decoded greedily after every epoch; "to 99 %" is the first epoch where it reaches
--target, with the runner's training seconds at that point (optimizer steps only,
evaluation excluded, as curve.csv records them) and the wall seconds including
evaluations. The test exact match is that of the finished run (all epochs).

The machine is shared: the script records the 1-minute load average before and after
each run, the CPU share the run got (process CPU seconds / wall seconds / threads; well
below 1 means other jobs inflated the wall-clock timings) and the process CPU seconds
spent training up to the epoch that reached the target (at --threads 1: the seconds an
idle core would take). Not a test: it takes minutes. Results: a markdown table on
stdout and --out/bench.json. The learning rate is constant, so the epochs to the target
do not depend on --epochs as long as the target is reached within it.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without install

from rnnbench.train import run, with_task_defaults  # noqa: E402


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class TrainCpuClock:
    """Process CPU seconds spent training, read at each validation pass.

    Wall seconds on a shared machine measure the other jobs too; CPU seconds measure
    this run's work (at 1 thread: what an idle core would take). Installed on the task
    class for one run: the clock starts at the first training step and stops during
    evaluations. Instrumentation only; the run itself is unchanged.
    """

    def __init__(self, task_cls):
        self.cls, self.marks, self.resume, self.train = task_cls, [], None, 0.0
        self.loss, self.evaluate = task_cls.train_loss, task_cls.evaluate

    def __enter__(self):
        clock = self

        def train_loss(task, *a, **k):
            if clock.resume is None:
                clock.resume = cpu_seconds()
            return clock.loss(task, *a, **k)

        def evaluate(task, model, split_name, *a, **k):
            if split_name != "val" or clock.resume is None:
                return clock.evaluate(task, model, split_name, *a, **k)
            clock.train += cpu_seconds() - clock.resume
            clock.marks.append(round(clock.train, 2))
            result = clock.evaluate(task, model, split_name, *a, **k)
            clock.resume = cpu_seconds()
            return result

        self.cls.train_loss, self.cls.evaluate = train_loss, evaluate
        return self

    def __exit__(self, *exc):
        self.cls.train_loss, self.cls.evaluate = self.loss, self.evaluate


def bench_one(arch: str, variant: str, args, out: Path) -> dict:
    cfg = {"task": "addition", "arch": arch, "model_params": {"variant": variant}, "seed": args.seed,
           "device": "cpu", "threads": args.threads}
    if args.epochs:
        cfg["epochs"] = args.epochs
    for item in args.set:
        k, v = item.split("=", 1)
        cfg[k] = json.loads(v) if v[:1] in "0123456789-[{tfn" else v
    if args.attention and variant == "attention":
        cfg["model_params"]["attention"] = args.attention
    load0, cpu0, wall0 = os.getloadavg()[0], cpu_seconds(), time.perf_counter()
    from rnnbench.tasks.seq2seq import Addition
    with TrainCpuClock(Addition) as clock:
        m = run(with_task_defaults(cfg), out, quiet=not args.verbose)
    wall = time.perf_counter() - wall0
    cpu = cpu_seconds() - cpu0
    rows = list(csv.DictReader(open(out / "curve.csv")))
    hit = next((i for i, r in enumerate(rows) if r["val_metric"] and float(r["val_metric"]) >= args.target), None)
    cpu_to_target = clock.marks[hit] if hit is not None and len(clock.marks) == len(rows) else None
    hit = rows[hit] if hit is not None else None
    result = {
        "arch": arch, "variant": variant, "n_params": m["n_params"], "epochs_run": m["epochs"],
        "epochs_to_target": float(hit["epoch"]) if hit else None,
        "seconds_to_target": float(hit["seconds"]) if hit else None,
        "cpu_seconds_to_target": cpu_to_target,
        "seconds_per_epoch": m["seconds_per_epoch"], "train_seconds": m["train_seconds"],
        "wall_seconds": round(wall, 1), "best_val": m["best_val"], "test_exact_match": m["value"],
        "test_char_accuracy": m["metrics"].get("char_accuracy"), "baseline": m["baseline"],
        "threads": m["threads"], "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2),
        "cpu_share": round(cpu / wall / max(1, m["threads"]), 2),
        "val_curve": [(float(r["epoch"]), float(r["val_metric"])) for r in rows if r["val_metric"]],
        "train_cpu_seconds_at_evals": clock.marks,
        "config": {k: v for k, v in m["params"]["train"].items() if k in ("batch_size", "lr", "clip", "epochs")},
    }
    if hit:   # wall seconds to the target, evaluations included: pro rata of the run's wall time
        result["wall_seconds_to_target"] = round(wall * float(hit["epoch"]) / m["epochs"], 1)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", default=["lstm", "gru"])
    p.add_argument("--variants", nargs="+", default=["plain", "peeking", "attention"])
    p.add_argument("--attention", help="attention score for the attention variant (default: the task's)")
    p.add_argument("--epochs", type=int, help="epochs per run (default: the task's)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's, the core count)")
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="RunConfig override")
    p.add_argument("--out", default="results/bench/addition", help="run dirs and bench.json (fresh runs: "
                                                                   "an existing run dir is reused)")
    p.add_argument("--verbose", action="store_true", help="the runner's progress lines")
    args = p.parse_args(argv)
    out = Path(args.out)
    results = []
    print(f"| arch | variant | params | epochs to {args.target:.0%} | train s to {args.target:.0%} | "
          f"train CPU s to {args.target:.0%} | wall s to {args.target:.0%} | s/epoch | best val | test EM | "
          f"threads | load before/after | cpu share |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for arch in args.archs:
        for variant in args.variants:
            r = bench_one(arch, variant, args, out / f"{arch}-{variant}")
            results.append(r)
            fmt = lambda v, f="{:.1f}": "not reached" if v is None else f.format(v)  # noqa: E731
            print(f"| {arch} | {variant} | {r['n_params']:,} | {fmt(r['epochs_to_target'], '{:.0f}')} | "
                  f"{fmt(r['seconds_to_target'])} | {fmt(r['cpu_seconds_to_target'])} | "
                  f"{fmt(r.get('wall_seconds_to_target'))} | "
                  f"{r['seconds_per_epoch']:.2f} | {r['best_val']:.4f} | {r['test_exact_match']:.4f} | "
                  f"{r['threads']} | {r['load_before']}/{r['load_after']} | {r['cpu_share']} |", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"target": args.target, "cpu_count": os.cpu_count(),
                                                "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
