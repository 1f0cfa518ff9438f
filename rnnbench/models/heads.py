"""Sequence models: optional input embedding -> recurrent stack (`build`) -> linear head.

    x [B, T, F] floats, or token ids [B, T] (vocab_size: learned embedding or one-hot)
      ─► rnn (batch first) ─► head="last":  y [B, out]     from the top layer's final state
                              head="every": y [B, T, out]  one output per step

The usage patterns of the lecture notes (Karpathy 2015, "The unreasonable effectiveness of
recurrent neural networks") as task kinds, and the head each gets (`HEAD_OF_KIND`):

    many_to_one   x_1 .. x_T  ─► y_T                   head "last"
    many_to_many  x_1 .. x_T  ─► y_1 .. y_T  (synced)  head "every"
    one_to_many   v           ─► y_1 .. y_T            head "every" over `one_to_many_inputs(v, T)`:
                  x_1 = v, x_t = 0 for t > 1 (v fed once, at the first step, as in Karpathy's
                  diagram; feed="every" gives x_t = v at every step, Goodfellow et al. 2016, 10.2.4)
    (seq2seq, the unsynced many-to-many, is an encoder-decoder: models/seq2seq.py. One-to-one
    is no recurrence at all.)

A cell that feeds back the model's own prediction (jordan with model_params jordan_feedback
prediction: `CellSpec.feeds_prediction`) runs with the head inside its loop (`PredictionFeedback`).
"""
from __future__ import annotations

import inspect
import math
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError, unknown
from .cells import CELLS, CellSpec
from .recurrent import build

HEADS = ("last", "every")
# The head of a SequenceModel for each task kind it serves (tasks.base.KINDS adds seq2seq).
HEAD_OF_KIND = {"many_to_one": "last", "many_to_many": "every", "one_to_many": "every"}
FEEDS = ("first", "every")     # how one_to_many_inputs feeds the vector (see the module docstring)


def one_to_many_inputs(v: torch.Tensor, steps: int, feed: str = "first") -> torch.Tensor:
    """The input sequence of a one-to-many model: v [B, F] -> x [B, steps, F] with
    feed="first": x_0 = v, x_t = 0 for t >= 1 (fed once: Karpathy 2015's one-to-many);
    feed="every": x_t = v for every t (Goodfellow et al. 2016, section 10.2.4)."""
    if feed not in FEEDS:
        raise unknown("feed", feed, FEEDS)
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise UsageError(f"steps must be a positive integer, got {steps!r}")
    if feed == "every":
        return v.unsqueeze(1).expand(-1, steps, -1).contiguous()
    x = v.new_zeros(v.shape[0], steps, v.shape[1])
    x[:, 0] = v
    return x


