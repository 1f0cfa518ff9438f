"""Across tasks, in the style of rliable (Agarwal et al. 2021, "Deep RL at the edge of the
statistical precipice"): aggregate statistics with stratified bootstrap intervals.

    probability_of_improvement(runs, a, b)   P(a better than b): in each stratum (a task and its
                                             condition, like with like) the probability that a
                                             random seed of `a` beats a random seed of `b` (the
                                             Mann-Whitney U / (n m), ties 1/2), averaged over strata;
                                             where runs stopped once solved, "beats" = solved in
                                             fewer steps (an unsolved run loses to a solved one)
    iqm(runs, arch)                          interquartile mean of the normalised scores of
                                             every run of `arch` (scipy.stats.trim_mean, 25 %);
                                             `table` compares two on the strata both ran
    normalised(runs)                         0 = the task's trivial baseline, 1 = its solved
                                             threshold (nan where the task has no threshold)

Intervals: scipy.stats.bootstrap over the strata's samples, each resampled within itself
(stratified: a task keeps its seeds), percentile method, seeded. A diverged run counts:
worse than every finished run in P(a > b), at the baseline (0) in the IQM. A stratum needs
at least 2 runs per arm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95
N_BOOT = 2000
CONDITION_DROP = ("arch", "backend")


@dataclass(frozen=True)
class Across:
    estimate: float
    low: float
    high: float
    strata: int          # task x condition strata that entered
    runs: int

    def text(self, fmt: str = ".2f") -> str:
        if not math.isfinite(self.estimate):
            return "n/a"
        ci = f" [{self.low:{fmt}}, {self.high:{fmt}}]" if math.isfinite(self.low) else ""
        return f"{self.estimate:{fmt}}{ci}"


NONE = Across(math.nan, math.nan, math.nan, 0, 0)


def normalised(runs: pd.DataFrame) -> pd.Series:
    """(value - baseline) / (threshold - baseline) per run: 0 at the trivial baseline, 1 at the
    solved threshold, whichever way the metric is better; a diverged run scores 0."""
    v, b = runs["value"].astype(float), runs["baseline"].astype(float)
    t = runs["solved_threshold"].astype(float)
    score = (v - b) / (t - b).where((t - b) != 0)
    diverged = (runs["status"] == "diverged") & b.notna() & t.notna()
    return score.where(~diverged, 0.0)


def _strata(runs: pd.DataFrame) -> pd.DataFrame:
    from ..report import tables

    fin = runs[runs["status"].isin(["ok", "diverged"])]
    if not len(fin):
        return fin.assign(_stratum=pd.Series(dtype=str))
    fin = pd.concat([tables.with_condition(g, drop=CONDITION_DROP) for _, g in fin.groupby("task", sort=True)])
    return fin.assign(_stratum=fin["task"].astype(str) + "|" + fin["cond"].astype(str))


STOPPED = "params.train.stop_when_solved"
UNSOLVED = -1e12     # below every solved run's score


def by_steps(stratum: pd.DataFrame) -> bool:
    """Whether a stratum's runs stopped once solved (stop_when_solved) and some solved: their final
    values then all sit at the threshold and say nothing, their steps to solve do."""
    return bool(STOPPED in stratum and stratum[STOPPED].astype(str).eq("True").all()
                and "steps_to_solve" in stratum and stratum["steps_to_solve"].notna().any())


def _oriented(g: pd.DataFrame, steps_scored: bool = False) -> np.ndarray:
    """Scores with larger = better; a diverged run -inf (worse than any finished one).
    The metric's value, oriented; steps_scored (by_steps of the stratum): a run that solved scores
    minus its steps to solve, one that never did scores below every solved run (ranked by its metric)."""
    if not len(g):
        return np.empty(0)
    sign = 1.0 if g["direction"].iloc[0] == "max" else -1.0
    v = sign * g["value"].astype(float).to_numpy()
    if steps_scored:
        steps = g["steps_to_solve"].astype(float).to_numpy()
        v = np.where(np.isnan(steps), UNSOLVED + np.nan_to_num(v, nan=0.0), -steps)
    v[(g["status"] == "diverged").to_numpy()] = -np.inf
    return v[~np.isnan(v)]


def _p_better(*xs, axis=-1):
    """Mean over strata of P(x > y) + P(x = y) / 2, for samples given as x1, y1, x2, y2, ..."""
    ps = []
    for x, y in zip(xs[::2], xs[1::2]):
        x, y = np.moveaxis(np.asarray(x), axis, -1), np.moveaxis(np.asarray(y), axis, -1)
        gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-1, -2))
        eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-1, -2))
        ps.append(gt + 0.5 * eq)
    return np.mean(ps, axis=0)


def _iqm(*xs, axis=-1):
    return sps.trim_mean(np.concatenate([np.moveaxis(np.asarray(x), axis, -1) for x in xs], axis=-1), 0.25,
                         axis=-1)


def _boot(samples: list[np.ndarray], fn, seed: int) -> Across:
    n = sum(len(s) for s in samples)
    est = float(fn(*samples))
    try:
        res = sps.bootstrap(samples, fn, n_resamples=N_BOOT, confidence_level=LEVEL, method="percentile",
                            vectorized=True, rng=np.random.default_rng(seed))
        lo, hi = (float(x) for x in res.confidence_interval)
    except ValueError:        # e.g. a sample without variation in every stratum: the point is the interval
        lo = hi = est
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo = hi = est
    return Across(est, lo, hi, len(samples) // (2 if fn is _p_better else 1), n)


def probability_of_improvement(runs: pd.DataFrame, a: str, b: str, seed: int = 0) -> Across:
    """P(a better than b) across the strata where both ran (>= 2 finished runs each)."""
    samples = []
    for _, g in _strata(runs[runs["arch"].isin([a, b])]).groupby("_stratum", sort=True):
        st = by_steps(g)
        x, y = _oriented(g[g["arch"] == a], st), _oriented(g[g["arch"] == b], st)
        if len(x) >= 2 and len(y) >= 2:
            samples += [x, y]
    return _boot(samples, _p_better, seed) if samples else NONE


def iqm(runs: pd.DataFrame, arch: str, seed: int = 0) -> Across:
    """Interquartile mean of the normalised scores of `arch`'s finished runs on tasks with a threshold."""
    sub = runs[runs["arch"] == arch]
    sub = sub.assign(_score=normalised(sub)) if len(sub) else sub.assign(_score=pd.Series(dtype=float))
    samples = [s for _, g in _strata(sub).groupby("_stratum", sort=True)
               if len(s := g["_score"].dropna().to_numpy(dtype=float)) >= 2]
    return _boot(samples, _iqm, seed) if samples else NONE


def common(runs: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """The finished runs of a and b in the strata where both ran: the same tasks for both IQMs."""
    st = _strata(runs[runs["arch"].isin([a, b])])
    return st[st.groupby("_stratum")["arch"].transform("nunique") == 2] if len(st) else st


def table(runs: pd.DataFrame, pairs) -> pd.DataFrame:
    """One row per pair (a, b): P(a > b) and each side's IQM over the strata both ran, with intervals."""
    rows = []
    for a, b in pairs:
        both = common(runs, a, b)
        p, ia, ib = probability_of_improvement(both, a, b), iqm(both, a), iqm(both, b)
        rows.append({"a": a, "b": b, "p_a_better": p.estimate, "p_low": p.low, "p_high": p.high, "strata": p.strata,
                     "iqm_a": ia.estimate, "iqm_a_low": ia.low, "iqm_a_high": ia.high, "iqm_b": ib.estimate,
                     "iqm_b_low": ib.low, "iqm_b_high": ib.high, "iqm_strata": min(ia.strata, ib.strata)})
    return pd.DataFrame(rows)
