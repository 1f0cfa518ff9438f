"""Long-dependency problems, as the literature defines them.

adding (Hochreiter & Schmidhuber 1997; as in Le, Jaitly & Hinton 2015):

    x_t = (u_t, m_t),  u_t ~ U[0, 1],  m_t in {0, 1} with exactly two ones
    y   = sum_t u_t m_t                     (regression from the final state, MSE)

    variant le2015: the two markers at distinct positions anywhere; arjovsky2016: the
    first in the first half [0, T/2), the second in the second half [T/2, T).
    The trivial predictor y = 1 (the mean of the sum) scores Var(u_a + u_b) = 2/12 = 1/6.
    Solved at MSE <= 0.01 (Le et al. 2015).

copy (copy memory; Hochreiter & Schmidhuber 1997, as defined by Arjovsky, Shah & Bengio 2016):

    alphabet: 0 = blank, 1..K = symbols (K = 8), K+1 = delimiter; L = 10 symbols to copy
    input   s_1 .. s_L | 0 x (T-1) | delim | 0 x L            length T + 2L (T + 20)
    target  0 x (T+L)                | s_1 .. s_L             (classes 0..K at every step)

    Loss and metric: mean cross-entropy over all T + 2L steps; recall accuracy over the L
    recall steps. The memoryless predictor (blank, then uniform over the K symbols) scores
    L ln K / (T + 2L): 0.173 at T = 100, 0.0204 at T = 1000. Solved at recall accuracy >= 99 %.

temporal_order (Hochreiter & Schmidhuber 1997, experiment 6a; 6b with relevant=3):

    alphabet {a, b, c, d, B, E, X, Y} (token ids 0..7); length L ~ U{100..110};
    position 1 is E, position L is B, the others a..d uniformly, except the relevant
    positions (1-based) t1 in [10, 20], t2 in [50, 60] (6b: t1 in [10, 20], t2 in [33, 43],
    t3 in [66, 76]) which hold X or Y. The class is the order of X / Y read as binary
    (X = 0, Y = 1, first symbol most significant): XX, XY, YX, YY -> 0..3 (6a, 4 classes);
    8 classes in 6b. Variable length: right padding (id 0) with Split.lengths.
    Solved at 0 % test error (accuracy 1.0). Baseline: the majority class.

seqdigits (pixel-by-pixel classification; Le, Jaitly & Hinton 2015 for MNIST):

    one pixel per step, row-major, scaled to [0, 1]; classify from the final state.
    source digits: scikit-learn's 8x8 digits (1,797 images, 64 steps; offline);
    mnist / fashion-mnist: the 28x28 IDX files (784 steps) from the data layer.
    permuted: one fixed permutation of the pixel order, seeded by permutation_seed
    (P-MNIST: the same for every run and seed). Baseline: the majority class.
"""
from __future__ import annotations

from dataclasses import dataclass

import math

import numpy as np
import torch
import torch.nn.functional as F

from .base import Split, Task, param, positive, register, rng
from .metrics import classification, majority_accuracy
from ..errors import UsageError

ADDING_VARIANTS = ("le2015", "arjovsky2016")


@register("adding")
class Adding(Task):
    """Adding problem: sum the two marked values of a long sequence."""
    title = "Adding problem"
    citation = "Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015; Arjovsky et al. 2016"
    family = "long-dependency"
    length_param = "seq_len"
    kind = "many_to_one"
    metric = "mse"
    direction = "min"
    solved_threshold = 0.01
    defaults = {"epochs": 10, "batch_size": 50, "lr": 1e-3, "clip": 1.0}

    @dataclass
    class Params:
        seq_len: int = param(100, "T: sequence length, the span the memory must bridge")
        variant: str = param("le2015", "marker placement: le2015 = two distinct positions anywhere; "
                             "arjovsky2016 = one in each half", choices=ADDING_VARIANTS)
        n_train: int = param(10000, "training sequences")
        n_val: int = param(1000, "validation sequences")
        n_test: int = param(1000, "test sequences")

    def check(self):
        p = self.params
        positive(self.name, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test)
        if p.seq_len < 2:
            raise UsageError(f"task 'adding' parameter 'seq_len' must be >= 2, got {p.seq_len}")

    @property
    def output_size(self) -> int:
        return 1

    def make_splits(self):
        p = self.params
        sizes = {"train": p.n_train, "val": p.n_val, "test": p.n_test}
        return {name: self._generate(n, rng(self.seed, name)) for name, n in sizes.items()}

    def _generate(self, n: int, g: np.random.Generator) -> Split:
        T = self.params.seq_len
        values = g.random((n, T), dtype=np.float64).astype(np.float32)
        if self.params.variant == "le2015":
            # two distinct positions, uniformly anywhere in the sequence
            first = g.integers(0, T, n)
            second = (first + g.integers(1, T, n)) % T
        else:
            half = T // 2
            first = g.integers(0, half, n)
            second = g.integers(half, T, n)
        marks = np.zeros((n, T), dtype=np.float32)
        rows = np.arange(n)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        y = values[rows, first] + values[rows, second]
        x = np.stack([values, marks], axis=-1)
        return Split(torch.from_numpy(x), torch.from_numpy(y).unsqueeze(-1))

    def metrics(self, pred, split):
        return {"mse": float(torch.mean((pred - split.y) ** 2))}

    def baseline(self) -> float:
        y = self.splits["test"].y
        return float(torch.mean((1.0 - y) ** 2))


