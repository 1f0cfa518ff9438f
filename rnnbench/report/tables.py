"""The report's tables: pandas group-bys of the tidy runs table (and gradients, curves).

Every function returns a plain DataFrame of numbers and names (written as CSV as is);
html.py only formats them. "Like with like": runs are compared only within one
*condition* = the task plus every resolved parameter (task params, training options,
model params, layers, hidden, bidirectional) except the seed and the thing compared.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Iterable

import numpy as np
import pandas as pd

from . import stats
from .inputs import find_column, seq_len_column

# ---- names ------------------------------------------------------------------------
# Canonical architecture -> the names a grid may use for it (first present wins).
ARCH_ALIASES: dict[str, tuple[str, ...]] = {
    "tanh": ("rnn", "tanh", "rnn_tanh", "rnn-tanh", "tanh-rnn", "elman", "vanilla", "srn"),
    "lstm": ("lstm",),
    "gru": ("gru",),
    "gru-cho": ("gru-cho", "gru_cho", "cho-gru", "gru2014", "gru-v1"),
    "irnn": ("irnn",),
}
# Section 2's pairs, in the style of Chung et al. 2014 and Jozefowicz et al. 2015.
PAIRS = (("lstm", "gru"), ("gru", "gru-cho"))

LONGDEP = re.compile(r"adding|copy|temporal|order|pixel|mnist|digit", re.I)
# The course lab's tasks and the times its notes quote for its own (Keras) runs.
LAB_TASKS = (
    ("air quality", r"air.?q|airquality|londonaq|^aq$", 30.0),
    ("electric devices", r"electric", 60.0),
    ("sentiment", r"sentiment|airline", 180.0),
    ("text generation", r"textgen|text.?gen|poetry|char.?rnn", 23 * 60.0),
    ("learning to add", r"learn.*add|addition|add.?digits|lab.?add|^add$", 5 * 60 + 30.0),
)
# model_params of encoder-decoders (rnnbench.models.seq2seq.Options), in label order
SEQ2SEQ_KEYS = ("variant", "attention", "peek", "peeking", "teacher_forcing", "tf_decay", "beam", "beam_width",
                "length_norm", "embed")

# Parameters that never make two runs unlike: identity, placement, bookkeeping.
NOT_CONDITION = {"seed", "arch", "backend", "device", "threads", "eval_batch_size", "checkpoint_every",
                 "eval_every", "out", "data_dir", "task", "config_hash", "run_dir"}
TOP_CONDITION = ("layers", "hidden", "bidirectional")


def resolve_arch(runs: pd.DataFrame, canonical: str) -> str | None:
    """The name `canonical` has in these runs (an alias), or None when absent."""
    present = set(runs["arch"].dropna().unique()) if len(runs) else set()
    for name in ARCH_ALIASES.get(canonical, (canonical,)):
        if name in present:
            return name
    return None


def lab_task(task: str) -> tuple[str, float] | None:
    for label, pattern, quoted in LAB_TASKS:
        if re.search(pattern, str(task), re.I):
            return label, quoted
    return None


def is_longdep(task: str) -> bool:
    return bool(LONGDEP.search(str(task))) and lab_task(task) is None


def model_param_columns(df: pd.DataFrame) -> list[str]:
    return sorted(c for c in df.columns if "model_params." in c)


def seq2seq_columns(df: pd.DataFrame) -> list[str]:
    """Seq2seq model params, in SEQ2SEQ_KEYS order (the variant first)."""
    cols = [c for c in model_param_columns(df) if c.rsplit(".", 1)[-1] in SEQ2SEQ_KEYS]
    return sorted(cols, key=lambda c: (SEQ2SEQ_KEYS.index(c.rsplit(".", 1)[-1]), c))


CLASSIFICATION_METRICS = ("accuracy", "acc", "macro_f1", "f1", "error", "error_rate", "top1")


def task_kind(task: str, runs: pd.DataFrame | None = None) -> str:
    """many_to_one | many_to_many | seq2seq: from a `kind` column, else the task registry,
    else a guess from the name (the report must work without torch importable)."""
    if runs is not None and "kind" in runs.columns:
        k = runs.loc[runs["task"] == task, "kind"].dropna()
        if len(k):
            return str(k.iloc[0])
    k = _registry_kind(task)
    if k:
        return k
    if re.search(r"revers|seq2seq|translat|learn.*add|addition", task, re.I):
        return "seq2seq"
    if re.search(r"copy|textgen|text.?gen|poetry|char|sine|language|lm$", task, re.I):
        return "many_to_many"
    return "many_to_one"


@lru_cache(maxsize=None)
def _registry_kind(task: str) -> str | None:
    try:
        from ..tasks import TASKS
        return str(TASKS.get(task).kind) if task in TASKS else None
    except Exception:  # noqa: BLE001 - torch or a task module absent: fall back to the name
        return None


# ---- conditions ---------------------------------------------------------------------
def _fmt(v) -> str:
    if v is None or v is pd.NA:
        return "None"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "None"
        return f"{float(v):g}"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    return str(v)


def _short(col: str, cols: Iterable[str]) -> str:
    """`params.task_params.seq_len` -> `seq_len` (two parts when the last is ambiguous)."""
    last = col.rsplit(".", 1)[-1]
    if sum(1 for c in cols if c.rsplit(".", 1)[-1] == last) > 1:
        return ".".join(col.split(".")[-2:])
    return last


def _param_order(col: str) -> tuple:
    part = col.split(".")[1] if col.count(".") >= 2 else ""
    return ({"task_params": 0, "model_params": 1, "train": 2}.get(part, 3), col)


def condition_columns(df: pd.DataFrame, drop: Iterable[str] = ()) -> list[str]:
    """Columns that define "like with like", minus `drop` (column names or last parts):
    layers, hidden, bidirectional, then task params, model params, training options."""
    drop = set(drop)
    cols = [c for c in TOP_CONDITION if c in df.columns]
    cols += sorted((c for c in df.columns if c.startswith("params.")), key=_param_order)
    return [c for c in cols
            if c not in drop and c.rsplit(".", 1)[-1] not in drop and c.rsplit(".", 1)[-1] not in NOT_CONDITION
            and not (c.startswith("params.") and c.rsplit(".", 1)[-1] in TOP_CONDITION)]


def with_condition(df: pd.DataFrame, drop: Iterable[str] = ()) -> pd.DataFrame:
    """A copy with `cond` (a key: equal iff like with like, within a task) and `condition`
    (a short label naming only the columns that vary within the task)."""
    cols = condition_columns(df, drop)
    out = df.copy()
    if not len(out):
        out["cond"], out["condition"] = [], []
        return out
    text = {c: [_fmt(v) for v in out[c].tolist()] for c in cols}   # plain lists: row loops stay cheap
    out["cond"] = ["|".join(vals) for vals in zip(*text.values())] if cols else ""
    labels = [""] * len(out)
    tasks = out["task"].tolist()
    rows_of: dict[str, list[int]] = {}
    for k, t in enumerate(tasks):
        rows_of.setdefault(t, []).append(k)
    for task in sorted(rows_of):
        rows = rows_of[task]
        varying = [c for c in cols if len({text[c][k] for k in rows}) > 1]
        short = {c: _short(c, varying) for c in varying}
        for k in rows:
            # a parameter not given (None) is left out of the label; clipping's None is "off"
            parts = []
            for c in varying:
                v = text[c][k]
                if v == "None" and c.endswith(".clip"):
                    v = "off"
                if v != "None":
                    parts.append(f"{short[c]}={v}")
            labels[k] = ", ".join(parts)
    out["condition"] = labels
    return out


# ---- summary -----------------------------------------------------------------------
def status_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task: runs and how many are ok / diverged / failed / missing."""
    if not len(runs):
        return pd.DataFrame(columns=["task", "archs", "runs", "ok", "diverged", "failed", "missing"])
    counts = pd.crosstab(runs["task"], runs["status"])
    for s in ("ok", "diverged", "failed", "missing"):
        if s not in counts.columns:
            counts[s] = 0
    out = counts[["ok", "diverged", "failed", "missing"]].copy()
    out.insert(0, "runs", out.sum(axis=1))
    out.insert(0, "archs", runs.groupby("task")["arch"].nunique())
    out = out.reset_index()
    total = out.drop(columns="task").sum().to_dict()
    total["archs"] = runs["arch"].nunique()
    return pd.concat([out, pd.DataFrame([{"task": "all", **total}])], ignore_index=True)


