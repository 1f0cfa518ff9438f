"""Subject-verb agreement (Linzen, Dupoux & Goldberg 2016; the lecture notes' example): the
claims about attractors, decided from runs of the word-level language model `agreement-lm`
(rnnbench/tasks/agreement.py), whose test split is balanced by the number of attractors
(intervening nouns of the other number than the subject).

A run records `accuracy_attractors_<k>` (agreement accuracy on the test sentences with k
attractors, k = 0 .. max_attractors): the report's table is accuracy against k per
architecture (`table`), mean ± std over seeds.

Budget (AGREEMENT): the task's defaults (hidden 50 as Linzen et al., embedding 50, Adam 1e-3,
batch 64, 20 epochs = 6,260 steps). Measured (scripts/measure_agreement.py, 1 seed, 1 thread): the
LSTM stays at chance until about step 3,750, then reaches 0.98 by 4,500 and 0.999 at 6,000; the
tanh RNN stayed at chance overall for 6,000 steps (0.498; by attractors .78 / .52 / .44 / .42 /
.34: it follows the nearest noun). Seeds: 3 seeds (0-2) left "LSTM beats the RNN" undecided, the
RNN's seeds disagreeing (one at chance, two learned); so 10 fresh seeds (3-12), fixed before any
of them ran, decide both claims (AGREEMENT_SEEDS).
"""
from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..report import stats
from .base import (FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED, Experiment, Verdict, claim, every_comparison,
                   learned, margin)
from .checks import _g

TASK = "agreement-lm"
AGREEMENT = {TASK: {}}               # the task's defaults: the measured budget above
AGREEMENT_SEEDS = tuple(range(3, 13))  # 10 fresh seeds (above)
CLAIM_NAMES = ("agreement_error_grows_with_attractors", "lstm_beats_rnn_on_agreement")
_BUCKET = re.compile(r"^metrics\.accuracy_attractors_(\d+)$")


def buckets(runs: pd.DataFrame) -> list[tuple[int, str]]:
    """(k, column) of the runs' per-attractor accuracies, by k."""
    return sorted((int(m.group(1)), c) for c in runs.columns if (m := _BUCKET.match(str(c))))