@register("copy")
class Copy(Task):
    """Copy memory: reproduce L symbols seen T steps earlier, after a delimiter."""
    title = "Copy memory"
    citation = "Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016 (ICML)"
    family = "long-dependency"
    length_param = "seq_len"             # T, the delay (sequences are T + 2 copy_len long)
    kind = "many_to_many"
    metric = "ce"
    direction = "min"
    solved_metric = "recall_accuracy"     # the threshold is on this metric, not on `metric`
    solved_threshold = 0.99
    defaults = {"epochs": 10, "batch_size": 32, "hidden": 128, "lr": 1e-3, "clip": 1.0}

    @dataclass
    class Params:
        seq_len: int = param(100, "T: the delay; sequences are T + 2 copy_len long")
        n_symbols: int = param(8, "K: symbols to draw from (Arjovsky et al.: 8)")
        copy_len: int = param(10, "L: symbols to remember (Arjovsky et al.: 10)")
        n_train: int = param(10000, "training sequences")
        n_val: int = param(1000, "validation sequences")
        n_test: int = param(1000, "test sequences")

    def check(self):
        p = self.params
        positive(self.name, seq_len=p.seq_len, n_symbols=p.n_symbols, copy_len=p.copy_len,
                 n_train=p.n_train, n_val=p.n_val, n_test=p.n_test)
        if p.n_symbols < 2:
            raise UsageError(f"task 'copy' parameter 'n_symbols' must be >= 2, got {p.n_symbols}")

    @property
    def vocab_size(self) -> int:          # blank, K symbols, delimiter (token ids; one-hot in the model)
        return self.params.n_symbols + 2

    @property
    def input_size(self) -> int:
        return self.vocab_size

    @property
    def output_size(self) -> int:         # blank and the K symbols
        return self.params.n_symbols + 1

    @property
    def length(self) -> int:
        return self.params.seq_len + 2 * self.params.copy_len

    def make_splits(self):
        p = self.params
        sizes = {"train": p.n_train, "val": p.n_val, "test": p.n_test}
        return {name: self._generate(n, rng(self.seed, name)) for name, n in sizes.items()}

    def _generate(self, n: int, g: np.random.Generator) -> Split:
        p = self.params
        T, L, K = p.seq_len, p.copy_len, p.n_symbols
        symbols = g.integers(1, K + 1, (n, L))
        x = np.zeros((n, T + 2 * L), dtype=np.int64)
        y = np.zeros((n, T + 2 * L), dtype=np.int64)
        x[:, :L] = symbols
        x[:, L + T - 1] = K + 1                  # the delimiter, after T - 1 blanks
        y[:, T + L:] = symbols
        return Split(torch.from_numpy(x), torch.from_numpy(y))

    def metrics(self, pred, split):
        L = self.params.copy_len
        ce = F.cross_entropy(pred.reshape(-1, pred.shape[-1]).float(), split.y.reshape(-1))
        recall = (pred[:, -L:].argmax(-1) == split.y[:, -L:]).float().mean()
        return {"ce": float(ce), "recall_accuracy": float(recall)}

    def memoryless_log_probs(self) -> torch.Tensor:
        """[T + 2L, K + 1] log-probabilities of the best predictor without memory."""
        p = self.params
        logp = torch.full((self.length, p.n_symbols + 1), -math.inf, dtype=torch.float64)
        logp[:p.seq_len + p.copy_len, 0] = 0.0
        logp[p.seq_len + p.copy_len:, 1:] = -math.log(p.n_symbols)
        return logp

    def baseline(self) -> float:
        """The memoryless predictor's mean cross-entropy on the test split: L ln K / (T + 2L)."""
        y = self.splits["test"].y
        logp = self.memoryless_log_probs()
        nll = -logp[torch.arange(y.shape[1]), y]         # [N, T + 2L]
        return float(nll.mean())

    @classmethod
    def solved_rule(cls):
        return f"{cls.solved_metric} >= {cls.solved_threshold}"

    def solved(self, value, metrics=None):
        """Recall accuracy >= 99 %: judged on the test metrics (None when they are not given)."""
        v = None if metrics is None else metrics.get(self.solved_metric)
        if v is None:
            return None
        return math.isfinite(v) and v >= self.solved_threshold