def _uniq(s: pd.Series) -> list[str]:
    return sorted({_fmt(v) for v in s.dropna().unique()} - {"None"})


WHEN_COLUMNS = ("finished_at", "started_at", "timestamp", "date", "end_time", "start_time", "created")


def summary(runs: pd.DataFrame, provenance: dict) -> dict:
    """What ran, where and when (when only from the inputs: no clock is read here)."""
    when = []
    for c in WHEN_COLUMNS:
        if c in runs.columns and runs[c].notna().any():
            v = sorted(runs[c].dropna().astype(str))
            when.append(f"{c}: {v[0]} .. {v[-1]}" if v[0] != v[-1] else f"{c}: {v[0]}")
    for name, data in sorted(provenance.items()):
        if isinstance(data, dict):
            for k, v in sorted(data.items()):
                if re.search(r"date|time|when|created|generated", str(k), re.I) \
                        and not isinstance(v, (dict, list)):
                    when.append(f"{name}: {k} = {v}")
    seeds = runs["seed"].dropna()
    return {
        "n_runs": int(len(runs)),
        "status": {s: int((runs["status"] == s).sum()) for s in ("ok", "diverged", "failed", "missing")},
        "tasks": _uniq(runs["task"]),
        "archs": _uniq(runs["arch"]),
        "backends": _uniq(runs["backend"]),
        "seeds": sorted({int(s) for s in seeds}),
        "hosts": _uniq(runs["hostname"]),
        "devices": _uniq(runs["device"]),
        "threads": _uniq(runs["threads"]),
        "when": when,
    }


