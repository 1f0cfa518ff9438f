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
* Model options (`CellSpec.model_options`, given in a run's model_params): rnn's activation
  (tanh | sigmoid | relu, `ACTIVATIONS`), jordan's jordan_feedback (layer | prediction).
  `CellSpec.configured(**values)` is the cell that runs them (its step, its torch.nn mode or
  none), named by its `key` ("rnn[activation=relu]"); at the defaults, the registered cell.

The explicit-cell backend (`recurrent.py`) runs these steps in its reference loop and proves
its fast scans and the fused torch.nn backend equal to them (tests/models/).
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError, choices
from ..registry import Registry


@dataclass(frozen=True)
class Activation:
    """An elementwise nonlinearity of a single-gate cell (rnn's model_params activation)."""
    name: str
    equation: str                 # act(z), for people
    fn: Callable = field(repr=False, compare=False)          # act(z), out of place
    inplace: Callable = field(repr=False, compare=False)     # act(z) written over z (the fast scan)
    slope: Callable = field(repr=False, compare=False)       # act'(z) from y = act(z) (its backward)
    fused: str | None = None      # the torch.nn RNN mode that runs it; None: the cell backend only


# By name; a plain mapping, not a plugin registry: recurrent.py builds its fast paths from it on
# import, and a Registry lookup would load the plugins (which import rnnbench.models) then.
ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (
    Activation("tanh", "tanh(z)", torch.tanh, torch.Tensor.tanh_, lambda y: 1 - y * y, "RNN_TANH"),
    Activation("sigmoid", "σ(z) = 1 / (1 + exp(-z))", torch.sigmoid, torch.Tensor.sigmoid_,
               lambda y: y * (1 - y)),                # torch.nn.RNN has no sigmoid kernel
    Activation("relu", "max(0, z)", torch.relu, torch.Tensor.relu_, lambda y: (y > 0).to(y.dtype), "RNN_RELU"))}


