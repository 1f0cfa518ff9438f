"""Small run tables for the report's table and claim tests, in the run record's shape
(rnnbench.record: each row a validated RunRecord, the table read back by read_runs)."""
from __future__ import annotations

import io

from rnnbench.models.zoo import ARCHS
from rnnbench.record import RECORD_VERSION, RunRecord, read_runs, registry_facts, to_csv
from rnnbench.tasks import TASKS

BASE = {"backend": "fused", "bidirectional": False, "layers": 1, "hidden": 64, "device": "cpu", "threads": 2,
        "status": "ok", "metric": "mse", "direction": "min", "baseline": 1 / 6, "epochs": 10, "steps": 1000,
        "seed": 0}


def record(row: dict) -> RunRecord:
    """A record of BASE | the registries' facts (a task or cell no registry knows: the row gives
    them) | row; `params.<group>.<key>` and `metrics.<name>` keys of row go into the nested fields."""
    params = {"task_params": {}, "model_params": {}, "train": {}}
    metrics = {}
    flat = {}
    for k, v in row.items():
        if k.startswith("params."):
            _, group, key = k.split(".", 2)
            params[group][key] = v
        elif k.startswith("metrics."):
            metrics[k.split(".", 1)[1]] = v
        else:
            flat[k] = v
    d = {"record_version": RECORD_VERSION, "cell_id": None, "run_dir": None, **BASE,
         **(registry_facts(flat["task"], flat["arch"], params["task_params"])
            if flat["task"] in TASKS and flat["arch"] in ARCHS else {}), **flat,
         "params": params, "metrics": metrics}
    d.setdefault("value", None)
    return RunRecord.from_dict({**{f: None for f in ("solved", "best_val", "train_seconds", "seconds_per_epoch",
                                                      "diverged_step", "n_params", "native_kernel", "hostname",
                                                      "slurm_job_id", "torch_version", "rnnbench_version",
                                                      "git_sha", "config_hash", "steps_to_solve", "seconds_to_solve",
                                                      "solve_censored", "stopped_early")}, **d})


def make_runs(rows: list[dict], **defaults):
    """The runs table read_runs gives for these rows (each row = BASE | defaults | row)."""
    recs = []
    for k, r in enumerate(rows):
        rec = {**defaults, **r}
        rec.setdefault("run_dir", f"runs/{rec.get('task')}/{rec.get('arch')}/{k}")
        recs.append(record(rec))
    return read_runs(io.StringIO(to_csv(recs)))


def seeds(values, **fields) -> list[dict]:
    """One row per value (seed = its position), sharing `fields`; None = a diverged run."""
    return [{**fields, "seed": i, "value": v, **({"status": "diverged"} if v is None else {})}
            for i, v in enumerate(values)]