# ---- section 2: pairwise comparisons -------------------------------------------------
def _side(g: pd.DataFrame) -> dict:
    ok = g[g["status"] == "ok"]
    m, s, n = stats.mean_std(ok["value"])
    pe, _, _ = stats.mean_std(ok["seconds_per_epoch"] if ok["seconds_per_epoch"].notna().any()
                              else g["seconds_per_epoch"])
    return {"n": n, "runs": len(g), "diverged": int((g["status"] == "diverged").sum()), "mean": m, "std": s,
            "n_params": float(g["n_params"].median()) if g["n_params"].notna().any() else math.nan,
            "sec_per_epoch": pe, "backend": ",".join(_uniq(g["backend"])),
            "devices": tuple(_uniq(g["device"])), "threads": tuple(_uniq(g["threads"]))}


COMPARISON_COLUMNS = ["task", "condition", "metric", "direction", "a", "b", "n_a", "mean_a", "std_a",
                      "diverged_a", "n_b", "mean_b", "std_b", "diverged_b", "diff", "ci_low", "ci_high",
                      "method", "better", "n_params_a", "n_params_b", "smaller", "sec_per_epoch_a",
                      "sec_per_epoch_b", "time_ratio_b_a", "quicker", "note"]


def compare(runs: pd.DataFrame, a: str, b: str, method: str = "welch", drop: Iterable[str] = ()) -> pd.DataFrame:
    """Arch `a` vs arch `b` per task and condition: mean +- std, the interval of the
    difference (a - b), the better one only when the interval excludes zero, parameter
    counts and time per epoch (quicker only when its own interval excludes zero)."""
    sub = runs[runs["arch"].isin([a, b])]
    if not len(sub) or a == b:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    sub = with_condition(sub, drop)
    rows = []
    for (task, cond), g in sub.groupby(["task", "cond"], sort=True):
        ga, gb = g[g["arch"] == a], g[g["arch"] == b]
        finished = ["ok", "diverged"]
        if not ga["status"].isin(finished).any() or not gb["status"].isin(finished).any():
            continue   # nothing to compare yet (the grid table shows what is missing)
        sa, sb = _side(ga), _side(gb)
        direction = g["direction"].iloc[0]
        iv = stats.interval(ga.loc[ga["status"] == "ok", "value"], gb.loc[gb["status"] == "ok", "value"], method)
        verdict = stats.better(iv, direction)
        tiv = stats.interval(ga["seconds_per_epoch"], gb["seconds_per_epoch"], method)
        notes = []
        if sa["devices"] != sb["devices"] or sa["threads"] != sb["threads"]:
            notes.append("timings from different devices/threads")
        if sa["backend"] != sb["backend"]:
            notes.append(f"backends {sa['backend'] or '?'} vs {sb['backend'] or '?'}")
        if not iv.defined:
            notes.append("interval needs >= 2 ok runs per side")
        rows.append({
            "task": task, "condition": g["condition"].iloc[0], "metric": g["metric"].iloc[0],
            "direction": direction, "a": a, "b": b,
            "n_a": sa["n"], "mean_a": sa["mean"], "std_a": sa["std"], "diverged_a": sa["diverged"],
            "n_b": sb["n"], "mean_b": sb["mean"], "std_b": sb["std"], "diverged_b": sb["diverged"],
            "diff": iv.diff, "ci_low": iv.low, "ci_high": iv.high, "method": method,
            "better": a if verdict > 0 else b if verdict < 0 else "",
            "n_params_a": sa["n_params"], "n_params_b": sb["n_params"],
            "smaller": (a if sa["n_params"] < sb["n_params"] else b if sb["n_params"] < sa["n_params"] else "")
            if not (math.isnan(sa["n_params"]) or math.isnan(sb["n_params"])) else "",
            "sec_per_epoch_a": sa["sec_per_epoch"], "sec_per_epoch_b": sb["sec_per_epoch"],
            "time_ratio_b_a": sb["sec_per_epoch"] / sa["sec_per_epoch"] if sa["sec_per_epoch"] else math.nan,
            "quicker": a if tiv.sign() < 0 else b if tiv.sign() > 0 else "",
            "note": "; ".join(notes),
        })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


# ---- section 3: long dependencies ---------------------------------------------------
LONGDEP_COLUMNS = ["task", "condition", "arch", "seq_len", "metric", "direction", "runs", "n", "diverged",
                   "mean", "std", "baseline", "solved_frac"]


