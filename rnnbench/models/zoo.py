"""Sequence models that are not recurrent cells: what a user would pick instead of an RNN
(issue 18), trained by the same runner, on the same tasks, through the same heads.

    x [B, T, F] (token ids: one-hot) ─► features ─► [B, T, C] ─► head="last":  y [B, out] at each
                                                                 sequence's last valid step
                                                               head="every": y [B, T, out]
    tcn          causal dilated convolutions in residual blocks     (Bai, Kolter & Koltun 2018)
    transformer  a small encoder with sinusoidal positions; causal  (Vaswani et al. 2017)
                 for per-step tasks, bidirectional for many_to_one
    window-mlp   an MLP on the last k inputs                        (the course notes' baseline)
    ntm          an LSTM controller with an external memory, one   (Graves, Wayne & Danihelka 2014)
                 read and one write head (models/ntm.py)

`MODELS` registers them beside `CELLS`; `ARCHS` looks a name up in either (an unknown name's
error lists both). `hidden` sets the width C (a TCN's channels, the Transformer's d_model, the
MLP's units); model_params `match: <cell or count>` chooses it instead, so that the model has
as many parameters as that cell's SequenceModel at the run's hidden and layers (`match_params`).
They run on one backend, "cell" (plain PyTorch modules; nothing fused to compare with).

State: a causal model's state is its input history (the last `context` inputs), so that
truncated BPTT and `heads.generate` work as with a recurrent model: model(x, hx=past) gives
the outputs of cat(past, x) at x's steps, and the new history.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..errors import UsageError, choices, unknown
from ..registry import Registry
from .cells import CELLS
from . import ntm


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    structure: str                 # what `rnnbench list` shows (a cell's equations' place)
    citation: str
    features: Callable = field(repr=False, compare=False)   # (input, width, layers, dropout, causal, **options)
    width: str = "hidden units"    # what `hidden` (or `match`) sets
    options: dict = field(default_factory=dict)           # model_params key -> default
    task_defaults: dict = field(default_factory=dict)     # task -> {option: value}: the source's settings
    width_multiple_of: str | None = None   # the option the width must be a multiple of (nhead)
    layers: bool = True            # whether the run's `layers` sets its depth (tcn: `levels` does)
    recurrent: bool = False        # a recurrent network itself (ntm: an LSTM controller), not an
                                   # alternative to one: not "beyond recurrence" (claims/beyond.py)
    check: Callable | None = field(default=None, repr=False, compare=False)  # options -> None; UsageError if
                                                                             # they cannot go together
    field: Callable | None = field(default=None, repr=False, compare=False)  # options -> receptive field

    def describe(self) -> dict[str, Any]:
        """Its entry in `rnnbench list --json`; receptive_field: steps an output sees at the
        defaults and at each task's (None: every step; "fits T": chosen to cover the sequence)."""
        def rf(options):
            if self.field is None:
                return None
            value = self.field(options)
            return "fits T" if value is None else value
        return {"name": self.name, "title": self.title, "structure": self.structure, "citation": self.citation,
                "backends": ["cell"], "width": self.width, "options": dict(self.options),
                "task_defaults": {t: dict(o) for t, o in self.task_defaults.items()},
                "receptive_field": {"default": rf(self.options),
                                    **{t: rf(self.resolved(t, {})) for t in self.task_defaults}}}

    def resolved(self, task: str, model_params: dict[str, Any]) -> dict[str, Any]:
        """Its options for a run of `task`: defaults < the source's for the task < model_params."""
        given = {k: v for k, v in model_params.items() if k != "match"}
        return {**self.options, **self.task_defaults.get(task, {}), **given}


MODELS: Registry[ModelSpec] = Registry("sequence model")


class _Archs:
    """Cells and sequence models under one name lookup (`--arch`): get, in, names, items."""
    kind = "cell"          # the one-line error keeps its words: "unknown cell 'x' (valid: <every arch>)"

    def get(self, name: str):
        if name in CELLS:
            return CELLS.get(name)
        if name in MODELS:
            return MODELS.get(name)
        raise unknown(self.kind, name, self.names())

    def names(self) -> list[str]:
        return [*CELLS.names(), *MODELS.names()]

    def items(self):
        return [*CELLS.items(), *MODELS.items()]

    def __contains__(self, name) -> bool:
        return name in CELLS or name in MODELS

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


ARCHS = _Archs()


