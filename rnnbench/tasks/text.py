"""The course lab's text tasks, on their real data, with the lab's settings as defaults.

Source: the guided laboratory on recurrent networks of the course "Deep Learning"
(FIB-UPC; J. Bejar, github.com/bejar/DLMAI), scripts Sentiment/Sentiment.py and
TextGeneration/TextGenerator.py.

sentiment: airline tweets (Airlines.csv) -> negative / neutral / positive (0 / 1 / 2).
    The lab's cleaning: keep letters and '@' only, lower case, split on blanks, drop
    @mentions; the vocabulary is the `vocab_words` most frequent words of all tweets
    (ties in order of first appearance), id 1..V, others dropped; tweets left empty are
    dropped; then 80 / 10 / 10 % train / val / test in file order. Model: an embedding
    layer (`embedding_dim`), the RNN, a linear head on the last real word's state.
    Metrics: accuracy and macro-F1. Baseline: the majority training class.

    Padding differs from the lab on purpose. The lab left-pads every tweet with id 0 to
    the longest one and runs the RNN over the padding, so a short tweet is read after
    ~20 steps of a (learned) "padding word". Here tweets are right-padded and their
    lengths travel in Split.lengths: the model zoo packs the sequences, the padding never
    enters the recurrence, and the classifier sees the state after the last real word
    (for a bidirectional model the backward direction also starts at that word). Results
    then do not depend on the longest tweet in the file, and every architecture (fused
    or explicit cell) sees exactly the same inputs.

textgen: character-level language model on poetry{1..4}.txt.gz (lower-cased, BOM -> blank).
    Windows of `window` characters taken every `step` characters predict the next one
    (many-to-one, as the lab). The text is split contiguously (first 90 % train, next 5 %
    val, last 5 % test) and windows never cross a split boundary. Inputs are token ids
    (one-hot inside the model; the corpus is never materialised as one-hot), windows are
    strided views of one id tensor. Metric: next-character cross-entropy in nats (also
    bits per character and accuracy). Baseline: the training unigram distribution
    (add-one smoothed) scored on the test targets, i.e. the unigram cross-entropy.
    After training, `samples.txt` holds continuations of a test window at temperatures
    0.2 / 0.5 / 1.0, generated as the lab does (sliding window of the last `window`
    characters, one character sampled at a time), seeded.
"""
from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import Split, Task, param, register, rng
from .lab import LAB_NOTES
from .metrics import classification, majority_accuracy
from ..errors import UsageError
from ..io import atomic_write_text

SENTIMENTS = ("negative", "neutral", "positive")


def clean_tweet(text: str) -> list[str]:
    """The lab's tweet_to_words: letters and '@' only, lower case, no @mentions."""
    words = re.sub("[^a-zA-Z@]", " ", text).lower().split()
    return [w for w in words if not w.startswith("@")]


def build_vocab(texts: list[list[str]], size: int) -> dict[str, int]:
    """The `size` most frequent words -> 1..size (ties in order of first appearance, as the lab)."""
    counts = Counter(w for words in texts for w in words)
    ranked = sorted(counts, key=counts.get, reverse=True)[:size]
    return {w: i for i, w in enumerate(ranked, 1)}


