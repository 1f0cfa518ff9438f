"""Synthetic results directories, for the report's tests and scripts/bench_report.py (no training).

`make_results(root, seeds=3)` writes a grid shaped like the `quick` pipeline's: one run
record (rnnbench.record, version 2) per finished run as runs/<task>/<arch>/<cell>/metrics.json,
the grid's provenance/cells.csv, and runs.csv aggregated from them as the pipeline does
(failed and missing cells included); per-run curve.csv, steps.csv (the clipping ablation),
attention.json (seq2seq), samples.txt (textgen), generation.csv (sine),
gradients/**/gradients.csv, throughput/*.csv, provenance/ and an asv results folder.
Numbers follow the literature's qualitative picture, so every registered claim has data;
`n_runs` cuts the list (seed-major) for the 1,000-run benchmark. Parameter counts come
from the cells' specs (CellSpec.n_params). Deterministic: the same arguments give the same bytes.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnbench.aggregate import aggregate_runs
from rnnbench.config import resolve, with_task_defaults
from rnnbench.models.cells import CELLS
from rnnbench.record import RunRecord

SPEED = {"rnn": 0.45, "irnn": 0.45, "lstm": 1.0, "gru": 0.82, "gru-cho": 0.85}   # seconds per epoch, relative
TRAIN = {"epochs": 10, "batch_size": 50, "lr": 0.001, "optimizer": "adam", "clip": 1.0}


@dataclass
class Cell:
    task: str
    arch: str
    metric: str
    direction: str
    value: float              # mean test value
    spread: float             # std over seeds
    baseline: float
    threshold: float | None = None
    task_params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    model_params: dict[str, Any] = field(default_factory=dict)
    bidirectional: bool = False
    layers: int = 1
    hidden: int = 64
    input: int = 2
    diverge_p: float = 0.0    # probability a seed diverges
    extra: dict[str, float] = field(default_factory=dict)   # other test metrics (metrics.<name>)
    epoch_seconds: float = 2.0


def quick_cells() -> list[Cell]:
    cells: list[Cell] = []
    # adding (Le et al. 2015): gated cells and IRNN solve it, the tanh RNN stays at 1/6
    adding = {50: {"rnn": 0.06, "irnn": 0.004, "lstm": 0.002, "gru": 0.0015, "gru-cho": 0.0018},
              200: {"rnn": 0.166, "irnn": 0.007, "lstm": 0.004, "gru": 0.003, "gru-cho": 0.0035}}
    for T, by in adding.items():
        for arch, v in by.items():
            cells.append(Cell("adding", arch, "mse", "min", v, v * 0.15, 1 / 6, 0.01, {"seq_len": T},
                              epoch_seconds=0.02 * T * SPEED[arch]))
    # the clipping ablation: a large learning rate explodes without clipping
    for arch in ("rnn", "lstm"):
        for clip in (None, 1.0):
            cells.append(Cell("adding", arch, "mse", "min", 0.1 if arch == "rnn" else 0.004, 0.01, 1 / 6, 0.01,
                              {"seq_len": 100}, train={"lr": 0.01, "clip": clip},
                              diverge_p=0.7 if clip is None else 0.0, epoch_seconds=2 * SPEED[arch]))
    # copy: cross-entropy; the memoryless baseline is L ln K / (T + 2L)
    copy = {10: {"rnn": 0.6, "lstm": 0.02, "gru": 0.015}, 50: {"rnn": 0.29, "lstm": 0.04, "gru": 0.03}}
    for T, by in copy.items():
        base = 10 * math.log(8) / (T + 20)
        for arch, v in by.items():
            cells.append(Cell("copy", arch, "ce", "min", min(v, base), 0.003, base, 0.05, {"seq_len": T}, input=10,
                              extra={"recall_accuracy": 0.99 if v < 0.1 else 0.2},
                              epoch_seconds=0.03 * T * SPEED[arch]))
    # temporal order (fixed length 100..110): gated cells solve it, the tanh RNN is at chance
    for arch, v in {"rnn": 0.27, "lstm": 1.0, "gru": 1.0}.items():
        cells.append(Cell("temporal_order", arch, "accuracy", "max", v, 0.0 if v == 1.0 else 0.01, 0.25, 1.0,
                          {"relevant": 2}, input=8, epoch_seconds=2.0 * SPEED[arch]))
    # pixel-by-pixel 8x8 digits: whole-sequence classification, bidirectional helps
    for arch, v in {"rnn": 0.6, "lstm": 0.9, "gru": 0.91}.items():
        for bi in (False, True):
            cells.append(Cell("seqdigits", arch, "accuracy", "max", min(v + (0.04 if bi else 0), 0.99), 0.008,
                              0.1, None, {"source": "digits", "permuted": False}, bidirectional=bi, input=1,
                              epoch_seconds=(2.4 if bi else 1.2) * SPEED[arch]))
        cells.append(Cell("seqdigits", arch, "accuracy", "max", v - 0.05, 0.01, 0.1, None,
                          {"source": "digits", "permuted": True}, input=1, epoch_seconds=1.2 * SPEED[arch]))
    # reversal: attention beats the plain encoder-decoder, more so when long
    variants = {"plain": {"variant": "plain"}, "peeking": {"variant": "peeking"},
                "attention": {"variant": "attention", "attention": "additive"},
                "attention+tf0.5": {"variant": "attention", "attention": "additive", "teacher_forcing": 0.5},
                "attention+beam4": {"variant": "attention", "attention": "additive", "beam": 4}}
    gain = {"plain": 0.0, "peeking": 0.05, "attention": 0.25, "attention+tf0.5": 0.23, "attention+beam4": 0.27}
    for T, top in ((10, 0.72), (30, 0.5)):
        for name, mp in variants.items():
            v = min(top + gain[name] * (1.8 if T == 30 else 1.0), 0.99)
            cells.append(Cell("reverse", "lstm", "exact_match", "max", v, 0.01, 0.0, 0.99, {"max_len": T},
                              model_params=mp, input=13, extra={"token_accuracy": min(1.0, v + 0.05)},
                              epoch_seconds=3.0 * (1.3 if "attention" in name else 1.0)))
    # the course lab
    lab = (("airquality", "mse", "min", 0.11, 1.0, 25.0), ("electricdevices", "accuracy", "max", 0.66, 0.24, 55.0),
           ("sentiment", "accuracy", "max", 0.77, 0.63, 150.0), ("textgen", "ce", "min", 1.6, 3.2, 1200.0),
           ("addition", "exact_match", "max", 0.993, 0.001, 280.0))
    for task, metric, d, v, b, secs in lab:
        for arch in ("lstm", "gru") if task in ("sentiment", "electricdevices") else ("lstm",):
            cells.append(Cell(task, arch, metric, d, v * (0.99 if arch == "gru" else 1), abs(v) * 0.01, b,
                              0.99 if task == "addition" else None, {}, train={"epochs": 30},
                              epoch_seconds=secs / 30 * SPEED[arch], hidden=128 if task == "addition" else 64,
                              extra={"char_accuracy": 0.995} if task == "addition" else {},
                              model_params={"variant": "plain"} if task == "addition" else {}))
    for arch, v in {"rnn": 0.02, "lstm": 0.004, "gru": 0.005}.items():
        cells.append(Cell("sine", arch, "mse", "min", v, v * 0.1, 0.5, None, {"seq_len": 100}, input=1,
                          epoch_seconds=SPEED[arch]))
    return cells


def _curve(g: np.random.Generator, cell: Cell, value: float, diverged: bool, steps: int, clip) -> pd.DataFrame:
    n = 25
    step = np.linspace(0, steps, n + 1)[1:].round().astype(int)
    frac = step / steps
    start = cell.baseline
    val = start + (value - start) * (1 - np.exp(-4 * frac)) / (1 - math.exp(-4))
    val = val * (1 + 0.02 * g.standard_normal(n))
    gn = np.exp(g.normal(0.0, 0.3, n)) * (1.0 + 2 * (1 - frac))
    if clip is None and cell.diverge_p > 0:
        spikes = g.random(n) < 0.25
        gn[spikes] *= g.uniform(20, 200, spikes.sum())
    if diverged:
        cut = int(n * g.uniform(0.3, 0.8))
        val[cut:] = np.nan
        gn[cut] = np.inf
        gn[cut + 1:] = np.nan
    loss = val * 1.05 if cell.metric in ("mse", "loss") else (1 - val) * 2
    return pd.DataFrame({"step": step, "epoch": frac * cell.train.get("epochs", TRAIN["epochs"]),
                         "train_loss": loss, "val_metric": val, "grad_norm": gn,
                         "lr": cell.train.get("lr", TRAIN["lr"]), "seconds": frac * cell.epoch_seconds * 10})


def _steps(g: np.random.Generator, diverged: bool, clip, n: int) -> pd.DataFrame:
    """step, loss, grad_norm (before clipping) per optimizer step; unclipped runs spike."""
    gn = np.exp(g.normal(0.0, 0.4, n)) * np.linspace(3, 1, n)
    if clip is None:
        spikes = g.random(n) < 0.03
        gn[spikes] *= g.uniform(20, 500, spikes.sum())
    step = np.arange(1, n + 1)
    if diverged:
        cut = int(n * g.uniform(0.3, 0.8))
        gn, step = np.append(gn[:cut], np.inf), step[:cut + 1]
    return pd.DataFrame({"step": step, "loss": 0.2 * np.exp(-step / n), "grad_norm": gn})


def _gradients(g: np.random.Generator, arch: str, T: int, seed: int) -> pd.DataFrame:
    rho = {"rnn": (0.86, 0.9), "irnn": (1.0, 0.99), "lstm": (0.985, 0.995), "gru": (0.98, 0.99)}[arch]
    sr = {"rnn": (0.9, 0.95), "irnn": (1.0, 1.02), "lstm": (0.7, 0.9), "gru": (0.7, 0.85)}[arch]
    rows = []
    lags = np.arange(0, T, max(1, T // 50))
    for phase, r, s in (("init", rho[0], sr[0]), ("step1000", rho[1], sr[1])):
        for state in ("h", "c") if arch == "lstm" else ("h",):
            norm = r ** lags * np.exp(0.05 * g.standard_normal(len(lags)))
            for lag, v in zip(lags, norm):
                rows.append({"lag": int(lag), "norm": float(v), "arch": arch, "task": "adding", "layer": 0,
                             "direction": "forward", "state": state, "at": phase, "seed": seed,
                             "spectral_radius": s, "sigma_max": s * 1.3})
    return pd.DataFrame(rows)


def make_results(root, seeds: int = 3, n_runs: int | None = None, partial: bool = True,
                 curves: bool = True, extras: bool = True) -> Path:
    """Write a synthetic results directory at `root`; returns it.

    partial: mark a few runs failed / missing (as an interrupted pipeline leaves them).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cells = quick_cells()
    rows = [(seed, ci, cell) for seed in range(seeds) for ci, cell in enumerate(cells)][:n_runs]
    grid, resolved = [], {}
    for k, (seed, ci, cell) in enumerate(rows):
        g = np.random.default_rng([seed, ci])
        train = {**TRAIN, **cell.train}
        cfg = {"task": cell.task, "arch": cell.arch, "bidirectional": cell.bidirectional, "layers": cell.layers,
               "hidden": cell.hidden, "seed": seed, "task_params": cell.task_params,
               "model_params": cell.model_params, **train}
        if ci not in resolved:     # a cell's settings but the seed: resolved once
            resolved[ci] = resolve(with_task_defaults({**cfg, "seed": 0}))
        rc = resolved[ci].updated({"seed": seed})
        diverged = bool(g.random() < cell.diverge_p)
        status = "diverged" if diverged else "ok"
        if partial and seed == 1 and ci in (3, 17):
            status = "failed" if ci == 3 else "missing"
        value = float(cell.value + cell.spread * g.standard_normal())
        if cell.direction == "max":
            value = min(value, 1.0)
        value = max(value, 1e-6)
        cell_id = f"c{ci:03d}-s{seed}"
        path = f"{cell.task}/{cell.arch}/{cell_id}"
        grid.append({"task": cell.task, "arch": cell.arch, "cell_id": cell_id, "path": path,
                     "config": json.dumps(cfg, sort_keys=True)})
        steps = train["epochs"] * 200
        epoch_s = cell.epoch_seconds * float(np.exp(0.03 * g.standard_normal()))
        rd = root / "runs" / path
        if status in ("failed", "missing"):
            if status == "failed":      # the pipeline's job began, the run left no record
                rd.mkdir(parents=True, exist_ok=True)
                (rd / "cell.json").write_text("{}\n")
            continue
        ok = status == "ok"
        metrics = {cell.metric: value} if ok else {}
        for key, v in cell.extra.items():
            if ok:
                metrics[key] = float(min(1.0, v + 0.003 * g.standard_normal()))
        epochs = train["epochs"] if ok else 1.3
        rec = RunRecord.of(
            rc, status, value=value if ok else None, metrics=metrics, baseline=cell.baseline,
            solved=None if cell.threshold is None else ok and (
                value <= cell.threshold if cell.direction == "min" else value >= cell.threshold),
            best_val=value * 0.98 if ok else None, epochs=epochs, steps=steps if ok else 260,
            train_seconds=epoch_s * epochs, seconds_per_epoch=epoch_s, diverged_step=None if ok else 260,
            n_params=CELLS.get(cell.arch).n_params(cell.input, cell.hidden, cell.layers, cell.bidirectional),
            device="cpu", threads=2, hostname="node1", torch_version="2.13.0+cpu", rnnbench_version="0.1.0",
            git_sha="78a03f7", config_hash=f"{k:016x}")
        rd.mkdir(parents=True, exist_ok=True)
        (rd / "metrics.json").write_text(json.dumps(rec.to_dict()) + "\n")
        if curves:
            _curve(g, cell, value, diverged, steps, train["clip"]).to_csv(rd / "curve.csv", index=False)
            if "clip" in cell.train:      # the clipping ablation: per-step norms, as train.py's steps.csv
                _steps(g, diverged, train["clip"], steps // 4).to_csv(rd / "steps.csv", index=False)
        if extras:
            _extras(g, cell, rd)
    (root / "provenance").mkdir(exist_ok=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["task", "arch", "cell_id", "path", "config"], lineterminator="\n")
    w.writeheader()
    w.writerows(grid)
    (root / "provenance" / "cells.csv").write_text(buf.getvalue())
    aggregate_runs(root / "runs", root / "runs.csv", expected=root / "provenance" / "cells.csv")
    if extras:
        _write_gradients(root, seeds)
        _write_side_inputs(root)
    return root


def _extras(g, cell: Cell, rd: Path) -> None:
    if cell.task == "reverse" and cell.model_params.get("variant") == "attention":
        T = int(cell.task_params["max_len"])
        ex = []
        for e in range(2):
            n = min(T, 8 + 2 * e)
            toks = [chr(ord("a") + int(t)) for t in g.integers(0, 10, n)]
            out = toks[::-1] + ["</s>"]
            w = np.full((n + 1, n), 0.02 / max(n - 1, 1))
            for i in range(n + 1):
                w[i, max(n - 1 - i, 0)] = 0.98
            ex.append({"input": toks, "output": out, "target": out, "weights": np.round(w, 4).tolist()})
        (rd / "attention.json").write_text(json.dumps(ex))
    if cell.task == "textgen":
        (rd / "samples.txt").write_text(
            "temperature 0.5\nthe sea is calm to-night, the tide is full, the moon lies fair\n"
            "upon the straits; on the french coast the light gleams and is gone\n\n"
            "temperature 1.0\nwhat thou lovest well remains, the rest is dross <& done>\n")
    if cell.task == "sine":
        rows = ["sample,t,target,generated"]
        for i in range(2):
            for t in range(150):
                target = math.sin(2 * math.pi * t / 40 + i)
                gen = "" if t < 100 else f"{target * math.exp(-(t - 100) / 60) + 0.02 * g.standard_normal():.6g}"
                rows.append(f"{i},{t},{target:.6g},{gen}")
        (rd / "generation.csv").write_text("\n".join(rows) + "\n")


def _write_gradients(root: Path, seeds: int) -> None:
    for arch in ("rnn", "irnn", "lstm", "gru"):
        for seed in range(min(seeds, 3)):
            g = np.random.default_rng([seed, len(arch)])
            d = root / "gradients" / "adding" / arch / f"T200-s{seed}"
            d.mkdir(parents=True, exist_ok=True)
            _gradients(g, arch, 200, seed).to_csv(d / "gradients.csv", index=False)


def _write_side_inputs(root: Path) -> None:
    prov = root / "provenance"
    (prov / "environment.json").write_text(json.dumps({
        "hostname": "node1", "slurm_job_id": None, "cpu_model": "Synthetic CPU @ 2.0GHz", "cpu_count": 2,
        "threads": 2, "python": "3.11.7", "git_sha": "78a03f7", "git_dirty": False,
        "versions": {"torch": "2.13.0+cpu", "numpy": "2.4.6", "pandas": "3.1.1", "rnnbench": "0.1.0"},
        "time_utc": "2026-05-01T12:00:00Z"}, indent=2, sort_keys=True))
    (prov / "grid.yaml").write_text("grid: quick\nseeds: [0, 1, 2]\n"
                                    "tasks: [adding, copy, temporal_order, seqdigits, reverse]\n")
    rows = []
    for arch in ("rnn", "lstm", "gru"):
        for backend, speed in (("torch.nn", 1.02), ("fused", 1.0), ("cell", 0.35)):
            for pass_ in ("forward", "forward_backward"):
                for hidden in (64, 256):
                    s = 1e-4 * CELLS.get(arch).n_gates * (hidden / 64) ** 1.5 / speed * (3 if pass_ != "forward" else 1)
                    rows.append({"arch": arch, "backend": backend, "bidirectional": False, "layers": 1,
                                 "batch": 32, "seq_len": 100, "input_size": 32, "hidden": hidden, "pass": pass_,
                                 "device": "cpu", "threads": 2,
                                 "seconds": s * 100, "step_samples_per_s": 32 * 100 / (s * 100),
                                 # each round's median (`rnnbench throughput`): what claims compare
                                 "rounds": 3, "round_seconds": " ".join(f"{s * 100 * f:.6g}" for f in (0.99, 1, 1.01))})
    (root / "throughput").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "throughput" / "cpu.csv", index=False)
    # asv 0.6 results for one machine and commit
    asv = root / "asv-results"
    (asv / "synthetic-machine").mkdir(parents=True, exist_ok=True)
    params = [["'lstm'", "'gru'"], ["'fused'", "'cell'"], ["32"], ["100"], ["64"]]
    (asv / "benchmarks.json").write_text(json.dumps({
        "kernels.Forward.time_step": {"name": "kernels.Forward.time_step", "type": "time", "unit": "seconds",
                                      "param_names": ["arch", "backend", "batch", "seq_len", "hidden"],
                                      "params": params, "version": "1"},
        "version": 2}))
    (asv / "synthetic-machine" / "machine.json").write_text(json.dumps({"machine": "synthetic-machine"}))
    (asv / "synthetic-machine" / "78a03f7a-existing-py.json").write_text(json.dumps({
        "commit_hash": "78a03f7a00000000000000000000000000000000", "env_name": "existing-py", "version": 2,
        "result_columns": ["result", "params", "version", "started_at", "duration"],
        "results": {"kernels.Forward.time_step": [[0.004, 0.011, 0.003, 0.009], params, "1", 0, 1.0]}}))
