"""Seed-parallel training (rnnbench/group.py): a group of seeds keeps what each solo run would
have, per seed; reruns are bit-identical; a seed's result does not depend on its group."""
from __future__ import annotations

import csv
import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from rnnbench import group as G
from rnnbench.config import resolve, with_task_defaults
from rnnbench.errors import UsageError
from rnnbench.train import run
from runhelpers import read_json, run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = {"task": "adding", "task_params": {"seq_len": 12, "n_train": 256, "n_val": 64, "n_test": 64},
         "arch": "lstm", "backend": "cell", "hidden": 16, "steps": 24, "batch_size": 32, "eval_every": 8,
         "device": "cpu"}
# adding at T = 4: solved (mse <= 0.01) within a few hundred steps, at a different step per seed
EASY = {**SMALL, "task_params": {"seq_len": 4, "n_train": 512, "n_val": 128, "n_test": 128},
        "steps": 600, "lr": 0.01, "eval_every": 20}
VOLATILE = ("train_seconds", "seconds_per_epoch", "seconds_to_solve", "hostname", "threads", "group_seeds")


def steps_rows(path):
    return [r for r in csv.DictReader(open(path / "steps.csv"))]


def curve_rows(path):
    """curve.csv's rows without the wall-clock column."""
    return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(open(path / "curve.csv"))]


def strip(m):
    return {k: v for k, v in m.items() if k not in VOLATILE}


def close(a: float, b: float, rel: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-7)


def group(cfg, tmp_path, seeds, name="g"):
    return G.run_group(with_task_defaults({**cfg, "seed": seeds[0]}), [tmp_path / f"{name}{s}" for s in seeds],
                       seeds=seeds, quiet=True)


@pytest.mark.parametrize("arch,backend", [("lstm", "cell"), ("lstm", "fused"), ("gru", "cell"), ("rnn", "fused"),
                                          ("irnn", "cell"), ("gru-cho", "cell"), ("mingru", "cell"),
                                          ("minlstm", "cell")])
def test_each_seed_of_a_group_matches_its_solo_run(tmp_path, arch, backend):
    cfg = {**SMALL, "arch": arch, "backend": backend}
    grouped = group(cfg, tmp_path, [0, 1, 2])
    for s, g in zip([0, 1, 2], grouped):
        solo = run(with_task_defaults({**cfg, "seed": s}), tmp_path / f"solo{s}", quiet=True)
        assert g["group_seeds"] == [0, 1, 2] and solo["group_seeds"] is None
        assert g["seed"] == s and g["backend"] == backend and g["status"] == "ok" and g["steps"] == 24
        a, b = steps_rows(tmp_path / f"g{s}"), steps_rows(tmp_path / f"solo{s}")
        # the first step: same initialisation, same batch, same loss and gradient norm
        assert close(float(a[0]["loss"]), float(b[0]["loss"])) and close(float(a[0]["grad_norm"]), float(b[0]["grad_norm"]))
        # the whole run: within float32 rounding carried over 24 steps
        assert all(close(float(x["loss"]), float(y["loss"]), 1e-4) for x, y in zip(a, b))
        assert close(g["value"], solo["value"], 1e-4)
        assert (tmp_path / f"g{s}" / "checkpoint.pt").exists() and (tmp_path / f"g{s}" / "curve.csv").exists()
    log = (tmp_path / "g0" / "run.log").read_text()
    assert "group of seeds 0,1,2" in log and "trains alone" not in log


FIRST_STEP = {"adding": {"seq_len": 12, "n_train": 256, "n_val": 64, "n_test": 64},       # head last
              "copy": {"seq_len": 6, "n_train": 256, "n_val": 64, "n_test": 64},         # head every
              "sine-gen": {}}                                                            # one to many


