"""The lecture notes' claims about training choices, each an ablation: two arms that differ in
one setting (the cell, the forget-gate bias, the BPTT window, depth and skip connections,
teacher forcing, the decoder's beam), compared like with like (tables.with_condition).

"Learns faster / better" is decided by `_learning`: where the task has a solved threshold and
an arm reached it, by the steps to reach it with a margin of practical equivalence of ROPE x the
budget; else by the final metric with ROPE x the baseline-to-solved distance (base.margin). A run
that never reached the threshold is censored: it counts at its last step, a lower bound, which is
conservative only for the arm that lost. So (`_censoring`): a pair of runs (same seed) of which
neither reached it says nothing about which is faster and is left out of a paired comparison; an
arm is called faster only where none of its runs is censored against a run of the other arm that
reached it (its bound would flatter it); and "no practical difference" is never concluded from a
censored run (a bound is not a value). The budgets are in budgets.py, with the measurement that
chose them.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report import stats, tables
from . import budgets as B
from .base import FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED, ROPE, Experiment, Verdict, claim, learned, margin
from .checks import OUTCOME, SAME, _decide, _g, _idle, _missing, _ok_values

TRAIN = "params.train."
MODEL = tables.MODEL_PARAMS


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index)


def reached(arm: pd.DataFrame) -> pd.Series:
    """Per finished run: whether validation met the solved rule during training (steps_to_solve)."""
    fin = arm[arm["status"].isin(["ok", "diverged"])]
    return _col(fin, "steps_to_solve").notna()


def steps_censored(arm: pd.DataFrame) -> pd.Series:
    """Per ok run: the steps to solve, or the run's last step where it never solved (a lower bound)."""
    ok = arm[arm["status"] == "ok"]
    return _col(ok, "steps_to_solve").astype(float).fillna(ok["steps"].astype(float))


def _budget(runs: pd.DataFrame) -> float:
    """The steps the runs were allowed (their configured steps; the most any ran where not set)."""
    conf = _col(runs, TRAIN + "steps").astype(float).dropna()
    return float(conf.max()) if len(conf) else float(runs["steps"].astype(float).max())


def _by_seed(values: pd.Series, runs: pd.DataFrame) -> pd.Series | None:
    """`values` (indexed like `runs`) re-indexed by the runs' seeds; None if a seed repeats."""
    seeds = runs.loc[values.index, "seed"]
    return None if seeds.duplicated().any() else pd.Series(values.to_numpy(), index=seeds.to_numpy())


def _interval(va: pd.Series, vb: pd.Series, a, b, method: str, paired: bool):
    """Paired by seed where asked and both arms ran >= 2 of the same seeds, else `method`."""
    if paired:
        pa, pb = _by_seed(va, a), _by_seed(vb, b)
        if pa is not None and pb is not None and len(pa.index.intersection(pb.index)) >= 2:
            return stats.paired(pa, pb)
    return stats.interval(va, vb, method)


def _learning(a: pd.DataFrame, b: pd.DataFrame, method: str, paired: bool = False) -> dict:
    """Which arm learns better: +1 a, -1 b, 0 undecided, SAME (no practical difference), with
    the measure used and its interval; `idle` when neither arm left the trivial baseline.
    paired: the arms share what a seed fixes (the same cell: initialisation, data order) and
    differ in one setting, so seed k of a is compared with seed k of b (a paired t interval)."""
    both = pd.concat([a, b])
    idle = bool(learned(a) is False and learned(b) is False)
    ra, rb = reached(a), reached(b)
    censoring = ""
    if both["solved_threshold"].notna().any() and (ra.any() or rb.any()):
        sa, sb = steps_censored(a), steps_censored(b)
        sa, sb, kept, censoring = _censoring(sa, sb, a, b, paired)
        iv = _interval(sa, sb, a, b, method, paired)
        out = -iv.sign()                                        # fewer steps is better
        if (out == 1 and not kept[0]) or (out == -1 and not kept[1]):
            out = 0                                             # the winner's censored bound flatters it
        rope = ROPE * _budget(both)
        measure = "steps to solve"
    else:
        sa, sb = _ok_values(a), _ok_values(b)
        iv = _interval(sa, sb, a, b, method, paired)
        out = stats.better(iv, both["direction"].iloc[0])
        rope = margin(both)
        measure = both["metric"].iloc[0]
    if out == 0 and iv.within(rope) and not censoring:
        out = SAME
    return {"measure": measure, "a": sa.mean(), "b": sb.mean(), "a_minus_b": iv.text(), "interval": iv.method,
            "rope": rope, "reached_a": f"{int(ra.sum())}/{len(ra)}", "reached_b": f"{int(rb.sum())}/{len(rb)}",
            "censoring": censoring, "outcome": out if iv.defined and not idle else None, "nothing_learned": idle}