class SequenceModel(nn.Module):
    """`y, state = model(x, lengths=None, hx=None)`; `state` is the rnn's h_n (lstm: (h_n, c_n)).

    head="last": the top layer's state at each sequence's last valid step; bidirectional:
        concat(forward state at the last valid step, backward state at step 0). A residual
        stack reads its top layer's output there instead (the state lacks the skip connection).
    head="every": many-to-many (synced); also one-to-many, one step at a time (`generate`).
    vocab_size: x holds token ids, embedded to `embedding_dim` features, or one-hot encoded
        (vocab_size features) when embedding_dim is None; input_size is then not used.
    cell_options: the cell's model options (`CellSpec.model_options`), each at its default
        when not given. A cell configured to feed back the prediction (jordan_feedback
        prediction) runs as `PredictionFeedback`: one layer, one direction, backend cell; its
        output is the head's at every step, and head="last" reads it at each sequence's last
        valid step (the head runs at every step, its prediction fed back, the last one scored).
    build_kwargs: backend, bidirectional, layers, dropout, residual, forget_bias (`build`).
    """

    def __init__(self, arch: str, input_size: int, hidden_size: int, output_size: int, *,
                 head: str = "last", vocab_size: int | None = None,
                 embedding_dim: int | None = None, cell_options: dict | None = None, **build_kwargs):
        super().__init__()
        if head not in HEADS:
            raise unknown("head", head, HEADS)
        if "batch_first" in build_kwargs:
            raise UsageError("SequenceModel is always batch-first: do not pass batch_first")
        for name, value in (("vocab_size", vocab_size), ("embedding_dim", embedding_dim)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, Integral) or value < 1):
                raise UsageError(f"{name} must be a positive integer or None, got {value!r}")
        if embedding_dim is not None and vocab_size is None:
            raise UsageError("embedding_dim needs vocab_size (it embeds token ids)")
        self.head_type, self.vocab_size = head, vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim) if embedding_dim else None
        rnn_input = embedding_dim or vocab_size or input_size
        spec = CELLS.get(arch).configured(**(cell_options or {}))
        self.feeds_prediction = spec.feeds_prediction
        if spec.feeds_prediction:
            _check_prediction_feedback(spec, build_kwargs)
            self.rnn = PredictionFeedback(spec, rnn_input, hidden_size, output_size)
        else:
            self.rnn = build(arch, rnn_input, hidden_size, batch_first=True, cell_options=cell_options,
                             **build_kwargs)
        self.head = nn.Linear(self.rnn.output_size, output_size)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x, lengths=None, hx=None):
        if self.embedding is not None:
            x = self.embedding(x)
        elif self.vocab_size is not None:
            x = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)
        if self.feeds_prediction:          # the rnn's output is already the head's, at every step
            y, state = self.rnn(x, hx, lengths, head=self.head)
            return (y if self.head_type == "every" else last_outputs(y, lengths, False)), state
        out, state = self.rnn(x, hx, lengths)
        if self.head_type == "every":
            return self.head(out), state
        if getattr(self.rnn, "residual", False) and getattr(self.rnn, "num_layers", 1) > 1:
            # the top layer's output carries its skip connection; its state h_n does not
            return self.head(last_outputs(out, lengths, self.rnn.bidirectional)), state
        h_n = state[0] if isinstance(state, tuple) else state          # [layers*dirs, B, H]
        top = h_n[-(2 if self.rnn.bidirectional else 1):]                # forward (, backward)
        return self.head(top.transpose(0, 1).flatten(1)), state


def _check_prediction_feedback(spec: CellSpec, build_kwargs: dict) -> None:
    """What a cell that feeds back the prediction refuses: the prediction at t exists only
    after step t of one forward pass through one layer."""
    how = f"cell {spec.name!r} with {spec.variant} (the head inside the loop)"
    if build_kwargs.get("bidirectional"):
        raise UsageError(f"{how} runs forward only: bidirectional must be false")
    if build_kwargs.get("layers", 1) != 1:
        raise UsageError(f"{how} is one layer: layers must be 1, got {build_kwargs['layers']!r}")
    if build_kwargs.get("backend", "cell") != "cell":
        raise UsageError(f"{how} runs on backend cell only, got backend {build_kwargs['backend']!r}")
    inspect.signature(build).bind(spec.name, 1, 1, **build_kwargs)    # a TypeError, as build's, for a bad key


