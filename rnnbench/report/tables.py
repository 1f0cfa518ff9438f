"""The report's tables: pandas group-bys of the run records (and gradients, curves).

Every function returns a plain DataFrame of numbers and names (written as CSV as is);
html.py only formats them. Rows are placed by the record's fields alone (task_family,
task_kind, seq_len, reference_seconds, ...), never by a task's or a cell's name.
"Like with like": runs are compared only within one *condition* = the task plus every
resolved parameter (task params, training options, model params, layers, hidden,
bidirectional) except the seed and the thing compared.
"""
from __future__ import annotations

import math
import warnings
from typing import Iterable

import numpy as np
import pandas as pd

from ..models.cells import CELLS
from ..models.seq2seq import Options
from . import stats

LONG_DEPENDENCY, COURSE_LAB = "long-dependency", "course-lab"      # task families the sections show
# Section 2: every cell against LSTM (the reference of Jozefowicz et al. 2015), and the
# papers' own pairs (Chung et al. 2014: LSTM vs GRU; the two GRU forms).
REFERENCE = "lstm"
PAIRS = (("lstm", "gru"), ("gru", "gru-cho"))
CLIP = "params.train.clip"
MODEL_PARAMS = "params.model_params."
# Parameters that never make two runs unlike: identity, placement, bookkeeping.
NOT_CONDITION = {"seed", "arch", "backend", "device", "threads", "eval_batch_size", "checkpoint_every",
                 "eval_every", "out", "data_dir", "task", "config_hash", "run_dir"}
TOP_CONDITION = ("layers", "hidden", "bidirectional")
STATUSES = ("ok", "diverged", "failed", "missing")


def pairs(archs: Iterable[str]) -> list[tuple[str, str]]:
    """The comparisons of section 2 among the cells that ran: the papers' pairs, then each
    other cell against the reference."""
    present = set(archs)
    out = [p for p in PAIRS if set(p) <= present]
    return out + [(REFERENCE, a) for a in sorted(present - {REFERENCE}) if REFERENCE in present and (REFERENCE, a)
                  not in out]


def length_columns(runs: pd.DataFrame) -> list[str]:
    """The task params that are the record's seq_len in every run (the task's length
    parameter; another that always equals it varies with it): no condition of their own."""
    T = runs["seq_len"].astype(float)
    return [c for c in runs.columns if c.startswith("params.task_params.") and len(runs) and T.notna().all()
            and (pd.to_numeric(runs[c], errors="coerce") == T).all()]


def seq2seq_columns(df: pd.DataFrame) -> list[str]:
    """The encoder-decoder options given (model_params.*), in rnnbench.models.seq2seq.Options order."""
    order = {k: i for i, k in enumerate(Options.keys())}
    cols = [c for c in df.columns if c.startswith(MODEL_PARAMS) and df[c].notna().any()]
    return sorted(cols, key=lambda c: (order.get(c[len(MODEL_PARAMS):], len(order)), c))


