"""sine-gen, the one-to-many task (issue 19), and the cells' model options as a run resolves and
records them: the splits are the wave of their (frequency, phase), the runner trains every kind
of model on it end to end, and the run record says which options a run used."""
from __future__ import annotations

import json
import math
from typing import get_args

import numpy as np
import pytest
import torch

from rnnbench import record, tasks
from rnnbench import gradients as gr
from rnnbench.errors import UsageError
from rnnbench.models.heads import HEAD_OF_KIND, PredictionFeedback
from rnnbench.tasks.base import KINDS, Task
from rnnbench.train import _train_step_loss, resolve, run, with_task_defaults

SMALL = {"seq_len": 12, "n_train": 64, "n_val": 16, "n_test": 16, "n_generate": 2}


def _cfg(task="sine-gen", task_params=SMALL, **kw):
    return resolve(with_task_defaults({"task": task, "task_params": task_params, "device": "cpu", **kw}))


# ------------------------------------------------------------------------------ the task
def test_splits_are_each_wave_from_its_frequency_and_phase():
    first = tasks.build("sine-gen", SMALL, seed=3)
    every = tasks.build("sine-gen", {**SMALL, "feed": "every"}, seed=3)
    p = first.params
    for name in ("train", "val", "test"):
        s, e = first.splits[name], every.splits[name]
        assert s.x.shape == (len(s), 12, 3) and s.y.shape == (len(s), 12, 1)
        f, c, si = s.x[:, 0].double().unbind(1)
        assert bool(((f >= p.f_min) & (f <= p.f_max)).all()) and torch.allclose(c ** 2 + si ** 2, torch.ones_like(c))
        phi = torch.atan2(si, c)
        t = torch.arange(12, dtype=torch.float64) * p.dt
        wave = torch.sin(2 * math.pi * f[:, None] * t + phi[:, None])
        assert torch.allclose(s.y[..., 0].double(), wave, atol=1e-5)
        assert not s.x[:, 1:].any()                                          # fed once: zeros after step 0
        assert torch.equal(e.x, s.x[:, :1].expand_as(e.x)) and torch.equal(e.y, s.y)   # feed every: v at each step
    assert torch.equal(tasks.build("sine-gen", SMALL, seed=3).splits["test"].x, first.splits["test"].x)
    assert not torch.equal(tasks.build("sine-gen", SMALL, seed=4).splits["test"].x, first.splits["test"].x)
    assert not np.intersect1d(first.splits["train"].x[:, 0, 0].numpy(), first.splits["test"].x[:, 0, 0].numpy()).size


def test_baseline_is_the_mean_wave_zero():
    task = tasks.build("sine-gen", {**SMALL, "n_test": 2000}, seed=0)
    test = task.splits["test"]
    assert task.baseline() == task.metrics(torch.zeros_like(test.y), test)["mse"]
    assert abs(task.baseline() - 0.5) < 0.03                                 # E[sin^2] over the phase


def test_bad_parameters_are_one_line():
    for given, needle in (({"feed": "twice"}, "unknown value 'twice' (valid: every, first)"),
                          ({"f_min": 2.0, "f_max": 1.0}, "needs 0 < f_min <= f_max"),
                          ({"seq_len": 0}, "'seq_len' must be positive")):
        with pytest.raises(UsageError) as e:
            tasks.build("sine-gen", given)
        assert needle in str(e.value) and "\n" not in str(e.value)


def test_the_kinds_are_one_list():
    assert tasks.TASKS.get("sine-gen").kind == "one_to_many" and HEAD_OF_KIND["one_to_many"] == "every"
    assert set(KINDS) == set(get_args(record.Kind)) == {"many_to_one", "many_to_many", "one_to_many", "seq2seq"}

    class Odd(Task):
        kind = "one_to_one"
    with pytest.raises(UsageError, match=r"unknown kind 'one_to_one' \(valid: many_to_many, many_to_one, "
                                         r"one_to_many, seq2seq\)$"):
        Odd.check_facts()


