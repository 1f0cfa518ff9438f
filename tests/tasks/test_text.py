"""Course-lab text tasks: cleaning, vocabulary, padding, windows, baselines, samples."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import UsageError
from rnnbench.tasks.text import build_vocab, clean_tweet
from taskhelpers import (LAB_SMALL, POEM, SHARED, TWEETS, airlines_bytes, fake_dataset, needs_data,
                         poetry_bytes)


# ------------------------------------------------------------------------------ sentiment
def test_clean_tweet_is_the_labs():
    assert clean_tweet("@united Thanks!! Great flight :) #happy") == ["thanks", "great", "flight", "happy"]
    assert clean_tweet("@JetBlue 1234 !!! @someone") == []
    assert clean_tweet("mail me@home.com, it's 5pm") == ["mail", "me@home", "com", "it", "s", "pm"]


def test_vocabulary_ranks_by_count_then_first_appearance():
    vocab = build_vocab([["b", "a", "c"], ["a", "c", "d"], ["d"]], 3)
    assert vocab == {"a": 1, "c": 2, "d": 3}                          # counts 2, 2, 2 > 1: first seen a, c, d
    assert build_vocab([["x", "y"], ["y"]], 5) == {"y": 1, "x": 2}


@pytest.fixture
def tweets(tmp_path, monkeypatch):
    fake_dataset(monkeypatch, tmp_path, "airline-tweets", {"course/Airlines.csv": airlines_bytes()})
    return tmp_path


def test_sentiment_encoding_padding_and_split(tweets):
    t = tasks.build("sentiment", {"vocab_words": 6, "train_fraction": 0.6}, data_dir=tweets)
    kept = [(label, clean_tweet(text)) for label, text in TWEETS if clean_tweet(text)]
    assert len(kept) == len(TWEETS) - 1                               # the empty tweet is dropped
    vocab = build_vocab([w for _, w in kept] + [[]], 6)
    s = t.splits
    n = len(kept)
    a = int(n * 0.6)
    b = a + int((n - a) * 0.5)
    assert [len(s[k]) for k in ("train", "val", "test")] == [a, b - a, n - b]   # file order
    x = [row for k in ("train", "val", "test") for row in s[k].x.tolist()]
    lengths = torch.cat([s[k].lengths for k in ("train", "val", "test")]).tolist()
    labels = torch.cat([s[k].y for k in ("train", "val", "test")]).tolist()
    for (label, words), row, n_ids, y in zip(kept, x, lengths, labels):
        ids = [vocab[w] for w in words if w in vocab]
        assert n_ids == len(ids) and row[:n_ids] == ids               # right padding ...
        assert all(v == 0 for v in row[n_ids:])                       # ... with id 0
        assert y == ("negative", "neutral", "positive").index(label)
    assert t.vocab_size == 7 and t.input_size == 7 and t.output_size == 3


def test_sentiment_metrics_and_baseline(tweets):
    t = tasks.build("sentiment", {"train_fraction": 0.6}, data_dir=tweets)
    test = t.splits["test"]
    onehot = torch.nn.functional.one_hot(test.y, 3).float()
    m = t.metrics(onehot, test)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == pytest.approx(
        np.mean([1.0 if c in test.y.tolist() else 0.0 for c in range(3)]))
    majority = torch.bincount(t.splits["train"].y).argmax()
    assert t.baseline() == pytest.approx(float((test.y == majority).float().mean()))


def test_macro_f1_against_a_direct_computation():
    from rnnbench.tasks.metrics import macro_f1
    g = np.random.default_rng(0)
    y, p = g.integers(0, 4, 500), g.integers(0, 4, 500)
    f1s = []
    for c in range(4):
        tp, fp, fn = np.sum((p == c) & (y == c)), np.sum((p == c) & (y != c)), np.sum((p != c) & (y == c))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    assert macro_f1(torch.from_numpy(p), torch.from_numpy(y), 4) == pytest.approx(np.mean(f1s))


@needs_data
def test_sentiment_real_data_lab_setting():
    t = tasks.build("sentiment", {}, data_dir=SHARED)
    s = t.splits
    n = sum(len(v) for v in s.values())
    assert 14500 < n <= 14640 and len(s["train"]) == int(n * 0.8)
    assert t.vocab_size == 5001 and int(s["train"].x.max()) == 5000
    assert (s["train"].lengths >= 1).all() and int(s["train"].lengths.max()) == s["train"].x.shape[1]
    assert 0.5 < t.baseline() < 0.85


# ------------------------------------------------------------------------------ textgen
@pytest.fixture
def poem(tmp_path, monkeypatch):
    fake_dataset(monkeypatch, tmp_path, "poetry", {"course/poetry1.txt.gz": poetry_bytes()})
    return tmp_path


def test_textgen_windows_are_the_labs(poem):
    p = LAB_SMALL["textgen"]
    t = tasks.build("textgen", p, data_dir=poem)
    text = POEM.lower().replace("\ufeff", " ")
    assert t.text() == text and t.chars == sorted(set(text)) and t.vocab_size == len(t.chars)
    v, e = t.boundaries(len(text))
    assert e - v == round(0.1 * len(text)) and len(text) - e == round(0.1 * len(text))
    for name, part in (("train", text[:v]), ("val", text[v:e]), ("test", text[e:])):
        s = t.splits[name]
        starts = range(0, len(part) - p["window"], p["step"])          # the lab's loop
        assert len(s) == len(starts)
        for i in (0, len(starts) // 2, len(starts) - 1):
            k = starts[i]
            assert t.decode(s.x[i]) == part[k:k + p["window"]]
            assert t.chars[int(s.y[i])] == part[k + p["window"]]       # never past the split's end
    x = t.splits["train"].x
    assert x.untyped_storage().nbytes() < x.numel() * x.element_size()  # a view, not a copy


def test_textgen_metrics_and_unigram_baseline(poem):
    t = tasks.build("textgen", LAB_SMALL["textgen"], data_dir=poem)
    train_y, test_y = t.splits["train"].y.numpy(), t.splits["test"].y.numpy()
    counts = np.bincount(train_y, minlength=t.vocab_size) + 1.0
    direct = -np.mean(np.log(counts / counts.sum())[test_y])
    assert t.baseline() == pytest.approx(direct)
    test = t.splits["test"]
    logits = t.unigram_log_probs().float().expand(len(test), -1)
    m = t.metrics(logits, test)
    assert m["ce"] == pytest.approx(direct, rel=1e-5) and m["bpc"] == pytest.approx(direct / math.log(2), rel=1e-5)


def test_textgen_samples_are_written_and_seeded(poem, tmp_path):
    from rnnbench.models.heads import SequenceModel
    t = tasks.build("textgen", LAB_SMALL["textgen"], seed=3, data_dir=poem)
    torch.manual_seed(0)
    model = SequenceModel("lstm", t.input_size, 8, t.output_size, vocab_size=t.vocab_size)
    for out in ("a", "b"):
        t.artifacts(model, tmp_path / out)
    text = (tmp_path / "a" / "samples.txt").read_text()
    assert text == (tmp_path / "b" / "samples.txt").read_text()
    for temp in ("0.2", "0.5", "1.0"):
        assert f"## temperature {temp}\n" in text
    body = text.split("## temperature 1.0\n")[1].rstrip("\n")
    assert len(body) == LAB_SMALL["textgen"]["sample_chars"] and set(body) <= set(t.chars)


@pytest.mark.parametrize("name, params, word", [
    ("textgen", {"corpus": 5}, "5"), ("textgen", {"window": 0}, "'window'"),
    ("textgen", {"test_fraction": 0.7}, "0.7"),
    ("sentiment", {"vocab_words": 0}, "'vocab_words'"), ("sentiment", {"train_fraction": 1.0}, "1.0"),
    ("sentiment", {"embedding": 40}, "'embedding'"),
])
def test_text_bad_parameters(name, params, word):
    with pytest.raises(UsageError, match=word):
        tasks.build(name, params)


@needs_data
def test_textgen_real_corpus():
    t = tasks.build("textgen", {}, data_dir=SHARED)
    n = len(t.text())
    assert 160_000 < n < 170_000
    total = sum(len(s) for s in t.splits.values())
    assert abs(total - n / 3) < 200                                   # windows every 3 characters
    assert 2.5 < t.baseline() < 3.5                                   # unigram: ~4.4 bits per character