@pytest.mark.parametrize("task", list(FIRST_STEP))
@pytest.mark.parametrize("arch", ["rnn", "irnn", "lstm", "gru", "gru-cho"])
def test_first_step_loss_and_gradients_equal_the_solo_run(arch, task):
    """Per seed, the loss and the gradient of every parameter at step 1, from the group's vmapped
    loss (the cell backend's grouped scans), equal the solo model's (its own backend: fused where
    the cell has one) within 1e-5, relative to the loss and to each gradient's largest entry."""
    from rnnbench import train as T
    from rnnbench.tasks.base import Split

    cfg = resolve(with_task_defaults({"task": task, "arch": arch, "hidden": 16, "batch_size": 32,
                                      "task_params": FIRST_STEP[task]}))
    assert G.why_solo(cfg) is None
    members = []
    for s in (0, 1, 2):
        c = cfg.updated({"seed": s})
        task_, model = T.prepare(c)
        members.append((c, task_, model))
    base = members[0][1].build_model(cfg.updated({"backend": "cell"}))
    stack = {k: torch.stack([dict(m.named_parameters())[k].detach() for _, _, m in members]).requires_grad_()
             for k, _ in members[0][2].named_parameters()}
    n = len(members[0][1].splits["train"])
    batches = [t.splits["train"].take(T.epoch_order(c.seed, 0, n)[:32]) for c, t, _ in members]
    loss = G._vmapped_loss(base, members[0][1])(stack, {}, torch.stack([b.x for b in batches]),
                                                torch.stack([b.y for b in batches]), 0)
    loss.sum().backward()
    for i, ((c, task_, model), b) in enumerate(zip(members, batches)):
        solo = task_.train_loss(model, Split(b.x, b.y), 0)
        solo.backward()
        assert close(float(loss[i].detach()), float(solo.detach()))
        for k, p in model.named_parameters():
            scale = float(p.grad.abs().max())
            assert float((stack[k].grad[i] - p.grad).abs().max()) <= 1e-5 * scale, (k, i)


def test_reruns_are_bit_identical_and_a_seed_does_not_depend_on_its_group(tmp_path):
    a = group(SMALL, tmp_path, [0, 1, 2], "a")
    b = group(SMALL, tmp_path, [0, 1, 2], "b")
    c = group(SMALL, tmp_path, [1, 3], "c")
    for s in (0, 1, 2):
        assert (tmp_path / f"a{s}" / "steps.csv").read_bytes() == (tmp_path / f"b{s}" / "steps.csv").read_bytes()
    assert [strip(m) for m in a] == [strip(m) for m in b]
    # README: "a seed's result does not depend on which other seeds share its group"
    assert (tmp_path / "a1" / "steps.csv").read_bytes() == (tmp_path / "c1" / "steps.csv").read_bytes()
    assert strip(a[1]) == strip(c[0])


def test_a_seed_left_alone_keeps_its_group_numbers(tmp_path):
    """A group down to one seed (the others finished before a rerun, or stopped) computes as a
    group: its run is bit-identical to the seed's in the whole group. (PyTorch's vmapped kernels
    round differently at S = 1: the seed runs beside a twin of itself.)"""
    import shutil
    whole = group(SMALL, tmp_path, [0, 1], "w")
    shutil.copytree(tmp_path / "w0", tmp_path / "p0")          # seed 0 finished: seed 1 trains alone
    part = group(SMALL, tmp_path, [0, 1], "p")
    assert (tmp_path / "p1" / "steps.csv").read_bytes() == (tmp_path / "w1" / "steps.csv").read_bytes()
    assert strip(part[1]) == strip(whole[1]) and part[1]["group_seeds"] == [0, 1]   # the job's seeds
    log = (tmp_path / "p1" / "run.log").read_text()
    assert "trains alone" not in log and "group of seeds 0,1 (1 left to train)" in log


class Killed(BaseException):
    """A kill, in-process: raised from inside a write, caught by nothing in rnnbench."""


def kill_at_move(monkeypatch, n: int) -> None:
    """Kill the group at its n-th move of a new checkpoint into place (os.replace of a .next)."""
    import os
    real, calls = os.replace, []

    def replace(src, dst):
        if str(src).endswith(G.NEXT):
            calls.append(src)
            if len(calls) == n:
                raise Killed
        return real(src, dst)
    monkeypatch.setattr(G.os, "replace", replace)


