"""Variant repeat (Keras' addition_rnn, the course lab's learning to add) and one-hot input:
the decoder's only input is the encoder's final state at every step, it trains, greedy decoding
works, beam search and teacher forcing are refused in one line; the lab config runs the lab's
setting, the one its quoted time is for."""
from __future__ import annotations

import pytest
import torch
import yaml

from runhelpers import load_script, read_json
from rnnbench import grid as G
from rnnbench.cli import main
from rnnbench.config import resolve, with_task_defaults
from rnnbench.errors import UsageError
from rnnbench.models.seq2seq import (BOS, EOS, PAD, OneHot, Seq2Seq, beam_search, decode, greedy_decode,
                                     parse_options)
from rnnbench.tasks import TASKS, build as build_task

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py

V = 12


def _model(arch="lstm", seed=0, **kw):
    torch.manual_seed(seed)
    return Seq2Seq(arch, V, V, 16, variant="repeat", onehot=True, **kw).eval()


def _batch(B=6, S=7, T=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    lengths[0] = S
    src = torch.randint(3, V, (B, S), generator=g)
    src[torch.arange(S)[None, :] >= lengths[:, None]] = PAD
    y_in = torch.cat([torch.full((B, 1), BOS), torch.randint(3, V, (B, T - 1), generator=g)], 1)
    return src, lengths, y_in


class _Spy:
    """Records the decoder's inputs and initial states (a forward pre-hook)."""

    def __init__(self, decoder):
        self.calls = []
        self.handle = decoder.register_forward_pre_hook(lambda mod, args: self.calls.append(args))


@pytest.mark.parametrize("arch, bidirectional, layers", [("lstm", False, 1), ("gru", True, 2), ("rnn", False, 2)])
def test_the_decoder_reads_the_encoders_final_state_at_every_step_and_starts_from_zero(arch, bidirectional, layers):
    m = _model(arch, bidirectional=bidirectional, layers=layers)
    src, lengths, y_in = _batch()
    with torch.no_grad():
        _, h_n = m.encoder(m.src_embed(src), lengths=lengths)
    h_n = h_n[0] if isinstance(h_n, tuple) else h_n
    final = torch.cat([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]    # top layer, both directions
    spy = _Spy(m.decoder)
    with torch.no_grad():
        logits = m(src, lengths, y_in)
        d = greedy_decode(m, src, lengths, 5)
    x, state = spy.calls[0][0], spy.calls[0][1]
    assert x.shape == (src.shape[0], y_in.shape[1], final.shape[-1])
    for t in range(y_in.shape[1]):
        torch.testing.assert_close(x[:, t], final)
    for s in (state if isinstance(state, tuple) else (state,)):
        assert s.shape[0] == layers and not s.any()
    for args in spy.calls[1:]:                   # greedy decoding, step by step: the same input
        torch.testing.assert_close(args[0][:, 0], final)
    # no feedback: the tokens fed do not matter, and greedy decoding is the argmax of one fused pass
    with torch.no_grad():
        torch.testing.assert_close(m(src, lengths, torch.randint(3, V, y_in.shape)), logits)
    masked = logits.clone()
    masked[..., PAD] = masked[..., BOS] = float("-inf")
    want = masked.argmax(-1)
    for i in range(src.shape[0]):
        n = int(d.lengths[i])
        assert torch.equal(d.tokens[i, :n], want[i, :n])
        assert n == y_in.shape[1] or d.tokens[i, n - 1] == EOS


def test_onehot_is_a_fixed_identity_with_zero_padding():
    oh = OneHot(5)
    x = torch.tensor([[0, 1, 4]])
    torch.testing.assert_close(oh(x), torch.tensor([[[0., 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 1]]]))
    assert not list(oh.parameters()) and not oh.state_dict()
    assert oh.double()(x).dtype == torch.float64
    m = _model("gru")
    assert m.tgt_embed is None and m.encoder.input_size == V and m.decoder.input_size == 16
    parts = [m.encoder, m.decoder, m.out]
    assert m.n_params == sum(p.numel() for part in parts for p in part.parameters())
    # one-hot for the other variants too: the decoder reads the previous token one-hot
    plain = Seq2Seq("gru", V, V, 16, variant="peeking", onehot=True)
    assert plain.decoder.input_size == V + 16 and not list(plain.tgt_embed.parameters())


@pytest.mark.parametrize("given, fragments", [
    ({"variant": "repeat", "beam": 3}, ["beam width 3", "variant 'repeat'", "beam 1"]),
    ({"variant": "repeat", "teacher_forcing": 0.5}, ["teacher_forcing 0.5", "'repeat'", "teacher_forcing 1"]),
    ({"variant": "repeat", "tf_decay": "linear:10"}, ["'linear:10'", "'repeat'", "tf_decay none"]),
    ({"onehot": True, "embed": 8}, ["embed 8", "onehot", "leave embed out"]),
    ({"onehot": "yes"}, ["onehot 'yes'", "true, false"]),
])
def test_what_does_not_apply_is_refused_in_one_line(given, fragments):
    with pytest.raises(UsageError) as e:
        parse_options(given)
    msg = str(e.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_beam_search_is_refused_for_repeat_and_beam_one_is_greedy():
    m = _model()
    src, lengths, _ = _batch()
    with pytest.raises(UsageError, match="beam width 2 needs a decoder that reads its previous token"):
        beam_search(m, src, lengths, 5, 2)
    g = greedy_decode(m, src, lengths, 5)
    assert torch.equal(decode(m, src, lengths, 5, beam=1).tokens, g.tokens)
    assert torch.equal(beam_search(m, src, lengths, 5, 1).tokens, g.tokens)
    o = parse_options({"variant": "repeat", "onehot": True})
    assert (o.variant, o.onehot, o.beam, o.teacher_forcing) == ("repeat", True, 1, 1.0)


def test_repeat_learns_one_digit_addition():
    """Trained on the 24 training problems of 1-digit addition, it answers them all (greedy)."""
    task = build_task("addition", {"digits": 1, "n_train": 27}, seed=0)
    cfg = resolve(with_task_defaults({"task": "addition", "arch": "lstm", "hidden": 32, "device": "cpu",
                                      "model_params": {"variant": "repeat", "onehot": True}}))
    torch.manual_seed(0)
    model = task.build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = task.splits["train"]
    before = task.metrics(task.predict(model.eval(), train, 64), train)["exact_match"]
    for step in range(300):
        model.train()
        opt.zero_grad()
        loss = task.train_loss(model, train, step)
        loss.backward()
        opt.step()
    after = task.metrics(task.predict(model.eval(), train, 64), train)
    assert before < 0.2 and after["exact_match"] == 1.0, (before, after, float(loss))


def test_train_end_to_end_records_the_options(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--task", "addition", "--set", "n_train=200", "--hidden", "8", "--steps", "2",
            "--batch-size", "16", "--quiet", "--arch", "gru", "--variant", "repeat", "--model-param", "onehot=true"]
    assert main([*args, "--out", str(out)]) == 0
    m = read_json(out / "metrics.json")
    assert m["status"] == "ok" and m["metrics"]["beam"] == 1 and m["value"] is not None
    assert m["params"]["model_params"] == {"variant": "repeat", "onehot": True}
    assert not (out / "attention.json").exists()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main([*args, "--beam", "4", "--out", str(bad)]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "beam width 4" in lines[0] and "'repeat'" in lines[0], lines
    assert not bad.exists()


def test_the_lab_config_runs_the_setting_the_quoted_time_is_for():
    """workflows/config/lab.yaml's addition cells are Addition.LAB_SETTING over the task's defaults,
    and the quoted time's setting text names each of its values."""
    from pathlib import Path

    cls = TASKS.get("addition")
    lab = yaml.safe_load((Path(__file__).resolve().parents[2] / "workflows/config/lab.yaml").read_text())
    cells = [c for c in G.expand(lab) if c.task == "addition"]
    assert {c.arch for c in cells} == {"lstm", "gru"} and len(cells) == 6
    for c in cells:
        cfg = with_task_defaults(c.config).to_dict()
        for k, v in cls.LAB_SETTING.items():
            assert cfg[k] == v, (k, cfg[k], v)
        assert "task_params" not in c.config and cfg["task_params"] == {}   # the task's default parameters
    s, text = cls.LAB_SETTING, cls.reference["setting"]
    p = cls.Params()
    for needle in (f"{s['epochs']} epochs", f"batch {s['batch_size']}", f"Adam {s['lr']:.0e}".replace("e-03", "e-3"),
                   "no clipping" if s["clip"] is None else f"clip {s['clip']}", f"LSTM {s['hidden']}",
                   f"{s['layers']} layer", f"variant {s['model_params']['variant']}", "one-hot",
                   f"{p.digits} digits", f"{p.n_train:,} problems", "reversed" if p.reverse_query else "in order"):
        assert needle in text, (needle, text)
    assert s["model_params"]["onehot"] is True
    # the task's defaults stay the faster attention setting (the default run's)
    assert cls.defaults["model_params"] == {"variant": "attention"}


def test_measure_lab_addition_script_runs(tmp_path, capsys):
    """scripts/measure_lab_addition.py on a tiny problem set (the real measurement takes minutes)."""
    import json

    script = load_script("measure_lab_addition")
    assert script.main(["--epochs", "2", "--target", "0", "--set", 'task_params={"n_train": 300}',
                        "--set", "hidden=8", "--out", str(tmp_path)]) == 0
    assert "| lstm |" in capsys.readouterr().out
    r = json.loads((tmp_path / "measure.json").read_text())
    assert r["model_params"] == {"variant": "repeat", "onehot": True} and r["train"]["batch_size"] == 128
    assert r["epochs_to_target"] == 1.0 and len(r["val_curve"]) == 2 and r["train_cpu_seconds_per_epoch"] > 0
    with pytest.raises(UsageError, match="no addition cell for arch 'rnn'"):
        script.lab_cell("rnn", 0)
