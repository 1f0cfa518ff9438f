"""One probe run of the measurement scripts (measure_budgets, measure_tcn_adding,
measure_teacher_forcing): an ordinary `rnnbench train` in a subprocess, one thread.

    from probe_run import train
    row, metrics = train(conf, out_dir, rnnbench)

`conf` (RunConfig keys) goes to out_dir/probe.json, rewritten only when it changed, so that its
time stamp marks the run's start. The runner does not redo a finished run, so a measurement that
was stopped continues where it stopped; a finished run's wall seconds are then read back, from
probe.json's time stamp to metrics.json's.

`row`: rc, wall_s, and on failure `error` (the last line rnnbench printed); with metrics also
status, steps, steps_to_solve, train_s and ms_per_step. `metrics`: metrics.json, or None.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path


def train(conf: dict, d: Path, rnnbench: str) -> tuple[dict, dict | None]:
    d.mkdir(parents=True, exist_ok=True)
    probe, done = d / "probe.json", d / "metrics.json"
    text = json.dumps(conf, indent=1)
    if not probe.exists() or probe.read_text() != text:
        probe.write_text(text)
    fresh = not done.exists()
    t0 = time.perf_counter()
    p = subprocess.run([rnnbench, "train", "--config", str(probe), "--out", str(d), "--quiet"],
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0 if fresh else done.stat().st_mtime - probe.stat().st_mtime
    row = {"rc": p.returncode, "wall_s": round(wall, 1)}
    if p.returncode != 0:
        row["error"] = (p.stderr.strip().splitlines() or ["?"])[-1]
        return row, None
    m = json.loads(done.read_text())
    steps = m.get("steps") or 0
    row.update(status=m.get("status"), steps=steps, steps_to_solve=m.get("steps_to_solve"),
               train_s=round(m.get("train_seconds") or 0, 1),
               ms_per_step=round(1000 * (m.get("train_seconds") or 0) / steps, 1) if steps else None)
    return row, m