@pytest.mark.parametrize("at", ["second seed's new checkpoint", "second seed's move into place"])
def test_a_kill_inside_a_checkpoint_commit_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, at):
    """A group commits its seeds' checkpoints as a set: killed after one seed's new checkpoint is
    written (or moved into place) and before the other's, the rerun resumes the seeds together
    from the same step, and ends as the uninterrupted group does."""
    cfg = {**SMALL, "steps": 24, "checkpoint_every": 8, "eval_every": 12}
    whole = group(cfg, tmp_path, [0, 1], "w")
    calls = []
    if at == "second seed's new checkpoint":
        real = G._Group._save

        def save(self, m, stack, i, path="checkpoint.pt"):
            if path == G.NEXT:
                calls.append(m.seed)
                if len(calls) == 4:          # the second commit (step 16), seed 1
                    raise Killed
            return real(self, m, stack, i, path)
        monkeypatch.setattr(G._Group, "_save", save)
    else:
        kill_at_move(monkeypatch, 4)         # the second commit (step 16), seed 1
    with pytest.raises(Killed):
        group(cfg, tmp_path, [0, 1], "k")
    monkeypatch.undo()
    steps = [torch.load(tmp_path / f"k{s}" / "checkpoint.pt", weights_only=True)["state"]["step"] for s in (0, 1)]
    assert steps == ([8, 8] if at == "second seed's new checkpoint" else [16, 8])
    assert (tmp_path / "k0" / G.NEXT).exists() == (at == "second seed's new checkpoint")
    resumed = group(cfg, tmp_path, [0, 1], "k")
    for s in (0, 1):
        assert not (tmp_path / f"k{s}" / G.NEXT).exists()
        assert "trains alone" not in (tmp_path / f"k{s}" / "run.log").read_text()
        assert (tmp_path / f"k{s}" / "steps.csv").read_bytes() == (tmp_path / f"w{s}" / "steps.csv").read_bytes()
        assert curve_rows(tmp_path / f"k{s}") == curve_rows(tmp_path / f"w{s}")
    assert [strip(m) for m in resumed] == [strip(m) for m in whole]


def test_seeds_whose_checkpoints_are_at_different_steps_train_one_by_one(tmp_path, monkeypatch):
    """Checkpoints at different steps with no commit to finish (seeds with histories of their
    own): the seeds cannot resume together, and each trains on alone from its checkpoint."""
    cfg = {**SMALL, "steps": 24, "checkpoint_every": 8, "eval_every": 12}
    kill_at_move(monkeypatch, 4)
    with pytest.raises(Killed):
        group(cfg, tmp_path, [0, 1], "k")
    monkeypatch.undo()
    (tmp_path / "k1" / G.NEXT).unlink()          # seed 1 at step 8, seed 0 at 16, nothing to commit
    done = group(cfg, tmp_path, [0, 1], "k")
    assert [m["steps"] for m in done] == [24, 24] and all(m["status"] == "ok" for m in done)
    for s in (0, 1):
        assert "this seed trains alone (their checkpoints are at different steps ([8, 16]))" in \
            (tmp_path / f"k{s}" / "run.log").read_text()


