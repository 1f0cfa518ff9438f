"""Read what a results directory holds, defensively: only runs.csv is required.

Every reader returns an empty frame / dict / None when its input is absent or
unreadable, so a missing input becomes a "no data" section, never a crash. Column
names are matched by suffix (`params.task_params.seq_len`, `params.train.clip`, ...)
because the aggregator flattens nested params with dots.
"""
from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError

STATUSES = ("ok", "diverged", "failed", "missing")

# Columns the report reads from runs.csv; absent ones are added as empty.
RUN_COLUMNS = ("task", "arch", "backend", "bidirectional", "layers", "hidden", "seed", "metric",
               "direction", "value", "baseline", "solved", "best_val", "epochs", "steps",
               "train_seconds", "seconds_per_epoch", "status", "n_params", "device", "threads",
               "hostname", "torch_version", "rnnbench_version", "git_sha", "config_hash", "run_dir")
NUMERIC = ("layers", "hidden", "seed", "value", "baseline", "best_val", "epochs", "steps",
           "train_seconds", "seconds_per_epoch", "n_params", "threads")

_SEQ_LEN = re.compile(r"(^|[._])(seq_len|T)$")
_MAX_LEN = re.compile(r"(^|[._])max_len$")   # seq2seq tasks draw lengths up to max_len


def find_column(df: pd.DataFrame, *suffixes: str, prefix: str = "params.") -> str | None:
    """The first column `prefix...<suffix>` (after a dot), or exactly `suffix`; None if absent."""
    for s in suffixes:
        for c in sorted(df.columns):
            if c == s or (c.startswith(prefix) and c.endswith("." + s)):
                return c
    return None


def seq_len_column(df: pd.DataFrame) -> str | None:
    """The sequence-length column: one ending in `seq_len` or `T` (task params first), else
    one ending in `max_len`; the first of them with a value in `df` (None if none has)."""
    for pattern in (_SEQ_LEN, _MAX_LEN):
        cols = sorted((c for c in df.columns if pattern.search(c)), key=lambda c: ("task_params" not in c, c))
        for c in cols:
            if df[c].notna().any():
                return c
    return None


def _bool(v) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return pd.NA
    s = str(v).strip().lower()
    if s in ("true", "1", "yes", "1.0"):
        return True
    if s in ("false", "0", "no", "0.0", ""):
        return False
    return pd.NA