# ---- conditions ---------------------------------------------------------------------
def _fmt(v) -> str:
    """A value as a condition's text: None (or nan) "None", floats %g."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and math.isnan(v)):
        return "None"
    return f"{float(v):g}" if isinstance(v, (float, np.floating)) else str(v)


def _short(col: str, cols: Iterable[str]) -> str:
    """`params.task_params.seq_len` -> `seq_len` (two parts when the last is ambiguous)."""
    last = col.rsplit(".", 1)[-1]
    return ".".join(col.split(".")[-2:]) if sum(c.rsplit(".", 1)[-1] == last for c in cols) > 1 else last


def condition_columns(df: pd.DataFrame, drop: Iterable[str] = ()) -> list[str]:
    """Columns that define "like with like", minus `drop` (column names or last parts):
    layers, hidden, bidirectional, then task params, model params, training options."""
    drop = set(drop) | {MODEL_PARAMS + k for k in arm_keys()}
    cols = [c for c in TOP_CONDITION if c in df.columns]
    cols += sorted((c for c in df.columns if c.startswith("params.")),      # task, model, then training params
                   key=lambda c: ({"task_params": 0, "model_params": 1, "train": 2}.get(c.split(".")[1], 3), c))
    return [c for c in cols
            if c not in drop and c.rsplit(".", 1)[-1] not in drop and c.rsplit(".", 1)[-1] not in NOT_CONDITION
            and not (c.startswith("params.") and c.rsplit(".", 1)[-1] in TOP_CONDITION)]


def with_condition(df: pd.DataFrame, drop: Iterable[str] = ()) -> pd.DataFrame:
    """A copy with `cond` (a key: equal iff like with like, within a task) and `condition`
    (a short label naming only the columns that vary within the task)."""
    cols = condition_columns(df, drop)
    out = df.copy()
    text = {c: [_fmt(v) for v in out[c].tolist()] for c in cols}   # plain lists: row loops stay cheap
    out["cond"] = ["|".join(vals) for vals in zip(*text.values())] if cols else ""
    labels = [""] * len(out)
    for rows in out["task"].reset_index(drop=True).groupby(out["task"].to_numpy()).indices.values():
        varying = [c for c in cols if len({text[c][k] for k in rows}) > 1]
        short = {c: _short(c, varying) for c in varying}
        for k in rows:   # a parameter not given (None) is left out of the label; clipping's None is "off"
            vals = [(c, "off" if c == CLIP and text[c][k] == "None" else text[c][k]) for c in varying]
            labels[k] = ", ".join(f"{short[c]}={v}" for c, v in vals if v != "None")
    out["condition"] = labels
    return out


def arm_keys() -> tuple[str, ...]:
    """The model_params that are a model's own settings, not the condition: `match`, every option
    of the zoo's sequence models (window, levels, ...) and of the cells (rnn's activation,
    jordan's jordan_feedback), by the registries. One arch's setting never makes two archs unlike:
    condition_columns leaves them out, `arms` names them in the arm."""
    from ..models.zoo import CELLS, MODELS     # the registries import torch: only when asked
    return ("match", *sorted({k for _, spec in MODELS.items() for k in spec.options}
                             | {k for _, c in CELLS.items() for k in getattr(c, "model_options", {})}))


def arms(df: pd.DataFrame, drop: Iterable[str] = (), own: Iterable[str] = ()) -> pd.DataFrame:
    """with_condition without the arms' own settings (arm_keys) and `drop`, plus `_set` (those
    settings given, {key: text}) and `_arm`: the arch with them ("tcn (match=lstm)"), so that a
    TCN sized to LSTM's count and the LSTM it is sized to share one condition. `own`: more columns
    that belong to an arm (a model's own learning rate, at its source's value): out of the
    condition, and in the label of the runs whose value is not the task's most common one
    ("tcn (match=lstm, lr=0.004)")."""
    cols = [MODEL_PARAMS + k for k in arm_keys() if MODEL_PARAMS + k in df.columns]
    given = [{c[len(MODEL_PARAMS):]: _fmt(v) for c, v in zip(cols, vals) if _fmt(v) != "None"}
             for vals in zip(*(df[c].tolist() for c in cols))] if cols else [{} for _ in range(len(df))]
    own = [c for c in own if c in df.columns]
    for c in own:
        text = df[c].map(_fmt)
        common = text.groupby(df["task"]).transform(lambda t: t.mode().iloc[0] if len(t.mode()) else "")
        name = c.rsplit(".", 1)[-1]
        given = [{**d, name: t} if t != m else d for d, t, m in zip(given, text, common)]
    label = [f"{a} ({', '.join(f'{k}={v}' for k, v in d.items())})" if d else a for a, d in zip(df["arch"], given)]
    return with_condition(df.assign(_arm=label, _set=given), drop=[*cols, *own, *drop])


# ---- summary -----------------------------------------------------------------------
def status_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per task: runs and how many are ok / diverged / failed / missing."""
    if not len(runs):
        return pd.DataFrame(columns=["task", "archs", "runs", *STATUSES])
    out = pd.crosstab(runs["task"], runs["status"]).reindex(columns=list(STATUSES), fill_value=0)
    out.insert(0, "runs", out.sum(axis=1))
    out.insert(0, "archs", runs.groupby("task")["arch"].nunique())
    out = out.reset_index()
    total = out.drop(columns="task").sum().to_dict()
    total["archs"] = runs["arch"].nunique()
    return pd.concat([out, pd.DataFrame([{"task": "all", **total}])], ignore_index=True)


