"""`rnnbench gradients` and the runner's hook: outputs, checkpoints, and bad input.

In-process through rnnbench.cli.main (the same dispatch and one-line error handling as the
`rnnbench` executable, whose wiring tests/test_cli.py covers): a subprocess costs seconds.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from rnnbench import gradients as gr
from rnnbench.cli import main
from rnnbench.config import RunConfig
from rnnbench.train import run as train_run, with_task_defaults

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py

SMALL = ["--task", "adding", "--seq-len", "6", "--set", "n_train=32", "--set", "n_val=8",
         "--set", "n_test=8", "--hidden", "4", "--samples", "4", "--jacobian-samples", "1"]
RUN = {"task": "adding", "task_params": {"seq_len": 6, "n_train": 32, "n_val": 8, "n_test": 8},
       "arch": "gru", "hidden": 4, "steps": 4, "batch_size": 8, "device": "cpu", "threads": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 4-step run (gradient diagnostics every 2 steps) and the same run without."""
    root = tmp_path_factory.mktemp("runs")
    with_diag = train_run(with_task_defaults({**RUN, "grad_diag_every": 2}), root / "diag", quiet=True)
    plain = train_run(with_task_defaults(RUN), root / "plain", quiet=True)
    return root, with_diag, plain


def _one_line_error(capsys, argv, *fragments):
    try:
        rc = main(argv)
    except SystemExit as e:        # argparse's own errors
        rc = e.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_at_init_writes_both_tables(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["gradients", *SMALL, "--arch", "lstm", "--bidirectional", "--at", "init", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    g = pd.read_csv(out / "gradients.csv")
    r = pd.read_csv(out / "recurrent.csv")
    assert list(g.columns) == list(gr.GRADIENT_COLUMNS) and list(r.columns) == list(gr.RECURRENT_COLUMNS)
    assert len(g) == 2 * 2 * 7 and set(g["at"]) == {"init"} and set(g["backend"]) == {"fused"}
    assert set(r["gate"]) == {"i", "f", "g", "o", "all"}
    assert "per-step factor" in err


def test_checkpoint_of_finished_run_is_trained(tmp_path, trained, capsys):
    root, _, _ = trained
    out = tmp_path / "g"
    assert main(["gradients", "--checkpoint", str(root / "plain" / "checkpoint.pt"), "--out", str(out),
                 "--samples", "4"]) == 0
    g = pd.read_csv(out / "gradients.csv")
    assert set(g["at"]) == {"trained"} and set(g["step"]) == {4} and set(g["arch"]) == {"gru"}
    # the run's config.json is the base: the same model through --config FILE is accepted
    # (and a run dir stands for its checkpoint) ...
    cfg = tmp_path / "cell.json"
    cfg.write_text(json.dumps(RUN))
    assert main(["gradients", "--config", str(cfg), "--checkpoint", str(root / "plain"),
                 "--out", str(tmp_path / "g2"), "--samples", "4"]) == 0
    # ... and different weights than at init
    assert main(["gradients", "--config", str(cfg), "--at", "init", "--out", str(tmp_path / "g3"),
                 "--samples", "4"]) == 0
    init = pd.read_csv(tmp_path / "g3" / "gradients.csv")
    assert not init["norm"].equals(g["norm"])


def test_runner_hook_writes_step_csvs_and_changes_nothing(trained):
    root, with_diag, plain = trained
    files = sorted(p.name for p in (root / "diag" / "grad_checkpoints").iterdir())
    assert files == ["step0.csv", "step2.csv", "step4.csv"]
    s0 = pd.read_csv(root / "diag" / "grad_checkpoints" / "step0.csv")
    s4 = pd.read_csv(root / "diag" / "grad_checkpoints" / "step4.csv")
    assert set(s0["at"]) == {"init"} and set(s4["at"]) == {"step4"} and set(s4["step"]) == {4}
    assert list(s4.columns) == list(gr.GRADIENT_COLUMNS)
    # diagnostics leave training bit-identical (RNG, grads and mode untouched)
    assert with_diag["value"] == plain["value"]
    assert (root / "diag" / "steps.csv").read_text() == (root / "plain" / "steps.csv").read_text()


def test_grad_diag_every_is_validated():
    with pytest.raises(Exception, match="grad_diag_every"):
        RunConfig(grad_diag_every=0).validate()


@pytest.mark.parametrize("argv, fragments", [
    (["--arch", "xlstm"], ["'xlstm'", "lstm", "jordan"]),
    (["--arch", "lstm", "--task", "nope"], ["'nope'", "adding"]),
    (["--arch", "lstm", "--at", "init", "--checkpoint", "x.pt"], ["--checkpoint", "--at"]),
    (["--arch", "lstm", "--at", "trained"], ["--at", "init"]),
    (["--arch", "lstm", "--samples", "0"], ["--samples"]),
    (["--arch", "lstm", "--loss-step", "99"], ["loss step", "5"]),
    (["--arch", "lstm", "--model-param", "recurrent_radius=-2"], ["recurrent_radius"]),
])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, argv, fragments):
    out = tmp_path / "out"
    _one_line_error(capsys, ["gradients", *SMALL, *argv, "--out", str(out)], *fragments)
    assert not out.exists()


def test_bad_checkpoints(tmp_path, trained, capsys):
    root, _, _ = trained
    out = tmp_path / "out"
    _one_line_error(capsys, ["gradients", "--checkpoint", str(tmp_path / "none" / "checkpoint.pt"),
                             "--out", str(out)], "checkpoint not found")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "checkpoint.pt").write_bytes(b"\x00garbage")
    _one_line_error(capsys, ["gradients", "--checkpoint", str(bad / "checkpoint.pt"), "--out", str(out)],
                    "corrupt")
    # a model option contradicting the run's config
    _one_line_error(capsys, ["gradients", "--checkpoint", str(root / "plain" / "checkpoint.pt"),
                             "--hidden", "8", "--out", str(out)], "hidden=4", "not 8")
    # no config.json beside it: the flags must describe a model the weights fit
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "checkpoint.pt").write_bytes((root / "plain" / "checkpoint.pt").read_bytes())
    _one_line_error(capsys, ["gradients", "--checkpoint", str(lone / "checkpoint.pt"), "--out", str(out)],
                    "config.json")
    _one_line_error(capsys, ["gradients", *SMALL, "--arch", "gru", "--hidden", "6", "--checkpoint",
                             str(lone / "checkpoint.pt"), "--out", str(out)], "does not fit")
    assert not out.exists()
