"""Measure the subject-verb agreement tasks: seconds per step, and the steps each cell needs to
reach its plateau, through the real runner (rnnbench.train.run) at the task's defaults.

    python scripts/measure_agreement.py                       # agreement: lstm and rnn, 3000 steps
    python scripts/measure_agreement.py --task agreement-lm --arch lstm --steps 8000 --eval-every 500

Each cell trains one seed for --steps steps at --threads torch threads, evaluating the
validation split every --eval-every steps (curve.csv). Reported per cell: parameters, seconds
per optimizer step (the runner's train_seconds / steps: forward, backward, clipping, update;
no evaluation), the plateau, the first validation pass that meets the solved rule, and the
test accuracy by attractor count. The plateau is the first evaluation whose validation metric
is within --tol of the best one the run reached (so it depends on --steps: a run still
improving at its end has no plateau yet, which the table says). Runs go to --out/<task>/<arch>;
a finished one is read back, not redone (delete the folder to measure again). The table is
printed and written to --out/<task>.csv.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path


def plateau(curve: list[dict], tol: float, direction: str) -> tuple[int | None, float | None, bool]:
    """(step, value) of the first evaluation within tol of the run's best, and whether the run
    was still improving by more than tol over its last quarter (then: no plateau yet)."""
    vals = [(int(r["step"]), float(r["val_metric"])) for r in curve if r["val_metric"] not in ("", None)]
    if not vals:
        return None, None, True
    sign = 1.0 if direction == "max" else -1.0
    best = max(sign * v for _, v in vals)
    step, value = next((s, v) for s, v in vals if sign * v >= best - tol)
    last_quarter = [sign * v for s, v in vals if s > 0.75 * vals[-1][0]] or [sign * vals[-1][1]]
    earlier = [sign * v for s, v in vals if s <= 0.75 * vals[-1][0]]
    improving = bool(earlier) and max(last_quarter) - max(earlier) > tol
    return step, value, improving


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="agreement", choices=("agreement", "agreement-lm"))
    ap.add_argument("--arch", nargs="+", default=["lstm", "rnn"])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=None, help="default: the task's (50, as Linzen et al.)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tol", type=float, default=0.005, help="plateau: within this of the best validation value")
    ap.add_argument("--task-param", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, default=Path("results/measure_agreement"))
    args = ap.parse_args(argv)

    import torch
    torch.set_num_threads(args.threads)
    from rnnbench import tasks
    from rnnbench.train import run, with_task_defaults

    task_params = dict(kv.split("=", 1) for kv in args.task_param)
    cls = tasks.TASKS.get(args.task)
    rows = []
    for arch in args.arch:
        cfg = {"task": args.task, "arch": arch, "steps": args.steps, "eval_every": args.eval_every,
               "seed": args.seed, "threads": args.threads, "device": "cpu", "task_params": task_params}
        if args.hidden:
            cfg["hidden"] = args.hidden
        out = args.out / args.task / arch
        t0 = time.perf_counter()
        m = run(with_task_defaults(cfg), out, quiet=True)
        wall = time.perf_counter() - t0
        with open(out / "curve.csv") as f:
            curve = list(csv.DictReader(f))
        step, value, improving = plateau(curve, args.tol, cls.direction)
        buckets = sorted(int(k.rsplit("_", 1)[1]) for k in m["metrics"] if k.startswith("accuracy_attractors_"))
        rows.append({
            "task": args.task, "arch": arch, "hidden": m["hidden"], "n_params": m["n_params"],
            "threads": m["threads"], "steps": m["steps"], "seconds_per_step": round(m["train_seconds"] / m["steps"], 5),
            "wall_seconds": round(wall, 1), "plateau_step": step, "plateau_val": value,
            "still_improving": improving, "best_val": m["best_val"], "steps_to_solve": m["steps_to_solve"],
            f"test_{cls.metric}": m["value"], "baseline": m["baseline"],
            **{f"test_attractors_{k}": m["metrics"][f"accuracy_attractors_{k}"] for k in buckets}})
        print(" | ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()),
              flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{args.task}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