def uniq(s: pd.Series) -> list[str]:
    """The distinct values given, as text, sorted."""
    return sorted({_fmt(v) for v in s.dropna().unique()} - {"None"})


def group_stats(g: pd.DataFrame) -> dict:
    """What every table says of a group of like runs: the metric, how many runs of each status,
    mean, std and best of the ok runs' values (n of them), the baseline, the solved fraction of
    the finished runs (a diverged run is not solved; nan when the task has no solved rule)."""
    vals = g.loc[g["status"] == "ok", "value"].dropna()
    m, sd, n = stats.mean_std(vals)
    d = g["direction"].iloc[0]
    done = g[g["status"].isin(["ok", "diverged"])]["solved"]
    return {"condition": g.get("condition", pd.Series([""])).iloc[0], "metric": g["metric"].iloc[0],
            "direction": d, "runs": len(g),
            **{st: int((g["status"] == st).sum()) for st in STATUSES}, "n": n, "mean": m, "std": sd,
            "best": (vals.min() if d == "min" else vals.max()) if n else math.nan,
            "baseline": float(g["baseline"].mean()),
            "solved_frac": float(done.fillna(False).astype(bool).mean()) if done.notna().any() else math.nan}


# ---- section 2: pairwise comparisons -------------------------------------------------
COMPARISON_COLUMNS = ["task", "condition", "metric", "direction", "a", "b", "n_a", "mean_a", "std_a",
                      "diverged_a", "n_b", "mean_b", "std_b", "diverged_b", "diff", "ci_low", "ci_high",
                      "method", "better", "steps_to_solve_a", "reached_a", "steps_to_solve_b", "reached_b",
                      "n_params_a", "n_params_b", "smaller", "sec_per_epoch_a",
                      "sec_per_epoch_b", "time_ratio_b_a", "quicker", "note"]


def _side(g: pd.DataFrame, x: str) -> dict:
    """One arm of a comparison: _group's numbers, parameters, time per epoch (of the ok runs,
    else of all), where it ran; keys suffixed `_x`."""
    ok = g[g["status"] == "ok"]
    side = {**group_stats(g), "n_params": float(g["n_params"].median()) if g["n_params"].notna().any() else math.nan,
            "sec_per_epoch": (ok if ok["seconds_per_epoch"].notna().any() else g)["seconds_per_epoch"].mean(),
            "where": (uniq(g["device"]), uniq(g["threads"])), "backend": ",".join(uniq(g["backend"])),
            **solve_stats(g)}
    return {f"{k}_{x}": v for k, v in side.items()}


def solve_stats(g: pd.DataFrame) -> dict:
    """Time to solve of a group of like runs: the median steps to the solved threshold of the runs
    that reached it on validation, and 'k/n' of the finished runs that did ('' without a rule)."""
    fin = g[g["status"].isin(["ok", "diverged"])]
    if not len(fin) or "steps_to_solve" not in fin or not fin["solved_threshold"].notna().any():
        return {"steps_to_solve": math.nan, "reached": ""}
    s = fin["steps_to_solve"].astype(float)
    return {"steps_to_solve": float(s.median()) if s.notna().any() else math.nan,
            "reached": f"{int(s.notna().sum())}/{len(fin)}"}