@dataclass(frozen=True)
class CellOption:
    """An option of a cell given in a run's model_params (`rnn`: activation; `jordan`:
    jordan_feedback): its valid values, its default, and the defaults of some task kinds.

    The run record holds the option in params.model_params where the run's value is not
    `default`, and on every task of a kind with a default of its own (`recorded_options`,
    config.resolve): a record without the key ran `default`, as every run before the option did."""
    default: str
    choices: tuple[str, ...]
    help: str
    kind_defaults: dict = field(default_factory=dict)    # task kind -> its default, where not `default`


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
    # model_params options (CellOption by key) and configure(spec, **values) -> the spec that runs
    # those values (`configured`); `variant` names a configured spec's values ("" at the defaults)
    model_options: dict = field(default_factory=dict)
    configure: Callable | None = field(default=None, repr=False, compare=False)
    variant: str = ""
    # True: the carried state is the model's own prediction y_{t-1} (the head inside the loop,
    # p["weight_ho"] / p["bias_ho"] its weights; weight_hh [G*H, output_size]): only a
    # SequenceModel runs it (heads.PredictionFeedback), `build` refuses it
    feeds_prediction: bool = False

    @property
    def key(self) -> str:
        """The name of this configuration: the cell's name, with its non-default option values
        ("rnn[activation=relu]"); the fast paths (recurrent.FAST) are found by it."""
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    def option_values(self, model_params: dict[str, Any] | None = None, kind: str | None = None) -> dict[str, Any]:
        """Every model option's value: as given in model_params, else the default of the task's
        `kind`, else the option's default. Other keys are not looked at; a bad value is refused."""
        given = model_params or {}
        out = {}
        for k, opt in self.model_options.items():
            v = given.get(k, opt.kind_defaults.get(kind, opt.default))
            if not isinstance(v, str) or v not in opt.choices:
                raise UsageError(f"unknown model_params {k} {v!r} for cell {self.name!r} "
                                 f"(valid: {choices(opt.choices)})")
            out[k] = v
        return out

    def recorded_options(self, values: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """The values that go into the run record's model_params: those not at the option's
        default, and every option whose default for the task's `kind` is another (so that a
        record without the key always ran the option's default)."""
        opts = self.model_options
        return {k: v for k, v in values.items()
                if v != opts[k].default or opts[k].kind_defaults.get(kind, opts[k].default) != opts[k].default}

    def configured(self, **values) -> "CellSpec":
        """The cell as it runs with these model option values (`option_values`): itself at the
        defaults, else what its `configure` makes of them."""
        bad = [k for k in values if k not in self.model_options]
        if bad:
            raise UsageError(f"cell {self.name!r} has no option {bad[0]!r} (its options: "
                             f"{choices(self.model_options) or 'none'})")
        values = self.option_values(values)
        if not self.configure or all(v == self.model_options[k].default for k, v in values.items()):
            return self
        return self.configure(self, **values)

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


def rnn_step(gx, state, p, tap=_identity, activation=torch.tanh):
    """h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    act: model_params activation: tanh (default), sigmoid σ(z) = 1 / (1 + exp(-z)) (cell backend
    only: torch.nn.RNN has no sigmoid kernel), relu max(0, z) (torch.nn's init, not irnn's)"""
    (h,) = state
    return (tap("h", activation(gx + F.linear(h, p["weight_hh"], p["bias_hh"]))),)


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
    output and carried state: y_t (called h in h_n and return_states)
    model_params jordan_feedback: layer (these equations: y_t an extra layer of H units) or
    prediction (jordan_prediction_step: y_t the model's own prediction, the head inside the
    loop; the default of tasks with an output per step, many_to_many and one_to_many)"""
    (y,) = state
    h = torch.tanh(gx + F.linear(y, p["weight_hh"], p["bias_hh"]))
    return (tap("h", torch.tanh(F.linear(h, p["weight_ho"], p["bias_ho"]))),)


def jordan_prediction_step(gx, state, p, tap=_identity):
    """h_t = tanh(W_ih x_t + b_ih + W_hh ŷ_{t-1} + b_hh)      W_hh [H, output_size]
    ŷ_t = W_ho h_t + b_ho                                     W_ho, b_ho: the model's head
    output and carried state: ŷ_t, the model's prediction (ŷ_{-1} = 0), fed back as in
    Jordan 1986 (his output units; the head is linear, as every task's head)"""
    (y,) = state
    h = torch.tanh(gx + F.linear(y, p["weight_hh"], p["bias_hh"]))
    return (tap("h", F.linear(h, p["weight_ho"], p["bias_ho"])),)


# ---------------------------------------------------------------------- configurations
def rnn_configure(spec: CellSpec, activation: str) -> CellSpec:
    """rnn with another activation: its step, and the torch.nn RNN mode that runs it (none for
    sigmoid: the cell backend only)."""
    act = ACTIVATIONS[activation]               # checked by CellSpec.option_values
    return dataclasses.replace(spec, step=functools.partial(rnn_step, activation=act.fn), fused=act.fused,
                               title=f"Elman RNN ({act.name})", variant=f"activation={act.name}")


def jordan_configure(spec: CellSpec, jordan_feedback: str) -> CellSpec:
    """jordan feeding back the head's prediction (the only value `configured` passes here)."""
    return dataclasses.replace(spec, step=jordan_prediction_step, extra_params=(), feeds_prediction=True,
                               title="Jordan network (prediction fed back)",
                               variant=f"jordan_feedback={jordan_feedback}")


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
RNN = _cell("rnn", rnn_step, title="Elman RNN (tanh)", states=("h",), n_gates=1, fused="RNN_TANH",
            citation="Elman 1990, Finding structure in time",
            model_options={"activation": CellOption("tanh", tuple(ACTIVATIONS),
                                                    "h_t = act(...): tanh, sigmoid (cell backend only) or relu")},
            configure=rnn_configure)
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
      citation="Jordan 1986, Serial order: a parallel distributed processing approach",
      model_options={"jordan_feedback": CellOption(
          "layer", ("layer", "prediction"), "what is fed back: an extra layer's output y_t = tanh(W_ho h_t + "
          "b_ho), or the model's prediction (the head inside the loop)",
          kind_defaults={"many_to_many": "prediction", "one_to_many": "prediction"})},
      configure=jordan_configure)