TEMPORAL_ORDER_WINDOWS = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}
TOKENS = "abcdBEXY"                       # token ids 0..7


@register("temporal_order")
class TemporalOrder(Task):
    """Temporal order: classify by the order of 2 (or 3) widely separated X / Y symbols."""
    title = "Temporal order"
    citation = "Hochreiter & Schmidhuber 1997, Long short-term memory, experiments 6a / 6b"
    family = "long-dependency"             # lengths fixed by the task (100..110): no length_param
    lockstep = False                     # sequences of different lengths share a batch
    kind = "many_to_one"
    metric = "accuracy"
    direction = "max"
    solved_threshold = 1.0               # 0 % test error
    defaults = {"epochs": 20, "batch_size": 32, "hidden": 64, "lr": 1e-3, "clip": 1.0}
    vocab_size = len(TOKENS)
    min_len, max_len = 100, 110

    @dataclass
    class Params:
        relevant: int = param(2, "relevant X/Y symbols: 2 = task 6a (4 classes), 3 = task 6b (8 classes)",
                              choices=(2, 3))
        n_train: int = param(10000, "training sequences")
        n_val: int = param(1000, "validation sequences")
        n_test: int = param(1000, "test sequences")

    def check(self):
        p = self.params
        positive(self.name, n_train=p.n_train, n_val=p.n_val, n_test=p.n_test)

    @property
    def input_size(self) -> int:
        return self.vocab_size

    @property
    def output_size(self) -> int:
        return 2 ** self.params.relevant

    def make_splits(self):
        p = self.params
        sizes = {"train": p.n_train, "val": p.n_val, "test": p.n_test}
        return {name: self._generate(n, rng(self.seed, name)) for name, n in sizes.items()}

    def _generate(self, n: int, g: np.random.Generator) -> Split:
        lengths = g.integers(self.min_len, self.max_len + 1, n)
        x = g.integers(0, 4, (n, self.max_len))                  # distractors a..d
        rows = np.arange(n)
        x[:, 0] = TOKENS.index("E")
        x[rows, lengths - 1] = TOKENS.index("B")
        x[np.arange(self.max_len)[None, :] >= lengths[:, None]] = 0   # right padding
        y = np.zeros(n, dtype=np.int64)
        for lo, hi in TEMPORAL_ORDER_WINDOWS[self.params.relevant]:
            t = g.integers(lo, hi + 1, n) - 1                    # 1-based position -> index
            bit = g.integers(0, 2, n)                            # 0 = X, 1 = Y
            x[rows, t] = TOKENS.index("X") + bit
            y = 2 * y + bit
        return Split(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(lengths))

    def metrics(self, pred, split):
        return classification(pred, split.y, self.output_size)

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)


