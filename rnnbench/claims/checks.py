"""The claims on runs: each a check over the run records and the Experiment that decides it
(rnnbench.claims explains the rules). Moved from the report: a claim is an experiment, the
report only shows its verdict.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report import stats, tables
from .base import (AT_BASELINE, FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED, Experiment, Verdict,  # noqa: F401
                   at_baseline, claim, learned, nothing_learned)

# The experiments (today's budgets, provisional; issue 16 measures them). Synthetic tasks at
# the quick grid's sizes, so that a claim's cells and the quick grid's coincide where they can.
ADDING = {"batch_size": 50, "task_params": {"seq_len": [25, 50, 100], "n_train": 5000, "n_val": 500,
                                            "n_test": 1000}}
DIGITS = {"batch_size": 32}
REVERSE = {"batch_size": 64, "task_params": {"max_len": [10, 30], "n_train": 5000},
           "model_params": {"variant": ["plain", "attention"]}}


# ---- helpers ------------------------------------------------------------------------
def _g(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"


def _ok_values(g: pd.DataFrame) -> pd.Series:
    return g.loc[g["status"] == "ok", "value"].dropna()


def _contest(a: pd.DataFrame, b: pd.DataFrame, direction: str, method: str):
    """(interval of a - b, which is better: 1 / -1 / 0, whether neither arm left the baseline)."""
    iv = stats.interval(_ok_values(a), _ok_values(b), method)
    return iv, stats.better(iv, direction), nothing_learned(a, b)


def _missing(runs: pd.DataFrame, *cells: str) -> str:
    """'no runs of X' for the cells (registry names) that did not run; '' when all did."""
    missing = [c for c in cells if not (runs["arch"] == c).any()]
    return "no runs of " + " or ".join(missing) if missing else ""


def _decide(outcomes: list[int], what: str, idle: int = 0) -> tuple[str, str]:
    """The verdict of comparisons that came out +1 (better), -1 (worse) or 0 (undecided);
    `idle` comparisons in which no arm learned were left out of `outcomes`."""
    better, worse, undecided = (sum(o > 0 for o in outcomes), sum(o < 0 for o in outcomes),
                                sum(o == 0 for o in outcomes))
    if better == worse == undecided == 0:
        return NOT_ENOUGH, (f"{NOTHING_LEARNED}: in all {idle} comparison(s) of {what} every arm stays at the "
                            "trivial baseline" if idle else f"no comparable runs for {what}")
    if better and not worse:
        return HOLDS, f"{what}: better in {better} comparison(s), worse in none ({undecided} undecided)"
    if worse:
        return FAILS, f"{what}: worse in {worse} comparison(s), better in {better} ({undecided} undecided)"
    return NOT_ENOUGH, f"{what}: all {undecided} interval(s) include zero; more seeds needed"


def _idle(rows: list[dict]) -> int:
    return sum(bool(r.get("nothing_learned")) for r in rows)


def _idle_text(rows: list[dict], who: str) -> str:
    r = next(r for r in rows if r["nothing_learned"])
    return (f"{NOTHING_LEARNED}: neither {who} leaves the trivial baseline in {_idle(rows)} of {len(rows)} "
            f"condition(s), e.g. {r['condition'] or 'adding'}: {_g(r['irnn'])} vs {_g(r['lstm'])}")


def _longest(df: pd.DataFrame) -> pd.DataFrame:
    """Rows at the longest sequence length (the record's seq_len) of their task (all rows when unknown)."""
    T = df["seq_len"].astype(float)
    if not T.notna().any():
        return df
    return df[T == T.groupby(df["task"]).transform("max")]


# ---- the claims ----------------------------------------------------------------------
@claim("adding_gated_vs_tanh",
       "LSTM and GRU solve the adding problem at a length where the tanh RNN stays at the baseline",
       "Hochreiter & Schmidhuber 1997; Le et al. 2015; lecture notes",
       runs=Experiment({"adding": ADDING}, arch=("rnn", "lstm", "gru")))
def adding_gated_vs_tanh(runs, grads, method="welch") -> Verdict:
    names = ("lstm", "gru", "rnn")
    if _missing(runs, *names):
        return Verdict(NOT_ENOUGH, _missing(runs, *names) + " on the adding problem")
    sub = runs[(runs["task"] == "adding") & runs["arch"].isin(names)]
    lt = tables.longdep_table(sub)
    if not len(lt):
        return Verdict(NOT_ENOUGH, "no adding runs with a sequence length")
    rows, best = [], None
    for (cond, T), g in lt.groupby(["condition", "seq_len"], sort=True):
        by = {r.arch: r for r in g.itertuples()}
        if not all(n in by and (by[n].n + by[n].diverged) > 0 for n in names):
            continue
        L, G, R = by["lstm"], by["gru"], by["rnn"]
        if any(math.isnan(x.solved_frac) for x in (L, G, R)):
            continue
        base = R.baseline
        tanh_base = R.solved_frac < 0.5 and (R.n == 0 or bool(at_baseline(R.mean, base, R.direction)))
        ok = L.solved_frac >= 0.5 and G.solved_frac >= 0.5 and tanh_base
        row = {"condition": cond, "seq_len": T, "lstm": L.mean, "lstm_solved": L.solved_frac, "gru": G.mean,
               "gru_solved": G.solved_frac, "tanh": R.mean, "tanh_solved": R.solved_frac, "baseline": base,
               "tanh_at_baseline": tanh_base, "holds_here": ok}
        rows.append(row)
        if ok:
            best = row
    if not rows:
        return Verdict(NOT_ENOUGH, "no adding condition with finished runs of all of "
                       f"{', '.join(names)} and a solved threshold")
    if best:
        return Verdict(HOLDS, f"at T={_g(best['seq_len'])}: LSTM {_g(best['lstm'])} (solved "
                       f"{best['lstm_solved']:.0%}), GRU {_g(best['gru'])} ({best['gru_solved']:.0%}), tanh RNN "
                       f"{_g(best['tanh'])} vs the baseline {_g(best['baseline'])}", rows)
    last = rows[-1]
    return Verdict(FAILS, f"at no length tested: e.g. T={_g(last['seq_len'])}: LSTM solved "
                   f"{last['lstm_solved']:.0%}, GRU {last['gru_solved']:.0%}, tanh RNN {_g(last['tanh'])} "
                   f"vs the baseline {_g(last['baseline'])}", rows)


@claim("irnn_competitive_adding", "IRNN is competitive with LSTM on the adding problem",
       "Le, Jaitly & Hinton 2015", runs=Experiment({"adding": ADDING}, arch=("irnn", "lstm")))
def irnn_competitive_adding(runs, grads, method="welch") -> Verdict:
    if _missing(runs, "irnn", "lstm"):
        return Verdict(NOT_ENOUGH, _missing(runs, "irnn", "lstm") + " on the adding problem")
    sub = tables.with_condition(runs[(runs["task"] == "adding") & runs["arch"].isin(["irnn", "lstm"])])
    rows = []
    for (task, cond), g in sub.groupby(["task", "cond"], sort=True):
        gi, gl = g[g["arch"] == "irnn"], g[g["arch"] == "lstm"]
        if not len(gi) or not len(gl):
            continue
        iv, b, idle = _contest(gi, gl, g["direction"].iloc[0], method)   # idle: decides nothing
        si, sl = tables.group_stats(gi)["solved_frac"], tables.group_stats(gl)["solved_frac"]
        both = si >= 0.5 and sl >= 0.5     # decided when both solve it, or by the interval
        rows.append({"condition": g["condition"].iloc[0], "irnn": _ok_values(gi).mean(),
                     "lstm": _ok_values(gl).mean(), "irnn_minus_lstm": iv.diff, "ci": iv.text(), "irnn_solved": si,
                     "lstm_solved": sl, "nothing_learned": idle,
                     "competitive": None if idle else (both or b >= 0) if both or iv.defined else None})
    decided = [r for r in rows if r["competitive"] is not None]
    if not decided and any(r["nothing_learned"] for r in rows):
        return Verdict(NOT_ENOUGH, _idle_text(rows, "IRNN nor LSTM"), rows)
    if not decided:
        return Verdict(NOT_ENOUGH, "no adding condition with >= 2 finished seeds of both IRNN and LSTM"
                       if not rows else "intervals need >= 2 ok runs per side", rows)
    bad = [r for r in decided if not r["competitive"]]
    if bad:
        return Verdict(FAILS, f"IRNN is worse than LSTM with confidence and not both solved in {len(bad)} of "
                       f"{len(decided)} condition(s), e.g. {bad[0]['condition'] or 'adding'}: "
                       f"{_g(bad[0]['irnn'])} vs {_g(bad[0]['lstm'])}", rows)
    return Verdict(HOLDS, f"in all {len(decided)} condition(s) IRNN either solves the task like LSTM or is not "
                   f"worse with confidence", rows)


@claim("gru_smaller_faster", "GRU has fewer parameters and is faster per step than LSTM",
       "lecture notes; Chung et al. 2014",
       runs=Experiment({"adding": {**ADDING, "task_params": {**ADDING["task_params"], "seq_len": 50}}},
                       arch=("gru", "lstm")))
def gru_smaller_faster(runs, grads, method="welch") -> Verdict:
    if _missing(runs, "gru", "lstm"):
        return Verdict(NOT_ENOUGH, _missing(runs, "gru", "lstm"))
    sub = tables.with_condition(runs[runs["arch"].isin(["gru", "lstm"])])
    # the time of one optimizer step, the fair unit for "faster per step"
    sub["seconds_per_step"] = sub["train_seconds"] / sub["steps"].where(sub["steps"] > 0)
    sub = sub.assign(_where=sub["device"].map(tables._fmt) + "/" + sub["threads"].map(tables._fmt) + "/"
                     + sub["backend"].map(tables._fmt))
    rows, outcomes, bigger = [], [], 0
    for (task, cond, where), g in sub.groupby(["task", "cond", "_where"], sort=True):
        gg, gl = g[g["arch"] == "gru"], g[g["arch"] == "lstm"]
        if not len(gg) or not len(gl):
            continue
        pg, pl = gg["n_params"].median(), gl["n_params"].median()
        iv = stats.interval(gg["seconds_per_step"], gl["seconds_per_step"], method)
        o = -iv.sign()  # +1: GRU's step takes less time
        if math.isfinite(pg) and math.isfinite(pl) and pg >= pl:
            bigger += 1
        if iv.defined:
            outcomes.append(o)
        rows.append({"task": task, "condition": g["condition"].iloc[0], "device/threads/backend": where,
                     "params_gru": pg, "params_lstm": pl, "sec_per_step_gru": gg["seconds_per_step"].mean(),
                     "sec_per_step_lstm": gl["seconds_per_step"].mean(), "diff_ci": iv.text(),
                     "faster": {1: "gru", -1: "lstm", 0: ""}[o] if iv.defined else "n/a"})
    if not rows:
        return Verdict(NOT_ENOUGH, "no condition with both GRU and LSTM runs on the same device, threads and "
                       "backend")
    if bigger:
        return Verdict(FAILS, f"GRU has at least as many parameters as LSTM in {bigger} of {len(rows)} "
                       "condition(s)", rows)
    known = [r for r in rows if math.isfinite(r["params_gru"]) and math.isfinite(r["params_lstm"])]
    if not known:
        return Verdict(NOT_ENOUGH, "no parameter counts recorded (n_params)", rows)
    status, text = _decide(outcomes, "GRU's time per step")
    ratio = _median([r["sec_per_step_gru"] / r["sec_per_step_lstm"] for r in rows if r["sec_per_step_lstm"]])
    prm = _median([r["params_gru"] / r["params_lstm"] for r in known])
    return Verdict(status, f"parameters GRU/LSTM {_g(prm)} (fewer in all {len(known)}); {text}; "
                   f"median time ratio GRU/LSTM {_g(ratio)}", rows)


def _median(xs) -> float:
    xs = [x for x in xs if isinstance(x, (int, float)) and math.isfinite(x)]
    return float(np.median(xs)) if xs else math.nan


@claim("tanh_gradient_decay", "The tanh RNN's gradient norm ||dL/dh_t|| decays exponentially with the lag",
       "Bengio et al. 1994; Pascanu et al. 2013; lecture notes",
       runs=Experiment({"adding": {**ADDING, "task_params": {**ADDING["task_params"], "seq_len": 100}}},
                       arch=("rnn",), seeds=(0,), gradients=True))
def tanh_gradient_decay(runs, grads, method="welch", min_r2: float = 0.9) -> Verdict:
    if grads is None or not len(grads):
        return Verdict(NOT_ENOUGH, "no gradient-flow diagnostics (gradients/**/gradients.csv)")
    g = grads[grads["arch"] == "rnn"]
    if not len(g):
        return Verdict(NOT_ENOUGH, "no gradient diagnostics of the tanh RNN")
    if (g["phase"] == "init").any():
        g = g[g["phase"] == "init"]
    rows, fits = [], []
    keys = [k for k in ("task", "phase", "source", "seed", "layer", "direction", "state") if k in g.columns]
    for key, c in g.groupby(keys, sort=True, dropna=False):
        slope, r2, n = stats.loglinear_fit(c["lag"], c["norm"])
        if n >= 3 and math.isfinite(slope):
            fits.append((dict(zip(keys, key)), slope, r2))
    if not fits:
        return Verdict(NOT_ENOUGH, "the tanh RNN's gradient curves have fewer than 3 positive lags")
    for (task, phase), grp in pd.DataFrame([{**k, "slope": s, "r2": r} for k, s, r in fits]) \
            .groupby(["task", "phase"], sort=True):
        ms = float(grp["slope"].median())
        rows.append({"task": task, "phase": phase, "curves": len(grp), "decay_per_step": math.exp(ms),
                     "half_life_steps": math.log(0.5) / ms if ms < 0 else math.inf,
                     "median_r2_loglinear": float(grp["r2"].median()),
                     "decaying_curves": int((grp["slope"] < 0).sum())})
    slope = float(np.median([s for _, s, _ in fits]))
    r2 = float(np.median([r for _, _, r in fits]))
    text = (f"{len(fits)} curve(s): median factor {math.exp(slope):.3g} per step (half-life "
            f"{_g(math.log(0.5) / slope) if slope < 0 else 'inf'} steps), log-linear R^2 {r2:.3f}")
    if slope < 0 and r2 >= min_r2:
        return Verdict(HOLDS, "exponential: " + text, rows)
    return Verdict(FAILS, ("not decaying: " if slope >= 0 else f"not log-linear (R^2 < {min_r2}): ") + text, rows)


@claim("clipping_prevents_divergence",
       "Gradient-norm clipping removes divergence in the exploding setting",
       "Pascanu, Mikolov & Bengio 2013; lecture notes",
       runs=Experiment({"adding": {**ADDING, "task_params": {**ADDING["task_params"], "seq_len": 50},
                                   "lr": 0.01, "clip": [None, 1.0], "model_params": {"recurrent_radius": 2.0}}},
                       arch=("rnn",)))
def clipping_prevents_divergence(runs, grads, method="welch") -> Verdict:
    ct = tables.clipping_table(runs, pd.DataFrame())
    if not len(ct):
        return Verdict(NOT_ENOUGH, "no runs that differ only in the clipping threshold")
    rows = []
    for gid, g in ct.groupby("group", sort=True):
        off, on = g[g["clip"] == "off"], g[g["clip"] != "off"]
        if not len(off) or not len(on):
            continue
        rows.append({"task": g["task"].iloc[0], "arch": g["arch"].iloc[0], "condition": g["condition"].iloc[0],
                     "unclipped_runs": int(off["runs"].sum()), "unclipped_diverged": int(off["diverged"].sum()),
                     "clipped_runs": int(on["runs"].sum()), "clipped_diverged": int(on["diverged"].sum()),
                     "clipped_finished": int((on["ok"] + on["diverged"]).sum())})
    exploding = [r for r in rows if r["unclipped_diverged"] > 0 and r["clipped_finished"] > 0]
    if not exploding:
        return Verdict(NOT_ENOUGH, "no ablation where unclipped runs diverged (the exploding setting did not "
                       "occur)" if rows else "no ablation with both clipped and unclipped runs", rows)
    bad = [r for r in exploding if r["clipped_diverged"] > 0]
    u = sum(r["unclipped_diverged"] for r in exploding), sum(r["unclipped_runs"] for r in exploding)
    c = sum(r["clipped_diverged"] for r in exploding), sum(r["clipped_runs"] for r in exploding)
    text = f"unclipped: {u[0]}/{u[1]} diverged; clipped: {c[0]}/{c[1]} diverged ({len(exploding)} ablation(s))"
    return Verdict(FAILS if bad else HOLDS, text, rows)


CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "f1", "error_rate", "top1")


