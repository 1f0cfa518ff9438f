#!/usr/bin/env python3
"""Time and memory to load each task's data, each case in a fresh subprocess.

    python scripts/bench_task_loading.py [--data-dir DIR] [--case NAME[:k=v,...]] ... [--json]

For each case a new Python process imports rnnbench.tasks, then builds the task and
its train / val / test splits and computes the baseline (`load s`); `peak MB` is the
process's peak resident set (ru_maxrss), `import MB` its resident set after the
imports (torch alone is most of it), so peak - import is what the data cost.
Default cases: every registered task with its defaults, plus the largest settings
of the long-dependency and text tasks. Exit status 1 if a case fails or exceeds
--max-seconds / --max-mb (defaults 5 s and 2048 MB: the suite's budget).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

EXTRA_CASES = ["copy:seq_len=1000", "temporal_order:relevant=3", "seqdigits:permuted=true",
               "textgen:corpus=4"]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from rnnbench import tasks
import torch
t1 = time.perf_counter()
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
name, params, data_dir = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None
t2 = time.perf_counter()
task = tasks.build(name, params, seed=0, data_dir=data_dir)
sizes = {k: len(v) for k, v in task.splits.items()}
baseline = task.baseline()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t3 - t2, "import_mb": rss_import,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "sizes": sizes, "baseline": baseline, "metric": task.metric}))
"""


def parse_case(text: str) -> tuple[str, dict]:
    import yaml
    name, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        params[k.strip()] = yaml.safe_load(v)
    return name, params


def run_case(name: str, params: dict, data_dir: str | None, timeout: float) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(params), data_dir or ""],
                           capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if r.returncode != 0:
        lines = r.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit {r.returncode}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="data directory (default: $RNNBENCH_DATA or the user cache)")
    ap.add_argument("--case", action="append", metavar="NAME[:k=v,...]",
                    help="a task and parameters (repeatable; default: every task + large settings)")
    ap.add_argument("--max-seconds", type=float, default=5.0)
    ap.add_argument("--max-mb", type=float, default=2048.0)
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args(argv)

    if args.case:
        cases = [parse_case(c) for c in args.case]
    else:
        sys.path.insert(0, str(REPO))
        from rnnbench.tasks import TASKS
        cases = [(n, {}) for n in TASKS.names()] + [parse_case(c) for c in EXTRA_CASES]

    rows, ok = [], True
    for name, params in cases:
        res = run_case(name, params, args.data_dir, timeout=120)
        label = name + ("" if not params else " " + ",".join(f"{k}={v}" for k, v in params.items()))
        row = {"case": label, **res}
        if "error" not in res:
            row["within_budget"] = res["load_s"] <= args.max_seconds and res["peak_mb"] <= args.max_mb
        ok &= row.get("within_budget", False)
        rows.append(row)
        if not args.json:
            _print_row(row, header=len(rows) == 1)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"\nbudget: load <= {args.max_seconds:g} s and peak <= {args.max_mb:g} MB per task: "
              f"{'all within' if ok else 'EXCEEDED or FAILED'}")
    return 0 if ok else 1


def _print_row(row: dict, header: bool) -> None:
    if header:
        print(f"| {'case':<28} | {'load s':>6} | {'peak MB':>7} | {'import MB':>9} | {'train/val/test':>20} | ok |")
        print(f"|{'-' * 30}|{'-' * 8}|{'-' * 9}|{'-' * 11}|{'-' * 22}|----|")
    if "error" in row:
        print(f"| {row['case']:<28} | {'-':>6} | {'-':>7} | {'-':>9} | {'-':>20} | no | {row['error']}")
        return
    sizes = "/".join(str(row["sizes"][k]) for k in ("train", "val", "test"))
    print(f"| {row['case']:<28} | {row['load_s']:6.2f} | {row['peak_mb']:7.0f} | {row['import_mb']:9.0f} | "
          f"{sizes:>20} | {'yes' if row['within_budget'] else 'NO':<2} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
