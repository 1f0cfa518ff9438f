"""The run record (rnnbench.record): metrics.json and runs.csv rows, typed, versioned, validated;
and the registry facts it carries (Task.family, length_param, reference)."""
from __future__ import annotations

import csv
import dataclasses
import json

import pandas as pd
import pytest

from rnnbench import aggregate as A
from rnnbench import record as R
from rnnbench.config import resolve, with_task_defaults
from rnnbench.errors import UsageError
from rnnbench.models import CELLS
from rnnbench.record import RECORD_VERSION, RunRecord
from rnnbench.tasks import TASKS
from rnnbench.tasks.base import FAMILIES, Task

# metrics.json as the runner wrote it before the registry facts (record version 1)
V1 = {
    "task": "copy", "arch": "gru", "backend": "fused", "bidirectional": False, "layers": 1, "hidden": 8,
    "seed": 3, "params": {"task_params": {"seq_len": 30, "n_symbols": 8}, "model_params": {},
                          "train": {"lr": 0.001, "clip": 1.0, "residual": False, "tbptt": None}},
    "metric": "ce", "direction": "min", "value": 0.1, "metrics": {"ce": 0.1, "recall_accuracy": 0.5},
    "baseline": 0.17, "solved": False, "best_val": 0.12, "epochs": 2.0, "steps": 20, "train_seconds": 1.5,
    "seconds_per_epoch": 0.75, "status": "ok", "diverged_step": None, "n_params": 400, "device": "cpu",
    "threads": 1, "hostname": "h", "slurm_job_id": "42", "torch_version": "2.5", "rnnbench_version": "0.1",
    "git_sha": None, "config_hash": "abc",
}   # no native_kernel: it came late in version 1


def cfg(**kw):
    base = {"task": "adding", "arch": "lstm", "hidden": 8, "device": "cpu", "task_params": {"seq_len": 40}}
    return resolve(with_task_defaults({**base, **kw}))


def ok_record(**kw) -> RunRecord:
    results = dict(value=0.02, metrics={"mse": 0.02}, baseline=0.16, solved=False, best_val=0.03,
                   epochs=2.0, steps=64, train_seconds=1.25, seconds_per_epoch=0.625, n_params=737,
                   native_kernel=None, device="cpu", threads=1, hostname="h", slurm_job_id=None,
                   torch_version="2", rnnbench_version="0", git_sha=None, config_hash="f00")
    return RunRecord.of(cfg(**kw), "ok", **{**results})


# ---------------------------------------------------------------------------- round trip
def test_round_trip_through_metrics_json_and_runs_csv(tmp_path):
    rec = ok_record()
    d = json.loads(json.dumps(rec.to_dict()))
    assert RunRecord.from_dict(d) == rec and d["record_version"] == RECORD_VERSION == 2
    # the registries' facts are in the record
    assert (rec.task_kind, rec.task_family, rec.seq_len) == ("many_to_one", "long-dependency", 40)
    assert (rec.solved_threshold, rec.solved_rule) == (0.01, "mse <= 0.01") and rec.cell_citation
    assert rec.params["train"]["batch_size"] == 50 and "seed" not in rec.params["train"]
    row = rec.to_row()
    assert row["params.task_params.seq_len"] == 40 and row["metrics.mse"] == 0.02
    assert "metrics" not in row and "params.model_params" not in row   # empty objects dropped
    path = tmp_path / "runs.csv"
    rec = dataclasses.replace(rec, run_dir="runs/a", cell_id="a")
    path.write_text(R.to_csv([rec, dataclasses.replace(rec, run_dir="b")]))
    df = R.read_runs(path)
    assert list(df.columns[:len(R.COLUMNS)]) == list(R.COLUMNS) and len(df) == 2
    back = df.iloc[0]
    for k, v in rec.to_row().items():
        got = back[k]
        assert (pd.isna(got) if v is None else got == v), (k, v, got)


def test_read_runs_dtypes(tmp_path):
    recs = [dataclasses.replace(ok_record(), run_dir="a"),
            dataclasses.replace(RunRecord.of(cfg(arch="gru", residual=True), "missing"), run_dir="b")]
    path = tmp_path / "runs.csv"
    path.write_text(R.to_csv(recs))
    df = R.read_runs(path)
    dt = df.dtypes.astype(str).to_dict()
    assert dt["bidirectional"] == "bool" and dt["solved"] == "boolean" and dt["native_kernel"] == "boolean"
    assert {dt[c] for c in ("record_version", "layers", "hidden", "seed", "steps", "seq_len", "n_params")} == {"Int64"}
    assert {dt[c] for c in ("value", "baseline", "epochs", "reference_seconds")} == {"float64"}
    assert pd.api.types.is_string_dtype(df["task"]) and pd.api.types.is_string_dtype(df["slurm_job_id"])
    # flattened columns: typed by their text
    assert dt["params.task_params.seq_len"] == "Int64" and dt["params.train.lr"] == "float64"
    assert dt["params.train.residual"] == "boolean" and dt["metrics.mse"] == "float64"
    assert df["status"].tolist() == ["ok", "missing"] and df["solved"].isna().tolist() == [False, True]
    assert df["params.train.residual"].tolist() == [False, True]
    assert dt["params.train.tbptt"] == "float64" and df["params.train.tbptt"].isna().all()   # all empty