# ------------------------------------------------------------------------------ models
class TemporalBlock(nn.Module):
    """Two causal dilated convolutions (weight-normalised, ReLU, dropout) and a residual:
    out = relu(net(x) + (x or a 1x1 convolution of x where the widths differ))."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, dilation: int, dropout: float):
        super().__init__()
        self.pad = (kernel_size - 1) * dilation            # left padding only: causal
        self.conv1 = weight_norm(nn.Conv1d(n_in, n_out, kernel_size, dilation=dilation))
        self.conv2 = weight_norm(nn.Conv1d(n_out, n_out, kernel_size, dilation=dilation))
        self.drop = nn.Dropout(dropout)
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None

    def forward(self, x):                                   # [B, C, T]
        out = self.drop(torch.relu(self.conv1(F.pad(x, (self.pad, 0)))))
        out = self.drop(torch.relu(self.conv2(F.pad(out, (self.pad, 0)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TCN(nn.Module):
    """`levels` TemporalBlocks of `width` channels, block i dilated 2^i; kernel size k.

    Receptive field: 1 + 2 (k - 1) (2^levels - 1) steps (two convolutions per block)."""

    def __init__(self, input_size, width, layers, dropout, causal, *, kernel_size, levels):
        super().__init__()
        self.kernel_size, self.levels, self.output_size = kernel_size, levels, width
        self.blocks = nn.Sequential(*(TemporalBlock(input_size if i == 0 else width, width, kernel_size,
                                                    2 ** i, dropout) for i in range(levels)))

    @staticmethod
    def field(kernel_size: int, levels: int) -> int:
        return 1 + 2 * (kernel_size - 1) * (2 ** levels - 1)

    @property
    def receptive_field(self) -> int:
        return self.field(self.kernel_size, self.levels)

    context = receptive_field

    def forward(self, x, lengths=None):                    # [B, T, F] -> [B, T, C]
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)


def sinusoid(T: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(...), [T, d] (Vaswani et al. 2017)."""
    pos = torch.arange(T, dtype=like.dtype, device=like.device)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, dtype=like.dtype, device=like.device) * (-math.log(10000.0) / d))
    pe = like.new_zeros(T, d)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, :d // 2]
    return pe


class Transformer(nn.Module):
    """Linear(F, d) + sinusoidal positions -> `layers` pre-norm TransformerEncoderLayers (nhead
    heads, feed-forward dim_feedforward, default 4 d) -> LayerNorm. causal: step t attends to
    steps <= t (the per-step tasks); otherwise to every valid step (many_to_one)."""

    def __init__(self, input_size, width, layers, dropout, causal, *, nhead, dim_feedforward):
        super().__init__()
        self.causal, self.output_size, self.receptive_field = causal, width, None
        self.context = None if causal else 0            # a causal model keeps its whole history
        self.inp = nn.Linear(input_size, width)
        layer = nn.TransformerEncoderLayer(width, nhead, dim_feedforward or 4 * width, dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(width),
                                             enable_nested_tensor=False)

    def forward(self, x, lengths=None):
        B, T = x.shape[:2]
        h = self.inp(x) * math.sqrt(self.output_size) + sinusoid(T, self.output_size, x)
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=x.device, dtype=h.dtype) \
            if self.causal else None
        pad = None
        if lengths is not None and not self.causal:     # causal steps never see the padding after them
            pad = torch.arange(T)[None, :] >= torch.as_tensor(lengths).cpu()[:, None]
            pad = pad.to(x.device)
        return self.encoder(h, mask=mask, src_key_padding_mask=pad, is_causal=self.causal)


class WindowMLP(nn.Module):
    """h_t = relu(W_1 [x_{t-k+1}; ...; x_t] + b_1) (zeros before the start), then `layers` - 1
    more relu(W h + b), each with dropout: the first layer, a Linear on the flattened window,
    runs as a causal Conv1d of kernel size k (the same parameters, every t at once)."""

    def __init__(self, input_size, width, layers, dropout, causal, *, window):
        super().__init__()
        self.window = self.receptive_field = self.context = window
        self.output_size = width
        self.first = nn.Conv1d(input_size, width, window)
        self.rest = nn.ModuleList(nn.Linear(width, width) for _ in range(layers - 1))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, lengths=None):
        h = self.drop(torch.relu(self.first(F.pad(x.transpose(1, 2), (self.window - 1, 0))).transpose(1, 2)))
        for lin in self.rest:
            h = self.drop(torch.relu(lin(h)))
        return h