def _censoring(sa: pd.Series, sb: pd.Series, a: pd.DataFrame, b: pd.DataFrame, paired: bool):
    """Steps to solve with their censored runs (last step, a lower bound) taken for what they are.
    Returns sa, sb without the pairs (same seed) of which neither run reached the threshold (paired
    comparisons only: both are bounds, the pair says nothing about which is faster); whether a and
    whether b may be called faster (not if one of its runs is censored while the other arm's run,
    of the same seed where paired, else any, reached the threshold); and a note, empty when no
    remaining run is censored (only then can "no practical difference" be concluded)."""
    ca, cb = _col(a.loc[sa.index], "steps_to_solve").isna(), _col(b.loc[sb.index], "steps_to_solve").isna()
    qa, qb = _by_seed(ca, a), _by_seed(cb, b)
    if paired and qa is not None and qb is not None:
        common = qa.index.intersection(qb.index)
        neither = common[qa.loc[common].to_numpy() & qb.loc[common].to_numpy()]
        keep_a, keep_b = ~a.loc[sa.index, "seed"].isin(neither), ~b.loc[sb.index, "seed"].isin(neither)
        sa, sb, ca, cb = sa[keep_a], sb[keep_b], ca[keep_a], cb[keep_b]
        qa, qb = qa.drop(neither), qb.drop(neither)
        common = qa.index.intersection(qb.index)
        ok_a = not (qa.loc[common] & ~qb.loc[common]).any()
        ok_b = not (qb.loc[common] & ~qa.loc[common]).any()
        dropped = len(neither)
    else:
        ok_a, ok_b, dropped = not (ca.any() and (~cb).any()), not (cb.any() and (~ca).any()), 0
    note = [f"{dropped} pair(s) where neither reached it left out"] if dropped else []
    if ca.any() or cb.any():
        note.append(f"censored (never reached, counted at the last step): {int(ca.sum())} vs {int(cb.sum())}")
    return sa, sb, (ok_a, ok_b), "; ".join(note)


def _ablation(runs: pd.DataFrame, factor: str, a, b, what: str, *, keep=None, method="welch",
              longest: bool = False, labels=("a", "b"), paired: bool = False) -> Verdict:
    """Arm `factor == a` against `factor == b` in every condition (task, cell, the rest equal)
    where both ran; +1 when a learns better. `keep` filters the runs first."""
    sub = runs if keep is None else runs[keep(runs)]
    if factor not in sub.columns or not len(sub):
        return Verdict(NOT_ENOUGH, f"no runs of {what}")
    f = sub[factor].map(tables._fmt)
    sub = sub[f.isin([tables._fmt(a), tables._fmt(b)])].assign(_arm=f)
    sub = tables.with_condition(sub, drop=[factor])
    if longest:
        T = sub["seq_len"].astype(float)
        sub = sub[(T == T.groupby(sub["task"]).transform("max")) | T.isna()]
    rows, outcomes = [], []
    keys = [k for k in ("task", "arch", "cond") if k != factor]
    for key, g in sub.groupby(keys, sort=True):
        task, arch = g["task"].iloc[0], "/".join(tables.uniq(g["arch"]))
        ga, gb = g[g["_arm"] == tables._fmt(a)], g[g["_arm"] == tables._fmt(b)]
        if not len(ga) or not len(gb):
            continue
        r = _learning(ga, gb, method, paired)
        if r["outcome"] is not None:
            outcomes.append(r["outcome"])
        name_a, name_b = labels
        rows.append({"task": task, "arch": arch, "condition": g["condition"].iloc[0],
                     "seq_len": g["seq_len"].iloc[0], "measure": r["measure"], name_a: r["a"], name_b: r["b"],
                     f"{name_a}_minus_{name_b}": r["a_minus_b"], "interval": r["interval"],
                     "practical_margin": r["rope"],
                     f"reached_{name_a}": r["reached_a"], f"reached_{name_b}": r["reached_b"],
                     "censoring": r["censoring"],
                     "nothing_learned": r["nothing_learned"],
                     "outcome": NOTHING_LEARNED if r["nothing_learned"] else
                     OUTCOME[r["outcome"]] if r["outcome"] is not None else "n/a"})
    if not rows:
        return Verdict(NOT_ENOUGH, f"no condition with runs of both arms of {what}")
    status, text = _decide(outcomes, what, _idle(rows))
    return Verdict(status, text + _example(rows, labels), rows)