def cell_model_params(cfg, kind: str) -> dict:
    """A run's model_params with its cell's model options resolved (config.resolve; cfg a RunConfig
    of a cell, its backend resolved, `kind` its task's). A model option of another cell is refused;
    each of the cell's takes its value as given, else the default of the task's kind
    (`CellSpec.option_values`), and is written as the record holds it (`CellSpec.recorded_options`:
    present unless at the option's default on a kind without a default of its own). A cell that
    feeds back the prediction refuses what it cannot run. Other keys pass as given."""
    spec = CELLS.get(cfg.arch)
    others = {k: c.name for _, c in CELLS.items() for k in c.model_options if k not in spec.model_options}
    bad = [k for k in cfg.model_params if k in others]
    if bad:
        raise UsageError(f"model_params {bad[0]} is an option of cell {others[bad[0]]!r}, not of {cfg.arch!r} "
                         f"({cfg.arch}'s options: {', '.join(spec.model_options) or 'none'})")
    values = spec.option_values(cfg.model_params, kind)
    configured = spec.configured(**values)
    if configured.feeds_prediction:
        _check_prediction_feedback(configured, dict(backend=cfg.backend, bidirectional=cfg.bidirectional,
                                                    layers=cfg.layers))
        how = f"cell {cfg.arch!r} with {configured.variant}"
        if kind not in HEAD_OF_KIND:
            raise UsageError(f"{how} needs a task with a head (kinds {', '.join(HEAD_OF_KIND)}), task kind is {kind}")
        for key, why in (("recurrent_radius", "its W_hh [H, output] reads the prediction: no spectral radius"),
                         ("match", "its parameters are not the cell's CellSpec.n_params")):
            if cfg.model_params.get(key) is not None:
                raise UsageError(f"model_params {key} does not go with {how}: {why}")
        if cfg.grad_diag_every is not None:
            raise UsageError(f"grad_diag_every follows a recurrent stack's states; {how} has the head inside "
                             "its loop: set jordan_feedback layer, or grad_diag_every off")
    rest = {k: v for k, v in cfg.model_params.items() if k not in spec.model_options}
    return {**rest, **spec.recorded_options(values, kind)}


class PredictionFeedback(nn.Module):
    """One layer of a cell whose carried state is the model's prediction (`CellSpec.feeds_prediction`:
    jordan with jordan_feedback prediction, `cells.jordan_prediction_step`), the head inside the loop:

        x_t ─► W_ih x_t + b_ih ─► step(·, ŷ_{t-1}; W_hh, b_hh, head's W_ho, b_ho) ─► ŷ_t ─┬─► output
                                           ▲───────────── ŷ_{t-1} ◄─────────────────────┘

    `y, y_n = m(x, hx=None, lengths=None, head=Linear)`: x [B, T, I] (batch first); y [B, T, O]
    the predictions, zero at padded steps; y_n [1, B, O] each sequence's last valid prediction,
    the state (hx: the ŷ_{-1} to start from, zeros when None). Parameters named as the cell
    backend's (weight_ih_l0 [G*H, I], weight_hh_l0 [G*H, O]: it reads the prediction, bias_ih_l0,
    bias_hh_l0), initialised as torch.nn's; the head's are the SequenceModel's. Autograd through
    each step as written (the cell backend's reference loop; no fast scan, no fused kernel).
    """
    backend, bidirectional, num_layers, residual = "cell", False, 1, False

    def __init__(self, spec: CellSpec, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        self.spec, self.arch = spec, spec.name
        self.input_size, self.hidden_size, self.prediction_size = input_size, hidden_size, output_size
        self.output_size = hidden_size                    # what the head reads
        G = spec.n_gates * hidden_size
        shapes = {"weight_ih": (G, input_size), "weight_hh": (G, output_size), "bias_ih": (G,), "bias_hh": (G,)}
        for name, shape in shapes.items():
            self.register_parameter(name + "_l0", nn.Parameter(torch.empty(shape)))
        bound = 1 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.spec.key}, {self.input_size}, {self.hidden_size}, prediction_size={self.prediction_size}"

    def forward(self, x, hx=None, lengths=None, head: nn.Linear | None = None, return_states=False):
        if head is None or return_states:
            raise UsageError(f"{self.spec.key} runs inside a SequenceModel (it needs the head; no return_states)")
        B, T = x.shape[:2]
        shape = (1, B, self.prediction_size)
        if hx is None:
            hx = x.new_zeros(shape)
        elif not isinstance(hx, torch.Tensor) or hx.shape != shape:
            raise UsageError(f"hx for {self.spec.key} must be the prediction, a tensor of shape {shape}, "
                             f"got {tuple(hx.shape) if isinstance(hx, torch.Tensor) else type(hx).__name__}")
        valid = None
        if lengths is not None:
            lengths = torch.as_tensor(lengths).cpu().long()
            if lengths.shape != (B,) or not bool(((lengths >= 1) & (lengths <= T)).all()):
                raise UsageError(f"lengths must be {B} integers in [1, {T}], got {lengths.tolist()}")
            valid = (torch.arange(T)[None, :] < lengths[:, None])[..., None].to(x.device)   # [B, T, 1]
        p = {"weight_hh": self.weight_hh_l0, "bias_hh": self.bias_hh_l0,
             "weight_ho": head.weight, "bias_ho": head.bias}
        gx = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        y, outs = hx[0], []
        for t in range(T):
            (new,) = self.spec.step(gx[:, t], (y,), p)
            y = new if valid is None else torch.where(valid[:, t], new, y)
            outs.append(y)
        out = torch.stack(outs, 1)
        return (out if valid is None else torch.where(valid, out, 0)), y.unsqueeze(0)