def longdep_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Metric vs sequence length per architecture for the long-dependency tasks."""
    sub = runs[runs["task"].map(is_longdep)]
    if not len(sub):
        return pd.DataFrame(columns=LONGDEP_COLUMNS)
    col = seq_len_column(sub) or "_no_seq_len"
    if col not in sub.columns:
        sub = sub.assign(_no_seq_len=np.nan)
    # tasks of a fixed length (temporal order, pixel digits) keep T = nan: one point per arch
    sub = with_condition(sub, drop=[col])
    sub = sub.assign(seq_len=pd.to_numeric(sub[col], errors="coerce"))
    rows = []
    for (task, cond, arch, T), g in sub.groupby(["task", "cond", "arch", "seq_len"], sort=True, dropna=False):
        ok = g[g["status"] == "ok"]
        m, s, n = stats.mean_std(ok["value"])
        done = g[g["status"].isin(["ok", "diverged"])]
        solved = done["solved"].map(lambda v: bool(v) if v is not pd.NA and v is not None else False) \
            if done["solved"].notna().any() else None
        rows.append({"task": task, "condition": g["condition"].iloc[0], "arch": arch, "seq_len": T,
                     "metric": g["metric"].iloc[0], "direction": g["direction"].iloc[0],
                     "runs": len(g), "n": n, "diverged": int((g["status"] == "diverged").sum()),
                     "mean": m, "std": s, "baseline": float(g["baseline"].mean()),
                     "solved_frac": float(solved.mean()) if solved is not None and len(done) else math.nan})
    return pd.DataFrame(rows, columns=LONGDEP_COLUMNS)


# ---- section 4: the whole grid ------------------------------------------------------
GRID_COLUMNS = ["arch", "task", "condition", "metric", "direction", "runs", "ok", "diverged", "failed",
                "missing", "mean", "std", "best", "baseline", "solved_frac", "n_params", "sec_per_epoch",
                "train_seconds"]


def grid_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per architecture x task (x condition where a task has several)."""
    if not len(runs):
        return pd.DataFrame(columns=GRID_COLUMNS)
    sub = with_condition(runs, drop=["bidirectional", "layers", "hidden"])
    sub["condition"], sub["cond"] = _with_shape(sub)
    rows = []
    for (arch, task, cond, label), g in sub.groupby(["arch", "task", "cond", "condition"], sort=True):
        ok = g[g["status"] == "ok"]
        m, s, n = stats.mean_std(ok["value"])
        direction = g["direction"].iloc[0]
        vals = ok["value"].dropna()
        solved = g["solved"].dropna()
        rows.append({"arch": arch, "task": task, "condition": label, "metric": g["metric"].iloc[0],
                     "direction": direction, "runs": len(g),
                     **{s_: int((g["status"] == s_).sum()) for s_ in ("ok", "diverged", "failed", "missing")},
                     "mean": m, "std": s,
                     "best": (vals.min() if direction == "min" else vals.max()) if len(vals) else math.nan,
                     "baseline": float(g["baseline"].mean()),
                     "solved_frac": float(solved.astype(bool).mean()) if len(solved) else math.nan,
                     "n_params": float(g["n_params"].median()) if g["n_params"].notna().any() else math.nan,
                     "sec_per_epoch": float(g["seconds_per_epoch"].mean()),
                     "train_seconds": float(g["train_seconds"].mean())})
    return pd.DataFrame(rows, columns=GRID_COLUMNS)


