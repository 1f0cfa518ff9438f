r"""Encoder-decoder RNNs (lecture notes, seq2seq): variants, attention, greedy and beam search.

    source x_1..x_S                                  <s>  y_1 ... y_{T-1}   (teacher forcing)
        |                                             |
    embed -> encoder RNN --------- h_n -- bridge -->  embed [; c] -> decoder RNN -> s_t
    (any cell; bi / stacked)  \                                                    |
                               outputs h_1..h_S --- attention(s_t, h) -> c_t ---> readout -> p(y_t | y_<t, x)

Variants (registry VARIANTS; `model_params["variant"]`):
  plain      the encoder's final state initialises the decoder (Sutskever et al. 2014).
  peeking    as plain, and the context c = the encoder's final top-layer state is also fed,
             concatenated to the previous token, to every decoder step (Cho et al. 2014).
  repeat     the context c is the decoder's ONLY input, the same at every step, and the
             decoder starts from zeros: Keras' addition_rnn (RepeatVector), the course lab's
             learning to add. The decoder reads no previous token, so teacher forcing and
             beam search do not apply (refused: greedy decoding is its decoder):

                 x_1..x_S -> encoder RNN -> c = h_S --repeat--> [c, c, ..., c] -> decoder RNN
                                                                  (h_0 = 0)    -> s_1..s_T -> readout
  attention  as plain, and at each step c_t = sum_s a_ts h_s over all encoder outputs with
             a_t = softmax_s(score(s_t, h_s)) over the valid (unpadded) positions;
             the readout is tanh(W_c [c_t; s_t]) (Luong et al. 2015, global attention).
             score (registry ATTENTIONS; `model_params["attention"]`):
               multiplicative  s_t^T W h_s                         (Luong et al. 2015, "general"; default)
               additive        v^T tanh(W_q s_t + W_k h_s)        (Bahdanau et al. 2015)
             The query is the decoder's current state (Luong), not its previous one
             (Bahdanau), and c_t is not fed back into the decoder: so the whole decoder of
             a teacher-forced batch is one fused RNN call, and attention is two batched matmuls.

A bidirectional encoder gives a decoder of width 2H: the forward and backward final
states of each layer are concatenated (no extra parameters); the decoder has as many
layers as the encoder. Teacher forcing (`Seq2Seq.forward(teacher_forcing=p)`) feeds the
ground-truth previous token with probability p per token (Bengio et al. 2015's scheduled
sampling; p = 1: one fused decoder call; p = 0: free running), p optionally decayed by a
`tf_decay` schedule.

Input: `onehot` feeds tokens as one-hot vectors (no embedding parameters; the lab's and
Keras' input, <pad> all zeros) instead of a learnt embedding of width `embed`.

Decoding: `greedy_decode` and `beam_search` (batched: the beams of all examples of a
batch are rows of one tensor, reordered by index_select; no Python loop over examples),
both stopping at </s> or `max_len`. `decode(..., beam=1)` is greedy. Token ids 0, 1, 2
are <pad>, <s>, </s> in every vocabulary; decoding never emits <pad> or <s>.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UsageError, choices
from ..registry import Registry
from .recurrent import build

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")


# ---------------------------------------------------------------------------- registries
@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    peek: bool = False     # context concatenated to every decoder input
    attend: bool = False   # attention over all encoder outputs
    repeat: bool = False   # the context is the decoder's only input (no previous token, h_0 = 0)


VARIANTS: Registry[Variant] = Registry("seq2seq variant")
for _v in (Variant("plain", "the encoder's final state initialises the decoder"),
           Variant("peeking", "plain + the context vector fed to every decoder step", peek=True),
           Variant("attention", "plain + attention over all encoder outputs (--attention)", attend=True),
           Variant("repeat", "the encoder's final state repeated as the decoder's only input "
                             "(Keras addition_rnn, the lab's)", repeat=True)):
    VARIANTS.add(_v.name, _v)

ATTENTIONS: Registry[type] = Registry("attention")


@ATTENTIONS.register("additive")
class AdditiveScore(nn.Module):
    """Bahdanau et al. 2015: score(s, h) = v^T tanh(W_q s + W_k h)."""

    CHUNK = 1 << 23  # elements of the [B, T, S, D] tanh computed at once (memory bound)

    def __init__(self, dim: int):
        super().__init__()
        self.key = nn.Linear(dim, dim, bias=False)
        self.query = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, 1, bias=False)

    def keys(self, outputs: torch.Tensor) -> torch.Tensor:   # [B, S, D] -> [B, S, D]
        return self.key(outputs)

    def forward(self, q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # [B,T,D],[B,S,D] -> [B,T,S]
        q = self.query(q)
        B, T, D = q.shape
        step = max(1, self.CHUNK // max(1, B * keys.shape[1] * D))
        parts = [self.v(torch.tanh(q[:, i:i + step, None] + keys[:, None])).squeeze(-1)
                 for i in range(0, T, step)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


@ATTENTIONS.register("multiplicative")
class MultiplicativeScore(nn.Module):
    """Luong et al. 2015 ("general"): score(s, h) = s^T W h."""

    def __init__(self, dim: int):
        super().__init__()
        self.key = nn.Linear(dim, dim, bias=False)

    def keys(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.key(outputs)

    def forward(self, q: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return torch.bmm(q, keys.transpose(1, 2))


def attention_weights(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over source positions, padded positions (mask False) weighted exactly 0."""
    return scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)