def _ok(runs: pd.DataFrame, arch: str) -> pd.DataFrame:
    return runs[(runs["task"] == TASK) & (runs["arch"] == arch) & (runs["status"] == "ok")]


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per agreement task and architecture: the accuracy at each number of attractors, mean and
    std over the ok runs (n), and the overall metric."""
    rows = []
    sub = runs[runs["task"].isin(["agreement", TASK]) & (runs["status"] == "ok")]
    cols = buckets(sub)
    for (task, arch), g in sub.groupby(["task", "arch"], sort=True):
        row = {"task": task, "arch": arch, "n": len(g), "metric": g["metric"].iloc[0],
               "overall": float(g["value"].astype(float).mean()), "baseline": float(g["baseline"].astype(float).mean())}
        for k, c in cols:
            v = g[c].astype(float).dropna()
            row[f"attractors_{k}"] = float(v.mean()) if len(v) else math.nan
            row[f"attractors_{k}_std"] = float(v.std(ddof=1)) if len(v) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


@claim("agreement_error_grows_with_attractors",
       "Agreement errors grow with the number of attractors between subject and verb",
       "Linzen, Dupoux & Goldberg 2016; lecture notes (language models and syntax)",
       runs=Experiment(AGREEMENT, arch=("lstm", "rnn"), seeds=AGREEMENT_SEEDS))
def agreement_error_grows_with_attractors(runs, grads, method="welch") -> Verdict:
    """Per architecture that learned the task (overall off the baseline): accuracy with no
    attractor minus accuracy at the most attractors, paired within each run (the same model on
    both buckets), a paired t interval over the seeds. Holds where the interval lies above the
    practical margin (ROPE x the baseline-to-solved distance) for every architecture that
    learned; fails where, for one, it lies within the margin (no practical growth) or below
    zero; an architecture that learned nothing decides nothing."""
    sub = runs[runs["task"] == TASK] if "task" in runs else runs.iloc[0:0]
    cols = buckets(sub)
    if not len(sub) or len(cols) < 2:
        return Verdict(NOT_ENOUGH, f"no {TASK} runs with accuracy by number of attractors")
    (k0, c0), (kn, cn) = cols[0], cols[-1]
    rows, outcomes = [], []
    for arch in sorted(set(sub["arch"])):
        g = _ok(sub, arch)
        if len(g) < 2:
            continue
        lo_acc, hi_acc = g[c0].astype(float), g[cn].astype(float)
        iv = stats.paired(lo_acc, hi_acc)
        rope = margin(g)
        did = learned(g)
        out = (NOTHING_LEARNED if did is False else "grows" if iv.low > rope else
               "no practical growth" if iv.within(rope) else "shrinks" if iv.high < 0 else "undecided")
        rows.append({"arch": arch, "runs": len(g), f"accuracy_{k0}": float(lo_acc.mean()),
                     f"accuracy_{kn}": float(hi_acc.mean()), "drop": iv.diff, "ci_low": iv.low, "ci_high": iv.high,
                     "practical_margin": rope, "overall": float(g["value"].astype(float).mean()),
                     "learned": did, "outcome": out})
        if did is not False:
            outcomes.append(out)
    if not rows:
        return Verdict(NOT_ENOUGH, f"fewer than 2 ok {TASK} runs per architecture")
    text = "; ".join(f"{r['arch']}: {_g(r[f'accuracy_{k0}'])} with {k0} vs {_g(r[f'accuracy_{kn}'])} with {kn} "
                     f"attractors, drop {_g(r['drop'])} [{_g(r['ci_low'])}, {_g(r['ci_high'])}] ({r['outcome']})"
                     for r in rows)
    if not outcomes:
        return Verdict(NOT_ENOUGH, f"{NOTHING_LEARNED}: no architecture left the baseline; " + text, rows)
    if any(o in ("no practical growth", "shrinks") for o in outcomes):
        return Verdict(FAILS, text, rows)
    if all(o == "grows" for o in outcomes):
        return Verdict(HOLDS, text, rows)
    return Verdict(NOT_ENOUGH, text, rows)


@claim("lstm_beats_rnn_on_agreement",
       "LSTM beats the tanh RNN on agreement at every number of attractors",
       "Linzen, Dupoux & Goldberg 2016; lecture notes (LSTM vs simple RNN)",
       runs=Experiment(AGREEMENT, arch=("lstm", "rnn"), seeds=AGREEMENT_SEEDS))
def lstm_beats_rnn_on_agreement(runs, grads, method="welch") -> Verdict:
    """At each number of attractors k: LSTM's accuracy minus the RNN's over seeds
    (stats.interval, `method`). Holds when better with confidence at every k; fails when the
    RNN is better with confidence, or there is no practical difference, at any k; a comparison in
    which neither learned (overall at the baseline) decides nothing."""
    sub = runs[runs["task"] == TASK] if "task" in runs else runs.iloc[0:0]
    a, b = _ok(sub, "lstm"), _ok(sub, "rnn")
    cols = buckets(sub)
    if len(a) < 2 or len(b) < 2 or not cols:
        return Verdict(NOT_ENOUGH, f"fewer than 2 ok {TASK} runs of lstm and of rnn")
    if learned(a) is False and learned(b) is False:
        return Verdict(NOT_ENOUGH, f"{NOTHING_LEARNED}: neither LSTM ({_g(a['value'].mean())}) nor the RNN "
                       f"({_g(b['value'].mean())}) left the baseline ({_g(sub['baseline'].astype(float).mean())})")
    rope = margin(pd.concat([a, b]))
    rows = []
    for k, c in cols:
        va, vb = a[c].astype(float).dropna(), b[c].astype(float).dropna()
        iv = stats.interval(va, vb, method)
        better = stats.better(iv, "max")
        rows.append({"attractors": k, "lstm": float(va.mean()), "rnn": float(vb.mean()), "lstm_minus_rnn": iv.diff,
                     "ci_low": iv.low, "ci_high": iv.high, "interval": iv.method, "practical_margin": rope,
                     "outcome": "lstm better" if better == 1 else "rnn better" if better == -1 else
                     "no practical difference" if iv.within(rope) else "undecided"})
    text = ", ".join(f"{r['attractors']}: {_g(r['lstm'])} vs {_g(r['rnn'])}" for r in rows)
    text = f"accuracy by attractors, LSTM vs RNN: {text}"
    return every_comparison(rows, text, "lstm better", ("rnn better", "no practical difference"))


def attractor_curve(runs: pd.DataFrame) -> pd.DataFrame:
    """Long form of `table` for a plot: task, arch, attractors, mean, std."""
    t = table(runs)
    rows = [{"task": r["task"], "arch": r["arch"], "attractors": int(c.rsplit("_", 1)[1]), "mean": r[c],
             "std": r.get(f"{c}_std", np.nan)}
            for _, r in t.iterrows() for c in t.columns if re.fullmatch(r"attractors_\d+", c)]
    return pd.DataFrame(rows)