def _with_shape(sub: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """(label, key) with bidirectional / layers / hidden added where they vary within a task."""
    labels = sub["condition"].copy()
    for task, idx in sub.groupby("task").groups.items():
        extra = [(c, name) for c, name in (("bidirectional", "bi"), ("layers", "layers"), ("hidden", "hidden"))
                 if sub.loc[idx, c].nunique(dropna=False) > 1]
        if extra:
            add = sub.loc[idx].apply(lambda r: ", ".join(f"{n}={_fmt(r[c])}" for c, n in extra), axis=1)
            labels.loc[idx] = [", ".join(x for x in (a, b) if x) for a, b in zip(add, labels.loc[idx])]
    key = sub["cond"] + "|" + sub["bidirectional"].map(_fmt) + "|" + sub["layers"].map(_fmt) \
        + "|" + sub["hidden"].map(_fmt)
    return labels, key


# ---- section 5: learning curves -----------------------------------------------------
def curves_by_run(curves: pd.DataFrame) -> dict:
    """run index -> its curve rows (split once: selecting per run is O(all rows) each time)."""
    if not len(curves):
        return {}
    return {i: c for i, c in curves.groupby("run", sort=True)}


def curve_arrays(curves: pd.DataFrame, column: str = "val_metric") -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """run -> (steps, values) sorted by step, rows without a value dropped (numpy, no pandas per run)."""
    if not len(curves) or column not in curves.columns:
        return {}
    c = curves[["run", "step", column]].dropna()
    c = c.sort_values(["run", "step"], kind="mergesort")
    run = c["run"].to_numpy()
    cuts = np.flatnonzero(np.diff(run)) + 1
    steps = np.split(c["step"].to_numpy(float), cuts)
    vals = np.split(c[column].to_numpy(float), cuts)
    firsts = run[np.r_[0, cuts]] if len(run) else []
    return {int(r): (x, y) for r, x, y in zip(firsts, steps, vals)}


def curve_bands(runs: pd.DataFrame, curves: pd.DataFrame, task: str, max_points: int = 200,
                arrays: dict | None = None) -> pd.DataFrame:
    """val_metric vs step per (condition, arch): mean, min, max over seeds on a common grid."""
    cols = ["condition", "arch", "step", "mean", "low", "high", "seeds"]
    arrays = curve_arrays(curves) if arrays is None else arrays
    if not arrays:
        return pd.DataFrame(columns=cols)
    sub = runs[(runs["task"] == task) & runs.index.isin(list(arrays))]
    if not len(sub):
        return pd.DataFrame(columns=cols)
    sub = with_condition(sub)
    out = []
    for (label, arch), g in sub.groupby(["condition", "arch"], sort=True):
        cs = [arrays[i] for i in g.index if i in arrays and len(arrays[i][0])]
        if not cs:
            continue
        grid = np.unique(np.concatenate([x for x, _ in cs]))
        if len(grid) > max_points:
            grid = np.unique(np.quantile(grid, np.linspace(0, 1, max_points)).round())
        ys = np.full((len(cs), len(grid)), np.nan)
        for k, (x, y) in enumerate(cs):
            inside = (grid >= x.min()) & (grid <= x.max())
            ys[k, inside] = np.interp(grid[inside], x, y)
        with np.errstate(all="ignore"), _quiet():
            out.append(pd.DataFrame({"condition": label, "arch": arch, "step": grid,
                                     "mean": np.nanmean(ys, axis=0), "low": np.nanmin(ys, axis=0),
                                     "high": np.nanmax(ys, axis=0), "seeds": np.isfinite(ys).sum(axis=0)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


class _quiet:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


# ---- section 6: gradients and clipping ------------------------------------------------
GRAD_TABLE_COLUMNS = ["task", "arch", "phase", "state", "curves", "lags", "spectral_radius", "sigma_max",
                      "decay_per_step", "r2_loglinear", "norm_lag0", "norm_lag_max"]


def gradient_curves(grads: pd.DataFrame) -> pd.DataFrame:
    """Mean ||dL/dh_t|| per (task, arch, phase, state, lag) over seeds, layers, directions."""
    if not len(grads):
        return pd.DataFrame(columns=["task", "arch", "phase", "state", "lag", "norm"])
    return grads.groupby(["task", "arch", "phase", "state", "lag"], sort=True, dropna=False)["norm"] \
        .mean().reset_index()


def gradient_table(grads: pd.DataFrame) -> pd.DataFrame:
    """Per task, arch, phase, state: spectral radius, largest singular value and the
    exponential fit norm ~ c * rho^lag of the mean curve (rho = decay per step)."""
    if not len(grads):
        return pd.DataFrame(columns=GRAD_TABLE_COLUMNS)
    rows = []
    per = grads.groupby(["task", "arch", "phase", "state"], sort=True, dropna=False)
    for (task, arch, phase, state), g in per:
        mean = g.groupby("lag")["norm"].mean()
        slope, r2, _ = stats.loglinear_fit(mean.index, mean.values)
        rows.append({"task": task, "arch": arch, "phase": phase, "state": state,
                     "curves": int(g.groupby(["source", "seed", "layer", "direction"], dropna=False).ngroups),
                     "lags": int(mean.index.nunique()),
                     "spectral_radius": float(g["spectral_radius"].mean()),
                     "sigma_max": float(g["sigma_max"].mean()),
                     "decay_per_step": math.exp(slope) if math.isfinite(slope) else math.nan,
                     "r2_loglinear": r2,
                     "norm_lag0": float(mean.iloc[0]) if len(mean) else math.nan,
                     "norm_lag_max": float(mean.iloc[-1]) if len(mean) else math.nan})
    return pd.DataFrame(rows, columns=GRAD_TABLE_COLUMNS)


def clip_column(runs: pd.DataFrame) -> str | None:
    return find_column(runs, "clip", "clip_norm", "grad_clip")


CLIP_COLUMNS = ["task", "arch", "condition", "group", "clip", "runs", "diverged", "ok", "mean",
                "max_grad_norm", "spikes"]


def clipping_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of clipping ablations (groups of like runs with >= 2 clip settings), with
    `cond` (the condition but the clip) and `clip` ("off" for None)."""
    col = clip_column(runs)
    if col is None or not len(runs):
        return runs.iloc[0:0].assign(cond="", clip="")
    sub = with_condition(runs, drop=[col])
    sub["clip"] = sub[col].map(_fmt).replace({"None": "off", "nan": "off", "False": "off"})
    return sub.groupby(["task", "arch", "cond"]).filter(lambda g: g["clip"].nunique() >= 2)


def clipping_table(runs: pd.DataFrame, curves: pd.DataFrame, spike: float = 10.0) -> pd.DataFrame:
    """Runs that differ only in `clip` (None = off): divergence and gradient-norm spikes
    (steps whose grad_norm exceeds `spike` x the run's median). `curves`: run, step,
    grad_norm rows (the runs' steps.csv or curve.csv; inputs.load_step_norms)."""
    sub = clipping_runs(runs)
    if not len(sub):
        return pd.DataFrame(columns=CLIP_COLUMNS)
    stats_by_run = {}
    if len(curves) and "grad_norm" in curves.columns:
        gn = curves[curves["grad_norm"].notna()]
        for i, c in gn.groupby("run"):
            v = c["grad_norm"].to_numpy(float)
            v = v[np.isfinite(v)]
            med = np.median(v) if len(v) else math.nan
            stats_by_run[i] = (float(v.max()) if len(v) else math.nan,
                               int((v > spike * med).sum()) if len(v) and med > 0 else 0)
    rows = []
    group = 0
    for (task, arch, cond), g in sub.groupby(["task", "arch", "cond"], sort=True):
        group += 1
        for clip, h in g.groupby("clip", sort=True):
            ok = h[h["status"] == "ok"]
            mx = [stats_by_run[i][0] for i in h.index if i in stats_by_run]
            sp = [stats_by_run[i][1] for i in h.index if i in stats_by_run]
            rows.append({"task": task, "arch": arch, "condition": h["condition"].iloc[0], "group": group,
                         "clip": clip, "runs": len(h), "diverged": int((h["status"] == "diverged").sum()),
                         "ok": len(ok), "mean": stats.mean_std(ok["value"])[0],
                         "max_grad_norm": float(np.max(mx)) if mx else math.nan,
                         "spikes": int(np.sum(sp)) if sp else 0})
    return pd.DataFrame(rows, columns=CLIP_COLUMNS)


# ---- section 7: sequence to sequence ---------------------------------------------------
SEQ2SEQ_COLUMNS = ["task", "condition", "variant", "arch", "metric", "direction", "runs", "n", "diverged",
                   "mean", "std", "best"]


def variant_label(runs: pd.DataFrame) -> pd.Series:
    """'attention (additive), teacher_forcing=0.5, beam=4'-style label from the seq2seq
    model params given (those not given are left out)."""
    cols = seq2seq_columns(runs)
    if not cols:
        return pd.Series("", index=runs.index, dtype=object)
    names = [c.rsplit(".", 1)[-1] for c in cols]

    def label(r):
        given = {k: _fmt(r[c]) for k, c in zip(names, cols) if _fmt(r[c]) != "None"}
        head = given.pop("variant", "")
        if "attention" in given and (not head or "attention" in head):
            head = f"{head or 'attention'} ({given.pop('attention')})"
        parts = ([head] if head else []) + [f"{k}={v}" for k, v in given.items()]
        return ", ".join(parts) or "default"
    return runs.apply(label, axis=1)


def seq2seq_rows(runs: pd.DataFrame) -> pd.Series:
    """Runs of encoder-decoders: a seq2seq task (registry / name) or seq2seq model params set."""
    if not len(runs):
        return pd.Series(False, index=runs.index)
    kinds = {t: task_kind(t, runs) for t in runs["task"].unique()}
    mask = runs["task"].map(kinds) == "seq2seq"
    cols = seq2seq_columns(runs)
    if cols:
        mask |= runs[cols].notna().any(axis=1) & runs["task"].map(lambda t: lab_task(t) is None or
                                                                   kinds[t] == "seq2seq")
    return mask


def seq2seq_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task, condition, variant and cell: the primary metric, and every other
    `metrics.*accuracy*` (token / char accuracy) as mean columns."""
    sub = runs[seq2seq_rows(runs)]
    if not len(sub):
        return pd.DataFrame(columns=SEQ2SEQ_COLUMNS)
    cols = seq2seq_columns(sub)
    sub = with_condition(sub, drop=cols)
    sub["variant"] = variant_label(sub)
    extra = sorted(c for c in sub.columns if c.startswith("metrics.") and "acc" in c and sub[c].notna().any())
    rows = []
    for (task, cond, variant, arch), g in sub.groupby(["task", "cond", "variant", "arch"], sort=True):
        ok = g[g["status"] == "ok"]
        m, s, n = stats.mean_std(ok["value"])
        vals = ok["value"].dropna()
        d = g["direction"].iloc[0]
        row = {"task": task, "condition": g["condition"].iloc[0], "variant": variant, "arch": arch,
               "metric": g["metric"].iloc[0], "direction": d, "runs": len(g), "n": n,
               "diverged": int((g["status"] == "diverged").sum()), "mean": m, "std": s,
               "best": (vals.min() if d == "min" else vals.max()) if len(vals) else math.nan}
        for c in extra:
            if c != f"metrics.{row['metric']}":
                row[c.split(".", 1)[1]] = stats.mean_std(pd.to_numeric(ok[c], errors="coerce"))[0]
        rows.append(row)
    return pd.DataFrame(rows)


# ---- section 8: the course lab --------------------------------------------------------
LAB_COLUMNS = ["lab_task", "task", "arch", "metric", "runs", "n", "mean", "std", "train_seconds",
               "quoted_seconds", "ratio_to_quoted", "device", "threads"]


def lab_table(runs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (task, arch), g in runs.groupby(["task", "arch"], sort=True):
        lab = lab_task(task)
        if lab is None:
            continue
        ok = g[g["status"] == "ok"]
        m, s, n = stats.mean_std(ok["value"])
        t = float(ok["train_seconds"].mean()) if len(ok) else math.nan
        rows.append({"lab_task": lab[0], "task": task, "arch": arch, "metric": g["metric"].iloc[0],
                     "runs": len(g), "n": n, "mean": m, "std": s, "train_seconds": t,
                     "quoted_seconds": lab[1], "ratio_to_quoted": t / lab[1],
                     "device": ",".join(_uniq(g["device"])), "threads": ",".join(_uniq(g["threads"]))})
    order = {label: i for i, (label, _, _) in enumerate(LAB_TASKS)}
    df = pd.DataFrame(rows, columns=LAB_COLUMNS)
    if len(df):
        df = df.assign(_o=df["lab_task"].map(order)).sort_values(["_o", "task", "arch"], kind="mergesort") \
            .drop(columns="_o").reset_index(drop=True)
    return df


# ---- section 9: kernel throughput ------------------------------------------------------
GATES = {"rnn": 1, "tanh": 1, "relu": 1, "irnn": 1, "elman": 1, "gru": 3, "lstm": 4}
THROUGHPUT_COLUMNS = ["source", "arch", "backend", "pass", "bidirectional", "layers", "shape", "batch", "seq_len",
                      "input", "hidden", "device", "threads", "seconds", "step_samples_per_s", "gflops",
                      "ratio_to_fused"]
SHAPE = ["bidirectional", "layers", "shape", "batch", "seq_len", "input", "hidden", "device", "threads"]
FUSED = ("fused", "cudnn", "onednn")


def _gflop(arch, layers, input_, hidden, bidirectional, pass_) -> float:
    """Multiply-adds of the gate matmuls per step-sample (x2 flops), x3 with backward."""
    g = next((v for k, v in GATES.items() if str(arch).lower().startswith(k)), math.nan)
    dirs = 2 if bidirectional else 1
    flop = 0.0
    for layer in range(int(layers)):
        i = input_ if layer == 0 else hidden * dirs
        flop += dirs * 2 * g * hidden * (i + hidden)
    return flop * (3 if "backward" in str(pass_) else 1) / 1e9


ASV_KINDS = {"track_step_samples_per_s": "step_samples_per_s", "track_gflops": "gflops"}


def _shape_dims(shape) -> list:
    """"NxTxIxH" / "NxTxH" -> [N, T, I, H]; a shape's name (asv's "latency", ...) -> [None] * 4."""
    parts = str(shape).lower().split("x")
    if len(parts) == 3:
        parts = [parts[0], parts[1], parts[2], parts[2]]
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        return [None] * 4
    return [int(p) for p in parts]


def _asv_throughput(asv: pd.DataFrame) -> pd.DataFrame:
    """asv kernel benchmarks -> the throughput table's rows: `track_step_samples_per_s` /
    `track_gflops` as they are, `time_*` as seconds (and step-samples/s where the shape is
    "NxTxIxH"). Benchmarks without an arch, a backend and a shape (or batch) are left out."""
    if not len(asv):
        return pd.DataFrame()
    df = asv[asv["value"].notna()].copy()
    alias = {"cell": "arch", "rnn_type": "arch", "impl": "backend", "batch_size": "batch", "pass_": "pass",
             "T": "seq_len", "length": "seq_len", "input_size": "input", "hidden_size": "hidden",
             "num_layers": "layers", "bidi": "bidirectional"}
    df = df.rename(columns={k: v for k, v in alias.items() if k in df.columns and v not in df.columns})
    if not {"arch", "backend"} <= set(df.columns) or not ({"shape", "batch"} & set(df.columns)):
        return pd.DataFrame()
    method = df["benchmark"].astype(str).str.rsplit(".", n=1).str[-1]
    kind = method.map(lambda m: ASV_KINDS.get(m, "seconds" if m.startswith("time_") else None))
    df = df[kind.notna() & df["arch"].notna() & df["backend"].notna()].assign(_kind=kind)
    if "shape" in df.columns:
        df = df[df["shape"].notna()]
        dims = df["shape"].map(_shape_dims)
        for k, name in enumerate(("batch", "seq_len", "input", "hidden")):
            if name not in df.columns:
                df[name] = dims.map(lambda d: d[k])
    else:
        df["shape"] = ""
    if "direction" in df.columns and "bidirectional" not in df.columns:
        df["bidirectional"] = df["direction"].astype(str).str.lower().isin(["bi", "bidirectional", "true"])
    from_name = pd.Series(np.where(method[df.index].str.contains("backward|train", case=False),
                                   "forward_backward", "forward"), index=df.index)
    df["pass"] = df["pass"].where(df["pass"].notna(), from_name) if "pass" in df.columns else from_name
    cls = df["benchmark"].astype(str).str.rsplit(".", n=1).str[0]
    df["source"] = "asv " + df["machine"].astype(str) + "@" + df["commit"].astype(str) + " " + cls
    keys = [c for c in ("source", "arch", "backend", "pass", "bidirectional", "layers", "shape", "batch",
                        "seq_len", "input", "hidden") if c in df.columns]
    wide = df.pivot_table(index=keys, columns="_kind", values="value", aggfunc="median", dropna=False)
    return wide.reset_index().dropna(how="all", subset=[c for c in ("seconds", "step_samples_per_s", "gflops")
                                                        if c in wide.columns])


def throughput_table(throughput: pd.DataFrame, asv: pd.DataFrame) -> pd.DataFrame:
    """Step-samples/s and GFLOP/s per cell x backend x shape, and the speed ratio to the fused
    kernel of the same source, cell, pass and shape (from step-samples/s, else from seconds)."""
    parts = [p for p in (throughput, _asv_throughput(asv)) if len(p)]
    if not parts:
        return pd.DataFrame(columns=THROUGHPUT_COLUMNS)
    df = pd.concat(parts, ignore_index=True)
    if "input_size" in df.columns:
        df["input"] = df["input_size"] if "input" not in df.columns else df["input"].fillna(df["input_size"])
    defaults = {"device": "?", "threads": "?", "backend": "?", "pass": "forward", "bidirectional": False,
                "layers": 1, "input": np.nan, "hidden": np.nan, "seq_len": np.nan, "batch": np.nan,
                "seconds": np.nan, "step_samples_per_s": np.nan, "gflops": np.nan, "source": "?", "shape": ""}
    for c, v in defaults.items():
        if c not in df.columns:
            df[c] = v
    df["bidirectional"] = df["bidirectional"].map(lambda v: str(v).lower() in ("true", "1", "1.0", "bi"))
    for c in ("layers", "batch", "seq_len", "input", "hidden", "seconds", "step_samples_per_s", "gflops"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    df["layers"] = df["layers"].fillna(1)
    df["device"] = df["device"].map(_fmt).replace("None", "?")
    df["threads"] = df["threads"].map(_fmt).replace("None", "?")
    dims = ["x".join("?" if v == "None" else v for v in map(_fmt, (b, t, i, h)))
            for b, t, i, h in zip(df["batch"], df["seq_len"], df["input"], df["hidden"])]
    named = [_fmt(v) for v in df["shape"].tolist()]
    df["shape"] = [n if n != "None" and n else ("" if d.startswith("?") else d) for n, d in zip(named, dims)]
    need = df["step_samples_per_s"].isna() & (df["seconds"] > 0)
    df.loc[need, "step_samples_per_s"] = df.loc[need, "batch"] * df.loc[need, "seq_len"] / df.loc[need, "seconds"]
    need = df["gflops"].isna() & df["step_samples_per_s"].notna()
    if need.any():
        sel = df.loc[need]
        df.loc[need, "gflops"] = [
            _gflop(a, lay if lay == lay else 1, i if i == i else h, h, bi, p) * sps
            for a, lay, i, h, bi, p, sps in zip(sel["arch"], sel["layers"], sel["input"], sel["hidden"],
                                                 sel["bidirectional"], sel["pass"], sel["step_samples_per_s"])]
    df = df.groupby(["source", "arch", "backend", "pass"] + SHAPE, sort=True, dropna=False)[
        ["seconds", "step_samples_per_s", "gflops"]].median().reset_index()
    key = ["source", "arch", "pass"] + SHAPE
    fused = df[df["backend"].astype(str).str.lower().isin(FUSED)]
    fused = fused.groupby(key, dropna=False)[["step_samples_per_s", "seconds"]].agg(
        {"step_samples_per_s": "max", "seconds": "min"}).rename(columns={"step_samples_per_s": "_fsps",
                                                                         "seconds": "_fsec"}).reset_index()
    df = df.merge(fused, on=key, how="left")
    df["ratio_to_fused"] = (df["step_samples_per_s"] / df["_fsps"]).fillna(df["_fsec"] / df["seconds"])
    return df.drop(columns=["_fsps", "_fsec"])[THROUGHPUT_COLUMNS]


# ---- section 10: provenance ------------------------------------------------------------
PROVENANCE_RUN_COLUMNS = ("torch_version", "rnnbench_version", "git_sha", "device", "threads", "hostname",
                          "cpu", "cpu_model", "python_version", "slurm_job_id")


def provenance_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs themselves recorded: each provenance field's distinct values and counts."""
    rows = []
    for c in PROVENANCE_RUN_COLUMNS:
        if c not in runs.columns:
            continue
        counts = runs[c].map(_fmt).value_counts(sort=False)
        for v, n in sorted(counts.items()):
            if v == "None":
                continue
            rows.append({"field": c, "value": v, "runs": int(n)})
    rows.append({"field": "config_hash", "value": f"{runs['config_hash'].nunique()} distinct",
                 "runs": int(runs["config_hash"].notna().sum())})
    return pd.DataFrame(rows, columns=["field", "value", "runs"])
