"""Read what a results directory holds: runs.csv (required, through rnnbench.record), and,
where present, curves, gradients, asv / throughput results and provenance.

runs.csv is the typed run record (rnnbench.record.read_runs: one validated row per run,
registry facts included), read as it is. Every other reader returns an empty frame /
dict / None when its input is absent or unreadable, so a missing input becomes a
"no data" section, never a crash.
"""
from __future__ import annotations

import ast
import csv
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import UsageError
from ..record import read_runs

# a stable row order (the figures and tables list rows in it)
ORDER = ("task", "arch", "backend", "layers", "hidden", "bidirectional", "seed", "run_dir")


def load_runs(results_dir: Path) -> pd.DataFrame:
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UsageError(f"results directory not found: {results_dir}")
    path = results_dir / "runs.csv"
    if not path.is_file():
        raise UsageError(f"no runs.csv in {results_dir} (run `rnnbench aggregate` first)")
    try:
        df = read_runs(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {str(e).splitlines()[0] if str(e) else 'parse error'}") from None
    return df.sort_values(list(ORDER), kind="mergesort", na_position="last").reset_index(drop=True)


def run_path(results_dir: Path, run_dir) -> Path | None:
    """A run's folder (the record's run_dir is relative to runs.csv); None for a run without one."""
    return Path(results_dir) / run_dir if isinstance(run_dir, str) and run_dir else None


def read_csv(path: Path | None) -> pd.DataFrame | None:
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
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError):
        return None
    if len(rows) < 2:
        return None
    body = [r for r in rows[1:] if r]
    return {name.strip(): np.array([_float(r[k]) if k < len(r) else math.nan for r in body], dtype=float)
            for k, name in enumerate(rows[0])}


def _float(v: str) -> float:
    try:
        return float(v)
    except ValueError:
        return math.nan


def load_curves(results_dir: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """All curve.csv files, tidy, with the run's row index as `run` (empty frame if none)."""
    parts = []
    for i, rd in zip(runs.index, runs["run_dir"]):
        c = _read_numeric_csv(p / "curve.csv") if (p := run_path(results_dir, rd)) else None
        if c and "step" in c:
            n = len(c["step"])
            parts.append({"run": np.full(n, i, dtype=np.int64),
                          **{k: c.get(k, np.full(n, np.nan)) for k in CURVE_COLUMNS}})
    return pd.DataFrame({k: np.concatenate([p[k] for p in parts]) if parts else pd.Series(dtype=float)
                         for k in ("run",) + CURVE_COLUMNS})


def load_step_norms(results_dir: Path, runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Per-step gradient norms (run, step, grad_norm) of the given runs: each run's steps.csv
    (one row per optimizer step, the pre-clip norm) where present, else its curve.csv rows."""
    parts = []
    for i, rd in zip(runs.index, runs["run_dir"]):
        c = _read_numeric_csv(p / "steps.csv") if (p := run_path(results_dir, rd)) else None
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
    frames = [g.assign(source=str(p.parent.relative_to(root))) for p in sorted(root.rglob("gradients.csv"))
              if (g := read_csv(p)) is not None and not g.empty]
    if not frames:
        return pd.DataFrame(columns=list(GRAD_COLUMNS) + ["phase", "source"])
    g = pd.concat(frames, ignore_index=True)
    g = g.reindex(columns=list(dict.fromkeys([*g.columns, *GRAD_COLUMNS])))
    g = g.assign(**{c: pd.to_numeric(g[c], errors="coerce") for c in ("lag", "norm", "seed", "spectral_radius",
                                                                      "sigma_max")})
    # negative lags (states beyond the loss step, reached through a stacked bidirectional
    # layer above) are no part of the ||dL/dh_t|| vs lag picture
    g = g[g["lag"].notna() & g["norm"].notna() & (g["lag"] >= 0)].copy()
    # `at`: init | step<N> (rnnbench.gradients); "trained" = the last step of each source
    at = g["at"].astype("object").fillna("trained").astype(str)
    g = g.assign(at=at, phase=np.where(at == "init", "init", "trained"),
                 _step=pd.to_numeric(at.str.extract(r"(\d+)$")[0], errors="coerce").fillna(np.inf))
    last = g[g["phase"] == "trained"].groupby("source")["_step"].transform("max")
    g = g[(g["phase"] == "init") | (g["_step"] == last.reindex(g.index))].drop(columns="_step")
    g = g.assign(**{c: g[c].astype("object").fillna("?").astype(str) for c in ("arch", "task", "state", "direction")})
    return g.assign(layer=g["layer"].astype("object").fillna(0)).reset_index(drop=True)


def load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def load_provenance(results_dir: Path) -> dict[str, Any]:
    """name -> parsed content (dict) or raw text, for provenance/*.json|yaml|yml|txt."""
    parse = {".json": json.loads, ".yaml": yaml.safe_load, ".yml": yaml.safe_load, ".txt": str}
    out: dict[str, Any] = {}
    for p in sorted((Path(results_dir) / "provenance").glob("*")):
        if p.is_file() and p.suffix.lower() in parse:
            text = p.read_text(errors="replace")
            try:
                out[p.name] = parse[p.suffix.lower()](text)
            except (ValueError, yaml.YAMLError):   # malformed: show the text
                out[p.name] = text
    return out


def load_throughput(results_dir: Path) -> pd.DataFrame:
    """throughput/*.csv (`rnnbench throughput` tables), concatenated."""
    frames = [f for f in map(read_csv, sorted((Path(results_dir) / "throughput").glob("*.csv")))
              if f is not None and not f.empty]
    return pd.concat(frames, ignore_index=True).assign(source="rnnbench throughput") if frames else pd.DataFrame()


def _asv_value(v: str) -> Any:
    """asv stores parameter values as repr strings: "'lstm'", "64", "True"."""
    try:
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
            rec = dict(zip(cols, entry))
            result, params = rec.get("result"), rec.get("params") or []
            info = meta.get(bench, {}) if isinstance(meta, dict) else {}
            names = list(info.get("param_names") or [f"p{i}" for i in range(len(params))])
            for combo, val in zip(itertools.product(*params), result if isinstance(result, list) else [result]):
                rows.append({"machine": machine, "commit": commit, "benchmark": bench,
                             "type": info.get("type", bench.rsplit(".", 1)[-1].split("_")[0]),
                             "unit": info.get("unit", ""),
                             "value": float(val) if isinstance(val, (int, float)) else np.nan,
                             **{n: _asv_value(v) for n, v in zip(names, combo)}})
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
