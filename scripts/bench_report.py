"""Time `rnnbench report` on 1,000 synthetic runs (no training): is it under budget?

    python scripts/bench_report.py                 # 1,000 runs, budget 30 s
    python scripts/bench_report.py --runs 5000 --keep /tmp/big --budget 120

Writes a synthetic results directory (tests/report/synthetic.py: run records, runs.csv, a
curve.csv per run, gradients, throughput, provenance, asv results), then times
1. the whole command as a user runs it (a fresh `python -m rnnbench report` process:
   interpreter start, imports, reading, claims, figures, writing): wall and CPU seconds,
   and the load average before it (on a shared machine the wall time is mostly waiting), and
2. each stage of the build inside this process, after a warm-up build (imports and
   matplotlib's font cache are then paid).
Prints one pipe-delimited line per stage; exit status 1 when (1) exceeds --budget.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _children_cpu() -> float:
    """User + system seconds of this process's finished children (and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _synthetic():
    """tests/report/synthetic.py, the report tests' generator (a test helper, not part of the package)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tests" / "report" / "synthetic.py"
    spec = importlib.util.spec_from_file_location("report_synthetic", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)   # dataclasses look it up
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="synthetic runs (default 1000)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds allowed for the command (default 30)")
    ap.add_argument("--keep", metavar="DIR", help="write the results here and keep them (default: a temp dir)")
    args = ap.parse_args(argv)

    from rnnbench.report import html

    synthetic = _synthetic()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp) / "results"
        t0 = time.perf_counter()
        cells = len(synthetic.quick_cells())
        seeds = -(-args.runs // cells)
        synthetic.make_results(root, seeds=seeds, n_runs=args.runs)
        print(f"| generate | {args.runs} runs ({cells} cells x up to {seeds} seeds) | "
              f"{time.perf_counter() - t0:6.2f} s |")

        load = os.getloadavg()[0]
        cpu0 = _children_cpu()
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "rnnbench", "report", str(root), "--out", str(root / "report"),
               "--asv-results", str(root / "asv-results")]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        size = (root / "report" / "index.html").stat().st_size
        print(f"| command | rnnbench report, fresh process | {wall:6.2f} s wall | {cpu:6.2f} s CPU (workers "
              f"included) | load {load:.1f} on {os.cpu_count()} cores | index.html {size / 1e6:.2f} MB |")

        html.build(root, Path(tmp) / "warm", asv_results=root / "asv-results")   # warm-up: imports, font cache
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        html.build(root, Path(tmp) / "timed", asv_results=root / "asv-results", timings=timings)
        total = time.perf_counter() - t0
        for stage, sec in timings.items():
            print(f"| stage | {stage:<17} | {sec:6.2f} s |")
        print(f"| build | warm, in process | {total:6.2f} s |")
        ok = wall <= args.budget
        word = "within" if ok else "OVER"
        print(f"| verdict | {args.runs} runs in {wall:.1f} s: {word} the {args.budget:g} s budget |")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