# ---------------------------------------------------------------------------- options
TF_DECAYS = ("none", "linear:STEPS", "exp:RATE", "sigmoid:K")


@dataclass(frozen=True)
class Options:
    """The valid `model_params` of a seq2seq run (unknown keys are a UsageError)."""
    variant: str = "plain"            # plain | peeking | attention | repeat
    attention: str = "multiplicative" # or additive (variant attention only); multiplicative is one
                                      # bmm (no [B, T, S, D] tanh) and learnt addition faster here
    embed: int = 32                   # token embedding width (12-symbol vocabularies need few)
    onehot: bool = False              # tokens one-hot instead of embedded (the lab's input); no embed then
    teacher_forcing: float = 1.0      # P(feed the true previous token) in training; 1 = always
    tf_decay: str = "none"            # schedule of P over steps: none, linear:N, exp:R, sigmoid:K
    beam: int = 1                     # beam width of test decoding; 1 = greedy
    length_norm: float = 0.0          # beam ranking by score / length**alpha; 0 = off

    def teacher_forcing_at(self, step: int) -> float:
        """P(teacher forcing) at an optimizer step: `teacher_forcing` times the decay."""
        p = self.teacher_forcing
        kind, _, arg = self.tf_decay.partition(":")
        if kind == "linear":
            return p * max(0.0, 1.0 - step / float(arg))
        if kind == "exp":
            return p * float(arg) ** step
        if kind == "sigmoid":   # Bengio et al. 2015's inverse sigmoid decay
            k = float(arg)
            return p * k / (k + math.exp(min(step / k, 700.0)))
        return p

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


