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
    per task a block (task_params, model_params, any RunConfig key; a list is an axis),
    crossed with the cells, the training budget and the seeds, which the task block may override."""
    tasks: dict[str, dict[str, Any]]
    arch: tuple[str, ...]
    budget: dict[str, Any] = field(default_factory=lambda: dict(BUDGET))   # RunConfig training keys
    seeds: tuple[int, ...] = SEEDS
    gradients: bool = False          # gradient-flow diagnostics at init for these cells

    def blocks(self) -> dict[str, dict[str, Any]]:
        """task -> the grid block of this experiment's cells on it."""
        return {t: {"arch": list(self.arch), **self.budget, "seed": list(self.seeds), **b}
                for t, b in self.tasks.items()}


# Today's budget (the quick grid's, provisional): the same for every arm of a claim.
BUDGET = {"hidden": 32, "steps": 400, "eval_every": 200}


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


def evaluate(runs, grads=None, method: str = "welch", names=None) -> list[tuple[Claim, Verdict]]:
    """Every registered claim's verdict (a check that breaks on odd input says so, never passes)."""
    import pandas as pd

    grads = grads if grads is not None else pd.DataFrame()
    out = []
    for name in names or CLAIMS.names():
        c = CLAIMS.get(name)
        try:
            v = c.check(runs, grads, method=method)
        except Exception as e:  # noqa: BLE001 - a broken check must not hide the rest of the report
            v = Verdict(NOT_ENOUGH, f"the check could not be evaluated on these results: "
                                    f"{type(e).__name__}: {e}")
        out.append((c, v))
    return out


def grid(names) -> dict[str, Any]:
    """The union of the named claims' experiments as a grid config (rnnbench.grid.expand):
    `tasks: {task: [block, ...]}`, one block per experiment on the task, nothing shared, so
    each claim's cells are exactly its own. A claim decided without runs adds nothing."""
    tasks: dict[str, list[dict[str, Any]]] = {}
    grads: list[dict[str, Any]] = []
    for name in names:
        exp = CLAIMS.get(name).runs
        if exp is None:
            continue
        for task, block in exp.blocks().items():
            if block not in tasks.setdefault(task, []):
                tasks[task].append(block)
            if exp.gradients:
                grads.append({"task": task, "arch": list(exp.arch), **_fixed(block.get("task_params"))})
    return {"name": "claims", "grid": {}, "tasks": tasks,
            **({"gradients": {"at": "init", "cells": grads}} if grads else {})}


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


def nothing_learned(*arms) -> bool:
    """True when every arm of a comparison is known to be at the baseline."""
    return all(learned(a) is False for a in arms)


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False

