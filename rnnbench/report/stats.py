"""The report's one statistics helper: a difference of means with a 95 % interval.

Section 2 (LSTM vs GRU) and every claim that compares two groups call `interval`,
so a table and a claim never disagree about the same pair of samples.

    welch:     d = mean(a) - mean(b),  se^2 = s_a^2/n_a + s_b^2/n_b,
               df = se^4 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1))   (Welch-Satterthwaite)
               d +- t_{(1+level)/2, df} * se
    bootstrap: resample a and b (with replacement, sizes kept) B times from a seeded
               generator; the percentile interval of mean(a*) - mean(b*).

No scipy: Student's t quantile comes from the regularised incomplete beta function
(continued fraction, Numerical Recipes 6.4) and bisection.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

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

    def sign(self) -> int:
        """+1 when a > b with confidence, -1 when a < b, 0 when undecided."""
        if not self.excludes_zero:
            return 0
        return 1 if self.low > 0 else -1

    def text(self, fmt: str = ".3g") -> str:
        if not self.defined:
            return "n/a"
        return f"{self.diff:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    return a[np.isfinite(a)]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (real, > 0) degrees of freedom."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


@lru_cache(maxsize=4096)
def t_ppf(p: float, df: float) -> float:
    """The p-quantile of Student's t (bisection on t_cdf; |error| < 1e-10)."""
    if not 0.0 < p < 1.0 or not df > 0:
        raise ValueError(f"t_ppf needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def welch(a, b, level: float = LEVEL) -> Interval:
    """Welch's interval for mean(a) - mean(b); undefined (nan) with fewer than 2 per side."""
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean()) if na and nb else math.nan
    if na < 2 or nb < 2:
        return Interval(diff, math.nan, math.nan, na, nb, "welch", level)
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0.0:
        return Interval(diff, diff, diff, na, nb, "welch", level)
    df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    half = t_ppf(0.5 + level / 2.0, float(df)) * math.sqrt(se2)
    return Interval(diff, diff - half, diff + half, na, nb, "welch", level)


def bootstrap(a, b, level: float = LEVEL, n_boot: int = 10_000, seed: int = 0) -> Interval:
    """Percentile bootstrap interval for mean(a) - mean(b); deterministic given `seed`."""
    a, b = _clean(a), _clean(b)
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean()) if na and nb else math.nan
    if na < 2 or nb < 2:
        return Interval(diff, math.nan, math.nan, na, nb, "bootstrap", level)
    g = np.random.default_rng(seed)
    ma = a[g.integers(0, na, size=(n_boot, na))].mean(axis=1)
    mb = b[g.integers(0, nb, size=(n_boot, nb))].mean(axis=1)
    lo, hi = np.quantile(ma - mb, [(1 - level) / 2, (1 + level) / 2])
    return Interval(diff, float(lo), float(hi), na, nb, "bootstrap", level)


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
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (y > 0)
    x, ly = x[keep], np.log(y[keep])
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return math.nan, math.nan, n
    slope, icpt = np.polyfit(x, ly, 1)
    resid = ly - (icpt + slope * x)
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return float(slope), r2, n
