"""Recurrent stacks of the cells in `cells.py`, behind one interface with two backends.

    x [T, B, in] ─► layer 0 ─► dropout ─► layer 1 (+ its input if residual) ─► ... ─► output [T, B, H*dirs]
                    each layer: forward direction  t = 0 .. L_b-1   ─► h_n[2k]
                                backward direction t = L_b-1 .. 0   ─► h_n[2k+1]   (bidirectional)

fused   torch.nn.RNN / LSTM / GRU (oneDNN on CPU, cuDNN on GPU): rnn (activation tanh or relu), irnn,
        lstm, gru.
cell    explicit loops, every cell. Two paths:
        - fast (rnn with each activation, irnn, lstm, gru): one autograd.Function per
          layer-direction (`scan_functions.py`): the input projection of all steps in one
          matmul, a forward scan with one recurrent matmul per step, and a hand-written
          backward through time (one matmul per step for dL/dh_{t-1}, the weight gradients in
          bulk after it). The scans run compiled on CPU in float32 (`native.py`, `scans.cpp`:
          each step's elementwise part fused into one vectorised pass), their PyTorch twins
          elsewhere. Each Function takes a leading seed dimension S (a group of independent
          models; a solo model is S = 1), and torch.func.vmap over models stacked with
          torch.func.stack_module_state runs them grouped (lengths None). Once differentiable
          (no double backward; the reference path has it).
        - reference (gru-cho, jordan, and every cell with return_states=True): autograd
          through `CellSpec.step` one step at a time, each state h_t its own graph node.
        TorchScript was measured on the fast path's loops and gave nothing (and is deprecated);
        torch.compile needs a C++ compiler on CPU too, and recompiles per batch size.

lengths (right-padded batches, both backends): outputs at padded steps are zero, h_n is the
state at each sequence's last valid step, the backward direction runs over the valid part.
The cell backend sorts the batch by length so that the sequences still running at step t are
the rows [:sizes[t]] (as cuDNN's packed sequences do), then restores the order.
"""
from __future__ import annotations

import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import _VF, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..errors import UsageError, unknown
from . import native
from .cells import ACTIVATIONS, CELLS, RNN, Activation, CellSpec
from .scan_functions import GRUScan, LSTMScan, RNNScan, _needs_grad
from .zoo import ARCHS

BACKENDS = ("fused", "cell")
DIRECTIONS = ("forward", "backward")


def backends_for(arch: str, model_params: dict | None = None) -> tuple[str, ...]:
    """A cell's backends (with the model options in `model_params`: rnn with activation sigmoid
    has no fused one); a sequence model of `zoo.MODELS` (tcn, ...) has one, "cell" (plain PyTorch)."""
    spec = ARCHS.get(arch)
    if isinstance(spec, CellSpec):
        spec = spec.configured(**{k: v for k, v in (model_params or {}).items() if k in spec.model_options})
    return BACKENDS if getattr(spec, "fused", None) else ("cell",)


def no_backend(arch: str, backend: str, model_params: dict | None = None) -> UsageError:
    """The error for a cell (with these model options) that lacks `backend`: one line, its backends."""
    spec = CELLS.get(arch)
    spec = spec.configured(**{k: v for k, v in (model_params or {}).items() if k in spec.model_options})
    with_ = f" with {spec.variant}" if spec.variant else ""
    return UsageError(f"cell {arch!r}{with_} has no {backend} backend "
                      f"(backends for {spec.key}: {', '.join(backends_for(arch, model_params))})")


