"""The claim machinery (rnnbench.claims says what a claim is): the registry, a claim's
Experiment and Verdict, the union of experiments as a grid config, and "learned"."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..registry import Registry

HOLDS, FAILS, NOT_ENOUGH = "holds", "fails", "not enough data"
STATUSES = (HOLDS, FAILS, NOT_ENOUGH)
AT_BASELINE = 0.2    # "stays at the baseline": within 20 % of the trivial predictor's value (or worse)
ROPE = 0.05          # "no practical difference": within 5 % of the baseline-to-solved distance (see margin)
NOTHING_LEARNED = "nothing learned"
SEEDS = (0, 1, 2)    # at least 3 seeds per arm (issue 16)


@dataclass
class Verdict:
    status: str                                   # holds | fails | not enough data
    evidence: str                                 # one or two sentences with the deciding numbers
    numbers: list[dict[str, Any]] = field(default_factory=list)   # the rows behind it

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")


@dataclass(frozen=True)
class Experiment:
    """The runs that decide a claim, in the grid config's vocabulary (rnnbench/grid.py):
    per task a block, or a list of blocks (task_params, model_params, any RunConfig key; a list
    is an axis), crossed with the cells, the training budget and the seeds, which a task block
    may override (its own `arch` list included)."""
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)   # {}: no training run
    arch: tuple[str, ...] = ()
    budget: dict[str, Any] = field(default_factory=dict)   # RunConfig training keys for every task block
    seeds: tuple[int, ...] = SEEDS
    gradients: bool = False          # gradient-flow diagnostics at init for these cells
    # a kernel throughput sweep, as the grid config's `throughput:` block (workflows/config/schema.yaml):
    # {arch: [...], backend: [...], hidden: [...], batch, seq_len, input, ...}; None: none
    throughput: dict[str, Any] | None = None

    # the backend of a cell where it is not `auto` (budgets.BACKENDS: measured faster on CPU);
    # a block that names a backend itself keeps it
    backends: dict[str, str] = field(default_factory=lambda: dict(_backends()))

    def blocks(self) -> dict[str, list[dict[str, Any]]]:
        """task -> the grid blocks of this experiment's cells on it (a task may list several;
        cells with a backend of their own get a block each)."""
        def groups(archs) -> dict[str | None, list[str]]:
            out: dict[str | None, list[str]] = {}
            for a in archs:
                out.setdefault(self.backends.get(a), []).append(a)
            return out

        return {t: [{**self.budget, "seed": list(self.seeds), **b, "arch": archs,
                     **({"backend": be} if be and "backend" not in b else {})}
                    for b in (bs if isinstance(bs, list) else [bs])
                    for be, archs in groups(b.get("arch", self.arch)).items()]
                for t, bs in self.tasks.items()}

    def archs(self) -> set[str]:
        """Every cell the experiment trains (a task block may name its own)."""
        return {a for bs in self.tasks.values() for b in (bs if isinstance(bs, list) else [bs])
                for a in b.get("arch", self.arch)}


def _backends() -> dict[str, str]:
    from .budgets import BACKENDS
    return BACKENDS




@dataclass
class Claim:
    name: str
    text: str
    source: str
    check: Callable[..., Verdict]
    runs: Experiment | None = None   # None: decided without runs (computed exactly)


CLAIMS: Registry[Claim] = Registry("claim")


def claim(name: str, text: str, source: str, runs: Experiment | None = None):
    def deco(fn):
        CLAIMS.add(name, Claim(name, text, source, fn, runs))
        return fn
    return deco


def evaluate(runs, grads=None, method: str = "welch", names=None, throughput=None) -> list[tuple[Claim, Verdict]]:
    """Every registered claim's verdict (a check that breaks on odd input says so, never passes).
    `throughput`: the `rnnbench throughput` rows (results/throughput/*.csv), passed to the
    checks that take a `throughput` argument."""
    import inspect

    import pandas as pd

    grads = grads if grads is not None else pd.DataFrame()
    throughput = throughput if throughput is not None else pd.DataFrame()
    out = []
    for name in names or CLAIMS.names():
        c = CLAIMS.get(name)
        try:
            extra = {"throughput": throughput} if "throughput" in inspect.signature(c.check).parameters else {}
            v = c.check(runs, grads, method=method, **extra)
        except Exception as e:  # noqa: BLE001 - a broken check must not hide the rest of the report
            v = Verdict(NOT_ENOUGH, f"the check could not be evaluated on these results: "
                                    f"{type(e).__name__}: {e}")
        out.append((c, v))
    return out


def grid(names) -> dict[str, Any]:
    """The union of the named claims' experiments as a grid config (rnnbench.grid.expand):
    `tasks: {task: [block, ...]}`, one block per experiment on the task, nothing shared, so
    each claim's cells are exactly its own; and the claims' throughput sweeps as one
    `throughput:` block (merge_throughput). A claim decided without runs adds nothing."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    grads: list[dict[str, Any]] = []
    sweeps: list[dict[str, Any]] = []
    for name in names:
        exp = CLAIMS.get(name).runs
        if exp is None:
            continue
        if exp.throughput:
            sweeps.append(exp.throughput)
        for task, blocks in exp.blocks().items():
            for block in blocks:
                if block not in tasks.setdefault(task, []):
                    tasks[task].append(block)
                if exp.gradients:
                    grads.append({"task": task, "arch": list(exp.arch), **_fixed(block.get("task_params"))})
    sweep = merge_throughput(*sweeps)
    return {"name": "claims", "grid": {}, "tasks": tasks,
            **({"gradients": {"at": "init", "cells": grads}} if grads else {}),
            **({"throughput": sweep} if sweep else {})}


SWEEP_AXES = ("arch", "backend", "hidden")


def merge_throughput(*blocks) -> dict[str, Any] | None:
    """Throughput sweep blocks (the grid config's `throughput:`) as one: the union of their
    arch, backend and hidden lists (in order of appearance, hidden sorted), every other key
    (batch, seq_len, input, rounds, ...) from the first block that sets it. None: no block."""
    blocks = [b for b in blocks if b]
    if not blocks:
        return None
    out: dict[str, Any] = {}
    for b in blocks:
        for k, v in b.items():
            if k in SWEEP_AXES:
                have = out.setdefault(k, [])
                have += [x for x in (v if isinstance(v, (list, tuple)) else [v]) if x not in have]
            else:
                out.setdefault(k, v)
    if "hidden" in out:
        out["hidden"] = sorted(out["hidden"])
    return out


def _fixed(task_params) -> dict[str, Any]:
    return {f"task_params.{k}": v for k, v in (task_params or {}).items()}


# ---- "learned": against the record's trivial baseline --------------------------------
def at_baseline(mean, baseline, direction: str, threshold=None) -> bool | None:
    """Whether an arm's mean is at the task's trivial baseline: worse than it, or within
    AT_BASELINE of it (relative to the baseline; to the baseline-to-solved distance where the
    baseline is 0). None when either is unknown."""
    if not _finite(mean) or not _finite(baseline):
        return None
    worse = mean >= baseline if direction == "min" else mean <= baseline
    scale = abs(baseline) or (abs(threshold - baseline) if _finite(threshold) else 0.0)
    return bool(worse or (scale > 0 and abs(mean - baseline) / scale <= AT_BASELINE))


def learned(arm) -> bool | None:
    """Whether an arm (runs of one cell in one condition) learned: its ok runs' mean is off the
    baseline. None: no ok value or no baseline recorded."""
    ok = arm.loc[arm["status"] == "ok"]
    vals = ok["value"].dropna().astype(float)
    if not len(vals):
        return None
    thr = ok["solved_threshold"].dropna() if "solved_threshold" in ok else []
    base = at_baseline(float(vals.mean()), float(ok["baseline"].astype(float).mean()), ok["direction"].iloc[0],
                       float(thr.iloc[0]) if len(thr) else None)
    return None if base is None else not base


def scale(rows) -> float:
    """The distance from the trivial baseline to "solved" in the metric's units, from the records:
    |threshold - baseline| where the task has a threshold, else the distance to the best value a
    bounded metric can take (1 for a max metric in [0, 1], 0 for a min metric). nan when unknown."""
    base = float(rows["baseline"].astype(float).mean()) if "baseline" in rows and len(rows) else math.nan
    thr = rows["solved_threshold"].dropna().astype(float) if "solved_threshold" in rows else []
    if len(thr) and _finite(base):
        return abs(float(thr.iloc[0]) - base)
    if not _finite(base) or not len(rows):
        return math.nan
    return abs((1.0 if rows["direction"].iloc[0] == "max" else 0.0) - base)


def margin(rows) -> float:
    """The region of practical equivalence of a comparison on these runs: ROPE x scale(rows).
    An interval of a difference that lies inside (-margin, margin) decides "no practical
    difference" (a claim that one arm is better then fails); nan when the scale is unknown."""
    return ROPE * scale(rows)


def nothing_learned(*arms) -> bool:
    """True when every arm of a comparison is known to be at the baseline."""
    return all(learned(a) is False for a in arms)


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def every_comparison(rows: list[dict], text: str, better: str, against: tuple[str, ...]) -> Verdict:
    """A claim "a beats b at every point" from its rows' outcomes: fails where any is in `against`
    (b better, or no practical difference), holds where all are `better`, else not enough data."""
    outs = [r["outcome"] for r in rows]
    if any(o in against for o in outs):
        return Verdict(FAILS, text, rows)
    if all(o == better for o in outs):
        return Verdict(HOLDS, text, rows)
    return Verdict(NOT_ENOUGH, text + " (an interval includes zero: more seeds needed)", rows)
