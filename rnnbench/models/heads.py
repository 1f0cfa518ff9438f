"""Sequence models: optional input embedding -> recurrent stack (`build`) -> linear head.

    x [B, T, F] floats, or token ids [B, T] (vocab_size: learned embedding or one-hot)
      ─► rnn (batch first) ─► head="last":  y [B, out]     from the top layer's final state
                              head="every": y [B, T, out]  one output per step
"""
from __future__ import annotations

import math
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError, unknown
from .recurrent import build

HEADS = ("last", "every")


class SequenceModel(nn.Module):
    """`y, state = model(x, lengths=None, hx=None)`; `state` is the rnn's h_n (lstm: (h_n, c_n)).

    head="last": the top layer's state at each sequence's last valid step; bidirectional:
        concat(forward state at the last valid step, backward state at step 0). A residual
        stack reads its top layer's output there instead (the state lacks the skip connection).
    head="every": many-to-many (synced); also one-to-many, one step at a time (`generate`).
    vocab_size: x holds token ids, embedded to `embedding_dim` features, or one-hot encoded
        (vocab_size features) when embedding_dim is None; input_size is then not used.
    build_kwargs: backend, bidirectional, layers, dropout, residual, forget_bias (`build`).
    """

    def __init__(self, arch: str, input_size: int, hidden_size: int, output_size: int, *,
                 head: str = "last", vocab_size: int | None = None,
                 embedding_dim: int | None = None, **build_kwargs):
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
        self.rnn = build(arch, rnn_input, hidden_size, batch_first=True, **build_kwargs)
        self.head = nn.Linear(self.rnn.output_size, output_size)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def forward(self, x, lengths=None, hx=None):
        if self.embedding is not None:
            x = self.embedding(x)
        elif self.vocab_size is not None:
            x = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)
        out, state = self.rnn(x, hx, lengths)
        if self.head_type == "every":
            return self.head(out), state
        if getattr(self.rnn, "residual", False) and getattr(self.rnn, "num_layers", 1) > 1:
            # the top layer's output carries its skip connection; its state h_n does not
            return self.head(last_outputs(out, lengths, self.rnn.bidirectional)), state
        h_n = state[0] if isinstance(state, tuple) else state          # [layers*dirs, B, H]
        top = h_n[-(2 if self.rnn.bidirectional else 1):]                # forward (, backward)
        return self.head(top.transpose(0, 1).flatten(1)), state


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
