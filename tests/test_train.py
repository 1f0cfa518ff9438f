"""The training runner: outputs, determinism, resume after SIGKILL, divergence."""
from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time

import pytest
import yaml

from rnnbench.config import RunConfig
from rnnbench.train import run, with_task_defaults
from runhelpers import read_json

TIMING = {"train_seconds", "seconds_per_epoch", "threads", "hostname"}

SCHEMA = {
    "task": str, "arch": str, "backend": str, "bidirectional": bool, "layers": int, "hidden": int,
    "seed": int, "params": dict, "metric": str, "direction": str, "value": (float, type(None)),
    "metrics": dict, "baseline": float, "solved": (bool, type(None)), "best_val": (float, type(None)),
    "epochs": (int, float), "steps": int, "train_seconds": float, "status": str, "n_params": int,
    "device": str, "torch_version": str, "rnnbench_version": str, "git_sha": (str, type(None)),
    "config_hash": str,
}


def _strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in TIMING}


def test_outputs_and_metrics_schema(tmp_path, tiny_adding):
    m = run(with_task_defaults(tiny_adding), tmp_path, quiet=True)
    for name in ("config.json", "curve.csv", "steps.csv", "metrics.json", "checkpoint.pt", "run.log"):
        assert (tmp_path / name).exists(), name
    on_disk = read_json(tmp_path / "metrics.json")
    assert on_disk == m
    for key, typ in SCHEMA.items():
        assert isinstance(m[key], typ), (key, m[key])
    assert m["status"] == "ok" and m["metric"] == "mse" and m["direction"] == "min"
    assert m["params"]["task_params"]["seq_len"] == 12
    assert m["steps"] == 2 * 16 and m["epochs"] == 2
    assert m["backend"] == "fused"          # auto resolved
    cfg = read_json(tmp_path / "config.json")
    assert cfg["config_hash"] == m["config_hash"]
    rows = list(csv.DictReader(open(tmp_path / "curve.csv")))
    assert [int(r["step"]) for r in rows] == [16, 32]
    steps = list(csv.DictReader(open(tmp_path / "steps.csv")))
    assert len(steps) == 32 and all(float(r["grad_norm"]) > 0 for r in steps)
    # the baseline is the trivial predictor's MSE on the same test split (~1/6)
    assert 0.1 < m["baseline"] < 0.25


def test_same_config_same_metrics_bit_identical(tmp_path, tiny_adding):
    a = run(with_task_defaults(tiny_adding), tmp_path / "a", quiet=True)
    b = run(with_task_defaults(tiny_adding), tmp_path / "b", quiet=True)
    assert _strip(a) == _strip(b)
    c = run(with_task_defaults({**tiny_adding, "seed": 1}), tmp_path / "c", quiet=True)
    assert c["value"] != a["value"]


def test_finished_run_not_redone_and_other_config_refused(tmp_path, tiny_adding):
    from rnnbench.errors import UsageError

    m = run(with_task_defaults(tiny_adding), tmp_path, quiet=True)
    mtime = (tmp_path / "metrics.json").stat().st_mtime_ns
    assert run(with_task_defaults(tiny_adding), tmp_path, quiet=True) == m
    assert (tmp_path / "metrics.json").stat().st_mtime_ns == mtime
    with pytest.raises(UsageError, match="another config"):
        run(with_task_defaults({**tiny_adding, "lr": 0.01}), tmp_path, quiet=True)


def test_resume_after_sigkill_matches_uninterrupted(tmp_path, tiny_adding):
    cfg = {**tiny_adding, "steps": 3000, "checkpoint_every": 20, "eval_every": 500,
           "task_params": {**tiny_adding["task_params"], "n_train": 2048}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "rnnbench", "train", "--config", str(tmp_path / "cfg.yaml"), "--quiet"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)])
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (killed / "checkpoint.pt").exists()
    assert not (killed / "metrics.json").exists(), "run finished before the kill: make it longer"
    assert subprocess.run(cmd + ["--out", str(killed)]).returncode == 0
    assert "resumed at step" in (killed / "run.log").read_text()
    whole = tmp_path / "whole"
    assert subprocess.run(cmd + ["--out", str(whole)]).returncode == 0
    a, b = read_json(killed / "metrics.json"), read_json(whole / "metrics.json")
    assert _strip(a) == _strip(b)
    assert (killed / "curve.csv").read_text().splitlines()[1:] != []
    for name in ("steps.csv",):
        ka = [r[:2] for r in csv.reader(open(killed / name))]
        kb = [r[:2] for r in csv.reader(open(whole / name))]
        assert ka == kb


def test_divergence_is_recorded_not_crashed(tmp_path, tiny_adding):
    cfg = {**tiny_adding, "arch": "irnn", "optimizer": "sgd", "lr": 1e12, "clip": None, "momentum": 0.0}
    m = run(with_task_defaults(cfg), tmp_path, quiet=True)
    assert m["status"] == "diverged"
    assert isinstance(m["diverged_step"], int) and m["diverged_step"] >= 0
    assert m["value"] is None and m["solved"] is None
    assert (tmp_path / "metrics.json").exists()


def test_clipping_bounds_the_update():
    import torch
    from rnnbench.train import clip_grad_norm

    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])   # norm 5
    assert clip_grad_norm([p], 1.0) == pytest.approx(5.0)
    assert torch.linalg.vector_norm(p.grad) == pytest.approx(1.0, rel=1e-5)
    p.grad = torch.tensor([0.3, 0.4, 0.0, 0.0])
    clip_grad_norm([p], 1.0)
    assert torch.allclose(p.grad, torch.tensor([0.3, 0.4, 0.0, 0.0]))


def test_truncated_bptt_runs_on_per_step_task(tmp_path):
    cfg = {"task": "sine", "task_params": {"seq_len": 40, "n_train": 128, "n_val": 32, "n_test": 32,
                                           "generate_steps": 10, "n_generate": 2},
           "arch": "gru", "hidden": 8, "epochs": 1, "tbptt": 10, "device": "cpu"}
    m = run(with_task_defaults(cfg), tmp_path, quiet=True)
    assert m["status"] == "ok" and m["params"]["train"]["tbptt"] == 10
    gen = list(csv.DictReader(open(tmp_path / "generation.csv")))
    assert len(gen) == 2 * 50 and sum(1 for r in gen if r["generated"]) == 2 * 10


def test_task_defaults_are_below_config():
    cfg = with_task_defaults({"task": "sine", "hidden": 7})
    assert cfg.hidden == 7 and cfg.epochs == 10
    assert with_task_defaults({"task": "sine"}).hidden == 32
    assert RunConfig().hidden == 128