def test_a_seed_ended_before_its_metrics_were_written_is_finished_not_trained(tmp_path, monkeypatch):
    """Killed between a stopped seed's last checkpoint and its metrics.json, the rerun finishes
    that seed from its checkpoint (no step trained) and resumes the others in lockstep."""
    from rnnbench import train as T
    cfg = {**EASY, "stop_when_solved": True}
    whole = group(cfg, tmp_path, [0, 1, 2], "w")
    first = min(m["steps"] for m in whole)
    real = T._finish

    def finish(*a, **k):
        raise Killed
    monkeypatch.setattr(T, "_finish", finish)
    with pytest.raises(Killed):
        group(cfg, tmp_path, [0, 1, 2], "k")
    monkeypatch.setattr(T, "_finish", real)
    ended = [s for s in (0, 1, 2) if whole[s]["steps"] == first]
    for s in ended:
        ck = torch.load(tmp_path / f"k{s}" / "checkpoint.pt", weights_only=True)
        assert ck["state"]["stopped_early"] and ck["state"]["step"] == first
        assert not (tmp_path / f"k{s}" / "metrics.json").exists()
    resumed = group(cfg, tmp_path, [0, 1, 2], "k")
    assert [strip(m) for m in resumed] == [strip(m) for m in whole]
    for s in (0, 1, 2):
        assert (tmp_path / f"k{s}" / "steps.csv").read_bytes() == (tmp_path / f"w{s}" / "steps.csv").read_bytes()


def test_stop_when_solved_and_divergence_are_per_seed(tmp_path, monkeypatch):
    """Seeds solve at different steps: each stops at its own first solved evaluation, as its solo
    run does, and the others go on. A seed whose loss is not finite is finished as diverged at
    that step; the others go on unchanged."""
    cfg = {**EASY, "stop_when_solved": True}
    grouped = group(cfg, tmp_path, [0, 1, 2])
    steps = [m["steps"] for m in grouped]
    assert all(m["stopped_early"] and m["solved"] for m in grouped)
    assert len(set(steps)) > 1, f"the seeds solved at the same step {steps}: pick seeds that differ"
    for s, g in zip([0, 1, 2], grouped):
        solo = run(with_task_defaults({**cfg, "seed": s}), tmp_path / f"solo{s}", quiet=True)
        assert g["steps"] == g["steps_to_solve"] == solo["steps"]

    real = G._vmapped_loss

    def nan_for_seed_1_at_step_5(base, task):
        loss = real(base, task)

        def f(params, buffers, x, y, step):
            out = loss(params, buffers, x, y, step)
            return out * torch.tensor([1.0, math.nan, 1.0]) if step == 5 else out
        return f
    monkeypatch.setattr(G, "_vmapped_loss", nan_for_seed_1_at_step_5)
    d = group(SMALL, tmp_path, [0, 1, 2], "d")
    assert d[1]["status"] == "diverged" and d[1]["diverged_step"] == 5 and d[1]["steps"] == 5 and d[1]["value"] is None
    assert [m["status"] for m in (d[0], d[2])] == ["ok", "ok"]
    monkeypatch.setattr(G, "_vmapped_loss", real)
    ok = group(SMALL, tmp_path, [0, 2], "e")
    assert strip(d[0]) == strip(ok[0]) and strip(d[2]) == strip(ok[1])
    # every seed diverging, at different steps: the exploding IRNN of the default run's clipping
    # claim (SGD at a huge rate, no clipping), each as its solo run
    cfg = {**SMALL, "arch": "irnn", "optimizer": "sgd", "lr": 1e12, "clip": None, "momentum": 0.0}
    boom = group(cfg, tmp_path, [0, 1, 2], "boom")
    for s, b in zip([0, 1, 2], boom):
        solo = run(with_task_defaults({**cfg, "seed": s}), tmp_path / f"boomsolo{s}", quiet=True)
        assert b["status"] == solo["status"] == "diverged" and b["diverged_step"] == solo["diverged_step"]


def test_group_resumes_after_sigkill_to_the_uninterrupted_result(tmp_path):
    cfg = {**SMALL, "steps": 600, "checkpoint_every": 20, "eval_every": 300}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump({**cfg, "seed": [0, 1]}))
    cmd = [sys.executable, "-m", "rnnbench", "train", "--config", str(tmp_path / "cfg.yaml"), "--quiet",
           "--threads", "1"]
    killed = tmp_path / "killed"
    # the group writes seed0/ and seed1/ under --out: start it, kill it after seed0's first checkpoint
    proc = subprocess.Popen(cmd + ["--out", str(killed)])
    deadline = time.time() + 120
    while not (killed / "seed0" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "seed0" / "metrics.json").exists(), "the group finished before the kill: make it longer"
    assert subprocess.run(cmd + ["--out", str(killed)]).returncode == 0
    assert "resumed at step" in (killed / "seed1" / "run.log").read_text()
    whole = tmp_path / "whole"
    assert subprocess.run(cmd + ["--out", str(whole)]).returncode == 0
    for s in ("seed0", "seed1"):
        assert strip(read_json(killed / s / "metrics.json")) == strip(read_json(whole / s / "metrics.json"))
        assert (killed / s / "steps.csv").read_text() == (whole / s / "steps.csv").read_text()