def _example(rows, labels) -> str:
    r = rows[-1]
    a, b = labels
    steps = r["measure"] == "steps to solve"
    fmt = (lambda x: f"{x:.0f}") if steps else _g
    return (f"; e.g. {r['task']} {r['condition'] or ''}: {r['measure']} {fmt(r[a])} vs {fmt(r[b])}, difference "
            f"{r[f'{a}_minus_{b}']} ({r['interval']})"
            + (f", reached {r['reached_' + a]} vs {r['reached_' + b]}" if steps else "")
            + (f" ({r['censoring']})" if r.get("censoring") else "")).replace("  ", " ")


# ---- the claims ----------------------------------------------------------------------------
@claim("lstm_better_long_dependencies",
       "LSTM is the better default for long dependencies: at the longest lengths it learns them better than GRU",
       "lecture notes (LSTM vs GRU); Chung et al. 2014; Jozefowicz et al. 2015",
       runs=Experiment(B.LONG_DEPENDENCY, arch=("lstm", "gru")))
def lstm_better_long_dependencies(runs, grads, method="welch") -> Verdict:
    if _missing(runs, "lstm", "gru"):
        return Verdict(NOT_ENOUGH, _missing(runs, "lstm", "gru"))
    keep = (lambda r: (r["task_family"] == "long-dependency") & r["seq_len"].notna()
            & (r["layers"] == 1) & ~r["bidirectional"].astype(bool))
    return _ablation(runs, "arch", "lstm", "gru", "LSTM vs GRU at the longest length", keep=keep, method=method,
                     longest=True, labels=("lstm", "gru"))


@claim("forget_bias_helps_lstm",
       "A forget-gate bias of 1 helps LSTM learn long dependencies (against a bias of 0)",
       "Gers, Schmidhuber & Cummins 2000; Jozefowicz et al. 2015; lecture notes",
       runs=Experiment(B.FORGET_BIAS, arch=("lstm",), seeds=B.MORE_SEEDS))
def forget_bias_helps_lstm(runs, grads, method="welch") -> Verdict:
    keep = lambda r: (r["arch"] == "lstm") & (r["task_family"] == "long-dependency")  # noqa: E731
    return _ablation(runs, TRAIN + "forget_bias", 1.0, 0.0, "forget bias 1 vs 0", keep=keep, method=method,
                     labels=("bias1", "bias0"), paired=True)


@claim("tbptt_shorter_than_delay_fails",
       "Truncated BPTT with a window shorter than the dependency cannot learn it; full BPTT can",
       "Williams & Peng 1990; lecture notes (truncated BPTT)",
       runs=Experiment(B.TBPTT, arch=("lstm",)))