SEQDIGITS_SOURCES = ("digits", "mnist", "fashion-mnist")


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: pixels [1797, 64] in 0..16, labels [1797].

    Read from the CSV the package ships (what `load_digits` reads) without importing
    sklearn.datasets, whose import alone takes seconds.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is not None and csv.is_file():
        a = np.loadtxt(csv, delimiter=",")
        return a[:, :-1], a[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits   # a future layout: the slow, documented way
    d = load_digits()
    return d.data, d.target.astype(np.int64)


@register("seqdigits")
class SeqDigits(Task):
    """Pixel-by-pixel digits: one pixel per step, classify from the final state (P-MNIST option)."""
    title = "Sequential (pixel-by-pixel) digits"
    citation = "Le, Jaitly & Hinton 2015 (sequential and permuted MNIST); scikit-learn digits (UCI)"
    family = "long-dependency"             # the length is the source's pixel count: no length_param
    kind = "many_to_one"
    metric = "accuracy"
    direction = "max"
    datasets = ("mnist", "fashion-mnist")   # for source mnist / fashion-mnist; digits ships with sklearn
    defaults = {"epochs": 30, "batch_size": 32, "hidden": 64, "lr": 1e-3, "clip": 1.0}
    n_classes = 10

    @dataclass
    class Params:
        source: str = param("digits", "digits = sklearn 8x8 (64 steps, offline); mnist / fashion-mnist = "
                            "28x28 IDX files from the data dir (784 steps)", choices=SEQDIGITS_SOURCES)
        permuted: bool = param(False, "apply one fixed pixel permutation (P-MNIST)")
        permutation_seed: int = param(0, "seed of that permutation (the same for every run seed)")
        val_fraction: float = param(0.1, "share of the training images held out for validation")
        test_fraction: float = param(0.2, "share of the images held out for test (digits only; "
                                     "MNIST-format sources use their official test set)")
        n_train: int = param(0, "use at most this many training images (0 = all)")

    def check(self):
        p = self.params
        for k in ("val_fraction", "test_fraction"):
            v = getattr(p, k)
            if not 0.0 < v < 1.0:
                raise UsageError(f"task 'seqdigits' parameter {k!r} must be in (0, 1), got {v!r}")
        if p.val_fraction + (p.test_fraction if p.source == "digits" else 0.0) >= 1.0:
            raise UsageError(f"task 'seqdigits': val_fraction + test_fraction must be < 1, got "
                             f"{p.val_fraction} + {p.test_fraction}")
        if p.n_train < 0:
            raise UsageError(f"task 'seqdigits' parameter 'n_train' must be >= 0, got {p.n_train}")
        if p.permutation_seed < 0:
            raise UsageError(f"task 'seqdigits' parameter 'permutation_seed' must be >= 0, "
                             f"got {p.permutation_seed}")

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return self.n_classes

    def _images(self):
        """(train images, train labels, test images or None, test labels or None), pixels in [0, 1]."""
        p = self.params
        if p.source == "digits":
            pixels, labels = sklearn_digits()
            return (pixels / 16.0).astype(np.float32), labels, None, None
        from .. import data
        from ..data import read_idx
        files = data.resolve(p.source, data_dir=self.data_dir)
        arrays = {k: read_idx(files[f"{k}.gz"]) for k in (
            "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
        flat = lambda a: (a.reshape(len(a), -1).astype(np.float32) / 255.0)  # noqa: E731
        return (flat(arrays["train-images-idx3-ubyte"]), arrays["train-labels-idx1-ubyte"],
                flat(arrays["t10k-images-idx3-ubyte"]), arrays["t10k-labels-idx1-ubyte"])

    def permutation(self, n_pixels: int) -> np.ndarray | None:
        if not self.params.permuted:
            return None
        return rng(self.params.permutation_seed, "permutation").permutation(n_pixels)

    def make_splits(self):
        p = self.params
        x, y, x_test, y_test = self._images()
        idx = np.arange(len(x))
        if x_test is None:                                   # no official test set: hold one out
            idx = rng(self.seed, "test").permutation(len(x))
            n_test = int(round(p.test_fraction * len(x)))
            test_idx, idx = np.sort(idx[:n_test]), np.sort(idx[n_test:])
            x_test, y_test = x[test_idx], y[test_idx]
        perm = rng(self.seed, "val").permutation(idx)
        n_val = int(round(p.val_fraction * len(idx)))
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        if p.n_train and p.n_train < len(train_idx):
            train_idx = np.sort(rng(self.seed, "train").choice(train_idx, p.n_train, replace=False))
        order = self.permutation(x.shape[1])
        out = {}
        for name, (xs, ys) in (("train", (x[train_idx], y[train_idx])), ("val", (x[val_idx], y[val_idx])),
                               ("test", (x_test, y_test))):
            if order is not None:
                xs = xs[:, order]
            out[name] = Split(torch.from_numpy(np.ascontiguousarray(xs)).unsqueeze(-1),
                              torch.from_numpy(np.asarray(ys, dtype=np.int64)))
        return out

    def metrics(self, pred, split):
        return classification(pred, split.y, self.n_classes)

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)