def test_read_runs_refuses_a_table_that_is_no_record(tmp_path):
    good = R.to_csv([dataclasses.replace(ok_record(), run_dir="a")])
    cases = {"column 'layers' row 2": lambda t: t.replace(",1,8,0,ok,", ",one,8,0,ok,"),
             "column 'status' row 2": lambda t: t.replace(",ok,", ",done,"),
             "missing column 'task_family'": lambda t: t.replace("task_family", "family"),
             "has more than one row": lambda t: t + t.splitlines()[1] + "\n"}
    for needle, spoil in cases.items():
        path = tmp_path / "runs.csv"
        path.write_text(spoil(good))
        with pytest.raises(UsageError, match=needle) as e:
            R.read_runs(path)
        assert str(path) in str(e.value)
    with pytest.raises(UsageError, match="not found"):
        R.read_runs(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize("spoil, needle", [
    (lambda d: d.update(layers="2"), "field 'layers' must be int, got '2'"),
    (lambda d: d.update(solved=1), "field 'solved' must be bool or null"),
    (lambda d: d.pop("task_family"), "missing field 'task_family'"),
    (lambda d: d.update(colour="red"), "unknown field 'colour'"),
    (lambda d: d.update(status="done"), "field 'status' must be 'ok' | 'diverged' | 'failed' | 'missing'"),
    (lambda d: d.update(record_version=7), "field 'record_version': unknown version 7"),
    (lambda d: d["params"].update(extra={}), "field 'params' must hold the objects task_params"),
    (lambda d: d["params"].pop("train"), "field 'params' must hold the objects task_params"),
])
def test_validation_names_file_and_field(spoil, needle):
    d = ok_record().to_dict()
    spoil(d)
    with pytest.raises(UsageError) as e:
        RunRecord.from_dict(d, source="runs/x/metrics.json")
    assert str(e.value).startswith("runs/x/metrics.json: ") and needle in str(e.value), str(e.value)


def test_numbers_are_python_numbers():
    import numpy as np
    d = ok_record().to_dict()
    d.update(steps=np.int64(5), value=np.float32(0.5), baseline=1)
    rec = RunRecord.from_dict(d)
    assert type(rec.steps) is int and type(rec.value) is float and type(rec.baseline) is float


def test_read_names_a_corrupt_file(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text("{half")
    with pytest.raises(UsageError, match=str(p)):
        RunRecord.read(p)


# ---------------------------------------------------------------------------- version 1
def test_version_1_is_upgraded_from_the_registries():
    rec = RunRecord.from_dict(json.loads(json.dumps(V1)), source="old/metrics.json")
    assert rec.record_version == 2 and rec.native_kernel is None and rec.cell_id is None
    assert (rec.task_kind, rec.task_family, rec.task_title) == ("many_to_many", "long-dependency", "Copy memory")
    assert rec.seq_len == 30 and rec.solved_rule == "recall_accuracy >= 0.99" and rec.reference_seconds is None
    assert (rec.cell_title, rec.cell_citation) == (CELLS.get("gru").title, CELLS.get("gru").citation)
    assert rec.value == 0.1 and rec.slurm_job_id == "42"          # its own fields kept
    assert RunRecord.from_dict(rec.to_dict()) == rec


def test_version_1_errors_name_file_and_field():
    for field, value in (("task", "nosuchtask"), ("arch", "nosuchcell")):
        with pytest.raises(UsageError, match=rf"^old/metrics.json: field '{field}': unknown"):
            RunRecord.from_dict({**V1, field: value}, source="old/metrics.json")
    d = dict(V1)
    d.pop("best_val")
    with pytest.raises(UsageError, match="old/metrics.json: missing field 'best_val'"):
        RunRecord.from_dict(d, source="old/metrics.json")


# ---------------------------------------------------------------------------- aggregator
def test_missing_and_failed_rows_carry_the_task_facts(tmp_path):
    cells = [{"task": "airquality", "arch": "gru", "cell_id": "aq", "path": "airquality/gru/aq",
              "config": {"seed": 1, "task_params": {"lag": 12}}},
             {"task": "addition", "arch": "lstm", "cell_id": "add", "path": "addition/lstm/add", "config": {}},
             {"task": "adding", "arch": "lstm", "cell_id": "ok", "path": "adding/lstm/ok", "config": {}}]
    runs = tmp_path / "runs"
    (runs / "airquality/gru/aq").mkdir(parents=True)
    (runs / "airquality/gru/aq/run.log").write_text("")                 # started: failed
    done = runs / "adding/lstm/ok"
    done.mkdir(parents=True)
    (done / "metrics.json").write_text(json.dumps(ok_record().to_dict()))
    exp = tmp_path / "cells.csv"
    with open(exp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "arch", "cell_id", "path", "config"])
        w.writeheader()
        w.writerows({**c, "config": json.dumps(c["config"])} for c in cells)
    df = A.aggregate_runs(runs, tmp_path / "runs.csv", expected=exp).set_index("cell_id")
    assert df["status"].to_dict() == {"aq": "failed", "add": "missing", "ok": "ok"}
    aq, add = df.loc["aq"], df.loc["add"]
    assert (aq["task_family"], aq["reference_seconds"], aq["seq_len"]) == ("course-lab", 30.0, 12)
    assert aq["metric"] == "mse" and aq["direction"] == "min" and aq["task_kind"] == "many_to_one"
    assert aq["params.train.batch_size"] == 500 and aq["hidden"] == 32      # the lab's defaults
    assert (add["task_kind"], add["task_family"], add["reference_seconds"]) == ("seq2seq", "course-lab", 330.0)
    assert add["params.model_params.variant"] == "attention" and add["cell_title"]
    assert pd.isna(aq["baseline"]) and pd.isna(aq["value"]) and pd.isna(add["solved"])
    assert df.loc["ok", "run_dir"] == "runs/adding/lstm/ok"


def test_a_metrics_json_that_is_no_record_is_named(tmp_path):
    d = tmp_path / "runs" / "adding" / "lstm" / "x"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({**ok_record().to_dict(), "layers": "one"}))
    with pytest.raises(UsageError, match=r"x/metrics.json: field 'layers'"):
        A.aggregate_runs(tmp_path / "runs", tmp_path / "runs.csv")


