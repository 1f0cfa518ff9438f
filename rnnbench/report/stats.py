"""The report's one statistics helper: a difference of means with a 95 % interval (scipy.stats).

Section 2 (LSTM vs GRU) and every claim that compares two groups call `interval`,
so a table and a claim never disagree about the same pair of samples.

    welch:     scipy.stats.ttest_ind(a, b, equal_var=False).confidence_interval(level)
               (Welch-Satterthwaite degrees of freedom, Student's t quantile)
    bootstrap: scipy.stats.bootstrap of mean(a) - mean(b), percentile interval, B resamples
               from a seeded generator (the same interval for the same samples).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

LEVEL = 0.95
METHODS = ("welch", "bootstrap")


@dataclass(frozen=True)
class Interval:
    diff: float          # mean(a) - mean(b)
    low: float
    high: float
    n_a: int
    n_b: int
    method: str
    level: float = LEVEL

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    @property
    def excludes_zero(self) -> bool:
        return self.defined and (self.low > 0 or self.high < 0)

    def within(self, margin: float) -> bool:
        """The whole interval inside (-margin, margin): no difference of practical size."""
        return self.defined and math.isfinite(margin) and -margin < self.low and self.high < margin

    def sign(self) -> int:
        """+1 when a > b with confidence, -1 when a < b, 0 when undecided."""
        return 0 if not self.excludes_zero else 1 if self.low > 0 else -1

    def text(self, fmt: str = ".3g") -> str:
        return f"{self.diff:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]" if self.defined else "n/a"


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def _interval(a, b, method: str, level: float, fn) -> Interval:
    """Undefined (nan) with fewer than 2 per side; a point when neither side varies."""
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean()) if na and nb else math.nan
    if na < 2 or nb < 2:
        return Interval(diff, math.nan, math.nan, na, nb, method, level)
    if a.var() == 0 and b.var() == 0:
        return Interval(diff, diff, diff, na, nb, method, level)
    lo, hi = fn(a, b)
    return Interval(diff, float(lo), float(hi), na, nb, method, level)


def welch(a, b, level: float = LEVEL) -> Interval:
    """Welch's interval for mean(a) - mean(b)."""
    def fn(a, b):
        with warnings.catch_warnings():   # one constant side: scipy warns of precision, the interval stands
            warnings.simplefilter("ignore", RuntimeWarning)
            return sps.ttest_ind(a, b, equal_var=False).confidence_interval(level)
    return _interval(a, b, "welch", level, fn)


def bootstrap(a, b, level: float = LEVEL, n_boot: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval for mean(a) - mean(b); deterministic given `seed`."""
    def fn(a, b):
        res = sps.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), n_resamples=n_boot,
                            confidence_level=level, method="percentile", rng=np.random.default_rng(seed))
        return res.confidence_interval
    return _interval(a, b, "bootstrap", level, fn)


def paired(a: "pd.Series", b: "pd.Series", level: float = LEVEL) -> Interval:
    """mean(a - b) over the keys (seeds) both have, with its t interval: for two arms that share
    everything a seed fixes (initialisation, data order) and differ in one setting. n < 2: no interval."""
    import pandas as pd

    common = pd.Index(a.index).intersection(pd.Index(b.index))
    d = (a.loc[common].astype(float) - b.loc[common].astype(float)).to_numpy()
    d = d[np.isfinite(d)]
    n = len(d)
    m = float(d.mean()) if n else math.nan
    if n < 2:
        return Interval(m, math.nan, math.nan, n, n, "paired t", level)
    se = float(d.std(ddof=1)) / math.sqrt(n)
    lo, hi = (m, m) if se == 0 else sps.t.interval(level, n - 1, loc=m, scale=se)
    return Interval(m, float(lo), float(hi), n, n, "paired t", level)


def interval(a, b, method: str = "welch", level: float = LEVEL) -> Interval:
    """The report's interval for mean(a) - mean(b) by `method` (welch | bootstrap)."""
    if method == "welch":
        return welch(a, b, level)
    if method == "bootstrap":
        return bootstrap(a, b, level)
    from ..errors import unknown
    raise unknown("interval method", method, METHODS)


def better(iv: Interval, direction: str) -> int:
    """+1 when a is better than b with confidence (by the metric's direction), -1 worse, 0 undecided."""
    s = iv.sign()
    return s if direction == "max" else -s


def mean_std(x) -> tuple[float, float, int]:
    a = _clean(x)
    if not len(a):
        return math.nan, math.nan, 0
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else math.nan, len(a)


def loglinear_fit(x, y) -> tuple[float, float, int]:
    """Least-squares fit log(y) = c + slope * x over positive finite y: (slope, R^2, n points)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
    x, ly = x[keep], np.log(y[keep])
    if len(x) < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, len(x)
    if np.ptp(ly) == 0:             # a flat curve: slope 0, a perfect (if trivial) fit
        return 0.0, 1.0, len(x)
    fit = sps.linregress(x, ly)
    return float(fit.slope), float(fit.rvalue ** 2), len(x)
