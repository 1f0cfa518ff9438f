#!/usr/bin/env python
"""Teacher forcing 1 vs 0 on learning to add: steps to 99 % validation exact match, paired by seed.

    python scripts/measure_teacher_forcing.py --setting plain --seeds 40 41 42      # the pilot
    python scripts/measure_teacher_forcing.py --setting plain-onehot attention --seeds 40
    python scripts/measure_teacher_forcing.py --list                                 # the settings

Every run is an ordinary `rnnbench train` run (a subprocess at --threads 1, one at a time: the
machine is shared) on the task `addition` into --out/<setting>/tf<p>/seed<k>/, with
`stop_when_solved` and validation every `eval_every` steps (44 = a quarter epoch at batch 256), so
its record's `steps_to_solve` is the first validated step at which exact match reached the task's
solved threshold (99 %), and null (censored at the budget) where it never did. Finished runs are
read back, not rerun (the runner does not redo a finished run; its wall seconds are then those
from its probe.json to its metrics.json), so an interrupted measurement continues where it stopped.

Per setting the script prints, for each arm, the runs that reached 99 % and the steps per seed
(censored runs at their last step, marked >, as rnnbench.claims.ablations counts them: a lower
bound), and the paired difference forced - free with its t interval (rnnbench.report.stats.paired)
against the practical margin, 5 % of the step budget (rnnbench.claims.base.ROPE). Each run's wall
seconds (the whole process: data, training, validations, test) are recorded beside its training
seconds. Rows go to --out/measurements.csv (one per run) and --out/summary.md. What was measured
and what was chosen from it: workflows/config/BUDGETS.md, "teacher forcing".
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without install

import probe_run  # noqa: E402  scripts/probe_run.py: one probe run

ARMS = (1.0, 0.0)          # teacher forcing: always the true previous digit / always its own (free running)

# The candidate settings: the task's defaults (LSTM 128, 50,000 problems of up to 3 digits, batch 256,
# Adam 1e-2, clip 1) with the encoder-decoder changed. A decoder without attention carries the whole
# answer in its state, so what it is fed back (the true digit or its own guess) should matter more.
SETTINGS = {
    # claims.yaml's experiment (budgets.TEACHER_FORCING: attention, embedded digits), its 12 epochs as steps
    "attention": {"steps": 2112, "model_params": {"variant": "attention"}},
    # the plain encoder-decoder (Sutskever et al. 2014): the encoder's final state starts the decoder
    "plain": {"steps": 3520, "model_params": {"variant": "plain"}},
    # the same with one-hot digits, as the lab feeds them (no embedding to learn)
    "plain-onehot": {"steps": 3520, "model_params": {"variant": "plain", "onehot": True}},
    # longer answers: operands of up to 4 digits (answers of up to 5), plain and with attention
    "plain-d4": {"steps": 3520, "model_params": {"variant": "plain"}, "task_params": {"digits": 4}},
    "attention-d4": {"steps": 3520, "model_params": {"variant": "attention"}, "task_params": {"digits": 4}},
    # the lab's optimisation (one-hot digits, batch 128, Adam 1e-3, no clipping: Addition.LAB_SETTING) with a
    # decoder that reads its previous digit (plain; the lab's `repeat` reads none): ten times slower
    # learning, so a free-running decoder is fed wrong digits for longer. A curve probe: 99 % lies far
    # beyond these 1,760 steps (5 epochs)
    "plain-onehot-lab": {"steps": 1760, "batch_size": 128, "lr": 1e-3, "clip": None,
                         "model_params": {"variant": "plain", "onehot": True}},
}
EVAL_EVERY = 44
AT = (440, 880, 1760)      # validation exact match at these steps, per run: the curves side by side


def config(setting: str, tf: float, seed: int) -> dict:
    s = json.loads(json.dumps(SETTINGS[setting]))
    s["model_params"]["teacher_forcing"] = tf
    return {"task": "addition", "arch": "lstm", "seed": seed, "threads": 1, "device": "cpu",
            "eval_every": EVAL_EVERY, "stop_when_solved": True, **s}


def run_one(setting: str, tf: float, seed: int, out: Path, rnnbench: str) -> dict:
    d = out / setting / f"tf{tf:g}" / f"seed{seed}"
    run, m = probe_run.train(config(setting, tf, seed), d, rnnbench)
    row = {"setting": setting, "teacher_forcing": tf, "seed": seed, **run}
    if m is None:
        return row
    curve = {int(r["step"]): float(r["val_metric"]) for r in csv.DictReader(open(d / "curve.csv")) if r["val_metric"]}
    row.update({f"val_at_{k}": curve.get(k) for k in AT})
    row.update(budget=SETTINGS[setting]["steps"], best_val=m["best_val"], test=m["value"])
    return row


def summarise(df) -> str:
    import pandas as pd

    from rnnbench.claims.base import ROPE
    from rnnbench.report import stats

    out = ["| setting | budget (steps) | forced: reached / steps per seed | free: reached / steps per seed | "
           "forced mean | free mean | forced - free, paired (95 %) | margin | "
           + " | ".join(f"val EM at {k}: forced / free" for k in AT) + " | wall s per run (median, max) |",
           "|---|---|---|---|---|---|---|---|" + "---|" * len(AT) + "---|"]
    for setting, g in df[df["rc"] == 0].groupby("setting", sort=False):
        budget = float(g["budget"].max())
        arm, cells = {}, []
        for tf in ARMS:
            a = g[g["teacher_forcing"] == tf].sort_values("seed")
            steps = a["steps_to_solve"].astype(float).fillna(a["steps"].astype(float))   # censored: a lower bound
            arm[tf] = pd.Series(steps.to_numpy(), index=a["seed"].to_numpy())
            per = ", ".join(f"{int(s)}: {int(v)}" if r == r else f"{int(s)}: >{int(v)}"
                            for s, v, r in zip(a["seed"], steps, a["steps_to_solve"].astype(float)))
            cells.append(f"{int(a['steps_to_solve'].notna().sum())}/{len(a)} ({per})")
        iv = stats.paired(arm[1.0], arm[0.0])
        wall = g["wall_s"].dropna()
        at = []
        for k in AT:       # a run that stopped (solved) before step k counts as solved there
            v = {tf: g[g["teacher_forcing"] == tf].apply(
                lambda r: r[f"val_at_{k}"] if r[f"val_at_{k}"] == r[f"val_at_{k}"] else
                (r["best_val"] if r["steps"] < k else float("nan")), axis=1).mean() for tf in ARMS}
            at.append(f"{v[1.0]:.2f} / {v[0.0]:.2f}" if v[1.0] == v[1.0] else "-")
        out.append(f"| {setting} | {budget:.0f} | {cells[0]} | {cells[1]} | {arm[1.0].mean():.0f} | "
                   f"{arm[0.0].mean():.0f} | {iv.text('.0f')} | {ROPE * budget:.0f} | " + " | ".join(at) + " | "
                   + (f"{wall.median():.0f}, {wall.max():.0f} |" if len(wall) else "- |"))
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", nargs="+", default=["plain"], help=f"settings: {', '.join(SETTINGS)}")
    ap.add_argument("--seeds", type=int, nargs="+", default=[40, 41, 42])
    ap.add_argument("--out", type=Path, default=Path("results/bench/teacher-forcing"))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    bad = [s for s in a.setting if s not in SETTINGS]
    if bad:
        print(f"measure_teacher_forcing: unknown setting {bad[0]!r} (valid: {', '.join(SETTINGS)})", file=sys.stderr)
        return 2
    if a.list:
        for s in SETTINGS:
            print(s, json.dumps(config(s, 1.0, 0)))
        return 0
    import pandas as pd

    rnnbench = str(Path(sys.executable).with_name("rnnbench"))
    a.out.mkdir(parents=True, exist_ok=True)
    mcsv = a.out / "measurements.csv"
    old = pd.read_csv(mcsv) if mcsv.exists() else pd.DataFrame()
    rows = []
    for setting in a.setting:
        for seed in a.seeds:              # seed by seed, both arms: a pair is complete before the next starts
            for tf in ARMS:
                r = run_one(setting, tf, seed, a.out, rnnbench)
                rows.append(r)
                print(json.dumps(r), flush=True)
    new = pd.DataFrame(rows)
    key = ["setting", "teacher_forcing", "seed"]
    if len(old):
        keep = old[~old.set_index(key).index.isin(new.set_index(key).index)]
        new = pd.concat([keep, new], ignore_index=True)
    new.to_csv(mcsv, index=False)
    text = summarise(new)
    (a.out / "summary.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
