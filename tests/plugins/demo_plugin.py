"""A plugin as a user writes one (README: "Bring your own cell or task"): a cell and a task
defined outside rnnbench, registered on import.

    PYTHONPATH=tests/plugins rnnbench --plugin demo_plugin list

mut3: the third of the three cells Jozefowicz, Zaremba & Sutskever (2015) found by
evolutionary search, in the zoo's CellSpec style (torch.nn's parameter layout, gate blocks
z, r, n; each block's two biases as torch.nn has them).
recall-first: a many-to-one long-dependency task whose name matches none of the zoo's.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnbench.models import register_cell
from rnnbench.tasks import Split, Task, register
from rnnbench.tasks.base import param, positive, rng
from rnnbench.tasks.metrics import classification, majority_accuracy


def mut3_step(gx, state, p, tap):
    """z = σ(W_iz x_t + b_iz + W_hz tanh(h_{t-1}) + b_hz)
    r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    n = tanh(W_in x_t + b_in + W_hn (r * h_{t-1}) + b_hn)
    h_t = z * n + (1 - z) * h_{t-1}"""
    (h,) = state
    w_z, w_r, w_n = p["weight_hh"].chunk(3)
    b_z, b_r, b_n = p["bias_hh"].chunk(3)
    x_z, x_r, x_n = gx.chunk(3, 1)
    z = torch.sigmoid(x_z + F.linear(torch.tanh(h), w_z, b_z))
    r = torch.sigmoid(x_r + F.linear(h, w_r, b_r))
    n = torch.tanh(x_n + F.linear(r * h, w_n, b_n))
    return (tap("h", z * n + (1 - z) * h),)


register_cell("mut3", mut3_step, title="MUT3 (evolved, GRU-like)", states=("h",), n_gates=3, fused=None,
              citation="Jozefowicz, Zaremba & Sutskever 2015, An empirical exploration of recurrent "
                       "network architectures")


@register("recall-first")
class RecallFirst(Task):
    """Recall the first symbol of a sequence after T - 1 random distractor symbols."""
    title = "Recall the first symbol"
    citation = "rnnbench's plugin example; a many-to-one form of the copy memory task"
    kind = "many_to_one"
    family = "long-dependency"
    length_param = "seq_len"
    metric = "accuracy"
    direction = "max"
    solved_threshold = 0.99
    defaults = {"epochs": 5, "batch_size": 32, "hidden": 32, "lr": 1e-2}

    @dataclass
    class Params:
        seq_len: int = param(30, "T: the symbol to recall is T steps before the answer")
        n_symbols: int = param(4, "K: the alphabet, one-hot inputs")
        n_train: int = param(2000, "training sequences")
        n_val: int = param(500, "validation sequences")
        n_test: int = param(500, "test sequences")

    def check(self):
        p = self.params
        positive(self.name, seq_len=p.seq_len, n_symbols=p.n_symbols, n_train=p.n_train,
                 n_val=p.n_val, n_test=p.n_test)

    @property
    def output_size(self) -> int:
        return self.params.n_symbols

    def make_splits(self):
        p = self.params
        out = {}
        for name, n in (("train", p.n_train), ("val", p.n_val), ("test", p.n_test)):
            symbols = torch.from_numpy(rng(self.seed, name).integers(0, p.n_symbols, (n, p.seq_len)))
            out[name] = Split(F.one_hot(symbols, p.n_symbols).float(), symbols[:, 0].clone())
        return out

    def metrics(self, pred, split):
        return classification(pred, split.y, self.params.n_symbols)

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)
