"""The training runner: outputs, determinism, resume after SIGKILL, divergence."""
from __future__ import annotations

import csv
import subprocess
import sys

import pytest
import yaml

from rnnbench.config import RunConfig
from rnnbench.train import run, with_task_defaults
from runhelpers import kill_after_first_checkpoint, read_json

TIMING = {"train_seconds", "seconds_per_epoch", "seconds_to_solve", "threads", "hostname"}

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
    # 32 steps do not solve adding: the time to solve is censored, and nothing stopped the run
    assert (m["steps_to_solve"], m["seconds_to_solve"], m["solve_censored"], m["stopped_early"]) == \
        (None, None, True, False)
    assert {r["solved"] for r in rows} == {"False"}


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
    kill_after_first_checkpoint(cmd, killed)
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


# adding at T = 4: solved (mse <= 0.01) in a few hundred steps, about a second
EASY = {"task": "adding", "task_params": {"seq_len": 4, "n_train": 512, "n_val": 128, "n_test": 128},
        "arch": "lstm", "hidden": 16, "steps": 600, "batch_size": 32, "lr": 0.01, "eval_every": 20, "device": "cpu"}


def test_time_to_solve_on_a_hand_made_curve():
    from rnnbench import tasks
    from rnnbench.train import time_to_solve

    adding = tasks.build("adding", {"seq_len": 4}, seed=0)      # solved: mse <= 0.01 (no data made)
    vals = [0.17, 0.05, 0.009, 0.02, 0.005]
    curve = [{"step": 100 * (k + 1), "seconds": 1.5 * (k + 1), "val_metric": v, "solved": adding.solved(v, {"mse": v})}
             for k, v in enumerate(vals)]
    assert time_to_solve(curve) == (300, 4.5)                  # the first, not the best or the last
    assert time_to_solve(curve[:2]) == (None, None)            # never reached: censored
    assert time_to_solve([{k: str(v) for k, v in r.items()} for r in curve]) == (300, 4.5)   # as curve.csv reads
    copy = tasks.build("copy", {"seq_len": 5}, seed=0)          # the rule is on recall accuracy, not the ce
    assert copy.solved(0.3, {"ce": 0.3, "recall_accuracy": 0.995}) is True
    assert copy.solved(0.01, {"ce": 0.01, "recall_accuracy": 0.9}) is False


def test_stop_when_solved_ends_at_the_first_solved_evaluation(tmp_path):
    full = run(with_task_defaults(EASY), tmp_path / "full", quiet=True)
    stop = run(with_task_defaults({**EASY, "stop_when_solved": True}), tmp_path / "stop", quiet=True)
    assert full["steps"] == 600 and full["stopped_early"] is False and full["solve_censored"] is False
    assert stop["stopped_early"] is True and stop["solved"] is True and stop["params"]["train"]["stop_when_solved"]
    assert stop["steps"] == stop["steps_to_solve"] == full["steps_to_solve"] < 600   # the same run up to there
    rows = list(csv.DictReader(open(tmp_path / "stop" / "curve.csv")))
    assert [r["solved"] for r in rows] == ["False"] * (len(rows) - 1) + ["True"]
    assert int(rows[-1]["step"]) == stop["steps"] and float(rows[-1]["seconds"]) == stop["seconds_to_solve"]


def test_a_run_stopped_when_solved_resumes_to_the_same_record(tmp_path, monkeypatch):
    """Interrupted right after the checkpoint of its solved evaluation, a resumed run trains no
    further: the record is the uninterrupted one's (but for the clock)."""
    import rnnbench.train as train_mod
    cfg = {**EASY, "stop_when_solved": True, "checkpoint_every": 20}
    whole = run(with_task_defaults(cfg), tmp_path / "whole", quiet=True)
    real_save = train_mod._save

    def save_then_die(out, path, chash, model, optimizer, state):
        real_save(out, path, chash, model, optimizer, state)
        if state.stopped_early and state.status == "running":
            raise KeyboardInterrupt
    monkeypatch.setattr(train_mod, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(with_task_defaults(cfg), tmp_path / "cut", quiet=True)
    monkeypatch.setattr(train_mod, "_save", real_save)
    assert _strip(run(with_task_defaults(cfg), tmp_path / "cut", quiet=True)) == _strip(whole)


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
