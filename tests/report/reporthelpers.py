"""Small run tables for the report's table and claim tests (imported by the tests)."""
from __future__ import annotations

import pandas as pd

from rnnbench.report.inputs import normalise_runs

BASE = {"backend": "fused", "bidirectional": False, "layers": 1, "hidden": 64, "device": "cpu", "threads": 2,
        "status": "ok", "metric": "mse", "direction": "min", "baseline": 1 / 6, "epochs": 10, "steps": 1000}


def make_runs(rows: list[dict], **defaults) -> pd.DataFrame:
    """A normalised runs table: each row = BASE | defaults | row."""
    recs = []
    for k, r in enumerate(rows):
        rec = {**BASE, **defaults, **r}
        rec.setdefault("run_dir", f"runs/{rec.get('task', 't')}/{rec.get('arch', 'a')}/{k}")
        recs.append(rec)
    return normalise_runs(pd.DataFrame(recs))


def seeds(values, **fields) -> list[dict]:
    """One row per value (seed = its position), sharing `fields`; None = a diverged run."""
    return [{**fields, "seed": i, "value": v, **({"status": "diverged"} if v is None else {})}
            for i, v in enumerate(values)]