def test_no_runs_is_an_empty_typed_table(tmp_path):
    (tmp_path / "runs").mkdir()
    df = A.aggregate_runs(tmp_path / "runs", tmp_path / "runs.csv")
    assert len(df) == 0 and list(df.columns) == list(R.COLUMNS)


# ---------------------------------------------------------------------------- registry facts
@pytest.mark.parametrize("name", TASKS.names())
def test_every_task_declares_its_facts(name):
    cls = TASKS.get(name)
    declared = {k for c in cls.__mro__ if c is not Task for k in vars(c)}
    assert "family" in declared and cls.family in FAMILIES
    ints = {f.name for f in dataclasses.fields(cls.Params) if f.type in (int, "int")}
    assert cls.length_param is None or cls.length_param in ints
    cls.check_facts()
    d = cls.describe()
    assert d["family"] == cls.family and d["length_param"] == cls.length_param
    if cls.family == "course-lab":
        assert set(cls.reference) == {"seconds", "source", "setting"} and cls.reference["seconds"] > 0


def test_lab_reference_times():
    quoted = {n: TASKS.get(n).reference["seconds"] for n in TASKS.names() if TASKS.get(n).reference}
    assert quoted == {"airquality": 30.0, "electricdevices": 60.0, "sentiment": 180.0, "textgen": 1380.0,
                      "addition": 330.0}
    assert "50 epochs" in TASKS.get("addition").reference["setting"]


@pytest.mark.parametrize("attrs, needle", [
    ({"family": "fun"}, "unknown family 'fun'"),
    ({"length_param": "n_train_typo"}, "length_param 'n_train_typo' is not an int field"),
    ({"length_param": "rate"}, "length_param 'rate' is not an int field"),
    ({"reference": {"seconds": 3}}, "reference must be"),
])
def test_check_facts_refuses_a_wrong_fact(attrs, needle):
    @dataclasses.dataclass
    class Params:
        seq_len: int = 10
        rate: float = 0.5

    bad = type("Bad", (Task,), {"Params": Params, **attrs})
    with pytest.raises(UsageError, match=needle):
        bad.check_facts()


def test_list_shows_family_and_reference(capsys):
    import argparse

    from rnnbench.commands import list as list_command
    list_command.run(argparse.Namespace(json=False))
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("airquality "))
    assert "course-lab" in line
    assert "reference: 30 s" in out and "reference: 330 s" in out


def test_the_runner_writes_a_record(tmp_path, tiny_adding, one_thread):
    from rnnbench.train import run
    m = run(with_task_defaults(tiny_adding), tmp_path, quiet=True)
    rec = RunRecord.read(tmp_path / "metrics.json")
    assert rec.to_dict() == m and rec.record_version == RECORD_VERSION and rec.status == "ok"
    assert (rec.task_family, rec.seq_len, rec.solved_rule) == ("long-dependency", 12, "mse <= 0.01")
    assert rec.cell_title == CELLS.get("lstm").title and rec.config_hash and rec.n_params > 0
