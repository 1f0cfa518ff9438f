"""`rnnbench aggregate` (one tidy row per run, expected cells marked failed / missing)
and `rnnbench.provenance` (where and with what a run was made)."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from rnnbench import aggregate as A
from rnnbench import provenance
from rnnbench.record import COLUMNS, csv_cell, flatten

# a metrics.json of record version 1 (before the registry facts), as the runner wrote it
METRICS = {
    "task": "adding", "arch": "lstm", "backend": "fused", "bidirectional": False, "layers": 1,
    "hidden": 8, "seed": 0, "params": {"task_params": {"seq_len": 10}, "model_params": {},
                                       "train": {"lr": 0.001, "clip": None}},
    "metric": "mse", "direction": "min", "value": 0.05, "metrics": {"mse": 0.05}, "baseline": 0.17,
    "solved": False, "best_val": 0.06, "epochs": 3.0, "steps": 30, "train_seconds": 1.5,
    "seconds_per_epoch": 0.5, "status": "ok", "diverged_step": None, "n_params": 352, "device": "cpu",
    "threads": 1, "native_kernel": None, "hostname": "h", "slurm_job_id": None, "torch_version": "2",
    "rnnbench_version": "0", "git_sha": None, "config_hash": "abc",
}


def write_run(root, path, metrics=None, started=True):
    d = root / "runs" / path
    d.mkdir(parents=True)
    if started:
        (d / "config.json").write_text("{}")
    if metrics is not None:
        (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def expected_csv(path, cells):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "arch", "cell_id", "path", "gradients", "config"])
        w.writeheader()
        for task, arch, cid, cfg in cells:
            w.writerow({"task": task, "arch": arch, "cell_id": cid, "path": f"{task}/{arch}/{cid}",
                        "gradients": False, "config": json.dumps(cfg)})
    return path


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_flatten_joins_nested_keys_with_dots():
    flat = flatten(METRICS)
    assert flat["params.task_params.seq_len"] == 10 and flat["params.train.clip"] is None
    assert flat["metrics.mse"] == 0.05 and "params.model_params" not in flat
    assert flatten({"a": [1, 2]}) == {"a": "[1, 2]"}


def test_every_metrics_json_is_one_row(tmp_path):
    write_run(tmp_path, "adding/lstm/a", METRICS)
    write_run(tmp_path, "adding/gru/b", {**METRICS, "arch": "gru", "status": "diverged", "value": None})
    write_run(tmp_path, "adding/gru/c", None)      # unfinished and not expected: no row
    out = tmp_path / "runs.csv"
    df = A.aggregate_runs(tmp_path / "runs", out)
    rows = read(out)
    assert len(rows) == len(df) == 2
    assert list(rows[0])[:len(COLUMNS)] == list(COLUMNS)
    assert list(rows[0])[len(COLUMNS):] == sorted(list(rows[0])[len(COLUMNS):])
    assert {r["task_family"] for r in rows} == {"long-dependency"}     # version 1 upgraded
    assert {r["run_dir"] for r in rows} == {"runs/adding/lstm/a", "runs/adding/gru/b"}
    by = {r["arch"]: r for r in rows}
    assert by["gru"]["status"] == "diverged" and by["gru"]["value"] == ""
    assert by["lstm"]["params.task_params.seq_len"] == "10"
    assert not list(tmp_path.glob(".runs.csv.*"))   # written atomically, no temp left


def test_expected_cells_missing_and_failed(tmp_path):
    cfg = {"task": "adding", "arch": "gru", "hidden": 8, "seed": 1, "lr": 0.01,
           "task_params": {"seq_len": 20}}
    cells = [("adding", "lstm", "a", {**cfg, "arch": "lstm", "seed": 0}), ("adding", "gru", "b", cfg),
             ("adding", "gru", "c", {**cfg, "seed": 2})]
    write_run(tmp_path, "adding/lstm/a", METRICS)
    write_run(tmp_path, "adding/gru/b", None, started=True)     # killed or failed mid-run
    write_run(tmp_path, "adding/rnn/old", {**METRICS, "arch": "rnn"})   # another grid's run
    exp = expected_csv(tmp_path / "cells.csv", cells)
    df = A.aggregate_runs(tmp_path / "runs", tmp_path / "runs.csv", expected=exp)
    assert list(df["cell_id"]) == ["a", "b", "c"]
    assert list(df["status"]) == ["ok", "failed", "missing"]
    b = df.set_index("cell_id").loc["b"]
    assert b["arch"] == "gru" and b["seed"] == 1 and b["hidden"] == 8
    assert b["params.task_params.seq_len"] == 20 and b["params.train.lr"] == 0.01
    # the record the run would write, without results: resolved config, registry facts
    assert b["backend"] == "fused" and b["params.train.batch_size"] == 50      # adding's default
    assert b["task_family"] == "long-dependency" and b["task_kind"] == "many_to_one" and b["seq_len"] == 20
    assert b["metric"] == "mse" and b["solved_rule"] == "mse <= 0.01" and b["cell_title"]
    assert df["baseline"].isna().tolist() == [False, True, True] and df["solved"].isna().tolist()[1:] == [True, True]
    assert "1 runs under" in A.summary(df, tmp_path / "runs", True)


def test_command_line(tmp_path):
    write_run(tmp_path, "adding/lstm/a", METRICS)
    out = tmp_path / "sub" / "runs.csv"
    r = subprocess.run([sys.executable, "-m", "rnnbench", "aggregate", str(tmp_path / "runs"), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1 runs (1 ok)" in r.stderr and len(read(out)) == 1
    assert read(out)[0]["run_dir"] == "../runs/adding/lstm/a"
    r = subprocess.run([sys.executable, "-m", "rnnbench", "aggregate", str(tmp_path / "nope"), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "nope" in r.stderr


def test_provenance_facts(monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("SLURM_JOB_PARTITION", "gpu")
    p = provenance.collect(threads=3)
    json.dumps(p)
    assert p["slurm_job_id"] == "4242" and p["slurm"]["partition"] == "gpu"
    assert p["threads"] == 3 and p["hostname"] and p["versions"]["rnnbench"]
    assert p["versions"]["torch"] and p["cpu_count"] >= 1
    assert p["git_sha"] is None or len(p["git_sha"]) == 40
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "7")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert provenance.slurm_job_id() == "7_3"
    for k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_PARTITION"):
        monkeypatch.delenv(k)
    assert provenance.slurm_job_id() is None and provenance.slurm() is None


def test_provenance_needs_no_third_party_import():
    code = ("import sys, rnnbench.provenance as p; p.collect(); "
            "bad = [m for m in ('torch', 'numpy', 'pandas', 'yaml') if m in sys.modules]; print(bad)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_provenance_command_writes_the_environment(tmp_path):
    out = tmp_path / "env.json"
    r = subprocess.run([sys.executable, "-m", "rnnbench.provenance", "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = json.loads(out.read_text())
    assert env["packages"]["snakemake"] and "git_sha" in env and "versions" in env


@pytest.mark.parametrize("value, text", [(None, ""), (float("nan"), ""), (0.1, "0.1"), (True, True)])
def test_csv_cells(value, text):
    assert csv_cell(value) == text


def test_unreadable_metrics_are_counted_in_the_summary(tmp_path, capsys):
    from rnnbench.cli import main
    (tmp_path / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "runs" / "r1" / "metrics.json").write_text("garbage")
    assert main(["aggregate", str(tmp_path / "runs"), "--out", str(tmp_path / "runs.csv")]) == 0
    out = capsys.readouterr()
    assert "0 runs; 1 unreadable metrics.json" in out.out + out.err
