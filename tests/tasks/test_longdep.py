"""Long-dependency tasks: each generator against its literature definition."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import UsageError
from taskhelpers import row_set

SMALL = {"n_train": 300, "n_val": 100, "n_test": 400}


# ------------------------------------------------------------------------------ adding
@pytest.mark.parametrize("variant", ["le2015", "arjovsky2016"])
def test_adding_markers_and_target(variant):
    T = 31
    t = tasks.build("adding", {**SMALL, "seq_len": T, "variant": variant}, seed=3)
    for split in t.splits.values():
        values, marks = split.x[..., 0], split.x[..., 1]
        assert split.x.shape[1:] == (T, 2) and split.y.shape == (len(split), 1)
        assert ((values >= 0) & (values < 1)).all()
        assert set(marks.unique().tolist()) == {0.0, 1.0}
        assert (marks.sum(1) == 2).all()                               # exactly two markers
        torch.testing.assert_close(split.y[:, 0], (values * marks).sum(1))
        pos = marks.nonzero()[:, 1].reshape(-1, 2)
        assert (pos[:, 0] != pos[:, 1]).all()
        if variant == "arjovsky2016":                                  # one in each half
            assert (pos[:, 0] < T // 2).all() and (pos[:, 1] >= T // 2).all()


def test_adding_le2015_markers_cover_both_halves_in_any_order():
    t = tasks.build("adding", {**SMALL, "seq_len": 20}, seed=0)
    pos = t.splits["train"].x[..., 1].nonzero()[:, 1].reshape(-1, 2)
    assert (pos < 10).all(1).any() and (pos >= 10).all(1).any()        # both markers in one half happens


def test_adding_baseline_is_one_sixth():
    t = tasks.build("adding", {"n_train": 10, "n_val": 10, "n_test": 20000, "seq_len": 10}, seed=0)
    y = t.splits["test"].y
    assert t.baseline() == pytest.approx(float(((1.0 - y) ** 2).mean()))   # direct computation
    assert t.baseline() == pytest.approx(1 / 6, abs=0.006)                 # Var(u_a + u_b) = 2/12
    assert t.solved(0.009) is True and t.solved(0.011) is False


# ------------------------------------------------------------------------------ copy
def test_copy_layout():
    T, L, K = 12, 10, 8
    t = tasks.build("copy", {**SMALL, "seq_len": T}, seed=1)
    blank, delim = 0, K + 1
    assert t.vocab_size == K + 2 and t.input_size == K + 2 and t.output_size == K + 1
    for s in t.splits.values():
        x, y = s.x, s.y
        assert x.dtype == torch.long and x.shape == y.shape == (len(s), T + 2 * L)
        symbols = x[:, :L]
        assert ((symbols >= 1) & (symbols <= K)).all()
        assert (x[:, L:L + T - 1] == blank).all()                      # T - 1 blanks
        assert (x[:, L + T - 1] == delim).all()                        # the delimiter
        assert (x[:, L + T:] == blank).all()                           # L blanks while recalling
        assert (y[:, :T + L] == blank).all()                           # T + L blanks ...
        assert torch.equal(y[:, T + L:], symbols)                      # ... then the symbols
    all_symbols = t.splits["train"].x[:, :L]
    assert set(all_symbols.unique().tolist()) == set(range(1, K + 1))


@pytest.mark.parametrize("T, expected", [(100, 0.173), (1000, 0.0204)])
def test_copy_baseline_formula(T, expected):
    t = tasks.build("copy", {"seq_len": T, "n_train": 2, "n_val": 2, "n_test": 50}, seed=0)
    formula = 10 * math.log(8) / (T + 20)
    assert formula == pytest.approx(expected, abs=5e-4)
    assert t.baseline() == pytest.approx(formula, rel=1e-12)
    # the same predictor as logits, through the task's own metric
    logp = t.memoryless_log_probs().clamp(min=-1e9).float()
    test = t.splits["test"]
    m = t.metrics(logp.expand(len(test), -1, -1), test)
    assert m["ce"] == pytest.approx(formula, rel=1e-5)
    assert m["recall_accuracy"] < 0.5                                  # argmax of uniform: symbol 1


def test_copy_metrics_and_solved():
    t = tasks.build("copy", {**SMALL, "seq_len": 5}, seed=0)
    test = t.splits["test"]
    perfect = torch.nn.functional.one_hot(test.y, t.output_size).float() * 50
    m = t.metrics(perfect, test)
    assert m["recall_accuracy"] == 1.0 and m["ce"] < 1e-6
    assert t.solved(m["ce"], m) is True
    assert t.solved(0.0, {"ce": 0.0, "recall_accuracy": 0.98}) is False
    assert t.solved(0.0) is None                                       # needs the metrics


# ------------------------------------------------------------------------------ temporal order
TOK = {c: i for i, c in enumerate("abcdBEXY")}


@pytest.mark.parametrize("relevant, windows", [(2, [(10, 20), (50, 60)]),
                                               (3, [(10, 20), (33, 43), (66, 76)])])
def test_temporal_order_definition(relevant, windows):
    t = tasks.build("temporal_order", {**SMALL, "relevant": relevant}, seed=2)
    assert t.output_size == 2 ** relevant and t.input_size == 8
    for s in t.splits.values():
        assert s.lengths is not None and s.x.shape[1] == 110
        assert ((s.lengths >= 100) & (s.lengths <= 110)).all()
        for x, n, label in zip(s.x.numpy(), s.lengths.numpy(), s.y.numpy()):
            seq = x[:n]
            assert seq[0] == TOK["E"] and seq[-1] == TOK["B"]
            assert (x[n:] == 0).all()                                  # right padding
            pos = np.flatnonzero((seq == TOK["X"]) | (seq == TOK["Y"]))
            assert len(pos) == relevant
            for p, (lo, hi) in zip(pos, windows):
                assert lo <= p + 1 <= hi                               # 1-based positions
            middle = np.delete(seq, [0, n - 1, *pos])
            assert (middle < 4).all()                                  # distractors a..d only
            bits = [int(seq[p] == TOK["Y"]) for p in pos]
            assert label == int("".join(map(str, bits)), 2)            # XX=0, XY=1, YX=2, YY=3
    y = t.splits["train"].y
    assert set(y.tolist()) == set(range(2 ** relevant))


def test_temporal_order_baseline_is_majority_class():
    t = tasks.build("temporal_order", SMALL, seed=0)
    train_y, test_y = t.splits["train"].y.numpy(), t.splits["test"].y.numpy()
    majority = np.bincount(train_y).argmax()
    assert t.baseline() == pytest.approx(np.mean(test_y == majority))
    assert 0.15 < t.baseline() < 0.4
    assert t.solved(1.0) is True and t.solved(0.999) is False


# ------------------------------------------------------------------------------ common
@pytest.mark.parametrize("name, params", [
    ("adding", {**SMALL, "seq_len": 30}),
    ("copy", {**SMALL, "seq_len": 30}),
    ("temporal_order", SMALL),
])
def test_splits_are_disjoint_and_seeded(name, params):
    a = tasks.build(name, params, seed=0).splits
    rows = {k: row_set(torch.cat([v.x.reshape(len(v), -1).float(), v.y.reshape(len(v), -1).float()], 1))
            for k, v in a.items()}
    assert not rows["train"] & rows["test"] and not rows["train"] & rows["val"] and not rows["val"] & rows["test"]
    b = tasks.build(name, params, seed=0).splits
    c = tasks.build(name, params, seed=1).splits
    assert torch.equal(a["train"].x, b["train"].x)
    assert not torch.equal(a["train"].x, c["train"].x)
    # a split's content does not depend on the size of the others (disjoint streams)
    d = tasks.build(name, {**params, "n_train": 50}, seed=0).splits
    assert torch.equal(a["test"].x, d["test"].x)


@pytest.mark.parametrize("name, params, word", [
    ("adding", {"seq_len": 1}, "seq_len"),
    ("adding", {"variant": "middle"}, "'middle'"),
    ("adding", {"n_train": 0}, "n_train"),
    ("copy", {"seq_len": 0}, "seq_len"),
    ("copy", {"n_symbols": 1}, "n_symbols"),
    ("copy", {"copy_len": -2}, "-2"),
    ("copy", {"seq_len": "long"}, "'long'"),
    ("temporal_order", {"relevant": 4}, "4"),
    ("temporal_order", {"n_test": -1}, "-1"),
    ("temporal_order", {"length": 100}, "'length'"),
])
def test_bad_parameters_name_the_value(name, params, word):
    with pytest.raises(UsageError, match=word.replace("(", r"\(")):
        tasks.build(name, params)