def build(arch: str, input_size: int, hidden_size: int, *, backend: str = "fused",
          bidirectional: bool = False, layers: int = 1, batch_first: bool = False,
          dropout: float = 0.0, residual: bool = False, forget_bias: float = 1.0,
          cell_options: dict | None = None) -> nn.Module:
    """A recurrent stack: `output, h_n = m(x, hx=None, lengths=None)`, shapes as torch.nn.

    dropout: on the outputs of every layer but the last, in training mode (as torch.nn).
    residual: layers k >= 1 add their (dropped-out) input to their output; layer 0 does not,
        its input width differs in general. With layers=1 it changes nothing.
    forget_bias: lstm only (the options a cell takes are `CELLS.get(arch).options`; other
        cells ignore it).
    cell_options: the cell's model options (`CellSpec.model_options`: rnn's activation,
        jordan's jordan_feedback), each at its default when not given; a key the cell does not
        take is refused. jordan_feedback prediction needs the head: a SequenceModel builds it.
    """
    spec = CELLS.get(arch)
    if backend not in BACKENDS:
        raise unknown("backend", backend, BACKENDS)
    spec = spec.configured(**(cell_options or {}))
    if spec.feeds_prediction:
        raise UsageError(f"cell {arch!r} with {spec.variant} feeds back the head's prediction: "
                         "build a SequenceModel (rnnbench.models.heads), not a bare stack")
    if backend == "fused" and spec.fused is None:
        raise no_backend(arch, backend, cell_options)
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("layers", layers)):
        if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, Real) or not 0 <= dropout < 1:
        raise UsageError(f"dropout must be a number in [0, 1), got {dropout!r}")
    options = {k: v for k, v in {"forget_bias": forget_bias}.items() if k in spec.options}
    cls = _FUSED[spec.fused] if backend == "fused" else CellRecurrent
    module = cls(spec, int(input_size), int(hidden_size), int(layers), bool(bidirectional),
                 bool(batch_first), float(dropout), bool(residual))
    if spec.init:
        spec.init(module, **options)
    return module


class _Stack:
    """Attributes common to both backends (besides torch.nn's hidden_size, num_layers, ...)."""

    @property
    def output_size(self) -> int:
        return self.hidden_size * (2 if self.bidirectional else 1)


def _check_lengths(lengths, T: int, B: int) -> torch.Tensor:
    lengths = torch.as_tensor(lengths).cpu().long()
    if lengths.shape != (B,) or not bool(((lengths >= 1) & (lengths <= T)).all()):
        got = lengths.tolist() if lengths.numel() <= 8 else f"shape {tuple(lengths.shape)}"
        raise UsageError(f"lengths must be {B} integers in [1, {T}], got {got}")
    return lengths