def normalise_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Add absent columns, coerce types, derive `status` where absent, sort rows stably."""
    df = df.copy()
    for c in RUN_COLUMNS:
        if c not in df.columns:
            df[c] = np.nan
    for c in NUMERIC:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in ("task", "arch", "backend", "metric", "direction", "device", "hostname", "run_dir"):
        df[c] = df[c].astype("object").where(df[c].notna(), None)
        df[c] = df[c].map(lambda v: None if v is None else str(v))
    df["task"] = df["task"].fillna("?")
    df["arch"] = df["arch"].fillna("?")
    # rows the aggregator wrote for failed / missing cells carry no metric: take their task's
    for c in ("metric", "direction"):
        known = df[df[c].notna()].groupby("task")[c].agg(lambda s: sorted(s.mode())[0])
        df[c] = df[c].where(df[c].notna(), df["task"].map(known))
    df["direction"] = df["direction"].where(df["direction"].isin(["min", "max"]), "min")
    st = df["status"].astype("object").map(lambda v: str(v).strip().lower() if isinstance(v, str) else None)
    derived = np.where(df["value"].notna(), "ok", "missing")
    df["status"] = st.where(st.isin(STATUSES), pd.Series(derived, index=df.index))
    df = fill_unfinished(df)
    df["bidirectional"] = df["bidirectional"].map(_bool).fillna(False).astype(bool)
    df["solved"] = df["solved"].map(_bool)
    df.loc[df["status"] != "ok", "value"] = df.loc[df["status"] != "ok", "value"].where(
        df["status"] != "diverged")  # a diverged run has no value, whatever the file says
    # the time of one optimizer step, the fair unit for "faster per step"
    with np.errstate(divide="ignore", invalid="ignore"):
        sps = df["train_seconds"] / df["steps"].where(df["steps"] > 0)
    df["seconds_per_step"] = sps
    keys = [c for c in ("task", "arch", "backend", "layers", "hidden", "bidirectional", "seed", "run_dir")
            if c in df.columns]
    return df.sort_values(keys, kind="mergesort", na_position="last").reset_index(drop=True)


def fill_unfinished(df: pd.DataFrame) -> pd.DataFrame:
    """Give failed / missing rows the settings they share with every finished run of their task.

    A finished run records its whole resolved config (params.train.lr, .clip, ...); the row
    the aggregator writes for a cell without metrics.json has only what the grid sets for
    that cell. Left so, a missing run would form a "condition" of its own. A value every
    finished run of the same task and arch shares (none of them empty; else of the task) is
    a default of the grid: it fills the unfinished rows' empty cells. Settings that vary
    between those finished runs stay as the grid wrote them."""
    cols = [c for c in df.columns if c.startswith("params.")] + ["layers", "hidden", "bidirectional", "backend"]
    done = df["status"].isin(["ok", "diverged"])
    if done.all() or not done.any():
        return df
    df = df.copy()
    # the same cell first (task and arch), then any of the task's cells
    groups = list(df.groupby(["task", "arch"], sort=True).groups.values())
    groups += list(df.groupby("task", sort=True).groups.values())
    for idx in groups:
        fin, todo = idx[done.loc[idx].to_numpy()], idx[~done.loc[idx].to_numpy()]
        if not len(fin) or not len(todo):
            continue
        for c in cols:
            vals = df.loc[fin, c]
            if vals.isna().any() or vals.map(str).nunique() != 1:
                continue
            empty = todo[df.loc[todo, c].isna().to_numpy()]
            if len(empty):
                v = vals.iloc[0]
                numeric = isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))
                if not (numeric and pd.api.types.is_numeric_dtype(df[c])):
                    df[c] = df[c].astype(object)
                df.loc[empty, c] = v
    return df


def load_runs(results_dir: Path) -> pd.DataFrame:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory not found: {results_dir}")
    path = results_dir / "runs.csv"
    if not path.is_file():
        raise UsageError(f"no runs.csv in {results_dir} (run `rnnbench aggregate` first)")
    try:
        df = pd.read_csv(path, low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {str(e).splitlines()[0] if str(e) else 'parse error'}")
    return normalise_runs(df)


def run_path(results_dir: Path, run_dir) -> Path | None:
    if not isinstance(run_dir, str) or not run_dir:
        return None
    p = Path(run_dir)
    return p if p.is_absolute() else Path(results_dir) / p


def _read_csv(path: Path | None) -> pd.DataFrame | None:
    if path is None or not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError):
        return None


CURVE_COLUMNS = ("step", "epoch", "train_loss", "val_metric", "grad_norm", "lr", "seconds")


def _read_numeric_csv(path: Path) -> dict[str, np.ndarray] | None:
    """A small all-numeric CSV as column arrays ('' and non-numbers -> nan).

    The csv module, not pandas: a curve.csv has tens of rows and pd.read_csv's fixed cost
    per call (~3 ms) dominated reading a thousand of them."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError):
        return None
    if len(rows) < 2:
        return None
    header, body = rows[0], [r for r in rows[1:] if r]

    def num(v: str) -> float:
        try:
            return float(v)
        except ValueError:
            return math.nan
    cols = {}
    for k, name in enumerate(header):
        cols[name.strip()] = np.array([num(r[k]) if k < len(r) else math.nan for r in body], dtype=float)
    return cols


def load_curves(results_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """All curve.csv files, tidy, with the run's row index as `run` (empty frame if none)."""
    parts: dict[str, list[np.ndarray]] = {c: [] for c in ("run",) + CURVE_COLUMNS}
    for i, rd in zip(runs.index, runs["run_dir"]):
        p = run_path(results_dir, rd)
        c = _read_numeric_csv(p / "curve.csv") if p is not None else None
        if not c or "step" not in c:
            continue
        n = len(c["step"])
        parts["run"].append(np.full(n, i, dtype=np.int64))
        for name in CURVE_COLUMNS:
            parts[name].append(c.get(name, np.full(n, np.nan)))
    if not parts["run"]:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in ("run",) + CURVE_COLUMNS})
    return pd.DataFrame({k: np.concatenate(v) for k, v in parts.items()})


