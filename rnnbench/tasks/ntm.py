"""The copy tasks of the Neural Turing Machine paper (Graves, Wayne & Danihelka 2014, section 4).

seqcopy (4.1; `copy` is Hochreiter's copy-memory problem, longdep.py): copy a sequence of random
W-bit vectors (W = width, 8), L ~ U{min_len..max_len} (1..20) vectors long, after a delimiter.

    step     0 .. L-1       L            L+1 .. 2L
    input    b_1 .. b_L     delimiter    0                 W + 1 channels (the last: delimiter)
    target   -              -            b_1 .. b_L        W channels, scored at steps L+1 .. 2L

repeat-copy (4.2): the sequence, then the repeat count R ~ U{min_repeats..max_repeats} (1..10),
normalised to mean 0 and variance 1 over that range, on a channel of its own; the target is R
copies and then an end marker on an extra output channel (the model must count).

    step     0 .. L-1     L        L+1        L+2 .. L+1+RL        L+2+RL
    input    b_1 .. b_L   delim    (R-μ)/σ    0                    0        W + 2 channels
    target   -            -        -          R copies of b_1..b_L end      W + 1 channels

Batches mix lengths: every sequence is right-padded to the longest of its split and carries its
length (Split.lengths = 2L + 1, or L + 3 + RL). Split.y holds the targets and, as its last
channel, the mask of the scored steps (1 from the delimiter's step + 1 on seqcopy, + 2 on
repeat-copy, to the end of the sequence; 0 before and in the padding): the loss and the metrics
see only those, and a window of steps (truncated BPTT) carries its own. A training step runs the
batch cut to its own longest sequence (the steps after it are padding).

    loss      binary cross-entropy of the logits (σ(y) = P(bit = 1)), mean over scored bits
    bits_err  the paper's "cost per sequence": wrong bits after thresholding σ(y) at 0.5 (y > 0),
              summed over a sequence's scored steps and channels (the end-marker channel too),
              mean over sequences; solved at <= 0.5 bits per sequence on the validation split
    baseline  the all-zeros output (every logit < 0): its bits_err is the number of ones among the
              scored targets, W L / 2 per copy on average (42 on seqcopy at 1..20; with the end
              marker, 4 L R + 1 on repeat-copy). Predicting 0.5 and thresholding gives the same.
    also      bce (nats per scored bit), seq_exact (share of sequences without a wrong bit)

Generalisation (the paper's figures 4 and 8): after training, n_gen test sequences at each of
test_lengths (seqcopy; repeat-copy: lengths with R drawn from the training range, and test_repeats
with L drawn from it) give one metric each in metrics.json, `bits_err_L<n>` (`bits_err_R<n>`), and
the artifact `generalisation.csv`. A model with an addressable memory (models/ntm.py) also writes
`addressing.json`, its read and write weightings over one test sequence (trace_length), for a
heatmap as the paper's figures 6 and 9.

Family "long-dependency": the first vector must be recalled L + 1 steps after it was seen (R L on
repeat-copy) with all the others held at once, and `max_len` (length_param) sets that span.
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .base import Split, Task, param, positive, register, rng
from ..errors import UsageError
from ..io import atomic_write_text

CITATION = "Graves, Wayne & Danihelka 2014, Neural Turing Machines (arXiv:1410.5401), section 4"
# Training defaults (RunConfig keys): the paper's controller (100 LSTM units); the batch and Adam
# learning rate of Collier & Smith 2018's NTM runs (32, 1e-3; they clip the gradient norm at 50, the
# runner's default is 1: 10 is what scripts/measure_ntm.py measured with, not tuned). 10 epochs of
# the 10,000 sequences are 3,130 steps: the NTM's measured steps to solve at 1..20 (seed 0) fit.
DEFAULTS = {"epochs": 10, "batch_size": 32, "hidden": 100, "lr": 1e-3, "clip": 10.0}
GENERALISATION_CSV = "generalisation.csv"
ADDRESSING_JSON = "addressing.json"
MAX_TEST = 10_000        # a generalisation length or repeat count (n_gen x 2 x 10000 steps x W + 1 floats)
TRACE_SALT = 10_000      # the stream of the traced sequence (generalisation set i uses salt i + 1)


def parse_lengths(task: str, key: str, text: str) -> list[int]:
    """"10,20,50" -> [10, 20, 50] (sorted, distinct); "" -> []. One line naming a bad value."""
    out = []
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        try:
            n = int(part)
        except ValueError:
            n = 0
        if n < 1 or n > MAX_TEST:
            raise UsageError(f"task {task!r} parameter {key!r}: {part!r} is not a length in 1..{MAX_TEST} "
                             f"(valid: comma-separated positive integers, e.g. '10,20,50')")
        out.append(n)
    return sorted(set(out))


def bits(g: np.random.Generator, n: int, length: int, width: int) -> np.ndarray:
    """[n, length, width] random bits, each 1 with probability 1/2."""
    return g.integers(0, 2, (n, length, width)).astype(np.float32)


class BitCopy(Task):
    """What seqcopy and repeat-copy share: padded splits, the masked loss, bits_err, generalisation."""
    citation = CITATION
    family = "long-dependency"
    lockstep = False                     # sequences of different lengths share a batch
    length_param = "max_len"
    kind = "many_to_many"
    metric = "bits_err"
    direction = "min"
    solved_threshold = 0.5
    defaults = DEFAULTS

    # ---- data ------------------------------------------------------------------------------
    def check(self):
        p = self.params
        positive(self.name, min_len=p.min_len, width=p.width, n_train=p.n_train, n_val=p.n_val,
                 n_test=p.n_test, n_gen=p.n_gen, trace_length=p.trace_length)
        if p.max_len < p.min_len:
            raise UsageError(f"task {self.name!r} parameter 'max_len' must be >= min_len {p.min_len}, "
                             f"got {p.max_len}")
        self.test_lengths = parse_lengths(self.name, "test_lengths", p.test_lengths)
        for k in ("trace_length", "trace_repeats"):
            if getattr(p, k, 1) > MAX_TEST:
                raise UsageError(f"task {self.name!r} parameter {k!r} must be at most {MAX_TEST}, "
                                 f"got {getattr(p, k)}")

    def make_splits(self):
        p = self.params
        sizes = {"train": p.n_train, "val": p.n_val, "test": p.n_test}
        return {name: self.generate(n, rng(self.seed, name)) for name, n in sizes.items()}

    def generate(self, n: int, g: np.random.Generator, **fixed) -> Split:
        """n sequences, lengths (and repeats) drawn from the training ranges unless fixed."""
        raise NotImplementedError

    @property
    def input_size(self) -> int:
        return self.params.width + 1

    @property
    def output_size(self) -> int:
        return self.params.width

    def _split(self, x: np.ndarray, y: np.ndarray, scored: np.ndarray, lengths: np.ndarray) -> Split:
        """A Split whose y is [targets; mask of the scored steps] (module docstring)."""
        y = np.concatenate([y, scored[..., None].astype(np.float32)], -1)
        return Split(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths))

    def generalisation_sets(self) -> list[tuple[dict, Split]]:
        """[(what is fixed, e.g. {"length": 50}, split)]: n_gen sequences each (its own stream)."""
        if getattr(self, "_gen", None) is None:
            self._gen = [(fixed, self.generate(self.params.n_gen, rng(self.seed, "test", salt=i + 1), **fixed))
                         for i, fixed in enumerate(self.generalisation_points())]
        return self._gen

    def generalisation_points(self) -> list[dict]:
        return [{"length": n} for n in self.test_lengths]

    def in_training_range(self, fixed: dict) -> bool:
        p = self.params
        return p.min_len <= fixed.get("length", p.min_len) <= p.max_len

    # ---- masks, loss, metrics -------------------------------------------------------------
    @staticmethod
    def mask(split: Split) -> torch.Tensor:
        """[N, T] bool: the scored steps (the last channel of y)."""
        return split.y[..., -1] > 0

    @staticmethod
    def targets(split: Split) -> torch.Tensor:
        """[N, T, C]: the target bits (y without its mask channel)."""
        return split.y[..., :-1]

    @staticmethod
    def trim(batch: Split) -> Split:
        """The batch cut to its longest sequence."""
        T = int(batch.lengths.max())
        return Split(batch.x[:, :T], batch.y[:, :T], batch.lengths)

    def loss(self, pred, batch):
        m = self.mask(batch)
        if not bool(m.any()):                # a truncated-BPTT window before the output phase
            return pred.sum() * 0.0
        return F.binary_cross_entropy_with_logits(pred[m], self.targets(batch)[m])

    def train_loss(self, model, batch, step):
        batch = self.trim(batch)
        pred, _ = model(batch.x, lengths=batch.lengths)
        return self.loss(pred, batch)

    @torch.no_grad()
    def predict(self, model, split, batch_size):
        T = split.x.shape[1]
        outs = []
        for b in split.batches(batch_size):
            b = self.trim(b)
            pred = model(b.x, lengths=b.lengths)[0]
            outs.append(F.pad(pred, (0, 0, 0, T - pred.shape[1])))
        return torch.cat(outs)

    def metrics(self, pred, split):
        m = self.mask(split)
        y = self.targets(split)
        wrong = ((pred > 0).to(y.dtype) != y) & m.unsqueeze(-1)                     # [N, T, C]
        per_seq = wrong.sum((1, 2)).double()
        return {"bits_err": float(per_seq.mean()),
                "bce": float(F.binary_cross_entropy_with_logits(pred[m].float(), y[m])),
                "seq_exact": float((per_seq == 0).double().mean())}

    def evaluate(self, model, split_name, batch_size=1024, device="cpu"):
        """The split's metrics; for "test", also bits_err at every generalisation point."""
        out = super().evaluate(model, split_name, batch_size, device)
        if split_name == "test":
            out.update({self.metric_name(fixed): v for fixed, v in self.generalisation(model, batch_size, device)})
        return out

    @staticmethod
    def metric_name(fixed: dict) -> str:
        """{"length": 50} -> "bits_err_L50"; {"repeats": 20} -> "bits_err_R20"."""
        return "bits_err_" + "".join(f"{k[0].upper()}{v}" for k, v in fixed.items())

    def generalisation(self, model, batch_size, device="cpu") -> list[tuple[dict, float]]:
        out = []
        for fixed, split in self.generalisation_sets():
            split = split.to(device)
            out.append((fixed, self.metrics(self.predict(model, split, batch_size), split)["bits_err"]))
        return out

    def baseline(self) -> float:
        """bits_err of the all-zeros output on the test split: the ones among its scored targets."""
        test = self.splits["test"]
        return float((self.targets(test) * self.mask(test).unsqueeze(-1)).sum((1, 2)).double().mean())

    # ---- artifacts ---------------------------------------------------------------------------
    def artifacts(self, model, out_dir, device="cpu"):
        was = model.training
        model.eval()
        try:
            self._write_generalisation(model, Path(out_dir), device)
            self._write_addressing(model, Path(out_dir), device)
        finally:
            model.train(was)

    def _write_generalisation(self, model, out_dir: Path, device) -> None:
        """generalisation.csv: one row per point; a column left empty is drawn from the training range."""
        keys = sorted({k for fixed in self.generalisation_points() for k in fixed})
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*keys, "bits_per_sequence", "n_sequences", "in_training_range"])
        for fixed, v in self.generalisation(model, 1024, device):
            w.writerow([*(fixed.get(k, "") for k in keys), repr(v), self.params.n_gen,
                        self.in_training_range(fixed)])
        atomic_write_text(out_dir / GENERALISATION_CSV, buf.getvalue())

    def trace_point(self) -> dict:
        return {"length": self.params.trace_length}

    def _write_addressing(self, model, out_dir: Path, device) -> None:
        """addressing.json (models with a memory only): one test sequence's read and write weightings."""
        from ..models.ntm import addressing_trace

        fixed = self.trace_point()
        seq = self.generate(1, rng(self.seed, "test", salt=TRACE_SALT), **fixed)
        T = int(seq.lengths[0])
        x = seq.x[:, :T].to(device)
        trace = addressing_trace(model, x)
        if trace is None:
            return
        with torch.no_grad():
            out = torch.sigmoid(model(x)[0][0]).cpu()
        m = self.mask(seq)[0, :T]
        rows = lambda t, nd: [[round(float(v), nd) for v in r] for r in t]  # noqa: E731
        doc = {"task": self.name, **fixed, "steps": T,
               "scored_steps": [int(m.nonzero()[0]), int(m.nonzero()[-1])],
               "memory_slots": int(trace["read"].shape[-1]),
               "input": rows(seq.x[0, :T], 4), "target": rows(self.targets(seq)[0, :T], 4), "output": rows(out, 4),
               "read": rows(trace["read"][0].cpu(), 5), "write": rows(trace["write"][0].cpu(), 5)}
        atomic_write_text(out_dir / ADDRESSING_JSON, json.dumps(doc, separators=(",", ":")) + "\n")