@claim("bidirectional_helps_classification", "A bidirectional RNN helps on whole-sequence classification",
       "Schuster & Paliwal 1997; Graves & Schmidhuber 2005; lecture notes",
       runs=Experiment({"seqdigits": {**DIGITS, "bidirectional": [False, True]}}, arch=("lstm", "gru")))
def bidirectional_helps_classification(runs, grads, method="welch") -> Verdict:
    sub = runs[(runs["task_kind"] == "many_to_one") & runs["metric"].isin(CLASSIFICATION_METRICS)]
    if not len(sub) or sub["bidirectional"].nunique() < 2:
        return Verdict(NOT_ENOUGH, "no whole-sequence classification task run both uni- and bidirectional")
    sub = tables.with_condition(sub, drop=["bidirectional"])
    rows, outcomes = [], []
    for (task, arch, cond), g in sub.groupby(["task", "arch", "cond"], sort=True):
        bi, uni = g[g["bidirectional"]], g[~g["bidirectional"]]
        if not len(bi) or not len(uni):
            continue
        iv, b, idle = _contest(bi, uni, g["direction"].iloc[0], method)
        if iv.defined and not idle:
            outcomes.append(b)
        rows.append({"task": task, "arch": arch, "condition": g["condition"].iloc[0],
                     "metric": g["metric"].iloc[0], "bi": _ok_values(bi).mean(), "uni": _ok_values(uni).mean(),
                     "bi_minus_uni": iv.text(), "params_bi": bi["n_params"].median(),
                     "params_uni": uni["n_params"].median(), "nothing_learned": idle,
                     "outcome": NOTHING_LEARNED if idle else
                     {1: "bi better", -1: "bi worse", 0: "undecided"}[b] if iv.defined else "n/a"})
    return Verdict(*_decide(outcomes, "bidirectional vs unidirectional", _idle(rows)), rows)