# ------------------------------------------------------------------------ the runner
@pytest.mark.parametrize("arch, model_params", [("rnn", {}), ("rnn", {"activation": "sigmoid"}), ("lstm", {}),
                                                ("gru", {}), ("jordan", {}), ("tcn", {}), ("transformer", {})])
def test_runner_end_to_end_and_the_record(arch, model_params, tmp_path):
    cfg = with_task_defaults({"task": "sine-gen", "task_params": SMALL, "arch": arch, "hidden": 8, "steps": 2,
                              "batch_size": 16, "device": "cpu", "model_params": model_params})
    m = run(cfg, tmp_path / "out", quiet=True)
    assert m["status"] == "ok" and m["task_kind"] == "one_to_many" and math.isfinite(m["value"])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["model_params"] == m["params"]["model_params"]
    expected = {("rnn", "activation"): ({"activation": "sigmoid"}, "cell", "Elman RNN (sigmoid)"),
                ("jordan", None): ({"jordan_feedback": "prediction"}, "cell", "Jordan network (prediction fed back)"),
                ("rnn", None): ({}, "fused", "Elman RNN (tanh)")}.get((arch, next(iter(model_params), None)))
    if expected:
        assert (m["params"]["model_params"], m["backend"], m["cell_title"]) == expected
    rows = (tmp_path / "out" / "generation.csv").read_text().splitlines()
    assert rows[0] == "sample,t,frequency,phase,target,generated" and len(rows) == 1 + 2 * 12
    rec = record.RunRecord.read(tmp_path / "out" / "metrics.json")
    (tmp_path / "runs.csv").write_text(record.to_csv([rec]))
    assert list(record.read_runs(tmp_path / "runs.csv")["task_kind"]) == ["one_to_many"]


def test_lstm_learns_to_generate_the_wave(tmp_path):
    tp = {"seq_len": 30, "n_train": 512, "n_val": 64, "n_test": 64}
    cfg = with_task_defaults({"task": "sine-gen", "task_params": tp, "arch": "lstm", "hidden": 32, "steps": 300,
                              "lr": 1e-2, "batch_size": 64, "eval_every": 300, "device": "cpu", "threads": 1})
    m = run(cfg, tmp_path, quiet=True)
    assert m["value"] < 0.1 * m["baseline"], (m["value"], m["baseline"])     # ~0.01 vs ~0.5 measured


def test_truncated_bptt_applies_to_one_to_many():
    cfg = _cfg(arch="gru", backend="cell", hidden=8)
    task = tasks.build("sine-gen", SMALL)
    batch = task.splits["train"].take(slice(0, 8))
    losses, grads = [], []
    for tbptt in (None, 5):
        torch.manual_seed(0)
        model = task.build_model(cfg)
        losses.append(float(_train_step_loss(task, model, batch, 0, cfg.updated({"tbptt": tbptt}))))
        grads.append(model.rnn.weight_hh_l0.grad.clone())
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)        # the same forward pass, in windows
    assert not torch.allclose(grads[0], grads[1])                 # but the gradient is truncated


# ------------------------------------------------------------------ options as a run resolves them
def test_resolve_records_the_options_a_run_uses():
    assert (lambda c: (c.backend, c.model_params))(_cfg(arch="rnn", model_params={"activation": "sigmoid"})) == \
        ("cell", {"activation": "sigmoid"})                                  # auto: sigmoid has no fused kernel
    assert (lambda c: (c.backend, c.model_params))(_cfg(arch="rnn", model_params={"activation": "relu"})) == \
        ("fused", {"activation": "relu"})
    assert _cfg(arch="rnn", model_params={"activation": "tanh"}).model_params == {}   # the default: as every old run
    per_step = {"task": "copy", "task_params": {"seq_len": 5, "copy_len": 3, "n_train": 32}}
    assert _cfg(arch="jordan", **per_step).model_params == {"jordan_feedback": "prediction"}    # a kind's default
    assert _cfg(arch="jordan", model_params={"jordan_feedback": "layer"}, **per_step).model_params == \
        {"jordan_feedback": "layer"}
    adding = {"task": "adding", "task_params": {"seq_len": 6, "n_train": 32}}
    assert _cfg(arch="jordan", **adding).model_params == {}
    assert _cfg(arch="jordan", model_params={"jordan_feedback": "prediction"}, **adding).model_params == \
        {"jordan_feedback": "prediction"}


