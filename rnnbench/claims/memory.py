"""External memory (Graves, Wayne & Danihelka 2014; the lecture notes' "new architectures"): the
Neural Turing Machine against the LSTM on copying sequences longer than any it was trained on,
decided from runs of `seqcopy` (rnnbench/tasks/ntm.py) that record `bits_err_L<n>` (wrong bits
per sequence at test length n) for test lengths beyond the training range (max_len).

Budget (COPY): seqcopy at its defaults (lengths 1..20, 8-bit vectors, batch 32, Adam 1e-3, clip
10, hidden 100), 6,000 steps, stop when solved (validation bits_err <= 0.5), 3 seeds. Measured
(scripts/measure_ntm.py, 1 thread, lengths 1..20): the NTM reached the threshold after 3,800
(seed 0) and 3,500 (seed 1) steps at 0.119 CPU-s a step, with collapses to chance on the way
that it recovered from; the LSTM (0.022 s a step) had not reached it after 32,481 steps (7.6
bits per sequence, still falling).

Errors per bit: bits_err_L<n> / (n x width), so that lengths compare (the trivial all-zeros
output errs on half the bits: 0.5).
"""
from __future__ import annotations

import re

import pandas as pd

from ..report import stats
from .base import NOT_ENOUGH, NOTHING_LEARNED, Experiment, Verdict, claim, every_comparison, learned
from .checks import _g

TASK = "seqcopy"
COPY = {TASK: {"steps": 6000, "eval_every": 100, "stop_when_solved": True}}
CLAIM_NAMES = ("ntm_generalises_copy",)
_LENGTH = re.compile(r"^metrics\.bits_err_L(\d+)$")
ROPE_BIT = 0.025          # "no practical difference" in the error per bit: 5 % of the baseline's 0.5


def lengths(runs: pd.DataFrame) -> list[tuple[int, str]]:
    """(n, column) of the runs' generalisation lengths, by n."""
    return sorted((int(m.group(1)), c) for c in runs.columns if (m := _LENGTH.match(str(c))))


def per_bit(runs: pd.DataFrame, col: str, n: int) -> pd.Series:
    width = runs["params.task_params.width"].astype(float) if "params.task_params.width" in runs else 8.0
    return runs[col].astype(float) / (n * width)


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per architecture on seqcopy: the error per bit at each test length (mean over ok runs), with
    the training range, the in-range metric (bits per sequence) and the runs that reached it."""
    sub = runs[(runs["task"] == TASK) & (runs["status"] == "ok")]
    cols = lengths(sub)
    rows = []
    for arch, g in sub.groupby("arch", sort=True):
        row = {"arch": arch, "n": len(g), "max_len": float(g["seq_len"].astype(float).max()),
               "bits_per_sequence": float(g["value"].astype(float).mean()),
               "reached": f"{int(g['steps_to_solve'].notna().sum())}/{len(g)}" if "steps_to_solve" in g else ""}
        row.update({f"L{n}": float(per_bit(g, c, n).mean()) for n, c in cols})
        rows.append(row)
    return pd.DataFrame(rows)


@claim("ntm_generalises_copy",
       "The NTM generalises copying to sequences longer than it was trained on, where the LSTM does not",
       "Graves, Wayne & Danihelka 2014, Neural Turing Machines (section 4.1); lecture notes (new architectures)",
       runs=Experiment(COPY, arch=("ntm", "lstm")))
def ntm_generalises_copy(runs, grads, method="welch") -> Verdict:
    """At every test length beyond the training range (n > max_len): the NTM's error per bit
    against the LSTM's (stats.interval over seeds). Holds when the NTM errs less with confidence
    at every such length; fails when the LSTM errs less with confidence, or there is no practical
    difference (within ROPE_BIT), at any; the NTM not learning the training range (its in-range
    metric at the baseline) decides nothing."""
    sub = runs[(runs["task"] == TASK) & (runs["status"] == "ok")] if "task" in runs else runs.iloc[0:0]
    a, b = sub[sub["arch"] == "ntm"], sub[sub["arch"] == "lstm"]
    if len(a) < 2 or len(b) < 2:
        return Verdict(NOT_ENOUGH, f"fewer than 2 ok {TASK} runs of ntm and of lstm")
    trained = float(sub["seq_len"].astype(float).max())
    longer = [(n, c) for n, c in lengths(sub) if n > trained]
    if not longer:
        return Verdict(NOT_ENOUGH, f"no test length beyond the training range (max_len {_g(trained)})")
    if learned(a) is False:
        return Verdict(NOT_ENOUGH, f"{NOTHING_LEARNED}: the NTM did not learn the training range "
                       f"({_g(a['value'].mean())} bits per sequence, baseline {_g(a['baseline'].mean())})")
    rows = []
    for n, c in longer:
        iv = stats.interval(per_bit(a, c, n), per_bit(b, c, n), method)
        out = ("ntm better" if iv.sign() == -1 else "lstm better" if iv.sign() == 1 else
               "no practical difference" if iv.within(ROPE_BIT) else "undecided")
        rows.append({"length": n, "ntm": float(per_bit(a, c, n).mean()), "lstm": float(per_bit(b, c, n).mean()),
                     "ntm_minus_lstm": iv.diff, "ci_low": iv.low, "ci_high": iv.high, "interval": iv.method,
                     "practical_margin": ROPE_BIT, "outcome": out})
    text = (f"trained on lengths up to {_g(trained)} (in range: NTM {_g(a['value'].mean())}, LSTM "
            f"{_g(b['value'].mean())} wrong bits per sequence); error per bit beyond it, NTM vs LSTM: "
            + ", ".join(f"L={r['length']}: {_g(r['ntm'])} vs {_g(r['lstm'])}" for r in rows))
    return every_comparison(rows, text, "ntm better", ("lstm better", "no practical difference"))


def addressing_frames(doc: dict) -> dict[str, list[list[float]]]:
    """addressing.json (tasks/ntm.py) -> {"read": [T][N'], "write": [T][N']} restricted to the memory
    slots ever addressed above 1 % (the heatmap's rows), in the order they were first addressed (the
    heads move through memory circularly, so index order would break the band), plus "slots"
    (their indices, in that order)."""
    read, write = doc.get("read") or [], doc.get("write") or []
    if not read or not write:
        return {}
    n = len(read[0])

    def first(k):
        return min(t for t in range(len(read)) if max(read[t][k], write[t][k]) > 0.01)
    used = [k for k in range(n) if max(max(r[k] for r in read), max(w[k] for w in write)) > 0.01]
    if not used:
        return {}
    keep = sorted(used, key=lambda k: (first(k), k))
    return {"read": [[r[k] for k in keep] for r in read], "write": [[w[k] for k in keep] for w in write],
            "slots": keep, "length": doc.get("length"), "task": doc.get("task")}