@register("sentiment")
class Sentiment(Task):
    """Airline tweet sentiment: negative / neutral / positive from the words (course lab)."""
    title = "Tweet sentiment (course lab)"
    citation = "DLMAI lab Sentiment/Sentiment.py; data: CrowdFlower Twitter US Airline Sentiment"
    family = "course-lab"                # tweet lengths come from the data: no length_param
    lockstep = False                     # sequences of different lengths share a batch
    reference = {"seconds": 180.0, "source": LAB_NOTES,
                 "setting": "embedding + LSTM 64, 1 layer, 50 epochs, batch 100, SGD 0.01 (this task's defaults)"}
    kind = "many_to_one"
    metric = "accuracy"
    direction = "max"
    datasets = ("airline-tweets",)
    # The lab: LSTM 64, 1 layer, 50 epochs, SGD lr 0.01 momentum 0.95, batch 100, no clipping.
    defaults = {"hidden": 64, "layers": 1, "epochs": 50, "batch_size": 100, "optimizer": "sgd",
                "lr": 0.01, "momentum": 0.95, "clip": None}
    n_classes = len(SENTIMENTS)

    @dataclass
    class Params:
        vocab_words: int = param(5000, "vocabulary: the most frequent words kept (the lab's text: 5000; "
                                 "its script: 200)")
        embedding_dim: int = param(40, "embedding size (the lab's text: 40; its script: 20)")
        train_fraction: float = param(0.8, "first share of the tweets (file order) for training; the "
                                      "rest is halved into val and test")

    def check(self):
        p = self.params
        for k in ("vocab_words", "embedding_dim"):
            if getattr(p, k) <= 0:
                raise UsageError(f"task 'sentiment' parameter {k!r} must be positive, got {getattr(p, k)!r}")
        if not 0.0 < p.train_fraction < 1.0:
            raise UsageError(f"task 'sentiment' parameter 'train_fraction' must be in (0, 1), "
                             f"got {p.train_fraction!r}")

    @property
    def vocab_size(self) -> int:          # ids 1..V and 0 for padding
        return self.params.vocab_words + 1

    @property
    def input_size(self) -> int:
        return self.vocab_size

    @property
    def output_size(self) -> int:
        return self.n_classes

    def model_kwargs(self, cfg):
        return {**super().model_kwargs(cfg), "embedding_dim": self.params.embedding_dim}

    def encode(self) -> tuple[list[list[int]], np.ndarray]:
        """(word ids of each kept tweet, labels), in file order, empty tweets dropped."""
        import pandas as pd
        from .. import data

        path = data.resolve("airline-tweets", data_dir=self.data_dir)["Airlines.csv"]
        df = pd.read_csv(path, usecols=["twsentiment", "text"])
        unknown = sorted(set(df["twsentiment"]) - set(SENTIMENTS))
        if unknown:
            raise UsageError(f"{path}: unknown sentiment labels {unknown} (valid: {', '.join(SENTIMENTS)})")
        words = [clean_tweet(t) for t in df["text"].astype(str)]
        vocab = build_vocab(words, self.params.vocab_words)
        ids = [[vocab[w] for w in ws if w in vocab] for ws in words]
        labels = df["twsentiment"].map({s: i for i, s in enumerate(SENTIMENTS)}).to_numpy(np.int64)
        keep = [i for i, seq in enumerate(ids) if seq]
        return [ids[i] for i in keep], labels[keep]

    def make_splits(self):
        ids, labels = self.encode()
        n = len(ids)
        lengths = np.array([len(s) for s in ids], dtype=np.int64)
        x = np.zeros((n, lengths.max()), dtype=np.int64)       # right padding with id 0
        for i, seq in enumerate(ids):
            x[i, :len(seq)] = seq
        a = int(n * self.params.train_fraction)                 # the lab: int(0.8 n), then halves
        b = a + int((n - a) * 0.5)
        out = {}
        for name, sl in (("train", slice(0, a)), ("val", slice(a, b)), ("test", slice(b, n))):
            m = int(lengths[sl].max())                          # trim each split's padding
            out[name] = Split(torch.from_numpy(np.ascontiguousarray(x[sl, :m])),
                              torch.from_numpy(labels[sl]), torch.from_numpy(lengths[sl]))
        return out

    def metrics(self, pred, split):
        return classification(pred, split.y, self.n_classes)

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)