def test_configs_that_cannot_train_in_lockstep_train_one_by_one(tmp_path):
    assert G.why_solo(with_task_defaults(SMALL)) is None
    reasons = {
        "seq2seq": {"task": "addition", "arch": "gru"},
        "dropout": {**SMALL, "layers": 2, "dropout": 0.1},
        "tbptt": {**SMALL, "task": "copy", "task_params": {"seq_len": 10}, "tbptt": 5},
        "diag": {**SMALL, "grad_diag_every": 5},
        "teacher forcing": {"task": "reverse", "arch": "gru", "model_params": {"teacher_forcing": 0.5}},
    }
    for what, c in reasons.items():
        assert G.why_solo(with_task_defaults(c)) is not None, what
    m = group({**SMALL, "layers": 2, "dropout": 0.1, "steps": 4, "eval_every": 4}, tmp_path, [0, 1])
    assert all(r["group_seeds"] is None for r in m)
    assert "trains alone (dropout between layers draws random masks)" in (tmp_path / "g0" / "run.log").read_text()


def test_parse_seeds_and_bad_input():
    assert G.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert G.parse_seeds("3,1,1") == [1, 3]
    assert G.parse_seeds("2") == [2] and G.parse_seeds([5, 4]) == [4, 5]
    for bad in ("4-1", "a", "-1", "1-", [1, -2], [], [True]):
        with pytest.raises(UsageError):
            G.parse_seeds(bad)


