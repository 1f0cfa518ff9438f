"""Long-dependency problems from the literature.

adding (Hochreiter & Schmidhuber 1997; as in Le, Jaitly & Hinton 2015):

    x_t = (u_t, m_t),  u_t ~ U[0, 1],  m_t in {0, 1} with exactly two ones
    y   = sum_t u_t m_t                     (regression from the final state, MSE)

The trivial predictor y = 1 (the mean of the sum) scores Var(u_a + u_b) = 2/12 = 1/6.
Solved at MSE <= 0.01 (Le et al. 2015).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import register
from .base import Split, Task, param, positive, rng

ADDING_VARIANTS = ("le2015", "arjovsky2016")


@register("adding")
class Adding(Task):
    """Adding problem: sum the two marked values of a long sequence."""
    title = "Adding problem"
    citation = "Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015; Arjovsky et al. 2016"
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
            from ..errors import UsageError
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