@register("seqcopy")
class SeqCopy(BitCopy):
    """Copy (NTM): reproduce a sequence of random bit vectors after a delimiter."""
    title = "Copy (NTM)"

    @dataclass
    class Params:
        min_len: int = param(1, "shortest training sequence (vectors)")
        max_len: int = param(20, "longest training sequence: L ~ U{min_len..max_len} (the paper: 1..20)")
        width: int = param(8, "bits per vector (the paper: 8)")
        test_lengths: str = param("10,20,30,50,80,100", "generalisation lengths, comma-separated: "
                                  "metrics bits_err_L<n>, generalisation.csv")
        n_gen: int = param(100, "test sequences per generalisation length")
        trace_length: int = param(20, "length of the test sequence whose weightings addressing.json holds")
        n_train: int = param(10000, "training sequences")
        n_val: int = param(500, "validation sequences")
        n_test: int = param(1000, "test sequences (lengths as in training)")

    def generate(self, n, g, length=None):
        p = self.params
        W = p.width
        L = np.full(n, length) if length is not None else g.integers(p.min_len, p.max_len + 1, n)
        Tmax = 2 * int(L.max()) + 1
        b = bits(g, n, int(L.max()), W)
        x = np.zeros((n, Tmax, W + 1), dtype=np.float32)
        y = np.zeros((n, Tmax, W), dtype=np.float32)
        scored = np.zeros((n, Tmax), dtype=bool)
        for i, l in enumerate(L):          # numpy slices per sequence: data is made once per run
            x[i, :l, :W] = b[i, :l]
            x[i, l, W] = 1.0
            y[i, l + 1:2 * l + 1] = b[i, :l]
            scored[i, l + 1:2 * l + 1] = True
        return self._split(x, y, scored, 2 * L + 1)