def parse_options(model_params: dict[str, Any] | None) -> Options:
    """Validate `model_params` into Options; every mistake is a one-line UsageError."""
    given = dict(model_params or {})
    valid = Options.keys()
    bad = [k for k in given if k not in valid]
    if bad:
        raise UsageError(f"unknown model_params key {bad[0]!r} for seq2seq tasks (valid: {choices(valid)})")
    o = Options(**given)
    VARIANTS.get(str(o.variant))
    ATTENTIONS.get(str(o.attention))
    if not _is_int(o.beam) or o.beam < 1:
        raise UsageError(f"beam width {o.beam!r} is invalid (valid: a positive integer; 1 = greedy)")
    if not _is_int(o.embed) or o.embed < 1:
        raise UsageError(f"embed {o.embed!r} is invalid (valid: a positive integer)")
    if not isinstance(o.onehot, bool):
        raise UsageError(f"onehot {o.onehot!r} is invalid (valid: true, false)")
    if o.onehot and "embed" in given:
        raise UsageError(f"embed {o.embed!r} is unused with onehot: true (valid: leave embed out, or onehot: false)")
    tf = _number(o.teacher_forcing)
    if tf is None or not 0.0 <= tf <= 1.0:
        raise UsageError(f"teacher_forcing {o.teacher_forcing!r} is invalid (valid: a probability in [0, 1])")
    ln = 1.0 if o.length_norm is True else 0.0 if o.length_norm is False else _number(o.length_norm)
    if ln is None or ln < 0:
        raise UsageError(f"length_norm {o.length_norm!r} is invalid (valid: an exponent >= 0; 0 = off)")
    decay = str(o.tf_decay)
    kind, sep, arg = decay.partition(":")
    val = _number(arg) if sep else None
    ok = (kind == "none" and not sep) or (
        val is not None and ((kind == "linear" and val > 0) or (kind == "exp" and 0 < val <= 1)
                             or (kind == "sigmoid" and val >= 1)))
    if not ok:
        raise UsageError(f"tf_decay {decay!r} is invalid (valid: {', '.join(TF_DECAYS)}; "
                         f"STEPS > 0, 0 < RATE <= 1, K >= 1)")
    if VARIANTS.get(str(o.variant)).repeat:   # its decoder reads no previous token
        _check_feedback(o.variant, beam=o.beam)
        if tf != 1.0 or decay != "none":
            raise UsageError(f"teacher_forcing {tf:g} / tf_decay {decay!r} do not apply to variant {o.variant!r}: "
                             "its decoder reads no previous token (valid: teacher_forcing 1, tf_decay none)")
    return dataclasses.replace(o, teacher_forcing=tf, length_norm=ln, tf_decay=decay)


def _check_feedback(variant: str, beam: int) -> None:
    """Beam search re-ranks choices through their effect on later steps; a decoder that reads no
    previous token (variant repeat) has none: every hypothesis shares one state."""
    if beam != 1 and VARIANTS.get(variant).repeat:
        raise UsageError(f"beam width {beam!r} needs a decoder that reads its previous token; variant "
                         f"{variant!r} reads none (valid: beam 1 = greedy)")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# ---------------------------------------------------------------------------- the model
class OneHot(nn.Module):
    """Token ids [B, T] -> one-hot vectors [B, T, V], <pad> all zeros; no parameters (a fixed
    identity table, a buffer: it follows .to(dtype/device) and is not in the state_dict)."""

    def __init__(self, vocab: int):
        super().__init__()
        table = torch.eye(vocab)
        table[PAD] = 0.0
        self.register_buffer("table", table, persistent=False)
        self.embedding_dim = vocab

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(tokens, self.table)


def _map_state(state, fn):
    """Apply fn to a state tensor or to each tensor of a state tuple (lstm: (h, c))."""
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


@dataclass
class Memory:
    """What the decoder reads of one encoded batch (rows may be beams: B*K)."""
    outputs: torch.Tensor                # [B, S, D] encoder outputs (both directions)
    mask: torch.Tensor                   # [B, S] True at valid source positions
    state: Any                           # decoder initial state, [layers, B, D] (or a tuple)
    context: torch.Tensor                # [B, D] the final top-layer state (peeking)
    keys: torch.Tensor | None = None     # [B, S, D] attention keys, precomputed once

    def repeat(self, k: int) -> "Memory":
        """Each row repeated k times in place (row b -> rows b*k .. b*k+k-1): beams."""
        r = lambda t: t.repeat_interleave(k, dim=0)  # noqa: E731
        return Memory(r(self.outputs), r(self.mask), _map_state(self.state, lambda s: s.repeat_interleave(k, 1)),
                      r(self.context), None if self.keys is None else r(self.keys))


