"""`rnnbench train` on the seq2seq tasks: every variant x cell x decoder end to end, the
seq2seq flags, the routing of --variant, and bad options as one-line errors (exit 2)."""
from __future__ import annotations

import json

import pytest

from runhelpers import load_script, read_json, run_cli
from rnnbench.cli import main, make_parser
from rnnbench.commands.train import config_from_args
from rnnbench.models import CELLS

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py


TINY = ["--task", "addition", "--set", "n_train=200", "--hidden", "8", "--model-param", "embed=4",
        "--steps", "2", "--batch-size", "16", "--quiet"]
VARIANTS = [["--variant", "plain"], ["--variant", "peeking"],
            ["--variant", "attention", "--attention", "additive"],
            ["--variant", "attention", "--attention", "multiplicative"]]


@pytest.mark.parametrize("beam", [1, 4])
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v[1::2]))
@pytest.mark.parametrize("arch", CELLS.names())
def test_every_variant_cell_and_decoder_end_to_end(tmp_path, arch, variant, beam):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY, "--arch", arch, *variant, "--beam", str(beam)]) == 0
    m = read_json(out / "metrics.json")
    assert m["status"] == "ok" and m["metric"] == "exact_match" and m["value"] is not None
    assert m["metrics"]["beam"] == beam and "char_accuracy" in m["metrics"]
    assert ("exact_match_greedy" in m["metrics"]) == (beam > 1)
    assert m["params"]["model_params"]["variant"] == variant[1] and "variant" not in m["params"]["task_params"]
    samples = json.loads((out / "samples.json").read_text())
    assert len(samples) == 8 and {"input", "output", "target"} <= set(samples[0])
    if variant[1] == "attention":
        rows = json.loads((out / "attention.json").read_text())
        for r in rows:
            assert len(r["weights"]) == len(r["output"])
            assert all(len(w) == len(r["input"]) and abs(sum(w) - 1) < 1e-4 for w in r["weights"])
    else:
        assert not (out / "attention.json").exists()


@pytest.mark.parametrize("extra", [
    ["--bidirectional", "--layers", "2", "--variant", "attention", "--beam", "3", "--length-norm"],
    ["--variant", "peeking", "--teacher-forcing", "0.5", "--tf-decay", "linear:2"],
    ["--variant", "plain", "--teacher-forcing", "0", "--residual", "--layers", "2", "--dropout", "0.1"],
])
def test_encoder_options_and_teacher_forcing_end_to_end(tmp_path, extra):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *TINY, "--arch", "gru", *extra]) == 0
    m = read_json(out / "metrics.json")
    assert m["status"] == "ok"
    if "--length-norm" in extra:
        assert m["params"]["model_params"]["length_norm"] == 1.0 and m["bidirectional"] and m["layers"] == 2


def test_reverse_end_to_end(tmp_path):
    out = tmp_path / "run"
    args = ["--task", "reverse", "--max-len", "6", "--set", "n_train=64", "--set", "n_val=16",
            "--set", "n_test=16", "--hidden", "8", "--steps", "2", "--quiet"]
    assert main(["train", "--out", str(out), *args, "--arch", "lstm", "--variant", "attention", "--beam", "2"]) == 0
    m = read_json(out / "metrics.json")
    assert set(m["metrics"]) == {"exact_match", "token_accuracy", "beam", "exact_match_greedy"}
    assert m["n_params"] > 0 and m["baseline"] < 0.2


def _args(*argv):
    return make_parser().parse_args(["train", "--out", "x", *argv])


def test_variant_routing():
    # adding has a task parameter `variant`: it stays one
    d = config_from_args(_args("--task", "adding", "--variant", "arjovsky2016"))
    assert d["task_params"] == {"variant": "arjovsky2016"} and "model_params" not in d
    # the default task (adding) too
    assert config_from_args(_args("--variant", "le2015"))["task_params"] == {"variant": "le2015"}
    # seq2seq tasks have none: it is the encoder-decoder variant
    d = config_from_args(_args("--task", "addition", "--variant", "attention", "--attention", "multiplicative",
                               "--teacher-forcing", "0.5", "--tf-decay", "exp:0.99", "--beam", "4",
                               "--length-norm", "0.7", "--digits", "2"))
    assert d["task_params"] == {"digits": "2"}   # task flags are coerced by the task
    assert d["model_params"] == {"variant": "attention", "attention": "multiplicative", "teacher_forcing": 0.5,
                                 "tf_decay": "exp:0.99", "beam": 4, "length_norm": 0.7}
    assert config_from_args(_args("--task", "reverse", "--length-norm"))["model_params"] == {"length_norm": 1.0}
    # flags win over --model-param
    d = config_from_args(_args("--task", "reverse", "--model-param", "beam=2", "--beam", "3"))
    assert d["model_params"] == {"beam": 3}


def _one_line(capsys, rc, *fragments):
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.mark.parametrize("args, fragments", [
    (["--beam", "0"], ["beam width 0", "positive integer"]),
    (["--variant", "bogus"], ["'bogus'", "plain", "peeking", "attention"]),
    (["--variant", "attention", "--attention", "dot"], ["'dot'", "additive", "multiplicative"]),
    (["--model-param", "beem=3"], ["'beem'", "beam", "length_norm", "teacher_forcing", "variant"]),
    (["--teacher-forcing", "1.5"], ["teacher_forcing", "1.5"]),
    (["--tf-decay", "fast"], ["'fast'", "linear:STEPS"]),
])
def test_bad_options_one_line_exit_2_nothing_written(tmp_path, capsys, args, fragments):
    out = tmp_path / "out"
    _one_line(capsys, main(["train", "--out", str(out), *TINY, "--arch", "lstm", *args]), *fragments)
    assert not out.exists()


def test_bad_option_exit_status_from_the_command_line(tmp_path):
    res = run_cli("train", "--out", tmp_path / "o", *TINY, "--arch", "gru", "--beam", "0")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert [l for l in res.stderr.splitlines() if l.strip()] == [
        "rnnbench train: error: beam width 0 is invalid (valid: a positive integer; 1 = greedy)"]
    assert not (tmp_path / "o").exists()


def test_bench_addition_script_runs(tmp_path, capsys):
    """scripts/bench_addition.py on a tiny problem set (the real benchmark takes minutes)."""
    bench = load_script("bench_addition")
    assert bench.main(["--archs", "gru", "--variants", "plain", "attention", "--epochs", "2", "--threads", "1",
                       "--target", "0", "--set", 'task_params={"n_train": 300}', "--set", "hidden=8",
                       "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "| gru | attention |" in table and "| gru | plain |" in table
    doc = json.loads((tmp_path / "bench.json").read_text())
    r = doc["results"][0]
    assert r["epochs_to_target"] == 1.0 and r["cpu_seconds_to_target"] is not None
    assert len(r["train_cpu_seconds_at_evals"]) == len(r["val_curve"]) == 2