@register("repeat-copy")
class RepeatCopy(BitCopy):
    """Repeat copy (NTM): output a sequence of bit vectors R times, R given as input, then an end marker."""
    title = "Repeat copy (NTM)"

    @dataclass
    class Params:
        min_len: int = param(1, "shortest training sequence (vectors)")
        max_len: int = param(10, "longest training sequence: L ~ U{min_len..max_len} (the paper: 1..10)")
        min_repeats: int = param(1, "fewest repeats")
        max_repeats: int = param(10, "most repeats: R ~ U{min_repeats..max_repeats} (the paper: 1..10)")
        width: int = param(8, "bits per vector (the paper: 8)")
        test_lengths: str = param("10,15,20", "generalisation lengths (R drawn from the training range): "
                                  "metrics bits_err_L<n>")
        test_repeats: str = param("10,15,20", "generalisation repeat counts (L drawn from the training "
                                  "range): metrics bits_err_R<n>")
        n_gen: int = param(100, "test sequences per generalisation point")
        trace_length: int = param(5, "length of the test sequence whose weightings addressing.json holds")
        trace_repeats: int = param(3, "its repeat count")
        n_train: int = param(10000, "training sequences")
        n_val: int = param(500, "validation sequences")
        n_test: int = param(1000, "test sequences (lengths and repeats as in training)")

    def check(self):
        super().check()
        p = self.params
        positive(self.name, min_repeats=p.min_repeats, trace_repeats=p.trace_repeats)
        if p.max_repeats < p.min_repeats:
            raise UsageError(f"task {self.name!r} parameter 'max_repeats' must be >= min_repeats "
                             f"{p.min_repeats}, got {p.max_repeats}")
        self.test_repeats = parse_lengths(self.name, "test_repeats", p.test_repeats)

    @property
    def input_size(self) -> int:
        return self.params.width + 2

    @property
    def output_size(self) -> int:
        return self.params.width + 1

    def normalised(self, repeats: np.ndarray) -> np.ndarray:
        """(R - μ) / σ, μ and σ of the uniform distribution on min_repeats..max_repeats (σ = 1 if it
        is one value), as loudinthecloud/pytorch-ntm; the paper: "normalised to mean 0, variance 1"."""
        p = self.params
        mean = (p.min_repeats + p.max_repeats) / 2
        std = math.sqrt(((p.max_repeats - p.min_repeats + 1) ** 2 - 1) / 12) or 1.0
        return ((repeats - mean) / std).astype(np.float32)

    def generate(self, n, g, length=None, repeats=None):
        p = self.params
        W = p.width
        L = np.full(n, length) if length is not None else g.integers(p.min_len, p.max_len + 1, n)
        R = np.full(n, repeats) if repeats is not None else g.integers(p.min_repeats, p.max_repeats + 1, n)
        lengths = L + 3 + L * R
        Tmax = int(lengths.max())
        b = bits(g, n, int(L.max()), W)
        norm = self.normalised(R)
        x = np.zeros((n, Tmax, W + 2), dtype=np.float32)
        y = np.zeros((n, Tmax, W + 1), dtype=np.float32)
        scored = np.zeros((n, Tmax), dtype=bool)
        for i, (l, r) in enumerate(zip(L, R)):
            x[i, :l, :W] = b[i, :l]
            x[i, l, W] = 1.0
            x[i, l + 1, W + 1] = norm[i]
            y[i, l + 2:l + 2 + l * r, :W] = np.tile(b[i, :l], (r, 1))
            y[i, l + 2 + l * r, W] = 1.0
            scored[i, l + 2:l + 3 + l * r] = True
        return self._split(x, y, scored, lengths)

    def generalisation_points(self):
        return [{"length": n} for n in self.test_lengths] + [{"repeats": r} for r in self.test_repeats]

    def in_training_range(self, fixed):
        p = self.params
        repeats = fixed.get("repeats", p.min_repeats)
        return super().in_training_range(fixed) and p.min_repeats <= repeats <= p.max_repeats

    def trace_point(self):
        return {"length": self.params.trace_length, "repeats": self.params.trace_repeats}
