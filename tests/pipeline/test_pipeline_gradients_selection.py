"""The grid's `gradients.cells` selection picks only cells `rnnbench gradients` can measure
(rnnbench.gradients.unsupported), says which it skipped and why (cells.csv, the Snakemake log),
and every shipped config's selection passes the command's own checks (no training)."""
from __future__ import annotations

import json

import pytest

from pipeline_helpers import CONFIGS, load, validated
from rnnbench import gradients as gr
from rnnbench import grid as G
from rnnbench.cli import main, make_parser
from rnnbench.commands import gradients as gradients_command
from rnnbench.errors import UsageError

SHIPPED = sorted(p.stem for p in CONFIGS.glob("*.yaml") if p.stem != "schema")
MIXED = {"grid": {"hidden": 8, "steps": 2, "seed": [0, 1]},
         "tasks": {"adding": {"arch": ["lstm", "tcn"], "task_params": {"seq_len": 10}},
                   "addition": {"arch": ["lstm", "gru"], "task_params": {"n_train": 200}}},
         "gradients": {"at": "init", "cells": [{"seed": 0}]}}


def test_unsupported_names_the_reason_and_refuses_unknown_names():
    assert gr.unsupported("adding", "lstm") is None and gr.unsupported("copy", "gru") is None
    assert "seq2seq" in gr.unsupported("addition", "lstm") and "seq2seq" in gr.unsupported("reverse", "gru")
    assert "tcn" in gr.unsupported("adding", "tcn")
    for task, arch, valid in (("nope", "lstm", "adding"), ("adding", "nope", "lstm")):
        with pytest.raises(UsageError, match="'nope'") as e:
            gr.unsupported(task, arch)
        assert "\n" not in str(e.value) and valid in str(e.value)     # the valid names listed


def test_selection_skips_what_the_command_cannot_measure_and_records_why(tmp_path):
    cells = G.expand(validated(MIXED))
    got = {(c.task, c.arch, c.config["seed"]): (c.gradients, c.gradients_skipped) for c in cells}
    assert got[("adding", "lstm", 0)] == (True, "")
    assert got[("adding", "lstm", 1)] == (False, "")            # not selected: nothing to say
    assert not got[("adding", "tcn", 0)][0] and "sequence model" in got[("adding", "tcn", 0)][1]
    for arch in ("lstm", "gru"):
        selected, why = got[("addition", arch, 0)]
        assert not selected and why
        assert got[("addition", arch, 1)] == (False, "")
    assert "seq2seq" in got[("addition", "lstm", 0)][1]
    # provenance: cells.csv carries the reason, and a job re-reading it gets it back
    (tmp_path / "cells.csv").write_text(G.cells_csv(cells))
    back = G.load_cells(tmp_path / "cells.csv")
    assert [(c.gradients, c.gradients_skipped) for c in back] == [(c.gradients, c.gradients_skipped) for c in cells]
    # the log: one line per (task, cell, reason)
    note = gr.skipped_note(back)
    assert len(note) == 3 and all(line.startswith("rnnbench: gradient diagnostics skip 1 selected") for line in note)
    assert any("task addition, cell lstm" in line and "seq2seq" in line for line in note)


def test_the_command_refuses_an_unsupported_cell_in_one_line_before_building(tmp_path, capsys, monkeypatch):
    import rnnbench.train as train

    def built(*a, **k):
        raise AssertionError("data or model built before the refusal")

    monkeypatch.setattr(train, "prepare", built)
    out = tmp_path / "g"
    rc = main(["gradients", "--task", "addition", "--arch", "lstm", "--set", "n_train=200", "--hidden", "4",
               "--at", "init", "--out", str(out)])
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1, lines
    assert "task 'addition' is seq2seq" in lines[0] and "many-to-one, many-to-many" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_selects_only_cells_the_gradients_command_accepts(name, tmp_path):
    """Each selected cell as the `gradients` rule hands it to the command (its config as cell.json,
    --task, --arch, --at), through the command's checks; nothing is trained."""
    config = validated(load(name))
    cells = G.expand(config)
    parser = make_parser()
    selected = [c for c in cells if c.gradients]
    for c in selected:
        d = tmp_path / c.path
        d.mkdir(parents=True)
        (d / "cell.json").write_text(c.config_json() + "\n")
        args = parser.parse_args(["gradients", "--task", c.task, "--arch", c.arch, "--config", str(d / "cell.json"),
                                  "--at", config["gradients"]["at"], "--out", str(d)])
        cfg, ck, at, _ = gradients_command.check(args)
        assert (cfg.task, cfg.arch, ck, at) == (c.task, c.arch, None, "init")
    for c in cells:      # a skipped cell is one the command refuses, and only those are skipped
        if c.gradients_skipped:
            assert gr.unsupported(c.task, c.arch, c.config.get("model_params")) == c.gradients_skipped


def test_the_lab_config_diagnoses_its_recurrent_tasks_and_skips_learning_to_add():
    cells = G.expand(validated(load("lab")))
    selected = {(c.task, c.arch) for c in cells if c.gradients}
    skipped = {(c.task, c.arch) for c in cells if c.gradients_skipped}
    assert skipped == {("addition", "lstm"), ("addition", "gru")}
    assert {t for t, _ in selected} == {"airquality", "electricdevices", "sentiment", "textgen"}
    assert all(json.loads(c.config_json())["seed"] == 0 for c in cells if c.gradients)
