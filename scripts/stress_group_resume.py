"""Kill a group of seeds at random times and rerun it until it is done; compare with an uninterrupted run.

    python scripts/stress_group_resume.py [--arch lstm gru rnn] [--runs 2] [--steps 400] [--seed 0]
                                          [--out DIR]

Per cell and run: `rnnbench train --config cfg.yaml` trains seeds 0, 1, 2 of a small adding
config in lockstep (stop_when_solved on, so that seeds leave the group at different steps and the
last one trains on alone; a checkpoint every 10 steps). It is run once uninterrupted and timed (t).
Then the same command is started in another out dir and SIGKILLed after a random time in
[t/2, t] (where the training is, past the imports) until one start finishes. Each seed's
metrics.json (its wall-clock fields aside) and steps.csv must equal the uninterrupted run's.

Prints one line per run (kills, whether identical) and a total; exits 1 if any run differs.
Measured 2026-12-01 at 5887d68: 9 runs (lstm, gru, rnn), 26 kills, all identical.
"""
from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

VOLATILE = ("train_seconds", "seconds_per_epoch", "seconds_to_solve", "hostname", "threads")
SEEDS = (0, 1, 2)


def config(arch: str, steps: int) -> dict:
    return {"task": "adding", "task_params": {"seq_len": 12, "n_train": 256, "n_val": 64, "n_test": 64},
            "arch": arch, "backend": "cell", "hidden": 16, "steps": steps, "batch_size": 32, "lr": 0.01,
            "eval_every": 40, "checkpoint_every": 10, "stop_when_solved": True, "device": "cpu",
            "seed": list(SEEDS)}


def done(out: Path) -> bool:
    return all((out / f"seed{s}" / "metrics.json").exists() for s in SEEDS)


def same(a: Path, b: Path) -> bool:
    for s in SEEDS:
        ma, mb = (json.loads((d / f"seed{s}" / "metrics.json").read_text()) for d in (a, b))
        if {k: v for k, v in ma.items() if k not in VOLATILE} != {k: v for k, v in mb.items() if k not in VOLATILE}:
            return False
        if (a / f"seed{s}" / "steps.csv").read_bytes() != (b / f"seed{s}" / "steps.csv").read_bytes():
            return False
    return True


def one(arch: str, steps: int, root: Path, rng: random.Random) -> tuple[int, bool]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cfg.yaml").write_text(yaml.safe_dump(config(arch, steps)))
    cmd = [sys.executable, "-m", "rnnbench", "train", "--config", str(root / "cfg.yaml"), "--quiet", "--threads", "1"]
    t0 = time.perf_counter()
    subprocess.run(cmd + ["--out", str(root / "whole")], check=True)
    full = time.perf_counter() - t0
    kills = 0
    while not done(root / "killed"):
        proc = subprocess.Popen(cmd + ["--out", str(root / "killed")])
        try:
            if proc.wait(timeout=rng.uniform(full / 2, full)) != 0:
                raise SystemExit(f"a rerun failed (exit {proc.returncode}) in {root / 'killed'}")
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
    return kills, same(root / "whole", root / "killed")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", nargs="+", default=["lstm", "gru", "rnn"])
    ap.add_argument("--runs", type=int, default=2, help="runs per cell")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0, help="of the kill times")
    ap.add_argument("--out", type=Path, default=None, help="where the runs go (default: a temporary folder)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    root = args.out or Path(tempfile.mkdtemp(prefix="stress-group-"))
    total, bad = 0, 0
    for arch in args.arch:
        for r in range(args.runs):
            kills, ok = one(arch, args.steps, root / f"{arch}-{r}", rng)
            total += kills
            bad += not ok
            print(f"{arch} run {r}: {kills} kills, {'identical' if ok else 'DIFFERS'}", flush=True)
    print(f"{len(args.arch) * args.runs} runs, {total} kills, {bad} differing ({root})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