class ZooModel(nn.Module):
    """`y, state = model(x, lengths=None, hx=None)`, as `heads.SequenceModel`: a features module
    (`MODELS`) and a linear head. state: the input history (see the module docstring)."""

    def __init__(self, spec: ModelSpec, input_size: int, output_size: int, *, head: str, width: int,
                 layers: int = 1, dropout: float = 0.0, vocab_size: int | None = None, **options):
        super().__init__()
        if head not in ("last", "every"):
            raise unknown("head", head, ("last", "every"))
        self.arch, self.spec, self.head_type, self.vocab_size = spec.name, spec, head, vocab_size
        self.causal = head == "every"
        self.features = spec.features(vocab_size or input_size, width, layers, dropout, self.causal, **options)
        self.head = nn.Linear(self.features.output_size, output_size)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def receptive_field(self) -> int | None:
        """Steps an output sees (None: all of them)."""
        return self.features.receptive_field

    def forward(self, x, lengths=None, hx=None):
        if self.vocab_size is not None:
            x = F.one_hot(x, self.vocab_size).to(self.head.weight.dtype)
        past = 0
        if hx is not None:
            if lengths is not None:
                raise UsageError(f"{self.arch}: give lengths or hx (the input history), not both")
            if not self.causal:
                raise UsageError(f"{self.arch} with head 'last' sees the whole sequence: it carries no state")
            past, x = hx.shape[1], torch.cat([hx, x], 1)
        feats = self.features(x, lengths)[:, past:]
        ctx = self.features.context
        state = x if ctx is None else x[:, -ctx:] if ctx else None
        if self.head_type == "every":
            return self.head(feats), state
        B, T = feats.shape[:2]
        last = torch.full((B,), T - 1) if lengths is None else torch.as_tensor(lengths).cpu().long() - 1
        return self.head(feats[torch.arange(B), last.to(feats.device)]), state


def features(arch: str, input_size: int, hidden: int, layers: int = 1, seq_len: int | None = None) -> nn.Module:
    """The bare features module of `arch` at its default options ([B, T, F] -> [B, T, hidden],
    causal), for throughput: what a pass over a batch costs without a task's head."""
    return build(arch, input_size, 1, head="every", hidden=hidden, layers=layers if MODELS.get(arch).layers else 1,
                 seq_len=seq_len).features


def flops(module: nn.Module, batch: int, seq_len: int, backward: bool = False) -> float:
    """Matmul FLOPs of a features module over [batch, seq_len, F], as `CellSpec.flops` counts a
    cell's (a multiply-add = 2, forward+backward = 3x): every weight matrix (or convolution
    kernel) is applied once per step-sample, 2 * its entries; attention adds, per layer and
    step-sample, 4 * T * d (QK^T and the weighted sum, counted in full under a causal mask)."""
    per_step = sum(2 * p.numel() for n, p in module.named_parameters()
                   if p.dim() >= 2 and not n.endswith("original0"))          # not weight_norm's g
    if isinstance(module, Transformer):
        per_step += 4 * seq_len * module.output_size * len(module.encoder.layers)
    return float(per_step * batch * seq_len * (3 if backward else 1))


