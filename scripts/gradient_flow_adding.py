"""Issue 5's acceptance experiment: gradient flow on the adding problem, at init and trained.

    python scripts/gradient_flow_adding.py                 # rnn, irnn, lstm, gru; ~15-30 min on 2 cores
    python scripts/gradient_flow_adding.py --steps 200     # a quicker look
    python scripts/gradient_flow_adding.py --exploding     # + the exploding-gradient demonstration

Part 1. Every architecture trains on `adding` (seq_len 100) with the same budget (the task's
defaults: Adam, lr 1e-3, batch 50, clip 1.0; --steps optimizer steps; hidden 128; seed 0) via
rnnbench.train.run, and is measured (rnnbench.gradients) at init and after training on the
same validation batch. The table: norm(dL/dh at lag 100) / norm(lag 0) -- lag 100 is the
initial state h_{-1}, 100 recurrent steps from the loss at t = 99 -- and the fitted per-step
factor (exp of the slope of ln norm against lag; < 1 vanishing), for h (and lstm's c).

Part 2 (--exploding). A tanh RNN whose W_hh is rescaled to spectral radius 1.5 at init
(model_params recurrent_radius) trains with SGD (lr 0.01, momentum 0.9: Pascanu et al.'s
setting; Adam's per-parameter normalisation would hide the explosion) without clipping and
with the lecture's norm clipping at several thresholds; steps.csv holds the pre-clip norm of
every step, summarised here (max, median, spikes = steps above 10x the median).

Everything lands in --out (default results/gradient_flow_adding/): runs/<name>/ (resumable
training runs), gradients/<arch>/{init,trained}/ (gradients.csv, recurrent.csv), summary.csv
and exploding.csv. Nothing is tuned to match the literature.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from rnnbench import gradients as gr
from rnnbench.train import load_checkpoint, prepare, resolve, run as train_run, with_task_defaults

ARCHS = ("rnn", "irnn", "lstm", "gru")


def measure(cfg, out: Path, at: str, step: int, state_dict=None, samples: int = 100, jac: int = 4):
    task, model = prepare(cfg)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    grads, rec = gr.diagnose(cfg, task, model, at=at, step=step, samples=samples, jacobian_samples=jac)
    gr.write(out, grads, rec)
    return grads


def flow(args) -> pd.DataFrame:
    rows = []
    for arch in args.archs:
        cfg = resolve(with_task_defaults({
            "task": "adding", "task_params": {"seq_len": args.seq_len}, "arch": arch,
            "hidden": args.hidden, "steps": args.steps, "seed": args.seed, "device": "cpu",
            "threads": args.threads, "eval_every": max(args.steps // 5, 1)}))
        t0 = time.perf_counter()
        metrics = train_run(cfg, args.out / "runs" / arch, quiet=True)
        ck = load_checkpoint(args.out / "runs" / arch / "checkpoint.pt")
        for at, sd in (("init", None), ("trained", ck["model"])):
            g = measure(cfg, args.out / "gradients" / arch / at, at, 0 if sd is None else metrics["steps"], sd,
                        samples=args.samples)
            for s in gr.flow_summary(g).itertuples():
                if s.layer != 0:
                    continue
                rows.append({"arch": arch, "at": at, "state": s.state, "lag": s.lag, "ref_lag": s.ref_lag,
                             "ratio": s.ratio, "factor": s.factor, "jacobian_ratio": s.jacobian_ratio,
                             "jacobian_factor": s.jacobian_factor,
                             "spectral_radius": float(g[g["layer"] == 0]["spectral_radius"].iloc[0]),
                             "test_mse": metrics["value"], "status": metrics["status"],
                             "steps": metrics["steps"], "train_seconds": metrics["train_seconds"]})
        print(f"| {arch} | done in {time.perf_counter() - t0:.0f} s | test mse {metrics['value']} "
              f"| {metrics['status']} |", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def exploding(args) -> pd.DataFrame:
    rows = []
    for clip in args.clips:
        name = f"rnn_r{args.radius:g}_clip{clip if clip is not None else 'off'}"
        cfg = resolve(with_task_defaults({
            "task": "adding", "task_params": {"seq_len": args.seq_len}, "arch": "rnn",
            "hidden": args.hidden, "steps": args.explode_steps, "seed": args.seed, "device": "cpu",
            "threads": args.threads, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "clip": clip,
            "model_params": {"recurrent_radius": args.radius}, "eval_every": max(args.explode_steps // 5, 1)}))
        metrics = train_run(cfg, args.out / "runs" / name, quiet=True)
        steps = pd.read_csv(args.out / "runs" / name / "steps.csv")
        norms = pd.to_numeric(steps["grad_norm"], errors="coerce")
        med = float(norms.median())
        rows.append({"clip": "off" if clip is None else clip, "radius": args.radius, "steps": metrics["steps"],
                     "status": metrics["status"], "diverged_step": metrics["diverged_step"],
                     "test_mse": metrics["value"], "max_norm": float(norms.max()), "median_norm": med,
                     "spikes": int((norms > 10 * med).sum()), "first_norm": float(norms.iloc[0])})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps per architecture (the budget)")
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--samples", type=int, default=100, help="sequences of the measured batch")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run (1: the machine is shared)")
    p.add_argument("--out", type=Path, default=Path("results/gradient_flow_adding"))
    p.add_argument("--exploding", action="store_true", help="also run part 2")
    p.add_argument("--only-exploding", action="store_true", help="run part 2 only")
    p.add_argument("--radius", type=float, default=1.5)
    p.add_argument("--clips", nargs="+", default=["off", "1", "10"], help="clip thresholds ('off' = none)")
    p.add_argument("--explode-steps", type=int, default=300)
    args = p.parse_args(argv)
    args.clips = [None if c == "off" else float(c) for c in args.clips]
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    if not args.only_exploding:
        table = flow(args)
        table.to_csv(args.out / "summary.csv", index=False)
        print(f"\nadding T={args.seq_len}, hidden {args.hidden}, seed {args.seed}; budget: {args.steps} "
              f"steps of batch 50 (Adam lr 1e-3, clip 1.0); measured on {args.samples} val sequences")
        print(table.drop(columns=["train_seconds"]).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        h = table[table["state"] == "h"].set_index(["arch", "at"])["ratio"]
        if {("lstm", "trained"), ("rnn", "trained")} <= set(h.index):
            print(f"\ntrained lstm / rnn ratio: {h['lstm', 'trained'] / h['rnn', 'trained']:.3g} (expected >= 100)")
        if ("irnn", "init") in h.index:
            r = h["irnn", "init"]
            print(f"irnn at init: {r:.3g} (expected within 10x of 1: {0.1 <= r <= 10 if math.isfinite(r) else False})")
    if args.exploding or args.only_exploding:
        ex = exploding(args)
        ex.to_csv(args.out / "exploding.csv", index=False)
        print(f"\nexploding: tanh rnn, W_hh spectral radius {args.radius} at init, SGD lr 0.01 momentum 0.9, "
              f"{args.explode_steps} steps; pre-clip gradient norms from steps.csv")
        print(ex.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