@pytest.mark.parametrize("given, message", [
    ({"arch": "rnn", "backend": "fused", "model_params": {"activation": "sigmoid"}},
     "cell 'rnn' with activation=sigmoid has no fused backend (backends for rnn[activation=sigmoid]: cell)"),
    ({"arch": "rnn", "model_params": {"activation": "gelu"}},
     "unknown model_params activation 'gelu' for cell 'rnn' (valid: relu, sigmoid, tanh)"),
    ({"arch": "lstm", "model_params": {"activation": "relu"}},
     "model_params activation is an option of cell 'rnn', not of 'lstm' (lstm's options: none)"),
    ({"arch": "jordan", "model_params": {"jordan_feedback": "state"}},
     "unknown model_params jordan_feedback 'state' for cell 'jordan' (valid: layer, prediction)"),
    ({"arch": "jordan", "bidirectional": True},
     "cell 'jordan' with jordan_feedback=prediction (the head inside the loop) runs forward only: "
     "bidirectional must be false"),
    ({"arch": "jordan", "grad_diag_every": 10},
     "grad_diag_every follows a recurrent stack's states; cell 'jordan' with jordan_feedback=prediction has the "
     "head inside its loop: set jordan_feedback layer, or grad_diag_every off"),
    ({"arch": "jordan", "model_params": {"recurrent_radius": 1.5}},
     "model_params recurrent_radius does not go with cell 'jordan' with jordan_feedback=prediction: its W_hh "
     "[H, output] reads the prediction: no spectral radius"),
])
def test_resolve_refuses_in_one_line(given, message):
    with pytest.raises(UsageError) as e:
        _cfg(**given)
    assert str(e.value) == message


@pytest.mark.parametrize("task, task_params", [
    ("sine", {"seq_len": 8, "n_train": 32, "n_val": 8, "n_test": 8}),
    ("adding", {"seq_len": 8, "n_train": 32, "n_val": 8, "n_test": 8}),
])
@pytest.mark.parametrize("feedback", ["layer", "prediction"])
def test_both_jordan_feedbacks_train_one_step(task, task_params, feedback):
    cfg = _cfg(task, task_params, arch="jordan", hidden=6, model_params={"jordan_feedback": feedback})
    t = tasks.build(task, task_params)
    torch.manual_seed(0)
    model = t.build_model(cfg)
    assert isinstance(model.rnn, PredictionFeedback) == (feedback == "prediction")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = t.train_loss(model, t.splits["train"].take(slice(0, 8)), 0)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    opt.step()
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters())
    assert math.isfinite(t.metrics(t.predict(model.eval(), t.splits["val"], 8), t.splits["val"])[t.metric])


def test_gradient_diagnostics_take_one_to_many_and_skip_prediction_feedback():
    assert gr.unsupported("sine-gen", "rnn") is None
    assert gr.unsupported("sine-gen", "jordan", {"jordan_feedback": "layer"}) is None
    assert gr.unsupported("sine-gen", "jordan") == \
        "jordan with jordan_feedback=prediction has the head inside its loop, no recurrent stack's states to follow"
    assert gr.unsupported("adding", "jordan") is None                       # many_to_one: layer by default
    cfg = _cfg(arch="rnn", backend="cell", hidden=6)
    task = tasks.build("sine-gen", SMALL)
    grads, _ = gr.diagnose(cfg, task, task.build_model(cfg), samples=4, jacobian_samples=0)
    assert len(grads) and np.isfinite(grads.select_dtypes("number").to_numpy(dtype=float)).all()
