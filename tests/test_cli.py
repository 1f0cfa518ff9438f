"""The CLI: bad input is one line, exit 2, nothing written; list shows the registries."""
from __future__ import annotations

import json

import pytest

from runhelpers import run_cli

SMALL = ["--task", "adding", "--seq-len", "10", "--set", "n_train=64", "--set", "n_val=16",
         "--set", "n_test=16", "--hidden", "8", "--steps", "2", "--quiet"]


def _one_line_error(res, *fragments):
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert "Traceback" not in res.stderr


@pytest.mark.parametrize("args, fragments", [
    (["--task", "nope", "--arch", "lstm"], ["'nope'", "adding", "sine"]),
    (["--arch", "xlstm"], ["'xlstm'", "lstm", "gru-cho", "jordan"]),
    (["--arch", "jordan", "--backend", "fused"], ["jordan", "fused", "cell"]),
    (["--arch", "lstm", "--backend", "magic"], ["'magic'", "fused", "cell"]),
    (["--arch", "lstm", "--hidden", "0"], ["hidden", "0"]),
    (["--arch", "lstm", "--layers", "-1"], ["layers", "-1"]),
    (["--arch", "lstm", "--seq-len", "0"], ["seq_len", "0"]),
    (["--arch", "lstm", "--device", "cuda"], ["cuda"]),
    (["--arch", "lstm", "--optimizer", "lbfgs"], ["'lbfgs'", "adam", "sgd", "rmsprop"]),
    (["--arch", "lstm", "--set", "digits=3"], ["'digits'", "seq_len"]),
    (["--arch", "lstm", "--variant", "bogus"], ["'bogus'", "le2015", "arjovsky2016"]),
    (["--arch", "lstm", "--bogus-flag"], ["--bogus-flag"]),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, args, fragments):
    import torch
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    out = tmp_path / "out"
    res = run_cli("train", "--out", out, *SMALL[:2], *args)
    _one_line_error(res, *fragments)
    assert not out.exists()


def test_bad_config_key_and_missing_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: adding\nhiden: 10\n")
    _one_line_error(run_cli("train", "--config", cfg, "--out", tmp_path / "o"), "'hiden'", "hidden")
    _one_line_error(run_cli("train", "--config", tmp_path / "none.yaml", "--out", tmp_path / "o"), "none.yaml")
    cfg.write_text("task: [unclosed\n")
    _one_line_error(run_cli("train", "--config", cfg, "--out", tmp_path / "o"), "c.yaml")
    assert not (tmp_path / "o").exists()


def test_unwritable_out_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _one_line_error(run_cli("train", *SMALL, "--arch", "rnn", "--out", blocker / "sub"), "out dir")


def test_corrupt_checkpoint_is_one_line(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", *SMALL, "--arch", "gru", "--out", out).returncode == 0
    (out / "metrics.json").unlink()
    (out / "checkpoint.pt").write_bytes(b"\x00garbage")
    _one_line_error(run_cli("train", *SMALL, "--arch", "gru", "--out", out), "checkpoint", "corrupt")


def test_train_cli_end_to_end_every_cell(tmp_path):
    for arch in ("rnn", "irnn", "lstm", "gru", "gru-cho", "jordan"):
        res = run_cli("train", *SMALL, "--arch", arch, "--bidirectional", "--layers", "2",
                      "--out", tmp_path / arch)
        assert res.returncode == 0, res.stderr
        m = json.loads((tmp_path / arch / "metrics.json").read_text())
        assert m["arch"] == arch and m["bidirectional"] and m["layers"] == 2 and m["status"] == "ok"
        assert m["backend"] == ("cell" if arch in ("gru-cho", "jordan") else "fused")


def test_list_json_reads_the_registries():
    res = run_cli("list", "--json")
    assert res.returncode == 0, res.stderr
    cat = json.loads(res.stdout)
    assert {c["name"] for c in cat["cells"]} >= {"rnn", "irnn", "lstm", "gru", "gru-cho", "jordan"}
    tasks = {t["name"]: t for t in cat["tasks"]}
    assert {"adding", "sine"} <= set(tasks)
    params = {p["name"]: p["default"] for p in tasks["adding"]["params"]}
    assert params["seq_len"] == 100
    text = run_cli("list").stdout
    assert "--seq-len" in text and "jordan" in text