def tbptt_shorter_than_delay_fails(runs, grads, method="welch") -> Verdict:
    col = TRAIN + "tbptt"
    sub = runs[(runs["task"] == "copy")] if "copy" in set(runs["task"]) else runs.iloc[0:0]
    if col not in sub.columns or not len(sub):
        return Verdict(NOT_ENOUGH, "no copy-memory runs with truncated BPTT")
    sub = tables.with_condition(sub.assign(_k=sub[col].astype(float)), drop=[col])
    rows, verdicts = [], []
    for (arch, cond), g in sub.groupby(["arch", "cond"], sort=True):
        full = g[g["_k"].isna()]
        delay = float(g["seq_len"].iloc[0])
        for k, tr in g[g["_k"].notna() & (g["_k"] < delay)].groupby("_k"):
            lf, lt = learned(full), learned(tr)
            rf, rt = reached(full), reached(tr)
            row = {"arch": arch, "condition": g["condition"].iloc[0], "delay": delay, "window": k,
                   "full": _ok_values(full).mean(), "truncated": _ok_values(tr).mean(),
                   "baseline": float(g["baseline"].mean()), "full_learned": lf, "truncated_learned": lt,
                   "full_reached": f"{int(rf.sum())}/{len(rf)}", "truncated_reached": f"{int(rt.sum())}/{len(rt)}"}
            rows.append(row)
            if lf and not rt.any() and not lt:
                verdicts.append(HOLDS)
            elif rt.any() or lt:
                verdicts.append(FAILS)
    if not rows:
        return Verdict(NOT_ENOUGH, "no copy-memory condition with full BPTT and a window shorter than the delay")
    if not verdicts:
        return Verdict(NOT_ENOUGH, f"{NOTHING_LEARNED}: full BPTT did not learn copy memory either, so the "
                       "window decides nothing", rows)
    r = rows[-1]
    text = (f"delay {_g(r['delay'])}, window {_g(r['window'])}: truncated {_g(r['truncated'])} (solved "
            f"{r['truncated_reached']}), full {_g(r['full'])} (solved {r['full_reached']}), baseline {_g(r['baseline'])}")
    if FAILS in verdicts:
        return Verdict(FAILS, "a window shorter than the delay learned it: " + text, rows)
    return Verdict(HOLDS, f"in {len(verdicts)} condition(s) the truncated runs stay at the baseline while full "
                   "BPTT learns: " + text, rows)


@claim("residual_makes_deep_stacks_trainable",
       "Stacking: without skip connections a deep (4-layer) stack learns worse; residual connections make it "
       "trainable",
       "He et al. 2016; Wu et al. 2016 (GNMT residual LSTM stacks); lecture notes (deep RNNs)",
       runs=Experiment(B.STACKING, arch=("lstm",), seeds=B.MORE_SEEDS))
def residual_makes_deep_stacks_trainable(runs, grads, method="welch") -> Verdict:
    col = TRAIN + "residual"
    if col not in runs.columns:
        return Verdict(NOT_ENOUGH, "no runs with and without residual connections")
    with_skip = runs.loc[runs[col].astype(str) == "True", "layers"]
    deep = int(with_skip.max()) if len(with_skip) else 0
    if deep < 2:
        return Verdict(NOT_ENOUGH, "no stacked runs with residual connections")
    keep = lambda r: (r["layers"] == deep)  # noqa: E731
    v = _ablation(runs, col, True, False, f"{deep} layers with vs without residual connections", keep=keep,
                  method=method, labels=("residual", "plain"), paired=True)
    depth = _depth_rows(runs[runs["task"].isin({r["task"] for r in v.numbers})], col)
    return Verdict(v.status, v.evidence + (f"; by depth (plain): {depth}" if depth else ""), v.numbers)


def _depth_rows(runs, col) -> str:
    plain = runs[(runs[col].astype(str) != "True") & (runs["status"] == "ok")]
    plain = plain[plain["arch"] == "lstm"]
    if not len(plain) or plain["layers"].nunique() < 2:
        return ""
    by = plain.groupby("layers")["value"].mean()
    return ", ".join(f"{int(L)}: {_g(v)}" for L, v in by.items())


@claim("teacher_forcing_speeds_learning",
       "Teacher forcing speeds up learning to add: the decoder fed the true previous digits learns faster "
       "than one fed its own predictions (the task's default encoder-decoder: LSTM 128 with attention, "
       "embedded digits, 3-digit operands, batch 256, Adam 1e-2), measured two ways: its validation exact "
       "match over the first epoch (the mean of the four evaluations, 64 seeds) and its steps to 99 % "
       "(16 seeds)",
       "Williams & Zipser 1989; lecture notes (seq2seq training)",
       runs=Experiment(B.TEACHER_FORCING, arch=("lstm",), seeds=B.TF_SEEDS))