def last_outputs(out: torch.Tensor, lengths, bidirectional: bool) -> torch.Tensor:
    """out [B, T, H*dirs] -> [B, H*dirs]: the forward half at each sequence's last valid step,
    the backward half at step 0 (where the backward direction ends). Without a residual stack
    these equal the top layer's h_n."""
    B, T, _ = out.shape
    idx = (torch.as_tensor(lengths, device=out.device).long() - 1) if lengths is not None \
        else torch.full((B,), T - 1, dtype=torch.long, device=out.device)
    fwd = out[torch.arange(B, device=out.device), idx]
    if not bidirectional:
        return fwd
    H = out.shape[-1] // 2
    return torch.cat([fwd[:, :H], out[:, 0, H:]], dim=1)


def generate(model: SequenceModel, prime: torch.Tensor, steps: int, next_input_fn) -> torch.Tensor:
    """Free-running (one-to-many) generation with a head="every" model.

    Feeds `prime` [B, T0, F] (or token ids [B, T0]), then `steps - 1` times the model's own
    last output mapped by `next_input_fn(y_t) -> x_{t+1}` ([B, F], or token ids [B]), one
    step at a time, carrying the state. Returns [B, steps, output_size]: the output at the
    prime's last step (the prediction of x_{T0}), then the output after each fed step.
    Runs in the caller's grad mode and train/eval mode.
    """
    if model.head_type != "every":
        raise UsageError(f"generate needs head 'every', the model has head {model.head_type!r}")
    if isinstance(steps, bool) or not isinstance(steps, Integral) or steps < 1:
        raise UsageError(f"steps must be a positive integer, got {steps!r}")
    y, state = model(prime)
    outs = [y[:, -1]]
    for _ in range(steps - 1):
        y, state = model(next_input_fn(outs[-1]).unsqueeze(1), hx=state)
        outs.append(y[:, -1])
    return torch.stack(outs, 1)


# ------------------------------------------------------------------------- init options
def check_recurrent_radius(radius) -> None:
    """`model_params: {recurrent_radius: r}` must be a positive finite number."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not radius > 0 \
            or not math.isfinite(radius):
        raise UsageError(f"model_params recurrent_radius must be a positive number, got {radius!r}")


@torch.no_grad()
def set_recurrent_radius(model, radius) -> None:
    """Rescale every square block of every W_hh (each gate's) to spectral radius `radius`.

    Used at init by `Task.build_model` for `model_params: {recurrent_radius: r}` (the
    exploding-gradient demonstration: a tanh RNN with radius > 1). A block with radius 0 is
    left alone. Works on either backend (the parameters are shared by name).
    """
    check_recurrent_radius(radius)
    for name, p in model.named_parameters():
        if "weight_hh" not in name.rsplit(".", 1)[-1]:
            continue
        H = p.shape[1]
        for block in p.split(H, 0):
            if block.shape[0] != H:
                continue
            rho = float(torch.linalg.eigvals(block.double().cpu()).abs().max())
            if rho > 0:
                block.mul_(radius / rho)