@register("textgen")
class TextGen(Task):
    """Poetry, character by character: predict the next character of a 50-character window (course lab)."""
    title = "Character-level text generation (course lab)"
    citation = "DLMAI lab TextGeneration/TextGenerator.py (after keras' lstm_text_generation example)"
    family = "course-lab"
    length_param = "window"              # characters per input window
    reference = {"seconds": 23 * 60.0, "source": LAB_NOTES,
                 "setting": "LSTM 64, 1 layer, 10 x 10 epochs, batch 2048, Adam, poetry1 (this task's defaults)"}
    kind = "many_to_one"
    metric = "ce"
    direction = "min"
    datasets = ("poetry",)
    # The lab: LSTM 64, 1 layer, 10 iterations x 10 epochs, batch 2048, Adam (Keras default lr 1e-3).
    defaults = {"hidden": 64, "layers": 1, "epochs": 100, "batch_size": 2048, "optimizer": "adam",
                "lr": 1e-3, "clip": None}
    temperatures = (0.2, 0.5, 1.0)
    _text: str | None = None           # the corpus, read once
    _chars: list[str] | None = None

    @dataclass
    class Params:
        corpus: int = param(1, "poetry corpus 1..4 (163 K, 316 K, 618 K, 1.27 M characters)",
                            choices=(1, 2, 3, 4))
        window: int = param(50, "characters in each input window")
        step: int = param(3, "characters between the starts of consecutive windows")
        val_fraction: float = param(0.05, "share of the text (after train) for validation")
        test_fraction: float = param(0.05, "share of the text (at its end) for test")
        sample_chars: int = param(400, "characters generated per temperature after training")

    def check(self):
        p = self.params
        for k in ("window", "step", "sample_chars"):
            if getattr(p, k) <= 0:
                raise UsageError(f"task 'textgen' parameter {k!r} must be positive, got {getattr(p, k)!r}")
        for k in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(p, k) < 0.5:
                raise UsageError(f"task 'textgen' parameter {k!r} must be in (0, 0.5), got {getattr(p, k)!r}")

    # ---- data ------------------------------------------------------------------------------
    def text(self) -> str:
        if self._text is None:
            from .. import data
            name = f"poetry{self.params.corpus}.txt.gz"
            path = data.resolve("poetry", files=[name], data_dir=self.data_dir)[name]
            with gzip.open(path, "rt", encoding="utf-8") as f:
                self._text = f.read().lower().replace("\ufeff", " ")
        return self._text

    @property
    def chars(self) -> list[str]:
        """The alphabet: every character of the corpus, sorted (the lab's)."""
        if self._chars is None:
            self._chars = sorted(set(self.text()))
        return self._chars

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    @property
    def input_size(self) -> int:
        return self.vocab_size

    @property
    def output_size(self) -> int:
        return self.vocab_size

    def encode(self, s: str) -> torch.Tensor:
        lut = np.full(max(map(ord, self.chars)) + 1, -1, dtype=np.int64)
        lut[[ord(c) for c in self.chars]] = np.arange(len(self.chars))
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        if codes.size and (codes.max() >= len(lut) or (lut[codes] < 0).any()):
            raise UsageError("textgen: text holds characters outside the corpus alphabet")
        return torch.from_numpy(lut[codes])

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def boundaries(self, n: int) -> tuple[int, int]:
        p = self.params
        test_start = n - int(round(p.test_fraction * n))
        val_start = test_start - int(round(p.val_fraction * n))
        return val_start, test_start

    def _windows(self, ids: torch.Tensor) -> Split:
        """x [N, window] (a strided view of ids), y [N]: the character after each window."""
        p = self.params
        if len(ids) <= p.window:
            raise UsageError(f"textgen: a split of {len(ids)} characters is too short for windows of "
                             f"{p.window}: lower 'window' or raise the split's fraction")
        x = ids[:-1].unfold(0, p.window, p.step)                  # a view: no copy of the corpus
        y = ids[p.window::p.step][:len(x)].clone()
        return Split(x, y)

    def make_splits(self):
        ids = self.encode(self.text())
        v, t = self.boundaries(len(ids))
        return {"train": self._windows(ids[:v]), "val": self._windows(ids[v:t]),
                "test": self._windows(ids[t:])}

    # ---- metrics ---------------------------------------------------------------------------
    def metrics(self, pred, split):
        ce = float(F.cross_entropy(pred.float(), split.y))
        acc = float((pred.argmax(-1) == split.y).float().mean())
        return {"ce": ce, "bpc": ce / math.log(2), "accuracy": acc}

    def unigram_log_probs(self) -> torch.Tensor:
        counts = torch.bincount(self.splits["train"].y, minlength=self.vocab_size).double() + 1.0
        return torch.log(counts / counts.sum())

    def baseline(self) -> float:
        """Cross-entropy (nats) of the training unigram distribution on the test targets."""
        return float(-self.unigram_log_probs()[self.splits["test"].y].mean())

    # ---- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, model, prime: torch.Tensor, n: int, temperatures, seed: int, device="cpu") -> torch.Tensor:
        """[len(temperatures), n] ids: sliding-window sampling as the lab, one row per temperature."""
        g = torch.Generator(device="cpu").manual_seed(seed)
        temps = torch.tensor(temperatures, dtype=torch.float64)[:, None]
        window = prime.to(device)[None, :].repeat(len(temperatures), 1)
        out = torch.empty(len(temperatures), n, dtype=torch.long)
        for i in range(n):
            logits = model(window)[0].double().cpu()              # [B, V]
            probs = torch.softmax(logits / temps, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=g)[:, 0]
            out[:, i] = nxt
            window = torch.cat([window[:, 1:], nxt[:, None].to(device)], dim=1)
        return out

    def artifacts(self, model, out_dir: Path, device="cpu"):
        p = self.params
        test = self.splits["test"]
        g = rng(self.seed, "test", salt=1)
        prime = test.x[int(g.integers(len(test)))].clone()
        model.eval()
        ids = self.sample(model, prime, p.sample_chars, self.temperatures, seed=self.seed, device=device)
        parts = [f"# textgen samples: corpus poetry{p.corpus}, seed {self.seed}, {p.sample_chars} "
                 f"characters per temperature after the prime window\n",
                 "## prime\n", self.decode(prime) + "\n"]
        for temp, row in zip(self.temperatures, ids):
            parts += [f"\n## temperature {temp}\n", self.decode(row) + "\n"]
        atomic_write_text(Path(out_dir) / "samples.txt", "".join(parts))