def compare(runs: pd.DataFrame, a: str, b: str, method: str = "welch", drop: Iterable[str] = ()) -> pd.DataFrame:
    """Arch `a` vs arch `b` per task and condition: mean +- std, the interval of the
    difference (a - b), the better one only when the interval excludes zero, parameter
    counts and time per epoch (quicker only when its own interval excludes zero)."""
    sub = runs[runs["arch"].isin([a, b])]
    if not len(sub) or a == b:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    rows = []
    for (task, _), g in with_condition(sub, drop).groupby(["task", "cond"], sort=True):
        ga, gb = g[g["arch"] == a], g[g["arch"] == b]
        if not ga["status"].isin(["ok", "diverged"]).any() or not gb["status"].isin(["ok", "diverged"]).any():
            continue   # nothing to compare yet (the grid table shows what is missing)
        r = {"task": task, "a": a, "b": b, "method": method, **group_stats(g), **_side(ga, "a"), **_side(gb, "b")}
        iv = stats.interval(ga.loc[ga["status"] == "ok", "value"], gb.loc[gb["status"] == "ok", "value"], method)
        verdict, quick = stats.better(iv, r["direction"]), stats.interval(
            ga["seconds_per_epoch"], gb["seconds_per_epoch"], method).sign()
        pa, pb = r["n_params_a"], r["n_params_b"]
        notes = [text for bad, text in ((r["where_a"] != r["where_b"], "timings from different devices/threads"),
                                        (r["backend_a"] != r["backend_b"],
                                         f"backends {r['backend_a'] or '?'} vs {r['backend_b'] or '?'}"),
                                        (not iv.defined, "interval needs >= 2 ok runs per side")) if bad]
        rows.append({**r, "diff": iv.diff, "ci_low": iv.low, "ci_high": iv.high,
                     "better": a if verdict > 0 else b if verdict < 0 else "",
                     "smaller": a if pa < pb else b if pb < pa else "",     # nan compares False: ""
                     "time_ratio_b_a": r["sec_per_epoch_b"] / r["sec_per_epoch_a"] if r["sec_per_epoch_a"]
                     else math.nan,
                     "quicker": a if quick < 0 else b if quick > 0 else "", "note": "; ".join(notes)})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


# ---- section 3: long dependencies ---------------------------------------------------
LONGDEP_COLUMNS = ["task", "condition", "arch", "seq_len", "metric", "direction", "runs", "n", "diverged",
                   "mean", "std", "baseline", "solved_frac"]