class Seq2Seq(nn.Module):
    """An encoder-decoder of any zoo cell; `variant` picks how the two are connected.

    arch, backend, bidirectional, layers, dropout, residual, forget_bias: as
    `rnnbench.models.build`, for the encoder (the decoder is unidirectional, of width
    hidden * (2 if bidirectional else 1), with as many layers). src_vocab / tgt_vocab:
    token ids, 0 = <pad>, 1 = <s>, 2 = </s>. embed: token embedding width; onehot: one-hot
    tokens instead (no embedding). Variant repeat has no target embedding (its decoder reads
    no token): its decoder's input is the context alone, of width hidden * dirs.

        logits = m(src, lengths, tgt_in, teacher_forcing=1.0)     # training, [B, T, V]
        mem = m.encode(src, lengths); logp, state, w = m.step(tokens, mem.state, mem)
    """

    def __init__(self, arch: str, src_vocab: int, tgt_vocab: int, hidden: int = 128, *,
                 variant: str = "plain", attention: str = "multiplicative", embed: int = 32,
                 onehot: bool = False, backend: str = "fused", bidirectional: bool = False, layers: int = 1,
                 dropout: float = 0.0, residual: bool = False, forget_bias: float = 1.0):
        super().__init__()
        self.variant = VARIANTS.get(variant)
        self.arch, self.hidden, self.layers = arch, hidden, layers
        self.dirs = 2 if bidirectional else 1
        D = hidden * self.dirs
        kw = dict(backend=backend, layers=layers, batch_first=True, dropout=dropout, residual=residual)
        if arch == "lstm":
            kw["forget_bias"] = forget_bias
        self.onehot = bool(onehot)
        tokens = OneHot if onehot else (lambda v: nn.Embedding(v, embed, padding_idx=PAD))
        self.src_embed = tokens(src_vocab)
        self.encoder = build(arch, self.src_embed.embedding_dim, hidden, bidirectional=bidirectional, **kw)
        if self.variant.repeat:        # the decoder reads the context alone: no target embedding
            self.tgt_embed = None
            dec_in = D
        else:
            self.tgt_embed = tokens(tgt_vocab)
            dec_in = self.tgt_embed.embedding_dim + (D if self.variant.peek else 0)
        self.decoder = build(arch, dec_in, D, **kw)
        if self.variant.attend:
            self.attention = ATTENTIONS.get(attention)(D)
            self.combine = nn.Linear(2 * D, D)
        self.out = nn.Linear(D, tgt_vocab)
        self.attention_kind = attention if self.variant.attend else None

    @property
    def n_params(self) -> int:
        """Trainable parameters, encoder + decoder (embeddings, attention, readout included)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # ---- encoder -----------------------------------------------------------------
    def encode(self, src: torch.Tensor, lengths: torch.Tensor | None = None) -> Memory:
        """src [B, S] token ids (right-padded), lengths [B] on the CPU (None: all S)."""
        B, S = src.shape
        lengths = torch.full((B,), S, dtype=torch.long) if lengths is None else lengths.cpu()
        full = bool((lengths == S).all())     # no padding: skip packing (the faster kernels)
        outputs, h_n = self.encoder(self.src_embed(src), lengths=None if full else lengths)
        state = _map_state(h_n, self._bridge)
        top = state[0] if isinstance(state, tuple) else state
        mask = torch.arange(S)[None, :] < lengths[:, None]
        if self.variant.repeat:         # Keras' decoder starts from zeros; the context is its input
            state = _map_state(state, torch.zeros_like)
        mem = Memory(outputs, mask.to(src.device), state, top[-1])
        if self.variant.attend:
            mem.keys = self.attention.keys(outputs)
        return mem

    def _bridge(self, h: torch.Tensor) -> torch.Tensor:
        """[layers*dirs, B, H] -> [layers, B, dirs*H]: both directions of a layer side by side."""
        if self.dirs == 1:
            return h
        L, B, H = h.shape[0] // 2, h.shape[1], h.shape[2]
        return h.view(L, 2, B, H).permute(0, 2, 1, 3).reshape(L, B, 2 * H)

    # ---- decoder -----------------------------------------------------------------
    def _inputs(self, tokens: torch.Tensor, mem: Memory) -> torch.Tensor:   # [B, T] -> [B, T, E(+D)]
        if self.variant.repeat:         # RepeatVector: the context at every step, the tokens unread
            return mem.context[:, None, :].expand(-1, tokens.shape[1], -1)
        e = self.tgt_embed(tokens)
        if self.variant.peek:
            e = torch.cat([e, mem.context[:, None, :].expand(-1, tokens.shape[1], -1)], -1)
        return e

    def _readout(self, s: torch.Tensor, mem: Memory):
        """Decoder states [B, T, D] -> (logits [B, T, V], attention weights [B, T, S] or None)."""
        if not self.variant.attend:
            return self.out(s), None
        w = attention_weights(self.attention(s, mem.keys), mem.mask)
        c = torch.bmm(w, mem.outputs)
        return self.out(torch.tanh(self.combine(torch.cat([c, s], -1)))), w

    def step(self, tokens: torch.Tensor, state, mem: Memory):
        """One decoder step: previous tokens [B] -> (log-probs [B, V], state, weights [B, S] | None)."""
        s, state = self.decoder(self._inputs(tokens[:, None], mem), state)
        logits, w = self._readout(s, mem)
        return logits[:, 0].log_softmax(-1), state, None if w is None else w[:, 0]

    def forward(self, src: torch.Tensor, lengths: torch.Tensor | None, tgt_in: torch.Tensor,
                teacher_forcing: float = 1.0, return_attention: bool = False):
        """Training pass: logits [B, T, V] for the targets whose shifted copy is `tgt_in`.

        tgt_in [B, T] = <s>, y_1, ..., y_{T-1}. With teacher_forcing 1 the decoder reads
        all of it in one RNN call; below 1 it runs step by step and each step reads the
        true token with probability p, else the model's own previous argmax.
        """
        mem = self.encode(src, lengths)
        if teacher_forcing >= 1.0 or self.variant.repeat:    # repeat: no token fed, so no feedback
            s, _ = self.decoder(self._inputs(tgt_in, mem), mem.state)
            logits, w = self._readout(s, mem)
        else:
            logits, w = self._unroll(mem, tgt_in, teacher_forcing)
        return (logits, w) if return_attention else logits

    def _unroll(self, mem: Memory, tgt_in: torch.Tensor, p: float):
        B, T = tgt_in.shape
        tok, state, outs, ws = tgt_in[:, 0], mem.state, [], []
        for t in range(T):
            s, state = self.decoder(self._inputs(tok[:, None], mem), state)
            logits, w = self._readout(s, mem)
            outs.append(logits)
            ws.append(w)
            if t + 1 < T:
                own = logits[:, 0].detach().argmax(-1)
                if p <= 0.0:
                    tok = own
                else:
                    truth = torch.rand(B, device=tgt_in.device) < p
                    tok = torch.where(truth, tgt_in[:, t + 1], own)
        return torch.cat(outs, 1), (None if ws[0] is None else torch.cat(ws, 1))


# ---------------------------------------------------------------------------- decoding
@dataclass
class Decoded:
    tokens: torch.Tensor                 # [B, T] ids up to and including </s>, then <pad>
    scores: torch.Tensor                 # [B] sum of log-probabilities of the tokens
    lengths: torch.Tensor                # [B] tokens up to and including </s> (T if none)
    attention: torch.Tensor | None = None   # [B, T, S] weights per output step (attention variant)


def _allowed(logp: torch.Tensor, finished: torch.Tensor) -> torch.Tensor:
    """Live rows never emit <pad> or <s>; finished rows emit only <pad>, at no cost."""
    logp = logp.clone()
    logp[:, PAD] = float("-inf")
    logp[:, BOS] = float("-inf")
    if finished.any():
        done = torch.full_like(logp[0], float("-inf"))
        done[PAD] = 0.0
        logp = torch.where(finished[:, None], done, logp)
    return logp


def _lengths(tokens: torch.Tensor) -> torch.Tensor:
    return (tokens != PAD).sum(1)


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, lengths: torch.Tensor | None, max_len: int) -> Decoded:
    """The most probable token at each step, until </s> or max_len steps."""
    mem = model.encode(src, lengths)
    B = src.shape[0]
    tok = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(B, dtype=torch.bool, device=src.device)
    score = torch.zeros(B, device=src.device)
    state, toks, ws = mem.state, [], []
    for _ in range(max_len):
        logp, state, w = model.step(tok, state, mem)
        logp = _allowed(logp, finished)
        best, tok = logp.max(-1)
        score += best
        toks.append(tok)
        ws.append(w)
        finished = finished | (tok == EOS)
        if bool(finished.all()):
            break
    tokens = torch.stack(toks, 1)
    att = None if ws[0] is None else torch.stack(ws, 1) * (tokens != PAD)[..., None]
    return Decoded(tokens, score, _lengths(tokens), att)


@torch.no_grad()
def beam_search(model, src: torch.Tensor, lengths: torch.Tensor | None, max_len: int, beam: int,
                length_norm: float = 0.0) -> Decoded:
    """Batched beam search: the best of `beam` hypotheses per example.

    All B*K beams are rows of one batch: each step scores every (beam, token)
    extension, keeps the K best per example (topk over K*V), and reorders the
    decoder state and histories by one index_select. A finished beam stays in the
    beam with its score frozen (it extends only by <pad>, at no cost). The winner
    maximises score / length**length_norm (length counts </s>); hypotheses ended by
    </s> beat ones cut at max_len. K = 1 is exactly greedy decoding.
    """
    if not _is_int(beam) or beam < 1:
        raise UsageError(f"beam width {beam!r} is invalid (valid: a positive integer; 1 = greedy)")
    if getattr(model, "variant", None) is not None:
        _check_feedback(model.variant.name, beam)
    K = beam
    B, dev = src.shape[0], src.device
    mem = model.encode(src, lengths).repeat(K)
    state = mem.state
    tok = torch.full((B * K,), BOS, dtype=torch.long, device=dev)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0                     # K identical start beams: keep one alive
    finished = torch.zeros(B * K, dtype=torch.bool, device=dev)
    base = (torch.arange(B, device=dev) * K)[:, None]
    hist = torch.empty(B * K, 0, dtype=torch.long, device=dev)
    whist = None
    for _ in range(max_len):
        logp, state, w = model.step(tok, state, mem)
        logp = _allowed(logp, finished)
        V = logp.shape[-1]
        cand = (scores.reshape(B * K, 1) + logp).view(B, K * V)
        scores, idx = cand.topk(K, dim=1)                       # [B, K], best first
        rows = (base + torch.div(idx, V, rounding_mode="floor")).reshape(-1)
        tok = (idx % V).reshape(-1)
        state = _map_state(state, lambda s: s.index_select(1, rows))
        hist = torch.cat([hist.index_select(0, rows), tok[:, None]], 1)
        if w is not None:
            w = w.index_select(0, rows)[:, None]
            whist = w if whist is None else torch.cat([whist.index_select(0, rows), w], 1)
        # ended by </s>, or dead (-inf: fewer than K possible hypotheses so far)
        finished = finished.index_select(0, rows) | (tok == EOS) | scores.reshape(-1).isneginf()
        if bool(finished.all()):
            break
    T = hist.shape[1]
    hlen = _lengths(hist).view(B, K)
    rank = scores / hlen.clamp(min=1).float() ** length_norm if length_norm else scores.clone()
    ended = (hist == EOS).any(1).view(B, K)          # ended by </s> (not cut at max_len)
    rank = torch.where(ended | ~ended.any(1, keepdim=True), rank, torch.full_like(rank, float("-inf")))
    # argmax picks the first maximum; topk kept beams sorted, so ties go to the higher raw score
    best = rank.argmax(1)
    pick = (base[:, 0] + best)
    tokens = hist.index_select(0, pick).view(B, T)
    T = int(_lengths(tokens).max())
    tokens = tokens[:, :T]
    att = None
    if whist is not None:
        att = whist.index_select(0, pick)[:, :T] * (tokens != PAD)[..., None]
    return Decoded(tokens, scores.gather(1, best[:, None])[:, 0], _lengths(tokens), att)


def decode(model, src, lengths, max_len: int, beam: int = 1, length_norm: float = 0.0) -> Decoded:
    """Greedy for beam 1, else batched beam search."""
    if beam == 1:
        return greedy_decode(model, src, lengths, max_len)
    return beam_search(model, src, lengths, max_len, beam, length_norm)


def sequence_log_prob(model, src, lengths, tokens: torch.Tensor) -> torch.Tensor:
    """log p(tokens | src) [B] under teacher forcing, <pad> positions excluded (for tests, rescoring)."""
    tgt_in = torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], 1)
    logp = model(src, lengths, tgt_in).log_softmax(-1)
    lp = logp.gather(2, tokens[..., None])[..., 0]
    return (lp * (tokens != PAD)).sum(1)