VARIANT, SCORE = tables.MODEL_PARAMS + "variant", tables.MODEL_PARAMS + "attention"


def _attention_flag(df: pd.DataFrame) -> pd.Series:
    """True: attention; False: plain encoder-decoder; NA: another variant (peeking) or none given."""
    v = df[VARIANT] if VARIANT in df.columns else pd.Series(None, index=df.index, dtype=object)
    return v.map({"attention": True, "plain": False}).astype(object).where(v.isin(["attention", "plain"]), pd.NA)


@claim("attention_beats_plain_long_reversal",
       "Attention beats the plain encoder-decoder on long sequence reversal",
       "Bahdanau et al. 2015; lecture notes",
       runs=Experiment({"reverse": REVERSE}, arch=("lstm",)))
def attention_beats_plain_long_reversal(runs, grads, method="welch") -> Verdict:
    sub = runs[runs["task"] == "reverse"]
    sub = sub.loc[:, sub.notna().any()] if len(sub) else sub   # other tasks' params are not conditions
    if not len(sub) or not tables.seq2seq_columns(sub):
        return Verdict(NOT_ENOUGH, "no reversal runs with seq2seq variants")
    sub = sub.assign(_att=_attention_flag(sub))
    sub = sub[sub["_att"].notna()]
    sub = tables.with_condition(sub, drop=[VARIANT, SCORE])
    pairs = sub.groupby(["task", "arch", "cond"]).filter(lambda g: g["_att"].nunique() == 2)
    if not len(pairs):
        return Verdict(NOT_ENOUGH, "no reversal condition with both attention and plain runs")
    rows, outcomes = [], []
    for (task, arch, cond), g in _longest(pairs).groupby(["task", "arch", "cond"], sort=True):
        att, plain = g[g["_att"] == True], g[g["_att"] == False]  # noqa: E712
        iv, b, idle = _contest(att, plain, g["direction"].iloc[0], method)
        if iv.defined and not idle:
            outcomes.append(b)
        rows.append({"task": task, "arch": arch, "condition": g["condition"].iloc[0],
                     "seq_len": g["seq_len"].iloc[0], "attention": _ok_values(att).mean(),
                     "plain": _ok_values(plain).mean(), "attention_minus_plain": iv.text(), "nothing_learned": idle,
                     "outcome": NOTHING_LEARNED if idle else
                     {1: "attention better", -1: "attention worse", 0: "undecided"}[b] if iv.defined else "n/a"})
    return Verdict(*_decide(outcomes, "attention vs plain at the longest length", _idle(rows)), rows)


