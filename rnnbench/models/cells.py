"""The recurrent cells, each written once from its equations.

Conventions (all cells):

* x_t is the input at step t, h_{t-1} the carried state, W_i* / b_i* the input weights and
  biases, W_h* / b_h* the recurrent ones; σ is the logistic sigmoid, * the elementwise product.
* Parameter names, shapes and gate order follow torch.nn (weight_ih_l{k}[_reverse]
  [n_gates*H, in], weight_hh_l{k}[_reverse] [n_gates*H, H], bias_ih / bias_hh [n_gates*H]),
  so state_dicts move between backends and from plain torch.nn modules. A cell whose gates read
  x_t only (`recurrent=False`: mingru, minlstm in `minrnn.py`) has no weight_hh / bias_hh.
* `step(gx, state, p, tap) -> state` is the textbook step. `gx = W_ih x_t + b_ih` is the
  input projection, computed for every t at once (one matmul per layer and direction)
  before the loop; `p` holds the layer-direction's parameters by their unsuffixed names
  ("weight_hh", "bias_hh", ...). The output at step t is the first state (h_t).
  `tap(name, value) -> value` marks where each new state is formed (the identity unless
  given): the reference loop adds zero probes there, so that their gradients are the total
  dL/dstate_t, through everything computed from the state (for lstm: h_t from c_t).
* The docstring of each step function is its entry in `rnnbench list`.

The explicit-cell backend (`recurrent.py`) runs these steps in its reference loop and proves
its fast scans and the fused torch.nn backend equal to them (tests/models/).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import Registry


@dataclass(frozen=True)
class CellSpec:
    name: str
    title: str
    equations: str
    states: tuple[str, ...]        # carried states, output first: ("h",) or ("h", "c")
    n_gates: int                   # rows of weight_ih / weight_hh = n_gates * hidden_size
    fused: str | None              # torch.nn RNNBase mode of the fused backend; None: cell only
    citation: str
    step: Callable = field(repr=False, compare=False)
    options: dict = field(default_factory=dict)          # option -> default (see `build`)
    init: Callable | None = field(default=None, repr=False, compare=False)  # init(module, **options)
    extra_params: tuple[str, ...] = ()   # per layer-direction beyond torch's four: weight_* [H, H], bias_* [H]
    recurrent: bool = True               # False: the gates read x_t only, no weight_hh / bias_hh (mingru, minlstm)

    def param_shapes(self, layer_input: int, hidden: int) -> dict[str, tuple[int, ...]]:
        """One layer-direction's parameters by unsuffixed name: weight_ih [G*H, I_k], weight_hh
        [G*H, H], bias_ih, bias_hh [G*H] (the last two absent unless `recurrent`), extras."""
        G, H = self.n_gates * hidden, hidden
        shapes = {"weight_ih": (G, layer_input), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,)}
        if not self.recurrent:
            del shapes["weight_hh"], shapes["bias_hh"]
        shapes.update({n: (H, H) if n.startswith("weight") else (H,) for n in self.extra_params})
        return shapes

    def _layer_inputs(self, input_size: int, hidden: int, layers: int, bidirectional: bool) -> list[int]:
        """The input width of each layer-direction: input_size, then hidden * directions."""
        dirs = 2 if bidirectional else 1
        return [input_size if k == 0 else hidden * dirs for k in range(layers) for _ in range(dirs)]

    def n_params(self, input_size: int, hidden: int, layers: int = 1, bidirectional: bool = False) -> int:
        """Parameters of a stack of this cell (either backend; shapes as torch.nn): per layer and
        direction weight_ih [G*H, I_k], weight_hh [G*H, H], bias_ih and bias_hh [G*H] (G =
        n_gates), plus each extra weight [H, H] and bias [H]; I_k = input_size for the first
        layer, H * directions above it."""
        return sum(math.prod(shape) for i in self._layer_inputs(input_size, hidden, layers, bidirectional)
                   for shape in self.param_shapes(i, hidden).values())

    def flops(self, input_size: int, hidden: int, batch: int = 1, seq_len: int = 1, layers: int = 1,
              bidirectional: bool = False, backward: bool = False) -> float:
        """Matmul FLOPs of a pass over a [seq_len, batch, input_size] input (a multiply-add
        counted as 2), per step-sample, layer and direction:

            2 * G * H * (I_k + H)        the input and recurrent products of the G gate blocks
            + 2 * H * H                  per extra weight (jordan's output layer W_ho)

        (lstm G = 4, gru / gru-cho 3, rnn / irnn / jordan 1; I_k as in n_params; a cell without
        recurrent weights, mingru G = 2 / minlstm 3, counts 2 * G * H * I_k). backward:
        forward + backward, counted as 3x the forward (the backward needs two matmuls per
        forward matmul). Elementwise gate arithmetic is not counted."""
        H = hidden
        extra = sum(2 * H * H for n in self.extra_params if n.startswith("weight"))
        per_step = sum(2 * self.n_gates * H * (i + H * self.recurrent) + extra
                       for i in self._layer_inputs(input_size, hidden, layers, bidirectional))
        return float(per_step * seq_len * batch * (3 if backward else 1))


CELLS: Registry[CellSpec] = Registry("cell")


def cell_names() -> list[str]:
    return CELLS.names()


def register_cell(name: str, step: Callable, **kw) -> CellSpec:
    """Add a cell written as its `step` (whose docstring is its equations) to CELLS: the zoo's
    cells below, and a plugin module's (README: "Bring your own cell or task")."""
    return CELLS.add(name, CellSpec(name=name, step=step, equations=inspect.cleandoc(step.__doc__ or ""), **kw))


_cell = register_cell


# ------------------------------------------------------------------------------ steps
def _identity(name, value):
    return value


def rnn_step(gx, state, p, tap=_identity):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)"""
    (h,) = state
    return (tap("h", torch.tanh(gx + F.linear(h, p["weight_hh"], p["bias_hh"]))),)


def irnn_step(gx, state, p, tap=_identity):
    """h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    init: W_hh = I, b_ih = b_hh = 0, W_ih ~ N(0, 0.001^2)"""
    (h,) = state
    return (tap("h", torch.relu(gx + F.linear(h, p["weight_hh"], p["bias_hh"]))),)


def lstm_step(gx, state, p, tap=_identity):
    """i = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
    init: forget_bias (default 1.0) added to b_if"""
    h, c = state
    i, f, g, o = (gx + F.linear(h, p["weight_hh"], p["bias_hh"])).chunk(4, 1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = tap("c", f * c + i * g)
    return tap("h", o * torch.tanh(c)), c


def gru_step(gx, state, p, tap=_identity):
    """r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
    h_t = (1 - z) * n + z * h_{t-1}"""
    (h,) = state
    xr, xz, xn = gx.chunk(3, 1)
    hr, hz, hn = F.linear(h, p["weight_hh"], p["bias_hh"]).chunk(3, 1)
    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (tap("h", (1 - z) * n + z * h),)


def gru_cho_step(gx, state, p, tap=_identity):
    """r = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n = tanh(W_in x_t + b_in + W_hn (r * h_{t-1}) + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}"""
    (h,) = state
    w_r, w_z, w_n = p["weight_hh"].chunk(3, 0)
    b_r, b_z, b_n = p["bias_hh"].chunk(3, 0)
    xr, xz, xn = gx.chunk(3, 1)
    r = torch.sigmoid(xr + F.linear(h, w_r, b_r))
    z = torch.sigmoid(xz + F.linear(h, w_z, b_z))
    n = torch.tanh(xn + F.linear(r * h, w_n, b_n))
    return (tap("h", (1 - z) * n + z * h),)


def jordan_step(gx, state, p, tap=_identity):
    """h_t = tanh(W_ih x_t + b_ih + W_hh y_{t-1} + b_hh)
    y_t = tanh(W_ho h_t + b_ho)
    output and carried state: y_t (called h in h_n and return_states)"""
    (y,) = state
    h = torch.tanh(gx + F.linear(y, p["weight_hh"], p["bias_hh"]))
    return (tap("h", torch.tanh(F.linear(h, p["weight_ho"], p["bias_ho"]))),)


# ------------------------------------------------------------------------------- inits
@torch.no_grad()
def irnn_init(module: nn.Module) -> None:
    for name, p in module.named_parameters():
        if name.startswith("weight_hh"):
            nn.init.eye_(p)
        elif name.startswith("weight_ih"):
            nn.init.normal_(p, 0.0, 0.001)
        else:
            nn.init.zeros_(p)


@torch.no_grad()
def lstm_init(module: nn.Module, forget_bias: float) -> None:
    H = module.hidden_size
    for name, p in module.named_parameters():
        if name.startswith("bias_ih"):
            p[H:2 * H] += forget_bias


# ---------------------------------------------------------------------------- registry
_cell("rnn", rnn_step, title="Elman RNN (tanh)", states=("h",), n_gates=1, fused="RNN_TANH",
      citation="Elman 1990, Finding structure in time")
_cell("irnn", irnn_step, title="IRNN (ReLU, identity init)", states=("h",), n_gates=1,
      fused="RNN_RELU", init=irnn_init,
      citation="Le, Jaitly & Hinton 2015, A simple way to initialize recurrent networks of ReLUs")
_cell("lstm", lstm_step, title="LSTM", states=("h", "c"), n_gates=4, fused="LSTM",
      options={"forget_bias": 1.0}, init=lstm_init,
      citation="Hochreiter & Schmidhuber 1997; forget gate: Gers, Schmidhuber & Cummins 2000")
_cell("gru", gru_step, title="GRU (cuDNN / torch.nn variant)", states=("h",), n_gates=3,
      fused="GRU", citation="Cho et al. 2014, as implemented by cuDNN and torch.nn.GRU")
_cell("gru-cho", gru_cho_step, title="GRU (original, reset before W_hn)", states=("h",),
      n_gates=3, fused=None,
      citation="Cho et al. 2014, Learning phrase representations using RNN encoder-decoder")
_cell("jordan", jordan_step, title="Jordan network (output fed back)", states=("h",),
      n_gates=1, fused=None, extra_params=("weight_ho", "bias_ho"),
      citation="Jordan 1986, Serial order: a parallel distributed processing approach")