def load_step_norms(results_dir: Path, runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per-step gradient norms (run, step, grad_norm) of the given runs: each run's steps.csv
    (one row per optimizer step, the pre-clip norm) where present, else its curve.csv rows."""
    parts = []
    for i, rd in zip(runs.index, runs["run_dir"]):
        p = run_path(results_dir, rd)
        c = _read_numeric_csv(p / "steps.csv") if p is not None else None
        if c and "step" in c and "grad_norm" in c:
            parts.append(pd.DataFrame({"run": i, "step": c["step"], "grad_norm": c["grad_norm"]}))
        elif len(curves):
            parts.append(curves.loc[curves["run"] == i, ["run", "step", "grad_norm"]])
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "step", "grad_norm"])


GRAD_COLUMNS = ("lag", "norm", "arch", "task", "layer", "direction", "state", "at", "seed",
                "spectral_radius", "sigma_max")


def load_gradients(results_dir: Path) -> pd.DataFrame:
    """Every gradients/**/gradients.csv, concatenated; `phase` is init | trained."""
    root = Path(results_dir) / "gradients"
    frames = []
    for p in sorted(root.rglob("gradients.csv")) if root.is_dir() else []:
        g = _read_csv(p)
        if g is None or g.empty:
            continue
        g["source"] = str(p.parent.relative_to(root))
        frames.append(g)
    if not frames:
        return pd.DataFrame(columns=list(GRAD_COLUMNS) + ["phase", "source"])
    g = pd.concat(frames, ignore_index=True)
    for c in GRAD_COLUMNS:
        if c not in g.columns:
            g[c] = np.nan
    for c in ("lag", "norm", "seed", "spectral_radius", "sigma_max"):
        g[c] = pd.to_numeric(g[c], errors="coerce")
    # negative lags (states beyond the loss step, reached through a stacked bidirectional
    # layer above) are no part of the ||dL/dh_t|| vs lag picture
    g = g[g["lag"].notna() & g["norm"].notna() & (g["lag"] >= 0)].copy()
    at = g["at"].astype("object").fillna("trained").astype(str)
    g["at"] = at
    g["phase"] = np.where(at.str.lower().isin(["init", "initial", "step0", "0"]), "init", "trained")
    # "trained" = the last saved step of each source (or the literal "trained")
    step = pd.to_numeric(at.str.extract(r"(\d+)$")[0], errors="coerce")
    step = step.where(at.str.lower() != "trained", np.inf)
    g["_step"] = step.fillna(np.inf)
    last = g[g["phase"] == "trained"].groupby("source")["_step"].transform("max")
    g = g[(g["phase"] == "init") | (g["_step"] == last.reindex(g.index))].drop(columns="_step")
    for c in ("arch", "task", "state", "direction"):
        g[c] = g[c].astype("object").fillna("?").astype(str)
    g["layer"] = g["layer"].astype("object").fillna(0)
    return g.reset_index(drop=True)


def load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def load_provenance(results_dir: Path) -> dict[str, Any]:
    """name -> parsed content (dict) or raw text, for provenance/*.json|yaml|yml|txt."""
    root = Path(results_dir) / "provenance"
    out: dict[str, Any] = {}
    if not root.is_dir():
        return out
    for p in sorted(root.iterdir()):
        if not p.is_file() or p.suffix.lower() not in (".json", ".yaml", ".yml", ".txt"):
            continue
        text = p.read_text(errors="replace")
        data: Any = text
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError:
                pass
        elif p.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
                data = yaml.safe_load(text)
            except Exception:  # noqa: BLE001 - yaml missing or malformed: show the text
                pass
        out[p.name] = data
    return out


def load_throughput(results_dir: Path) -> pd.DataFrame:
    root = Path(results_dir) / "throughput"
    frames = [f for f in (_read_csv(p) for p in sorted(root.glob("*.csv"))) if f is not None and not f.empty] \
        if root.is_dir() else []
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    df["source"] = "rnnbench throughput"
    return df


def _asv_value(v: str) -> Any:
    """asv stores parameter values as repr strings: "'lstm'", "64", "True"."""
    try:
        import ast
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return v


def load_asv(asv_results: Path | None) -> pd.DataFrame:
    """asv 0.6 results (one row per benchmark x parameter combination x machine x commit).

    Columns: machine, commit, benchmark, type, unit, value, and one column per param name
    (from benchmarks.json, else p0, p1, ...).
    """
    if asv_results is None or not Path(asv_results).is_dir():
        return pd.DataFrame()
    root = Path(asv_results)
    meta = load_json(root / "benchmarks.json") or {}
    rows = []
    for path in sorted(root.glob("*/*.json")):
        if path.name == "machine.json":
            continue
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
            continue
        cols = data.get("result_columns") or ["result", "params"]
        machine = path.parent.name
        commit = str(data.get("commit_hash", path.stem.split("-")[0]))[:8]
        for bench, entry in sorted(data["results"].items()):
            if isinstance(entry, dict):  # older format
                entry = [entry.get("result"), entry.get("params", [])]
            rec = dict(zip(cols, entry))
            result, params = rec.get("result"), rec.get("params") or []
            info = meta.get(bench, {}) if isinstance(meta, dict) else {}
            names = list(info.get("param_names") or [f"p{i}" for i in range(len(params))])
            if not isinstance(result, list):
                result = [result]
            combos = list(itertools.product(*params)) if params else [()]
            for combo, val in zip(combos, result):
                row = {"machine": machine, "commit": commit, "benchmark": bench,
                       "type": info.get("type", bench.rsplit(".", 1)[-1].split("_")[0]),
                       "unit": info.get("unit", ""),
                       "value": float(val) if isinstance(val, (int, float)) else np.nan}
                for n, v in zip(names, combo):
                    row[n] = _asv_value(v)
                rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Inputs:
    results_dir: Path
    runs: pd.DataFrame
    curves: pd.DataFrame
    gradients: pd.DataFrame
    throughput: pd.DataFrame
    asv: pd.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)


def load(results_dir, asv_results=None) -> Inputs:
    results_dir = Path(results_dir)
    runs = load_runs(results_dir)
    return Inputs(results_dir=results_dir, runs=runs, curves=load_curves(results_dir, runs),
                  gradients=load_gradients(results_dir), throughput=load_throughput(results_dir),
                  asv=load_asv(Path(asv_results) if asv_results else None),
                  provenance=load_provenance(results_dir))