def longdep_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Metric vs sequence length (the record's seq_len) per architecture, for the tasks of the
    long-dependency family; a task of fixed length (no length parameter) keeps T = nan. An arch
    with its own settings is one arm ("tcn (match=lstm)", `arms`) beside the cells it is
    compared with, in their condition."""
    sub = runs[runs["task_family"] == LONG_DEPENDENCY]
    if not len(sub):
        return pd.DataFrame(columns=LONGDEP_COLUMNS)
    sub = pd.concat([arms(g, drop=length_columns(g)) for _, g in sub.groupby("task")])
    sub = sub.assign(seq_len=sub["seq_len"].astype(float))   # nan: a task of fixed length
    rows = [{"task": task, "arch": arm, "seq_len": T, **group_stats(g)}
            for (task, _, arm, T), g in sub.groupby(["task", "cond", "_arm", "seq_len"], sort=True, dropna=False)]
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
    rows = [{"arch": arch, "task": task, **group_stats(g),
             "solved_frac": float(g["solved"].dropna().astype(bool).mean()) if g["solved"].notna().any() else math.nan,
             "n_params": float(g["n_params"].median()) if g["n_params"].notna().any() else math.nan,
             "sec_per_epoch": float(g["seconds_per_epoch"].mean()), "train_seconds": float(g["train_seconds"].mean())}
            for (arch, task, _, _), g in sub.groupby(["arch", "task", "cond", "condition"], sort=True)]
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
    return dict(tuple(curves.groupby("run", sort=True))) if len(curves) else {}


def curve_arrays(curves: pd.DataFrame, column: str = "val_metric") -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """run -> (steps, values) sorted by step, rows without a value dropped (numpy, no pandas per run)."""
    if not len(curves) or column not in curves.columns:
        return {}
    c = curves[["run", "step", column]].dropna().sort_values(["run", "step"], kind="mergesort")
    run = c["run"].to_numpy()
    cuts = np.flatnonzero(np.diff(run)) + 1
    return {int(r): (x, y) for r, x, y in zip(run[np.r_[0, cuts]] if len(run) else [],
                                               np.split(c["step"].to_numpy(float), cuts),
                                               np.split(c[column].to_numpy(float), cuts))}


def curve_bands(runs: pd.DataFrame, curves: pd.DataFrame, task: str, max_points: int = 200,
                arrays: dict | None = None) -> pd.DataFrame:
    """val_metric vs step per (condition, arch): mean, min, max over seeds on a common grid."""
    cols = ["condition", "arch", "step", "mean", "low", "high", "seeds"]
    arrays = curve_arrays(curves) if arrays is None else arrays
    sub = runs[(runs["task"] == task) & runs.index.isin(list(arrays))]
    out = []
    for (label, arch), g in with_condition(sub).groupby(["condition", "arch"], sort=True):
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
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # all-nan columns: nan, as meant
            out.append(pd.DataFrame({"condition": label, "arch": arch, "step": grid,
                                     "mean": np.nanmean(ys, axis=0), "low": np.nanmin(ys, axis=0),
                                     "high": np.nanmax(ys, axis=0), "seeds": np.isfinite(ys).sum(axis=0)}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)


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
    for (task, arch, phase, state), g in grads.groupby(["task", "arch", "phase", "state"], sort=True, dropna=False):
        mean = g.groupby("lag")["norm"].mean()
        slope, r2, _ = stats.loglinear_fit(mean.index, mean.values)
        rows.append({"task": task, "arch": arch, "phase": phase, "state": state,
                     "curves": int(g.groupby(["source", "seed", "layer", "direction"], dropna=False).ngroups),
                     "lags": int(mean.index.nunique()), "spectral_radius": float(g["spectral_radius"].mean()),
                     "sigma_max": float(g["sigma_max"].mean()), "r2_loglinear": r2,
                     "decay_per_step": math.exp(slope) if math.isfinite(slope) else math.nan,
                     "norm_lag0": float(mean.iloc[0]), "norm_lag_max": float(mean.iloc[-1])})
    return pd.DataFrame(rows, columns=GRAD_TABLE_COLUMNS)


CLIP_COLUMNS = ["task", "arch", "condition", "group", "clip", "runs", "diverged", "ok", "mean",
                "max_grad_norm", "spikes"]


def clipping_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of clipping ablations (groups of like runs with >= 2 clip settings), with
    `cond` (the condition but the clip) and `clip` ("off" for None)."""
    if CLIP not in runs.columns or not len(runs):
        return runs.iloc[0:0].assign(cond="", clip="")
    sub = with_condition(runs, drop=[CLIP])
    sub["clip"] = sub[CLIP].map(_fmt).replace({"None": "off", "nan": "off", "False": "off"})
    return sub.groupby(["task", "arch", "cond"]).filter(lambda g: g["clip"].nunique() >= 2)


def clipping_table(runs: pd.DataFrame, curves: pd.DataFrame, spike: float = 10.0) -> pd.DataFrame:
    """Runs that differ only in `clip` (None = off): divergence and gradient-norm spikes
    (steps whose grad_norm exceeds `spike` x the run's median). `curves`: run, step,
    grad_norm rows (the runs' steps.csv or curve.csv; inputs.load_step_norms)."""
    sub = clipping_runs(runs)
    if not len(sub):
        return pd.DataFrame(columns=CLIP_COLUMNS)
    by_run = {}    # run -> (largest finite norm, spikes)
    for i, c in (curves[curves["grad_norm"].notna()].groupby("run") if len(curves) else []):
        v = c["grad_norm"].to_numpy(float)
        v = v[np.isfinite(v)]
        med = np.median(v) if len(v) else math.nan
        by_run[i] = (float(v.max()) if len(v) else math.nan, int((v > spike * med).sum()) if med > 0 else 0)
    rows = []
    for group, ((task, arch, _), g) in enumerate(sub.groupby(["task", "arch", "cond"], sort=True), start=1):
        for clip, h in g.groupby("clip", sort=True):
            seen = [by_run[i] for i in h.index if i in by_run]
            rows.append({"task": task, "arch": arch, "group": group, "clip": clip, **group_stats(h),
                         "max_grad_norm": max(m for m, _ in seen) if seen else math.nan,
                         "spikes": sum(k for _, k in seen)})
    return pd.DataFrame(rows, columns=CLIP_COLUMNS)


# ---- section 7: sequence to sequence ---------------------------------------------------
SEQ2SEQ_COLUMNS = ["task", "condition", "variant", "arch", "metric", "direction", "runs", "n", "diverged",
                   "mean", "std", "best"]


def variant_label(runs: pd.DataFrame) -> pd.Series:
    """'attention (additive), teacher_forcing=0.5, beam=4'-style label from the seq2seq
    model params given (those not given are left out)."""
    cols = seq2seq_columns(runs)

    def label(r):
        given = {c[len(MODEL_PARAMS):]: _fmt(r[c]) for c in cols if _fmt(r[c]) != "None"}
        head = given.pop("variant", "")
        if "attention" in given and (not head or "attention" in head):
            head = f"{head or 'attention'} ({given.pop('attention')})"
        parts = ([head] if head else []) + [f"{k}={v}" for k, v in given.items()]
        return ", ".join(parts) or "default"
    return runs.apply(label, axis=1) if cols else pd.Series("", index=runs.index, dtype=object)


def seq2seq_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of seq2seq tasks (task_kind), with their condition but the variant, and the variant."""
    sub = runs[runs["task_kind"] == "seq2seq"]
    sub = with_condition(sub, drop=seq2seq_columns(sub))
    return sub.assign(variant=variant_label(sub) if len(sub) else "")


def seq2seq_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seq2seq task, condition, variant and cell: the primary metric, and every other
    test metric the runs recorded (`metrics.*`: token / char accuracy, ...) as mean columns."""
    sub = seq2seq_runs(runs)
    if not len(sub):
        return pd.DataFrame(columns=SEQ2SEQ_COLUMNS)
    extra = sorted(c for c in sub.columns if c.startswith("metrics.") and sub[c].notna().any())
    rows = []
    for (task, _, variant, arch), g in sub.groupby(["task", "cond", "variant", "arch"], sort=True):
        row = {"task": task, "variant": variant, "arch": arch, **group_stats(g)}
        ok = g[g["status"] == "ok"]
        row = {c: row[c] for c in SEQ2SEQ_COLUMNS} | {c.split(".", 1)[1]: stats.mean_std(ok[c])[0] for c in extra
                                                       if c != f"metrics.{row['metric']}"}
        rows.append(row)
    return pd.DataFrame(rows)


# ---- section 8: the course lab --------------------------------------------------------
LAB_COLUMNS = ["task_title", "task", "arch", "metric", "runs", "n", "mean", "std", "train_seconds",
               "reference_seconds", "ratio_to_reference", "setting", "reference_source", "reference_setting",
               "device", "threads"]


def _settings(row: pd.Series) -> dict:
    """A runs.csv row's RunConfig settings (model_params nested), for Task.quoted_setting_differs."""
    out = {k: row[k] for k in ("layers", "hidden", "bidirectional", "backend") if k in row.index}
    mp = {}
    for c, v in row.items():
        if not isinstance(c, str) or not c.startswith("params.") or _fmt(v) == "None":
            continue
        group, key = c.split(".", 2)[1:]
        if group == "train":
            out[key] = v
        elif group == "model_params":
            mp[key] = v
    out["model_params"] = mp
    return out


def lab_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The course lab's tasks (task_family): metric and wall time beside the time the lab quotes
    (the record's reference_seconds, its source and setting). Like with like: the runs of a task
    are grouped by whether they ran the quoted setting (the task registry's reference_params,
    else its defaults: Task.quoted_setting_differs); the ratio to the quote is given only for
    those that did, the others name what differs."""
    from ..tasks import TASKS             # the registries import torch: only when asked
    sub = runs[runs["task_family"] == COURSE_LAB]
    if not len(sub):
        return pd.DataFrame(columns=LAB_COLUMNS)
    differs = ["; ".join(TASKS.get(t).quoted_setting_differs(_settings(r))) if t in TASKS else ""
               for t, (_, r) in zip(sub["task"], sub.iterrows())]
    rows = []
    for (task, arch, diff), g in sub.assign(_differs=differs).groupby(["task", "arch", "_differs"], sort=True):
        t, ref = g.loc[g["status"] == "ok", "train_seconds"].mean(), g["reference_seconds"].max()
        rows.append({"task_title": g["task_title"].iloc[0], "task": task, "arch": arch, **group_stats(g),
                     "train_seconds": t, "reference_seconds": ref,
                     "ratio_to_reference": t / ref if not diff else math.nan,
                     "setting": "the quoted one" if not diff else "differs: " + diff,
                     **{c: ", ".join(uniq(g[c])) for c in ("reference_source", "reference_setting", "device",
                                                            "threads")}})
    return pd.DataFrame(rows, columns=LAB_COLUMNS)


# ---- section 9: kernel throughput ------------------------------------------------------
THROUGHPUT_COLUMNS = ["source", "arch", "backend", "pass", "bidirectional", "layers", "shape", "batch", "seq_len",
                      "input", "hidden", "device", "threads", "seconds", "step_samples_per_s", "gflops",
                      "ratio_to_fused"]
SHAPE = ["bidirectional", "layers", "shape", "batch", "seq_len", "input", "hidden", "device", "threads"]
FUSED = ("fused", "cudnn", "onednn")


def _gflop(arch, layers, input_, hidden, bidirectional, pass_) -> float:
    """GFLOP per step-sample (CellSpec.flops: the gate matmuls, x3 with backward); nan for unknown cells."""
    if arch not in CELLS or not (math.isfinite(input_) and math.isfinite(hidden)):
        return math.nan
    return CELLS.get(arch).flops(input_size=int(input_), hidden=int(hidden), layers=int(layers),
                                 bidirectional=bool(bidirectional), backward="backward" in str(pass_)) / 1e9


ASV_KINDS = {"track_step_samples_per_s": "step_samples_per_s", "track_gflops": "gflops"}


def _shape_dims(shape) -> list:
    """"NxTxIxH" / "NxTxH" -> [N, T, I, H]; a shape's name (asv's "latency", ...) -> [None] * 4."""
    parts = str(shape).lower().split("x")
    parts = parts + parts[-1:] if len(parts) == 3 else parts
    return [int(p) for p in parts] if len(parts) == 4 and all(p.strip().isdigit() for p in parts) else [None] * 4


def _asv_throughput(asv: pd.DataFrame) -> pd.DataFrame:
    """asv kernel benchmarks -> the throughput table's rows: `track_step_samples_per_s` /
    `track_gflops` as they are, `time_*` as seconds (and step-samples/s where the shape is
    "NxTxIxH"). Benchmarks without an arch, a backend and a shape (or batch) are left out."""
    if not len(asv):
        return pd.DataFrame()
    df = asv[asv["value"].notna()].copy()
    df = df.rename(columns={"pass_": "pass"})     # the kernels suite's name (`pass` is Python's)
    if not {"arch", "backend"} <= set(df.columns) or not ({"shape", "batch"} & set(df.columns)):
        return pd.DataFrame()
    method = df["benchmark"].astype(str).str.rsplit(".", n=1).str[-1]
    kind = method.map(lambda m: ASV_KINDS.get(m, "seconds" if m.startswith("time_") else None))
    df = df[kind.notna() & df["arch"].notna() & df["backend"].notna()].assign(_kind=kind)
    if "shape" in df.columns:
        df = df[df["shape"].notna()]
        dims = df["shape"].map(_shape_dims)
        df = df.assign(**{name: dims.str[k] for k, name in enumerate(("batch", "seq_len", "input", "hidden"))
                          if name not in df.columns})
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
    df = df.assign(**{c: v for c, v in defaults.items() if c not in df.columns})
    df = df.assign(bidirectional=df["bidirectional"].map(lambda v: str(v).lower() in ("true", "1", "1.0", "bi")),
                   **{c: pd.to_numeric(df[c], errors="coerce") for c in ("layers", "batch", "seq_len", "input",
                                                                      "hidden", "seconds", "step_samples_per_s",
                                                                      "gflops")},
                   **{c: df[c].map(_fmt).replace("None", "?") for c in ("device", "threads")})
    df["layers"] = df["layers"].fillna(1)
    dims = ["x".join("?" if v == "None" else v for v in map(_fmt, (b, t, i, h)))
            for b, t, i, h in zip(df["batch"], df["seq_len"], df["input"], df["hidden"])]
    named = [_fmt(v) for v in df["shape"].tolist()]
    df["shape"] = [n if n != "None" and n else ("" if d.startswith("?") else d) for n, d in zip(named, dims)]
    need = df["step_samples_per_s"].isna() & (df["seconds"] > 0)
    df.loc[need, "step_samples_per_s"] = df.loc[need, "batch"] * df.loc[need, "seq_len"] / df.loc[need, "seconds"]
    need = df["gflops"].isna() & df["step_samples_per_s"].notna()
    df.loc[need, "gflops"] = [_gflop(r.arch, r.layers, r.input if r.input == r.input else r.hidden, r.hidden,
                                     r.bidirectional, r.pass_) * r.step_samples_per_s
                              for r in df[need].rename(columns={"pass": "pass_"}).itertuples(index=False)]
    df = df.groupby(["source", "arch", "backend", "pass"] + SHAPE, sort=True, dropna=False)[
        ["seconds", "step_samples_per_s", "gflops"]].median().reset_index()
    key = ["source", "arch", "pass"] + SHAPE
    fused = df[df["backend"].astype(str).str.lower().isin(FUSED)].groupby(key, dropna=False).agg(
        _fsps=("step_samples_per_s", "max"), _fsec=("seconds", "min")).reset_index()
    df = df.merge(fused, on=key, how="left")
    df["ratio_to_fused"] = (df["step_samples_per_s"] / df["_fsps"]).fillna(df["_fsec"] / df["seconds"])
    return df.drop(columns=["_fsps", "_fsec"])[THROUGHPUT_COLUMNS]


# ---- section 10: provenance ------------------------------------------------------------
PROVENANCE_RUN_COLUMNS = ("torch_version", "rnnbench_version", "git_sha", "device", "threads", "hostname",
                          "slurm_job_id")


def provenance_table(runs: pd.DataFrame) -> pd.DataFrame:
    """What the runs themselves recorded: each provenance field's distinct values and counts."""
    rows = [{"field": c, "value": v, "runs": int(n)} for c in PROVENANCE_RUN_COLUMNS
            for v, n in sorted(runs[c].map(_fmt).value_counts(sort=False).items()) if v != "None"]
    rows.append({"field": "config_hash", "value": f"{runs['config_hash'].nunique()} distinct",
                 "runs": int(runs["config_hash"].notna().sum())})
    return pd.DataFrame(rows, columns=["field", "value", "runs"])