# ------------------------------------------------------------------------------- fused
_VF_RUN = {"RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu, "LSTM": _VF.lstm, "GRU": _VF.gru}


class _Fused(_Stack):
    """torch.nn.RNN / LSTM / GRU with `lengths` and `residual` added; the rest is torch's."""
    backend = "fused"

    def __init__(self, spec: CellSpec, input_size, hidden_size, layers, bidirectional,
                 batch_first, dropout, residual):
        kw = {"nonlinearity": "relu"} if spec.fused == "RNN_RELU" else {}
        super().__init__(input_size, hidden_size, num_layers=layers, batch_first=batch_first,
                         dropout=dropout, bidirectional=bidirectional, **kw)
        self.arch, self.residual = spec.name, residual

    def forward(self, x, hx=None, lengths=None, return_states=False):
        if return_states:
            raise UsageError("return_states needs backend 'cell' (the fused kernels keep no per-step states)")
        if lengths is not None:
            if isinstance(x, PackedSequence):
                raise UsageError("give lengths or a PackedSequence, not both")
            T, B = x.shape[:2][::-1] if self.batch_first else x.shape[:2]
            x = pack_padded_sequence(x, _check_lengths(lengths, T, B), self.batch_first,
                                     enforce_sorted=False)
        run = self._layerwise if self.residual and self.num_layers > 1 else super().forward
        output, h_n = run(x, hx)
        if lengths is not None:
            output = pad_packed_sequence(output, self.batch_first, total_length=T)[0]
        return output, h_n

    def _layerwise(self, x, hx):
        """torch.nn runs the whole stack in one kernel call; a residual stack runs one call
        per layer (the same kernels torch.nn.RNNBase.forward calls) and adds the inputs."""
        packed = isinstance(x, PackedSequence)
        data = x.data if packed else x
        D, L = (2 if self.bidirectional else 1), self.num_layers
        if hx is None:
            B = int(x.batch_sizes[0]) if packed else x.shape[0 if self.batch_first else 1]
            zeros = data.new_zeros(L * D, B, self.hidden_size)
            hx = (zeros, zeros) if self.mode == "LSTM" else zeros
        elif packed:
            hx = self.permute_hidden(hx, x.sorted_indices)
        hx = hx if self.mode == "LSTM" else (hx,)
        per_layer = len(self._flat_weights) // L
        finals = []
        for k in range(L):
            if k:
                data = F.dropout(data, self.dropout, self.training)
            h0 = tuple(s[k * D:(k + 1) * D] for s in hx)
            h0 = h0 if self.mode == "LSTM" else h0[0]
            weights = self._flat_weights[k * per_layer:(k + 1) * per_layer]
            if packed:
                out, *h_n = _VF_RUN[self.mode](data, x.batch_sizes, h0, weights, True, 1, 0.0,
                                               self.training, self.bidirectional)
            else:
                out, *h_n = _VF_RUN[self.mode](data, h0, weights, True, 1, 0.0, self.training,
                                               self.bidirectional, self.batch_first)
            data = out + data if k else out
            finals.append(h_n)
        h_n = tuple(torch.cat(s) for s in zip(*finals))
        h_n = h_n if self.mode == "LSTM" else h_n[0]
        if packed:
            data = PackedSequence(data, x.batch_sizes, x.sorted_indices, x.unsorted_indices)
            h_n = self.permute_hidden(h_n, x.unsorted_indices)
        return data, h_n


class FusedRNN(_Fused, nn.RNN):
    pass


class FusedLSTM(_Fused, nn.LSTM):
    pass


class FusedGRU(_Fused, nn.GRU):
    pass


_FUSED = {"RNN_TANH": FusedRNN, "RNN_RELU": FusedRNN, "LSTM": FusedLSTM, "GRU": FusedGRU}


# -------------------------------------------------------------------------------- cell
class _Batch:
    """Lengths of a right-padded time-major batch, sorted longest first.

    sizes[t]: the rows still running at step t are [:sizes[t]] (None: every row, every step).
    sort / unsort: into and out of that order (dim 1); flip: reverse time within each
    sequence's valid part (a plain flip without lengths). The fast path's Functions
    (`scan_functions`) read sizes, valid, order and final.
    """

    def __init__(self, lengths, T: int, B: int, device):
        self.sizes = self.valid = self.order = None
        if lengths is None:
            return
        lengths, order = _check_lengths(lengths, T, B).sort(descending=True)
        steps = torch.arange(T)[:, None]
        valid = steps < lengths                                          # [T, B]
        self.sizes = valid.sum(1).tolist()
        self.valid = valid[..., None].to(device)
        self.order, self.inverse = order.to(device), order.argsort().to(device)
        self.last = ((lengths - 1).to(device), torch.arange(B, device=device))
        self.reverse = torch.where(valid, lengths - 1 - steps, steps).to(device)

    def sort(self, t):
        return t if self.order is None else t.index_select(1, self.order)

    def unsort(self, t):
        return t if self.order is None else t.index_select(1, self.inverse)

    def flip(self, t):
        return t.flip(0) if self.order is None else t.gather(0, self.reverse[..., None].expand_as(t))

    def final(self, t):
        """[T, B, H] -> [B, H]: each sequence's entry at its last valid step (a copy)."""
        return t[-1].clone() if self.order is None else t[self.last]



def _solo(fn, tensors, *rest):
    """A Function of `scan_functions` on one layer-direction: the group of one, S = 1. Under
    torch.func.vmap the Function's vmap rule folds the vmapped dimension into S (and decides
    `training` again: batched tensors do not report requires_grad). squeeze, not [0]: its backward
    is a view, where a select's fills a zero tensor and copies the gradient in."""
    return [t.squeeze(0) for t in fn.apply(*(t[None] for t in tensors), *rest)]


def _rnn_fast(act: Activation):
    def run(x, state, p, seq):
        tensors = (x, p["weight_ih"], p["bias_ih"] + p["bias_hh"], state[0], p["weight_hh"])
        out, h = _solo(RNNScan, tensors, act, seq)
        return out, (h,)
    return run


def _lstm_fast(x, state, p, seq):
    tensors = (x, p["weight_ih"], p["bias_ih"] + p["bias_hh"], *state, p["weight_hh"])
    out, h, c, *_ = _solo(LSTMScan, tensors, seq, _needs_grad(tensors))
    return out, (h, c)


def _gru_fast(x, state, p, seq):
    tensors = (x, p["weight_ih"], p["bias_ih"], state[0], p["weight_hh"], p["bias_hh"])
    out, h, *_ = _solo(GRUScan, tensors, seq, _needs_grad(tensors))
    return out, (h,)


# The fast path of each cell by its configuration's key (CellSpec.key: "rnn", "rnn[activation=relu]").
FAST = {**{RNN.configured(activation=a).key: _rnn_fast(act) for a, act in ACTIVATIONS.items()},
        "irnn": _rnn_fast(ACTIVATIONS["relu"]), "lstm": _lstm_fast, "gru": _gru_fast}


def _unroll(step, gx, state, p, valid, probes):
    """The reference loop: autograd through `step`, one graph node per step and state.

    valid [T, B, 1] or None: past a sequence's last valid step its state is carried unchanged
    and its output is zero. probes: {state name: zero [T, B, H]}, added to each state where
    `step` forms it (its `tap`), so that a probe's gradient is dL/dstate_t. Returns output,
    final state, and the states stacked per name ([T, B, H] each).
    """
    seen = []
    for t in range(gx.shape[0]):
        tap = (lambda name, s: s + probes[name][t]) if probes else (lambda name, s: s)
        new = step(gx[t], state, p, tap)
        if valid is not None:
            new = tuple(torch.where(valid[t], n, s) for n, s in zip(new, state))
        state = new
        seen.append(state)
    stacked = [torch.stack(s) for s in zip(*seen)]
    out = stacked[0] if valid is None else torch.where(valid, stacked[0], 0)
    return out, state, stacked


class CellRecurrent(_Stack, nn.Module):
    """The explicit-cell backend; parameters named and shaped as torch.nn's, on the module."""
    backend = "cell"

    def __init__(self, spec: CellSpec, input_size, hidden_size, layers, bidirectional,
                 batch_first, dropout, residual):
        super().__init__()
        self.spec, self.arch = spec, spec.name
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, layers
        self.bidirectional, self.batch_first = bidirectional, batch_first
        self.dropout, self.residual = dropout, residual
        H, D = hidden_size, 2 if bidirectional else 1
        for k in range(layers):
            for d in range(D):
                for name, shape in spec.param_shapes(input_size if k == 0 else H * D, H).items():
                    self.register_parameter(name + self._suffix(k, d), nn.Parameter(torch.empty(shape)))
        self.reset_parameters()
        if spec.name in native.ARCHS:
            native.load()               # build or load the kernels now, not inside a timed call

    def reset_parameters(self) -> None:
        """torch.nn's init: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @staticmethod
    def _suffix(k: int, d: int) -> str:
        return f"_l{k}" + ("_reverse" if d else "")

    def _params(self, k: int, d: int) -> dict[str, torch.Tensor]:
        return {n: getattr(self, n + self._suffix(k, d)) for n in self.spec.param_shapes(1, 1)}

    def extra_repr(self) -> str:
        return (f"{self.arch}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, batch_first={self.batch_first}, "
                f"dropout={self.dropout}, residual={self.residual}")

    def forward(self, x, hx=None, lengths=None, return_states=False):
        """output, h_n = m(x, hx, lengths); lstm: output, (h_n, c_n).

        return_states=True adds a third value, one dict per layer:
        {direction: {state name: [T, B, H]}} ("forward" / "backward"; "h", and "c" for lstm),
        time-major, position-aligned with the output, in the batch's own order. They are
        leaves of the graph whose gradient, torch.autograd.grad(loss, tensor), is the total
        dL/dstate_t (through every path: the next step, the output, h_t from c_t). At padded
        steps they hold the carried state, with gradient zero (the final state's gradient
        reaches the last valid step). This runs the slower reference path.
        """
        packed = isinstance(x, PackedSequence)
        if packed:
            if lengths is not None:
                raise UsageError("give lengths or a PackedSequence, not both")
            x, lengths = pad_packed_sequence(x, self.batch_first)
        if self.batch_first:
            x = x.transpose(0, 1)
        T, B = x.shape[:2]
        D = 2 if self.bidirectional else 1
        seq = _Batch(lengths, T, B, x.device)
        x, hx = seq.sort(x), tuple(seq.sort(s) for s in self._initial(hx, x, B))
        finals, states, inp = [], [], x
        for k in range(self.num_layers):
            if k:
                inp = F.dropout(inp, self.dropout, self.training)
            outs, layer_states = [], {}
            for d in range(D):
                state = tuple(s[k * D + d] for s in hx)
                out, state, layer_states[DIRECTIONS[d]] = self._direction(
                    inp, state, self._params(k, d), seq, d == 1, return_states)
                outs.append(out)
                finals.append(state)
            out = torch.cat(outs, 2) if D == 2 else outs[0]
            inp = out + inp if self.residual and k else out
            states.append(layer_states)
        output = seq.unsort(inp)
        output = output.transpose(0, 1) if self.batch_first else output
        if packed:
            output = pack_padded_sequence(output, lengths, self.batch_first, enforce_sorted=False)
        h_n = tuple(seq.unsort(torch.stack(s)) for s in zip(*finals))
        h_n = h_n if len(h_n) > 1 else h_n[0]
        return (output, h_n, states) if return_states else (output, h_n)

    def _initial(self, hx, x, B):
        """hx as a tuple of [layers*dirs, B, H] tensors, one per state (zeros when None)."""
        shape = (self.num_layers * (2 if self.bidirectional else 1), B, self.hidden_size)
        n = len(self.spec.states)
        if hx is None:
            return (x.new_zeros(shape),) * n
        hx = (hx,) if isinstance(hx, torch.Tensor) else tuple(hx)
        if len(hx) != n or any(s.shape != shape for s in hx):
            raise UsageError(f"hx for {self.arch} must be {n} tensor(s) of shape {shape}, "
                             f"got {[tuple(s.shape) for s in hx]}")
        return hx

    def _direction(self, x, state, p, seq: _Batch, reverse: bool, return_states: bool):
        """One layer, one direction, over the sorted batch -> output, final state, states."""
        flip = seq.flip if reverse else (lambda t: t)
        x = flip(x)
        if not return_states and self.spec.key in FAST:
            out, state = FAST[self.spec.key](x, state, p, seq)
            return flip(out), state, None
        leaves = probes = None
        if return_states:   # leaves in the caller's order; probes in the loop's (sorted, flipped)
            T, B = x.shape[:2]
            leaves = {n: x.new_zeros(T, B, self.hidden_size, requires_grad=True) for n in self.spec.states}
            probes = {n: flip(seq.sort(v)) for n, v in leaves.items()}
        out, state, stacked = _unroll(self.spec.step, F.linear(x, p["weight_ih"], p["bias_ih"]),
                                      state, p, seq.valid, probes)
        if return_states:
            # The probes only add zeros; the leaves take the states' values now. No graph node
            # saved a leaf's value, so this in-place write leaves the gradients intact.
            with torch.no_grad():
                for leaf, s in zip(leaves.values(), stacked):
                    leaf.copy_(seq.unsort(flip(s)))
        return flip(out), state, leaves
