"""Every run's metrics.json -> one tidy table, one row per run (results/runs.csv).

Nested fields are flattened with dots (`params.task_params.seq_len`,
`params.train.lr`, `metrics.accuracy`), so every fact is one column and every table
of the report is a group-by. Given the grid's expected cells (the pipeline's
provenance/cells.csv), the table has exactly one row per cell, in grid order: a
cell without metrics.json is `failed` when its run started (its dir holds the
pipeline's cell.json, config.json or run.log) and `missing` otherwise, with what the grid says about it
(task, arch, sizes, seed, parameters) filled in; runs of other grids under the same
folder are left out. Without it, every metrics.json found is a row.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

# First columns, in this order; the rest follow sorted by name.
LEADING = ("cell_id", "task", "arch", "backend", "bidirectional", "layers", "hidden", "seed",
           "status", "metric", "direction", "value", "baseline", "solved", "best_val", "epochs",
           "steps", "train_seconds", "seconds_per_epoch", "n_params")
IDENTITY = ("task", "arch", "backend", "bidirectional", "layers", "hidden", "seed")
STARTED = ("cell.json", "config.json", "run.log", "checkpoint.pt")   # cell.json: the pipeline's job began


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": "[1, 2]"} (lists as JSON text)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            if v:
                out.update(flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v)
        else:
            out[key] = v
    return out


def read_expected(path: str | Path) -> list[dict[str, Any]]:
    """The pipeline's cells.csv: task, arch, cell_id, path, config (JSON) per row."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["config"] = json.loads(r["config"]) if r.get("config") else {}
    return rows


def expected_row(cell: dict[str, Any], status: str) -> dict[str, Any]:
    """What the grid says about a cell that has no metrics.json."""
    cfg = cell.get("config") or {}
    row: dict[str, Any] = {k: cfg[k] for k in IDENTITY if k in cfg}
    row.update(task=cell["task"], arch=cell["arch"], status=status)
    params = {"task_params": cfg.get("task_params") or {}, "model_params": cfg.get("model_params") or {},
              "train": {k: v for k, v in cfg.items()
                        if k not in IDENTITY and k not in ("task_params", "model_params")}}
    row.update(flatten({"params": params}))
    return row


def run_row(run_dir: Path) -> dict[str, Any] | None:
    """The flattened metrics.json of a run dir, or None when it has none (or a corrupt one)."""
    try:
        m = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return flatten(m) if isinstance(m, dict) else None


def started(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in STARTED)


def collect(runs_dir: str | Path, expected: Iterable[dict[str, Any]] | None = None,
            relative_to: str | Path | None = None) -> list[dict[str, Any]]:
    """The rows: one per expected cell, or one per metrics.json under runs_dir."""
    runs_dir = Path(runs_dir)
    base = Path(relative_to) if relative_to is not None else runs_dir.parent
    rows = []
    if expected is None:
        dirs = sorted(p.parent for p in runs_dir.rglob("metrics.json"))
        cells: list[tuple[Path, dict | None]] = [(d, None) for d in dirs]
    else:
        cells = [(runs_dir / c["path"], c) for c in expected]
    for d, cell in cells:
        row = run_row(d)
        if row is None:
            if cell is None:
                continue
            row = expected_row(cell, "failed" if started(d) else "missing")
        row["cell_id"] = cell["cell_id"] if cell else d.name
        row["run_dir"] = os.path.relpath(d, base)
        rows.append(row)
    return rows


def columns(rows: list[dict[str, Any]]) -> list[str]:
    seen = {k for r in rows for k in r}
    return [c for c in LEADING if c in seen] + sorted(seen - set(LEADING))


def to_csv(rows: list[dict[str, Any]]) -> str:
    import io

    cols = columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: _cell(r.get(c)) for c in cols})
    return buf.getvalue()


def _cell(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def aggregate_runs(runs_dir: str | Path, out: str | Path, expected: str | Path | None = None):
    """Write `out` (atomically) and return it as a pandas DataFrame."""
    import io

    import pandas as pd

    from .io import atomic_write_text

    cells = read_expected(expected) if expected is not None else None
    rows = collect(runs_dir, cells, relative_to=Path(out).parent)
    text = to_csv(rows)
    atomic_write_text(out, text)
    return pd.read_csv(io.StringIO(text)) if rows else pd.DataFrame(columns=["status"])


def summary(df, runs_dir: str | Path, expected: bool) -> str:
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    parts = ", ".join(f"{counts[s]} {s}" for s in ("ok", "diverged", "failed", "missing") if s in counts)
    line = f"{len(df)} runs" + (f" ({parts})" if parts else "")
    if expected:
        found = sum(1 for _ in Path(runs_dir).rglob("metrics.json")) if Path(runs_dir).is_dir() else 0
        done = int(df["status"].isin(["ok", "diverged"]).sum()) if len(df) else 0
        if found > done:
            line += f"; {found - done} runs under {runs_dir} are not in this grid and were left out"
    return line