def test_cli_seeds_and_train_group(tmp_path):
    r = run_cli("train", "--task", "adding", "--arch", "rnn", "--hidden", "8", "--steps", "6", "--eval-every", "3",
                "--seq-len", "6", "--set", "n_train=64", "--set", "n_val=32", "--set", "n_test=32",
                "--seeds", "0-1", "--out", tmp_path / "cli", "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert [read_json(tmp_path / "cli" / f"seed{s}" / "metrics.json")["group_seeds"] for s in (0, 1)] == [[0, 1]] * 2
    for args, msg in ((("--seeds", "2-1"), "a range A-B needs 0 <= A <= B"),
                      (("--seeds", "0-1", "--seed", "3"), "give --seed or --seeds, not both")):
        r = run_cli("train", "--task", "adding", "--out", tmp_path / "bad", *args)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()
    # train-group: the dirs' cell.json may differ only in the seed
    for s, h in ((0, 8), (1, 16)):
        (tmp_path / f"d{s}").mkdir()
        (tmp_path / f"d{s}" / "cell.json").write_text(json.dumps({"task": "adding", "arch": "rnn", "seed": s, "hidden": h}))
    r = run_cli("train-group", tmp_path / "d0", tmp_path / "d1")
    assert r.returncode == 2 and "differs from" in r.stderr and "'hidden'" in r.stderr
    assert not (tmp_path / "d0" / "metrics.json").exists()
    r = run_cli("train-group", tmp_path / "nothing")
    assert r.returncode == 2 and "cell.json not found" in r.stderr


def test_train_group_over_runs_finished_before_the_newer_record_fields(tmp_path):
    """A results folder from an older rnnbench: finished runs whose metrics.json lacks the fields
    added since (group_seeds, val_mean) are read as records, the added fields at their defaults."""
    cell = {"task": "adding", "arch": "rnn", "hidden": 8, "steps": 6, "eval_every": 3, "threads": 1,
            "task_params": {"seq_len": 6, "n_train": 64, "n_val": 32, "n_test": 32}}
    dirs = [tmp_path / f"s{s}" for s in (0, 1)]
    for s, d in enumerate(dirs):
        d.mkdir()
        (d / "cell.json").write_text(json.dumps({**cell, "seed": s}))
    assert run_cli("train-group", *dirs, "--quiet").returncode == 0
    for d in dirs:
        m = read_json(d / "metrics.json")
        assert m["val_mean"] is not None
        (d / "metrics.json").write_text(json.dumps({k: v for k, v in m.items() if k not in ("group_seeds", "val_mean")}))
    r = run_cli("train-group", *dirs, "--summary", tmp_path / "summary.json")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("already finished") == 2
    assert [row["group_seeds"] for row in read_json(tmp_path / "summary.json")["runs"]] == [None, None]


def test_grid_groups_cells_that_differ_only_in_the_seed():
    from rnnbench import grid

    config = {"grid": {"arch": ["lstm", "gru"], "hidden": 8, "seed": [0, 1, 2]},
              "tasks": {"adding": {"task_params": {"seq_len": 10}}, "addition": {"arch": "gru"}}}
    cells = grid.seed_groups(grid.expand(config))
    adding = [c for c in cells if c.task == "adding"]
    assert len({c.group for c in adding}) == 2 and all(c.group for c in adding)
    lstm = [c for c in adding if c.arch == "lstm"]
    assert lstm[0].group.startswith("adding/lstm/") and "_s0-2-" in lstm[0].group
    assert all(c.group == "" for c in cells if c.task == "addition")       # seq2seq: variable lengths
    assert grid.pipeline_cells({**config, "group_seeds": False}) == grid.expand(config)
    one_more = grid.seed_groups(grid.expand({**config, "grid": {**config["grid"], "seed": [0, 1, 2, 3]}}))
    assert {c.id for c in one_more} >= {c.id for c in cells}               # members keep their ids
    assert {c.group for c in one_more if c.arch == "lstm"} != {c.group for c in lstm}


def test_stress_script_kills_and_compares(tmp_path, capsys):
    """scripts/stress_group_resume.py: kills a group at random times, reruns it to the end, and
    finds it identical to the uninterrupted run; its comparison sees a changed steps.csv."""
    from runhelpers import load_script
    stress = load_script("stress_group_resume")
    assert stress.main(["--arch", "rnn", "--runs", "1", "--steps", "120", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rnn run 0: " in out and "1 runs" in out and "0 differing" in out
    run_dir = tmp_path / "rnn-0"
    assert stress.same(run_dir / "whole", run_dir / "killed")
    steps = run_dir / "killed" / "seed1" / "steps.csv"
    steps.write_text(steps.read_text().replace("\n2,", "\n2,9", 1))
    assert not stress.same(run_dir / "whole", run_dir / "killed")


def test_final_metrics_grouped_equal_solo_within_the_seed_spread(tmp_path):
    """The issue's "final metrics within the seed-to-seed spread", measured by
    scripts/measure_group_vs_solo.py: lstm and gru seeds trained 200 steps in a group end where
    their solo runs do, far inside the spread between seeds (README: the Elman rnn trained
    longer does not, per seed: its rounding differences grow)."""
    from runhelpers import load_script
    measure = load_script("measure_group_vs_solo")
    rows = [measure.measure(arch, 200, [0, 1, 2, 3], tmp_path) for arch in ("lstm", "gru")]
    for r in rows:
        assert r["seed_sd"] > 0 and r["solo_mean"] < r["baseline"], r        # the seeds differ, and learned
        assert r["first_steps"] < 1e-5 and r["pair_over_seeds"] < 0.01, r
        assert abs(r["group_mean"] - r["solo_mean"]) < 0.01 * r["seed_sd"], r
    text = measure.table(rows)
    assert text.count("\n") == 3 and "| lstm | 200 | 4 |" in text and "| gru | 200 | 4 |" in text
