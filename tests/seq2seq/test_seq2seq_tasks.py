"""rnnbench.tasks.seq2seq: the addition and reverse data, metrics, baseline, evaluation."""
from __future__ import annotations

import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import UsageError
from rnnbench.models.seq2seq import EOS, PAD

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py



def _text(task, ids):
    return "".join(t for t in task.tokens(ids) if t != "</s>")


def test_addition_data_is_keras_like_unique_and_deterministic():
    t = tasks.build("addition", {"n_train": 2000}, seed=3)
    s = t.splits
    assert [len(s[k]) for k in ("train", "val", "test")] == [1800, 100, 100]
    keys = set()
    for name in ("train", "val", "test"):
        sp = s[name]
        for i in range(len(sp)):
            q = _text(t, sp.x[i, :int(sp.lengths[i])])
            assert "".join(t.tokens(sp.x[i])) == q          # padding only after the query
            a, b = (int(v) for v in q[::-1].split("+"))     # reversed query by default
            assert 0 <= a < 1000 and 0 <= b < 1000
            assert _text(t, sp.y[i]) == str(a + b)
            assert t.tokens(sp.y[i])[-1] == "</s>"
            keys.add((min(a, b), max(a, b)))
    assert len(keys) == 2000                                 # unique, a+b and b+a once
    again = tasks.build("addition", {"n_train": 2000}, seed=3).splits
    assert all(torch.equal(again[k].x, s[k].x) and torch.equal(again[k].y, s[k].y) for k in s)
    other = tasks.build("addition", {"n_train": 2000}, seed=4).splits
    assert not torch.equal(other["train"].x[:50], s["train"].x[:50])


def test_addition_options():
    t = tasks.build("addition", {"n_train": 200, "digits": 2, "reverse_query": False, "held_out": 0.2})
    sp = t.splits["train"]
    assert len(sp) == 160 and len(t.splits["val"]) == 20 and len(t.splits["test"]) == 20
    q = _text(t, sp.x[0])
    a, b = (int(v) for v in q.split("+"))
    assert a < 100 and b < 100 and _text(t, sp.y[0]) == str(a + b)
    assert sp.x.shape[1] <= 5 and sp.y.shape[1] <= 4
    assert t.itos[:3] == ["<pad>", "<s>", "</s>"] and t.vocab_size == 14


@pytest.mark.parametrize("params, fragments", [
    ({"digits": 1}, ["n_train", "27", "digits=1"]),
    ({"held_out": 1.5}, ["held_out", "1.5"]),
    ({"digits": 0}, ["digits", "0"]),
    ({"n_train": 10, "held_out": 0.01}, ["held_out"]),
])
def test_addition_bad_params(params, fragments):
    with pytest.raises(UsageError) as e:
        tasks.build("addition", params)
    for f in fragments:
        assert f in str(e.value)


def test_reverse_data():
    t = tasks.build("reverse", {"max_len": 9, "min_len": 2, "n_symbols": 5, "n_train": 300,
                                "n_val": 20, "n_test": 30}, seed=1)
    sp = t.splits["train"]
    assert len(sp) == 300 and sp.x.shape[1] == 9 and sp.y.shape[1] == 10
    assert int(sp.lengths.min()) == 2 and int(sp.lengths.max()) == 9
    for i in range(len(sp)):
        L = int(sp.lengths[i])
        src = sp.x[i, :L]
        assert bool((src >= 3).all()) and bool((sp.x[i, L:] == PAD).all())
        assert torch.equal(sp.y[i, :L], src.flip(0)) and int(sp.y[i, L]) == EOS
    assert t.symbols == tuple("abcde")
    with pytest.raises(UsageError, match="min_len"):
        tasks.build("reverse", {"min_len": 5, "max_len": 3})


def test_metrics_exact_match_and_per_token_accuracy():
    t = tasks.build("addition", {"n_train": 200})
    sp = t.splits["test"]
    y = sp.y
    m = t.metrics(y.clone(), sp)
    assert m == {"exact_match": 1.0, "char_accuracy": 1.0}
    pred = y.clone()
    pred[0, 0] = 3 if int(pred[0, 0]) != 3 else 4          # one wrong character
    n_tokens = int((y != PAD).sum())
    m = t.metrics(pred, sp)
    assert m["exact_match"] == pytest.approx(1 - 1 / len(sp))
    assert m["char_accuracy"] == pytest.approx(1 - 1 / n_tokens)
    # a token after the target's </s> makes the answer wrong (but no target character)
    pred = y.clone()
    row = int((y[:, -1] == PAD).nonzero()[0])
    end = int((y[row] == EOS).nonzero()[0])
    pred[row, end + 1] = 5
    m = t.metrics(pred, sp)
    assert m["exact_match"] == pytest.approx(1 - 1 / len(sp)) and m["char_accuracy"] == 1.0
    r = tasks.build("reverse", {"max_len": 5, "n_train": 50, "n_val": 10, "n_test": 10})
    assert set(r.metrics(r.splits["test"].y, r.splits["test"])) == {"exact_match", "token_accuracy"}


def test_baseline_is_the_most_frequent_answer():
    t = tasks.build("addition", {"n_train": 2000, "digits": 2}, seed=0)
    train, test = t.splits["train"].y, t.splits["test"].y
    answers = [_text(t, r) for r in train]
    top = max(set(answers), key=answers.count)
    want = sum(_text(t, r) == top for r in test) / len(test)
    assert t.baseline() == pytest.approx(want)
    assert t.solved_threshold == 0.99 and t.direction == "max" and t.metric == "exact_match"


def test_evaluate_val_greedy_test_beam(tmp_path):
    from rnnbench.config import RunConfig

    t = tasks.build("addition", {"n_train": 300})
    cfg = RunConfig(task="addition", arch="gru", backend="fused", hidden=16,
                    model_params={"variant": "attention", "beam": 3})
    torch.manual_seed(0)
    model = t.build_model(cfg).eval()
    val = t.evaluate(model, "val", 64)
    test = t.evaluate(model, "test", 64)
    assert val["beam"] == 1.0 and "exact_match_greedy" not in val
    assert test["beam"] == 3.0 and set(test) >= {"exact_match", "char_accuracy", "exact_match_greedy"}
    # the loss is finite and differentiable; artifacts are written
    batch = t.splits["train"].take(slice(0, 32))
    loss = t.train_loss(model.train(), batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    t.artifacts(model, tmp_path)
    assert (tmp_path / "samples.json").exists() and (tmp_path / "attention.json").exists()


def test_unknown_model_params_key_lists_valid_keys():
    from rnnbench.config import RunConfig

    t = tasks.build("reverse", {"max_len": 5, "n_train": 50, "n_val": 10, "n_test": 10})
    with pytest.raises(UsageError) as e:
        t.build_model(RunConfig(task="reverse", arch="lstm", backend="fused", model_params={"beem": 4}))
    assert "'beem'" in str(e.value) and "beam" in str(e.value) and "variant" in str(e.value)