@claim("lab_learning_to_add_99",
       "A one-layer LSTM learns 3-digit addition to 99 % test accuracy in 100 epochs",
       "the course lab's note on learning to add",
       runs=Experiment({"addition": {"batch_size": 64, "task_params": {"n_train": 5000}, "epochs": 100,
                                     "steps": None, "eval_every": None, "layers": 1}}, arch=("lstm",)))
def lab_learning_to_add_99(runs, grads, method="welch", epochs: int = 100) -> Verdict:
    sub = runs[(runs["task"] == "addition") & (runs["arch"] == "lstm") & (runs["layers"] == 1)]
    # the lab reports Keras' per-character accuracy; exact match (all digits right) is stricter
    acc = next((c for c in ("metrics.char_accuracy", "metrics.token_accuracy", "metrics.accuracy")
                if c in sub.columns and sub[c].notna().any()), None)
    if acc is None and len(sub) and sub["metric"].iloc[0] in CLASSIFICATION_METRICS:
        acc = "value"
    fin = sub[sub["status"].isin(["ok", "diverged"])]
    if acc is None or not len(fin):
        return Verdict(NOT_ENOUGH, "no finished one-layer LSTM run of the learning-to-add task with an accuracy")
    vals = pd.to_numeric(fin.loc[fin["status"] == "ok", acc], errors="coerce").dropna()
    m, ep = float(vals.mean()), float(fin["epochs"].max())     # nan when none
    rows = [{"task": "addition", "accuracy": acc.replace("metrics.", ""), "runs": len(fin), "mean_accuracy": m,
             "diverged": int((fin["status"] == "diverged").sum()), "min_accuracy": float(vals.min()), "epochs": ep}]
    if len(vals) and m >= 0.99 and not (fin["status"] == "diverged").any():
        return Verdict(HOLDS, f"mean test accuracy {m:.3f} over {len(vals)} run(s) in {_g(ep)} epochs", rows)
    if not math.isfinite(ep) or ep < epochs:
        return Verdict(NOT_ENOUGH, f"mean test accuracy {_g(m)} after {_g(ep)} epochs: fewer than the lab's "
                       f"{epochs}", rows)
    return Verdict(FAILS, f"mean test accuracy {_g(m)} after {_g(ep)} epochs", rows)
