"""Every run's metrics.json -> one tidy table, one row per run (results/runs.csv).

Each row is a `RunRecord` (rnnbench.record), flattened: nested fields joined with dots
(`params.task_params.seq_len`, `params.train.lr`, `metrics.accuracy`), columns in
`record.COLUMNS` order, so every fact is one column and every table of the report is a
group-by. Given the grid's expected cells (the pipeline's provenance/cells.csv), the table
has exactly one row per cell, in grid order: a cell without metrics.json is `failed` when
its run started (its dir holds the pipeline's cell.json, config.json, run.log or a
checkpoint) and `missing` otherwise, and its row is the record the run would have written,
without results: the resolved config the cell's run gets and what the registries know
(task kind and family, metric, solved rule, reference time, cell citation). Runs of other
grids under the same folder are left out. Without it, every metrics.json found is a row.
Aggregating never fails on a failed cell, so the pipeline needs nothing else after one.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Iterable

from .config import resolve, with_task_defaults
from .errors import UsageError
from .record import RunRecord, read_runs, to_csv

STARTED = ("cell.json", "config.json", "run.log", "checkpoint.pt")   # cell.json: the pipeline's job began


def read_expected(path: str | Path) -> list[dict[str, Any]]:
    """The pipeline's cells.csv: task, arch, cell_id, path, config (JSON) per row."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["config"] = json.loads(r["config"]) if r.get("config") else {}
    return rows


def unfinished(cell: dict[str, Any], status: str) -> RunRecord:
    """The record of a grid cell without metrics.json: its run's resolved config (the device
    as the grid asks: this host may lack it) and the registries' facts, no results."""
    try:
        cfg = with_task_defaults({**cell.get("config", {}), "task": cell["task"], "arch": cell["arch"]})
        return RunRecord.of(resolve(cfg, here=False), status)
    except UsageError as e:
        raise UsageError(f"grid cell {cell.get('cell_id')!r}: {e}") from None


def run_record(run_dir: Path) -> RunRecord | None:
    """The validated record of a run dir; None when it has no metrics.json (or an unreadable
    one: the run is redone). A metrics.json that is no run record is a UsageError naming it."""
    path = run_dir / "metrics.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return RunRecord.from_dict(d, source=path)


def started(run_dir: Path) -> bool:
    return any((run_dir / name).exists() for name in STARTED)


def collect(runs_dir: str | Path, expected: Iterable[dict[str, Any]] | None = None,
            relative_to: str | Path | None = None) -> list[RunRecord]:
    """The records: one per expected cell, or one per metrics.json under runs_dir."""
    runs_dir = Path(runs_dir)
    base = Path(relative_to) if relative_to is not None else runs_dir.parent
    if expected is None:
        cells: list[tuple[Path, dict | None]] = [(p.parent, None) for p in sorted(runs_dir.rglob("metrics.json"))]
    else:
        cells = [(runs_dir / c["path"], c) for c in expected]
    records = []
    for d, cell in cells:
        rec = run_record(d)
        if rec is None:
            if cell is None:
                continue
            rec = unfinished(cell, "failed" if started(d) else "missing")
        records.append(dataclasses.replace(rec, cell_id=cell["cell_id"] if cell else d.name,
                                           run_dir=os.path.relpath(d, base)))
    return records


def aggregate_runs(runs_dir: str | Path, out: str | Path, expected: str | Path | None = None):
    """Write `out` (atomically) and return it as read back by `record.read_runs`."""
    from .io import atomic_write_text

    cells = read_expected(expected) if expected is not None else None
    records = collect(runs_dir, cells, relative_to=Path(out).parent)
    atomic_write_text(out, to_csv(records))
    return read_runs(out)


def summary(df, runs_dir: str | Path, expected: bool) -> str:
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    parts = ", ".join(f"{counts[s]} {s}" for s in ("ok", "diverged", "failed", "missing") if s in counts)
    line = f"{len(df)} runs" + (f" ({parts})" if parts else "")
    found = sum(1 for _ in Path(runs_dir).rglob("metrics.json")) if Path(runs_dir).is_dir() else 0
    done = int(df["status"].isin(["ok", "diverged"]).sum()) if len(df) else 0
    if expected and found > done:
        line += f"; {found - done} runs under {runs_dir} are not in this grid and were left out"
    elif not expected and found > done:
        line += f"; {found - done} unreadable metrics.json under {runs_dir} left out (their runs are redone)"
    return line
