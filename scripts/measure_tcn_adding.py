#!/usr/bin/env python
"""The TCN's steps to solve the adding problem at T = 200, beyond.yaml's setting, over fresh seeds.

    python scripts/measure_tcn_adding.py --seeds 10 11 12 13 14 15 --cap 6000 --out tcn_adding   # BUDGETS.md
    python scripts/measure_tcn_adding.py --seeds 10 11 --seq-len 100 --out /tmp/tcn_adding

Why (issue 18): in beyond.yaml the TCN (match: lstm, its source's lr 4e-3: beyond.TCN_ADDING) solved
adding T = 200 in 2 seeds of 3 within the 2,000-step budget (1,200 and 1,700 steps; seed 2 stayed on
the baseline's plateau, MSE 0.16, to the end), so "TCN beats the window MLP at T = 200" was undecided.
This measures how many steps the TCN needs, on seeds beyond.yaml does not use, to choose a budget in
which it solves reliably (or to show that none affordable does).

Every run is an ordinary `rnnbench train` run (a subprocess at --threads 1, one at a time: the
machine is shared) with beyond.yaml's settings of the cell (budgets.ADDING: hidden 32, batch 50,
5,000 / 500 / 1,000 problems, validation every 100 steps, stop when solved; beyond.TCN_ADDING's lr;
model_params match: lstm) and the budget raised to --cap. The trajectory does not depend on the
budget (no schedule; the data order is the seed's), so a run's `steps_to_solve` under the cap is its
steps to solve under every budget B <= cap (censored at B where it is larger). Finished runs are read
back, not rerun. Rows go to --out/measurements.csv; the summary prints, for budgets B, the share of
seeds solved within B. What was measured and chosen: workflows/config/BUDGETS.md, "TCN on adding".
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

import probe_run  # noqa: E402  scripts/probe_run.py: one probe run


def config(seed: int, seq_len: int, cap: int) -> dict:
    from rnnbench.claims import beyond
    c = {k: v for k, v in beyond.TCN_ADDING.items() if k != "task_params"}
    tp = {**beyond.TCN_ADDING["task_params"], "seq_len": seq_len}
    return {**c, "task": "adding", "arch": "tcn", "task_params": tp, "model_params": dict(beyond.MATCH),
            "seed": seed, "steps": cap, "threads": 1, "device": "cpu"}


def run_one(seed: int, seq_len: int, cap: int, out: Path, rnnbench: str) -> dict:
    run, m = probe_run.train(config(seed, seq_len, cap), out / f"T{seq_len}" / f"seed{seed}", rnnbench)
    row = {"seq_len": seq_len, "seed": seed, "cap": cap, **run}
    if m is not None:
        row["test"] = m["value"]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--seq-len", type=int, default=200)
    ap.add_argument("--cap", type=int, default=6000, help="the step budget of each probe run")
    ap.add_argument("--out", type=Path, default=Path("tcn_adding"))
    ap.add_argument("--rnnbench", default=str(Path(sys.executable).with_name("rnnbench")))
    a = ap.parse_args(argv)
    rows = []
    for seed in a.seeds:
        r = run_one(seed, a.seq_len, a.cap, a.out, a.rnnbench)
        rows.append(r)
        print(" | ".join(f"{k}={v}" for k, v in r.items()), flush=True)
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with open(a.out / "measurements.csv", "w", newline="") as f:   # after every run: a stopped
            w = csv.DictWriter(f, fieldnames=keys)                       # measurement keeps its rows
            w.writeheader()
            w.writerows(rows)
    sts = [r.get("steps_to_solve") for r in rows if r.get("rc") == 0]
    print(f"\nT = {a.seq_len}, cap {a.cap}: solved {sum(s is not None for s in sts)}/{len(sts)}; steps to solve "
          f"(sorted): {sorted(s for s in sts if s is not None)}; censored at {a.cap}: {sum(s is None for s in sts)}")
    for b in sorted({2000, 3000, 4000, 5000, 6000, a.cap}):
        if b <= a.cap:
            k = sum(s is not None and s <= b for s in sts)
            print(f"  budget {b:>5}: solved {k}/{len(sts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
