"""Every task with every cell: model, loss, metrics; the training runner end to end; determinism."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from rnnbench import tasks
from rnnbench.models import CELLS
from rnnbench.train import resolve, run, with_task_defaults
from taskhelpers import LAB_SMALL, REPO, SHARED, digest, lab_data, needs_data

SYNTHETIC = {
    "adding": {"seq_len": 8, "n_train": 64, "n_val": 16, "n_test": 16},
    "copy": {"seq_len": 5, "copy_len": 3, "n_train": 64, "n_val": 16, "n_test": 16},
    "temporal_order": {"n_train": 64, "n_val": 16, "n_test": 16},
    "seqdigits": {"n_train": 64},
}
MINE = {**SYNTHETIC, **LAB_SMALL}


@pytest.fixture
def fake_lab(tmp_path, monkeypatch):
    return lab_data(monkeypatch, tmp_path / "data")


@pytest.mark.parametrize("name", list(MINE))
def test_every_cell_trains_one_step(name, fake_lab):
    task = tasks.build(name, MINE[name], seed=0, data_dir=fake_lab)
    batch = task.splits["train"].take(slice(0, 8))
    val = task.splits["val"].take(slice(0, 8))
    for arch in CELLS.names():
        cfg = resolve(with_task_defaults({"task": name, "task_params": MINE[name], "arch": arch, "hidden": 4}))
        torch.manual_seed(0)
        model = task.build_model(cfg)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        loss = task.train_loss(model, batch, 0)
        loss.backward()
        assert torch.isfinite(loss), (name, arch)
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad), (name, arch)
        opt.step()
        m = task.metrics(task.predict(model.eval(), val, 8), val)
        assert task.metric in m and all(isinstance(v, float) for v in m.values()), (name, arch, m)


@pytest.mark.parametrize("name", list(MINE))
def test_runner_end_to_end(name, fake_lab, tmp_path):
    cfg = with_task_defaults({"task": name, "task_params": MINE[name], "arch": "gru", "hidden": 8,
                              "steps": 3, "batch_size": 16, "device": "cpu"})
    m = run(cfg, tmp_path / "out", data_dir=fake_lab, quiet=True)
    assert m["status"] == "ok" and m["metric"] == tasks.TASKS.get(name).metric
    assert isinstance(m["value"], float) and isinstance(m["baseline"], float)
    if name == "textgen":
        assert "## temperature 0.5" in (tmp_path / "out" / "samples.txt").read_text()


def test_lab_defaults_are_the_labs():
    d = {n: tasks.TASKS.get(n).defaults for n in LAB_SMALL}
    assert d["airquality"] == {"hidden": 32, "layers": 1, "epochs": 30, "batch_size": 500,
                               "optimizer": "adam", "lr": 1e-3, "clip": None}
    assert d["electricdevices"] == {"hidden": 64, "layers": 2, "epochs": 30, "batch_size": 1000,
                                    "optimizer": "sgd", "lr": 0.01, "momentum": 0.95, "clip": None}
    assert d["sentiment"] == {"hidden": 64, "layers": 1, "epochs": 50, "batch_size": 100,
                              "optimizer": "sgd", "lr": 0.01, "momentum": 0.95, "clip": None}
    assert d["textgen"] == {"hidden": 64, "layers": 1, "epochs": 100, "batch_size": 2048,
                            "optimizer": "adam", "lr": 1e-3, "clip": None}
    for name in MINE:        # every task documents itself for `rnnbench list`
        desc = tasks.TASKS.get(name).describe()
        assert desc["title"] and desc["citation"] and desc["doc"] and desc["direction"] in ("min", "max")
        assert all(p["help"] for p in desc["params"])


_CHILD = """
import json, sys
from rnnbench import tasks
sys.path[:0] = [{helpers!r}, {helpers!r} + '/..']   # taskhelpers, and the runhelpers it imports
from taskhelpers import digest
jobs = json.loads(sys.argv[1])
print(json.dumps({{k: digest(tasks.build(n, p, seed=s, data_dir=d).splits) for k, (n, p, s, d) in jobs.items()}}))
"""


def test_splits_are_identical_in_another_process():
    jobs = {f"{n}": (n, p, 7, None) for n, p in SYNTHETIC.items()}
    jobs["seqdigits-permuted"] = ("seqdigits", {"permuted": True}, 7, None)
    if SHARED is not None:
        jobs.update({f"{n}-real": (n, {}, 7, str(SHARED))
                     for n in ("airquality", "electricdevices", "sentiment", "textgen")})
    child = _CHILD.format(helpers=str(REPO / "tests" / "tasks"))
    out = subprocess.run([sys.executable, "-c", child, json.dumps(jobs)], cwd=REPO, capture_output=True,
                         text=True, timeout=120, check=True)
    theirs = json.loads(out.stdout)
    for key, (n, p, s, d) in jobs.items():
        assert theirs[key] == digest(tasks.build(n, p, seed=s, data_dir=d).splits), key


@needs_data
def test_cli_trains_a_lab_task_on_the_real_data(tmp_path):
    from runhelpers import run_cli
    r = run_cli("train", "--task", "airquality", "--arch", "lstm", "--steps", "2", "--quiet",
                "--data-dir", SHARED, "--out", tmp_path / "aq")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "aq" / "metrics.json").read_text())
    assert m["hidden"] == 32 and m["params"]["train"]["batch_size"] == 500 and m["baseline"] > 0