# --------------------------------------------------------------------- parameter matching
def match_params(target: int, count: Callable[[int], int], *, step: int = 1, high: int = 1 << 16) -> int:
    """The width w (a positive multiple of `step`, at most `high`) whose count(w) is nearest
    `target` (the smaller on a tie); count must not decrease with w. Binary search."""
    lo, hi = 1, max(1, high // step)
    while lo < hi:                                   # the smallest m with count(m * step) >= target
        mid = (lo + hi) // 2
        if count(mid * step) >= target:
            hi = mid
        else:
            lo = mid + 1
    best = lo * step
    if lo > 1 and abs(count((lo - 1) * step) - target) <= abs(count(best) - target):
        best = (lo - 1) * step
    return best


def cell_model_params(arch: str, input_size: int, hidden: int, output_size: int, layers: int = 1,
                      bidirectional: bool = False) -> int:
    """Parameters of the SequenceModel of cell `arch` (its stack and linear head)."""
    dirs = 2 if bidirectional else 1
    return CELLS.get(arch).n_params(input_size, hidden, layers, bidirectional) + (hidden * dirs + 1) * output_size


def check_match(v) -> None:
    """model_params match: a cell name (its SequenceModel's count at the run's sizes) or a count."""
    if not (_positive_int(v) or (isinstance(v, str) and v in CELLS)):
        raise UsageError(f"model_params match must be a cell ({choices(CELLS.names())}) or a "
                         f"positive parameter count, got {v!r}")


def matched_hidden(arch: str, match, input_size: int, hidden: int, output_size: int, layers: int = 1,
                   bidirectional: bool = False) -> int:
    """The hidden size at which cell `arch`'s SequenceModel has as many parameters as `match` (a
    cell, at `hidden` and the same layers and directions, or a count): model_params match for a
    cell (mingru against gru, say: the min-RNNs have no W_hh, so at the same hidden they are 1/4
    to 1/20 of the gated cells on a 2-feature input)."""
    check_match(match)
    target = match if not isinstance(match, str) else \
        cell_model_params(match, input_size, hidden, output_size, layers, bidirectional)
    return match_params(target, lambda h: cell_model_params(arch, input_size, h, output_size, layers, bidirectional))


# ------------------------------------------------------------------ options and building
def _positive_int(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, Integral) and v >= 1


def check_params(arch: str, model_params: dict[str, Any]) -> None:
    """Refuse, in one line, a model_params key `arch` does not take or a bad value."""
    spec = MODELS.get(arch)
    valid = ("match", *spec.options)
    for k, v in model_params.items():
        if k not in valid:
            raise UsageError(f"unknown model_params key {k!r} for {arch} (valid: {choices(valid)})")
        if k == "match":
            check_match(v)
        elif not (_positive_int(v) or (v is None and spec.options[k] is None)):
            raise UsageError(f"model_params {k} of {arch} must be a positive integer, got {v!r}")
    if spec.check is not None:
        spec.check({**spec.options, **{k: v for k, v in model_params.items() if k != "match"}})


def check_run(cfg, task_cls) -> None:
    """What a run of a sequence model refuses, before anything is written: a seq2seq task, the
    recurrent-only settings, and bad model_params. tcn's depth is `levels`: it refuses a `layers`
    other than 1 and the task's default (a lab task's 2 layers are its RNNs', not a choice)."""
    arch = cfg.arch
    if task_cls.kind not in ("many_to_one", "many_to_many", "one_to_many"):
        raise UsageError(f"{arch} runs many_to_one, many_to_many and one_to_many tasks; task {task_cls.name!r} is "
                         f"{task_cls.kind} (an encoder-decoder of cells: --arch {choices(CELLS.names())})")
    spec = MODELS.get(arch)
    for bad, why in ((cfg.bidirectional, "bidirectional is a recurrent stack's setting (the transformer is "
                                         "causal for many_to_many tasks, bidirectional for many_to_one)"),
                     (cfg.residual, "residual is a recurrent stack's setting"),
                     (cfg.grad_diag_every is not None, "grad_diag_every diagnoses recurrent cells"),
                     (not spec.layers and cfg.layers not in (1, task_cls.defaults.get("layers", 1)),
                      f"{arch}'s depth is model_params levels, not layers")):
        if bad:
            raise UsageError(f"{why}: {arch} does not take it")
    check_params(arch, cfg.model_params)
    options = spec.resolved(task_cls.name, cfg.model_params)
    if spec.width_multiple_of and "match" not in cfg.model_params and cfg.hidden % options[spec.width_multiple_of]:
        raise UsageError(f"{arch} {spec.width} (hidden) {cfg.hidden} is not a multiple of "
                         f"{spec.width_multiple_of} {options[spec.width_multiple_of]}")


def build(arch: str, input_size: int, output_size: int, *, head: str, hidden: int, layers: int = 1,
          dropout: float = 0.0, vocab_size: int | None = None, seq_len: int | None = None,
          task: str = "", model_params: dict[str, Any] | None = None) -> ZooModel:
    """The model `arch` for a task: options from the task's defaults and model_params, width from
    `hidden` or `match`; seq_len (the data's T) fills tcn's levels when unset and must be
    covered by its receptive field."""
    model_params = dict(model_params or {})
    check_params(arch, model_params)
    spec = MODELS.get(arch)
    options = spec.resolved(task, model_params)
    if arch == "tcn":
        options = _tcn_levels(options, seq_len)
    kw = dict(head=head, layers=layers, dropout=dropout, vocab_size=vocab_size, **options)
    width = hidden
    match = model_params.get("match")
    if match is not None:
        target = match if not isinstance(match, str) else \
            cell_model_params(match, vocab_size or input_size, hidden, output_size, layers)

        def count(w: int) -> int:
            with torch.device("meta"):
                return ZooModel(spec, input_size, output_size, width=w, **kw).n_params
        width = match_params(target, count, step=options[spec.width_multiple_of] if spec.width_multiple_of else 1)
    if spec.width_multiple_of and width % options[spec.width_multiple_of]:
        raise UsageError(f"{arch} {spec.width} (hidden) {width} is not a multiple of "
                         f"{spec.width_multiple_of} {options[spec.width_multiple_of]}")
    return ZooModel(spec, input_size, output_size, width=width, **kw)


def _tcn_levels(options: dict, seq_len: int | None) -> dict:
    """levels None: the fewest whose receptive field covers seq_len. A receptive field short of
    seq_len is refused: the output would not see the start of the sequence, where the long-
    dependency tasks put what must be remembered (the source sizes its networks so that it does)."""
    k, L = options["kernel_size"], options["levels"]
    if k < 2 and seq_len and seq_len > 1:
        raise UsageError(f"tcn kernel_size {k} sees one step: it must be >= 2 to cover {seq_len} steps")
    if L is None:
        L = 1
        while seq_len and TCN.field(k, L) < seq_len:
            L += 1
    if seq_len and TCN.field(k, L) < seq_len:
        need = next(n for n in range(1, 64) if TCN.field(k, n) >= seq_len)
        raise UsageError(f"tcn receptive field 1 + 2*({k}-1)*(2^{L}-1) = {TCN.field(k, L)} steps does not "
                         f"cover the task's {seq_len}: set model_params levels >= {need} (or a larger kernel_size)")
    return {**options, "levels": L}


def for_task(task, cfg) -> ZooModel:
    """`Task.build_model` for an arch of MODELS."""
    x = task.splits["train"].x
    return build(cfg.arch, task.input_size, task.output_size,
                 head="last" if task.kind == "many_to_one" else "every", hidden=cfg.hidden,
                 layers=cfg.layers, dropout=cfg.dropout, vocab_size=task.vocab_size,
                 seq_len=x.shape[1] if x.dim() > 1 else 1, task=task.name, model_params=cfg.model_params)


# ---------------------------------------------------------------------------- registry
MODELS.add("tcn", ModelSpec(
    "tcn", "TCN (causal dilated convolutions, residual)",
    "levels i = 0..L-1, dilation d = 2^i, kernel k, C channels (hidden):\n"
    "  block(x) = relu(x' + drop(relu(conv_d(drop(relu(conv_d(x)))))))   x' = x, or a 1x1 conv of x\n"
    "  conv_d: causal (left-padded (k-1) d), weight-normalised (w = g v / |v|)\n"
    "receptive field 1 + 2 (k-1) (2^L - 1) steps, checked to cover T\n"
    "defaults: the source's k and L for adding (7, 8), copy (8, 8), seqdigits (7, 8); elsewhere\n"
    "k = 7 and the fewest L covering T; dropout is the run's; layers is not used (1 or the task's default)",
    "Bai, Kolter & Koltun 2018, An empirical evaluation of generic convolutional and recurrent networks "
    "for sequence modeling (locuslab/TCN)",
    TCN, width="channels per level", options={"kernel_size": 7, "levels": None},
    task_defaults={"adding": {"kernel_size": 7, "levels": 8}, "copy": {"kernel_size": 8, "levels": 8},
                   "seqdigits": {"kernel_size": 7, "levels": 8}},
    layers=False, field=lambda o: None if o["levels"] is None else TCN.field(o["kernel_size"], o["levels"])))
MODELS.add("transformer", ModelSpec(
    "transformer", "Transformer encoder (sinusoidal positions)",
    "h_0 = sqrt(d) (W_in x_t + b_in) + PE(t)   (d = hidden, or matched: model_params match)\n"
    "h_l = h + FF(LN(h)),  h = h_{l-1} + MHA(LN(h_{l-1}))   (pre-norm; nhead heads, FF 4d, the run's layers)\n"
    "y = head(LN(h_L)); causal mask (t sees <= t) for many_to_many tasks; for many_to_one none\n"
    "(padded steps masked as keys); dropout is the run's",
    "Vaswani et al. 2017, Attention is all you need (torch.nn.TransformerEncoderLayer)",
    Transformer, width="d_model", options={"nhead": 4, "dim_feedforward": None}, width_multiple_of="nhead"))
MODELS.add("window-mlp", ModelSpec(
    "window-mlp", "MLP on a window of the last k inputs",
    "h_t = relu(W_1 [x_{t-k+1}; ...; x_t] + b_1)   (zeros before the start; k = model_params window)\n"
    "then the run's layers - 1 more relu(W h + b); y = head(h_t): at the last step, or every t",
    "the non-sequential baseline of the course notes (a fixed window fed to an MLP)",
    WindowMLP, width="hidden units", options={"window": 10}, field=lambda o: o["window"]))
MODELS.add("ntm", ModelSpec(
    "ntm", "Neural Turing Machine (LSTM controller, one read and one write head)",
    ntm.describe(),
    "Graves, Wayne & Danihelka 2014, Neural Turing Machines (arXiv:1410.5401); memory init as "
    "Collier & Smith 2018, Implementing Neural Turing Machines",
    ntm.NTM, width="controller LSTM units",
    options={"memory_slots": 128, "memory_width": 20, "shift_range": 1}, check=ntm.check_options, recurrent=True))