def teacher_forcing_speeds_learning(runs, grads, method="welch") -> Verdict:
    """Teacher forcing 1 vs 0, paired by seed, in the two blocks of budgets.TEACHER_FORCING, each on
    its own measure: steps to 99 % validation exact match (12 epochs at most, 16 seeds; runs that
    never reach 99 % are bounds, not values: `_censoring`), and the first epoch's learning curve, the
    record's `val_mean` over its four evaluations (1 epoch, 64 fresh seeds). Measured and chosen:
    budgets.py above TF_SEEDS and workflows/config/BUDGETS.md ("Teacher forcing"). The verdict
    combines the two comparisons (checks._decide): better in one and worse in none holds; no practical
    difference in the first epoch and none better fails. Measured (claims.yaml, 2026-12-01): holds,
    first epoch +0.045 [0.027, 0.063] (0.104 vs 0.058, forced ahead in 51 of 64 seeds); steps to 99 %
    -41 [-334, 252], undecided: a head start, not an earlier finish."""
    sub = runs[runs["task"] == "addition"]
    early = _col(sub, TRAIN + "epochs").astype(float) == float(B.TF_EARLY["epochs"])
    if early.any():
        sub = sub.assign(value=sub["value"].where(~early, _col(sub, "val_mean")),
                         metric=sub["metric"].where(~early, "first epoch's mean validation exact_match"))
    return _ablation(sub, MODEL + "teacher_forcing", 1.0, 0.0, "teacher forcing 1 vs 0", method=method,
                     labels=("forced", "free"), paired=True)


@claim("beam_at_least_greedy",
       "Beam search decodes at least as well as greedy decoding (the same trained model)",
       "Sutskever et al. 2014; lecture notes (seq2seq decoding)",
       runs=Experiment(B.BEAM, arch=("lstm",)))
def beam_at_least_greedy(runs, grads, method="welch") -> Verdict:
    greedy = "metrics.exact_match_greedy"
    sub = runs[(runs["task_kind"] == "seq2seq") & (runs["status"] == "ok") & (runs["metric"] == "exact_match")]
    beam = "value"                                   # the test split's exact match, decoded with the beam
    if greedy not in sub.columns or not sub[greedy].notna().any():
        return Verdict(NOT_ENOUGH, "no seq2seq runs decoded with a beam wider than 1 (exact_match_greedy)")
    sub = sub[sub[greedy].notna()]
    rows, worse = [], 0
    for (task, arch), g in sub.groupby(["task", "arch"], sort=True):
        d = (g[beam].astype(float) - g[greedy].astype(float)).to_numpy()
        iv = stats.paired(g[beam], g[greedy])          # each run decoded both ways: paired by run
        lo, hi = iv.low, iv.high
        rope = margin(g)
        ok = lo > -rope if math.isfinite(lo) else None
        worse += bool(math.isfinite(hi) and hi < 0)
        rows.append({"task": task, "arch": arch, "runs": len(d), "beam": float(g[beam].mean()),
                     "greedy": float(g[greedy].mean()), "beam_minus_greedy": float(d.mean()),
                     "ci_low": lo, "ci_high": hi, "practical_margin": rope, "not_worse": ok,
                     "beam_width": float(g["metrics.beam"].max()) if "metrics.beam" in g else math.nan})
    decided = [r for r in rows if r["not_worse"] is not None]
    if not decided:
        return Verdict(NOT_ENOUGH, "fewer than 2 runs decoded both ways", rows)
    r = rows[0]
    text = (f"{r['task']}: exact match beam {_g(r['beam'])} vs greedy {_g(r['greedy'])}, paired difference "
            f"{_g(r['beam_minus_greedy'])} [{_g(r['ci_low'])}, {_g(r['ci_high'])}] over {r['runs']} runs")
    if worse or any(not r["not_worse"] for r in decided):
        return Verdict(FAILS, "beam is worse than greedy beyond the practical margin: " + text, rows)
    return Verdict(HOLDS, f"not worse in {len(decided)} task(s) (interval above -{_g(decided[0]['practical_margin'])}): "
                   + text, rows)

