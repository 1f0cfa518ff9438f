"""rnnbench.models.seq2seq: attention, padding, teacher forcing, greedy and beam search."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from rnnbench.errors import UsageError
from rnnbench.models.seq2seq import (BOS, EOS, PAD, Memory, Options, Seq2Seq, beam_search, decode,
                                     greedy_decode, parse_options, sequence_log_prob)

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py

V = 12   # 3 specials + 9 symbols



def _model(arch="lstm", variant="attention", attention="additive", seed=0, **kw):
    torch.manual_seed(seed)
    backend = "cell" if arch in ("gru-cho", "jordan") else "fused"
    return Seq2Seq(arch, V, V, 16, variant=variant, attention=attention, embed=8, backend=backend, **kw).eval()


def _batch(B=6, S=7, T=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, S + 1, (B,), generator=g)
    lengths[0] = S
    src = torch.randint(3, V, (B, S), generator=g)
    src[torch.arange(S)[None, :] >= lengths[:, None]] = PAD
    y = torch.randint(3, V, (B, T), generator=g)
    y[:, -1] = EOS
    y_in = torch.cat([torch.full((B, 1), BOS), y[:, :-1]], 1)
    return src, lengths, y, y_in


VARIANTS = [("plain", "additive"), ("peeking", "additive"), ("attention", "additive"),
            ("attention", "multiplicative")]


# ---------------------------------------------------------------------------- attention, padding
@pytest.mark.parametrize("attention", ["additive", "multiplicative"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_attention_weights_sum_to_one_and_respect_padding(attention, bidirectional):
    m = _model(attention=attention, bidirectional=bidirectional)
    src, lengths, _, y_in = _batch()
    _, w = m(src, lengths, y_in, return_attention=True)
    assert w.shape == (src.shape[0], y_in.shape[1], src.shape[1])
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2]))
    pad = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
    assert bool((w.masked_select(pad[:, None, :].expand_as(w)) == 0).all())
    assert bool((w.masked_select(~pad[:, None, :].expand_as(w)) > 0).all())
    d = greedy_decode(m, src, lengths, 5)
    live = d.tokens != PAD
    torch.testing.assert_close(d.attention.sum(-1)[live], torch.ones(int(live.sum())))
    assert bool((d.attention.sum(-1)[~live] == 0).all())


@pytest.mark.parametrize("variant, attention", VARIANTS)
@pytest.mark.parametrize("arch, bidirectional, layers", [("lstm", False, 1), ("gru", True, 2),
                                                         ("gru-cho", True, 1), ("rnn", False, 2)])
def test_padding_changes_nothing(variant, attention, arch, bidirectional, layers):
    """A padded batch gives each example what it gets alone; the pad ids do not matter."""
    m = _model(arch, variant, attention, bidirectional=bidirectional, layers=layers)
    src, lengths, _, y_in = _batch()
    with torch.no_grad():
        out = m(src, lengths, y_in)
        junk = src.clone()
        junk[src == PAD] = 5
        torch.testing.assert_close(m(junk, lengths, y_in), out)
        for i in range(src.shape[0]):
            L = int(lengths[i])
            alone = m(src[i:i + 1, :L], lengths[i:i + 1], y_in[i:i + 1])
            torch.testing.assert_close(alone, out[i:i + 1], atol=1e-5, rtol=1e-4)


def test_memory_bridges_bidirectional_states():
    """Decoder width 2H; its initial state is [forward final; backward final] per layer."""
    m = _model("lstm", "plain", bidirectional=True, layers=2)
    src, lengths, _, _ = _batch()
    with torch.no_grad():
        mem = m.encode(src, lengths)
        _, (h_n, c_n) = m.encoder(m.src_embed(src), lengths=lengths)
    h, c = mem.state
    assert h.shape == (2, src.shape[0], 32)
    torch.testing.assert_close(h[1, :, :16], h_n[2])
    torch.testing.assert_close(h[1, :, 16:], h_n[3])
    torch.testing.assert_close(c[0, :, 16:], c_n[1])
    torch.testing.assert_close(mem.context, h[-1])


def test_n_params_counts_encoder_and_decoder():
    m = _model("gru", "attention")
    parts = [m.src_embed, m.tgt_embed, m.encoder, m.decoder, m.attention, m.combine, m.out]
    assert m.n_params == sum(p.numel() for part in parts for p in part.parameters())
    assert sum(p.numel() for p in m.encoder.parameters()) > 0 and sum(p.numel() for p in m.decoder.parameters()) > 0
    # peeking widens the decoder's input by the context
    assert _model("gru", "peeking").decoder.input_size == 8 + 16


# ---------------------------------------------------------------------------- teacher forcing
@pytest.mark.parametrize("variant, attention", VARIANTS)
@pytest.mark.parametrize("arch", ["lstm", "gru-cho"])
def test_teacher_forcing_one_fused_equals_step_by_step(variant, attention, arch):
    m = _model(arch, variant, attention, bidirectional=True)
    src, lengths, _, y_in = _batch()
    with torch.no_grad():
        fused = m(src, lengths, y_in, teacher_forcing=1.0)
        stepwise, _ = m._unroll(m.encode(src, lengths), y_in, 1.0)
    torch.testing.assert_close(stepwise, fused, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant, attention", VARIANTS)
def test_teacher_forcing_zero_runs_free(variant, attention):
    """p = 0: each step reads the model's own previous argmax, never the ground truth."""
    m = _model("lstm", variant, attention)
    src, lengths, _, y_in = _batch()
    with torch.no_grad():
        free = m(src, lengths, y_in, teacher_forcing=0.0)
        other = y_in.clone()
        other[:, 1:] = (other[:, 1:] + 1 - 3) % (V - 3) + 3
        torch.testing.assert_close(m(src, lengths, other, teacher_forcing=0.0), free)
        own = torch.cat([y_in[:, :1], free[:, :-1].argmax(-1)], 1)
        torch.testing.assert_close(m(src, lengths, own, teacher_forcing=1.0), free, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(m(src, lengths, y_in, teacher_forcing=1.0), free)


def test_teacher_forcing_mixed_is_seeded_and_backpropagates():
    m = _model("gru", "peeking").train()
    src, lengths, y, y_in = _batch()
    torch.manual_seed(3)
    a = m(src, lengths, y_in, teacher_forcing=0.5)
    torch.manual_seed(3)
    b = m(src, lengths, y_in, teacher_forcing=0.5)
    torch.testing.assert_close(a, b)
    nn.functional.cross_entropy(a.reshape(-1, V), y.reshape(-1)).backward()
    assert all(p.grad is not None for p in m.encoder.parameters())


def test_teacher_forcing_decay_schedules():
    o = parse_options({"teacher_forcing": 0.8, "tf_decay": "linear:100"})
    assert o.teacher_forcing_at(0) == 0.8 and math.isclose(o.teacher_forcing_at(50), 0.4)
    assert o.teacher_forcing_at(100) == 0.0 and o.teacher_forcing_at(1000) == 0.0
    o = parse_options({"tf_decay": "exp:0.5"})
    assert o.teacher_forcing_at(2) == 0.25
    o = parse_options({"tf_decay": "sigmoid:10"})
    assert math.isclose(o.teacher_forcing_at(0), 10 / 11)
    assert o.teacher_forcing_at(10 ** 6) < 1e-12
    assert parse_options({}).teacher_forcing_at(10 ** 6) == 1.0


# ---------------------------------------------------------------------------- options
@pytest.mark.parametrize("given, fragments", [
    ({"beam": 0}, ["beam", "0", "positive integer"]),
    ({"beam": 2.5}, ["beam", "2.5"]),
    ({"variant": "bogus"}, ["'bogus'", "attention", "peeking", "plain"]),
    ({"attention": "dot"}, ["'dot'", "additive", "multiplicative"]),
    ({"bogus": 1}, ["'bogus'", "beam", "teacher_forcing", "variant"]),
    ({"teacher_forcing": 1.5}, ["teacher_forcing", "1.5", "[0, 1]"]),
    ({"tf_decay": "cosine:3"}, ["'cosine:3'", "linear:STEPS", "exp:RATE", "sigmoid:K"]),
    ({"tf_decay": "exp:2"}, ["'exp:2'"]),
    ({"length_norm": -1}, ["length_norm", "-1"]),
    ({"embed": 0}, ["embed", "0"]),
])
def test_bad_options_are_usage_errors(given, fragments):
    with pytest.raises(UsageError) as e:
        parse_options(given)
    msg = str(e.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


def test_options_defaults_and_coercion():
    assert parse_options(None) == Options()
    o = parse_options({"length_norm": True, "teacher_forcing": 0, "variant": "attention"})
    assert o.length_norm == 1.0 and o.teacher_forcing == 0.0
    with pytest.raises(UsageError, match="beam width 0"):
        beam_search(_model(), *_batch()[:2], 5, 0)
    with pytest.raises(UsageError, match="'nope'"):
        Seq2Seq("lstm", V, V, 8, variant="nope")


# ---------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("variant, attention", VARIANTS)
@pytest.mark.parametrize("arch", ["rnn", "lstm", "gru", "gru-cho"])
def test_beam_width_one_equals_greedy(variant, attention, arch):
    m = _model(arch, variant, attention, bidirectional=True, seed=2)
    src, lengths, _, _ = _batch(B=16)
    g = greedy_decode(m, src, lengths, 8)
    b = beam_search(m, src, lengths, 8, 1)
    assert torch.equal(g.tokens, b.tokens)
    torch.testing.assert_close(g.scores, b.scores)
    if g.attention is not None:
        torch.testing.assert_close(g.attention, b.attention)
    assert torch.equal(decode(m, src, lengths, 8, beam=1).tokens, g.tokens)


@pytest.mark.parametrize("length_norm", [0.0, 1.0])
def test_beam_scores_are_the_hypotheses_log_probs(length_norm):
    m = _model("gru", "attention", seed=4)
    src, lengths, _, _ = _batch(B=10)
    d = beam_search(m, src, lengths, 6, 4, length_norm)
    with torch.no_grad():
        torch.testing.assert_close(sequence_log_prob(m, src, lengths, d.tokens), d.scores, atol=1e-4, rtol=1e-4)
    assert torch.equal(d.lengths, (d.tokens != PAD).sum(1))


def test_batched_beam_equals_one_example_at_a_time_and_loops_over_steps_only():
    m = _model("lstm", "attention", "multiplicative", seed=5)
    src, lengths, _, _ = _batch(B=12)
    calls = []
    step = m.step
    m.step = lambda *a: (calls.append(1), step(*a))[1]
    d = beam_search(m, src, lengths, 7, 3)
    assert len(calls) <= 7      # one model call per output step for the whole batch
    del m.step
    for i in range(src.shape[0]):
        L = int(lengths[i])
        one = beam_search(m, src[i:i + 1, :L], lengths[i:i + 1], 7, 3)
        n = one.tokens.shape[1]
        assert torch.equal(one.tokens[0], d.tokens[i, :n]) and bool((d.tokens[i, n:] == PAD).all())
        torch.testing.assert_close(one.scores[0], d.scores[i], atol=1e-5, rtol=1e-5)


class TableModel(nn.Module):
    """A hand-built decoder: p(next token | prefix) read from a table, the source ignored.

    The state is the prefix's code (sum of tok * V**position), so that beam search
    reorders it like any RNN state. Unlisted prefixes end: p(</s>) = 1.
    """

    def __init__(self, table: dict[tuple[int, ...], dict[int, float]]):
        super().__init__()
        self.table = table

    def encode(self, src, lengths):
        B = src.shape[0]
        return Memory(torch.zeros(B, 1, 1), torch.ones(B, 1, dtype=torch.bool),
                      torch.zeros(2, B, 1, dtype=torch.float64), torch.zeros(B, 1))

    def step(self, tokens, state, mem):
        code, depth = state[0, :, 0].clone(), state[1, :, 0].clone()
        live = tokens != BOS
        code = torch.where(live, code + tokens.double() * V ** depth, code)
        depth = depth + live.double()
        logp = torch.full((tokens.shape[0], V), float("-inf"))
        for r in range(tokens.shape[0]):
            c, n = int(code[r]), int(depth[r])
            prefix = tuple((c // V ** k) % V for k in range(n))
            for tok, p in self.table.get(prefix, {EOS: 1.0}).items():
                logp[r, tok] = math.log(p)
        return logp, torch.stack([code, depth])[..., None], None


A, B_, C = 3, 4, 5


def test_beam_search_finds_the_best_hypothesis_greedy_misses():
    # greedy: a (0.6), a (0.36), </s> -> p = 0.216;  best: b (0.4), </s> (0.9) -> p = 0.36
    table = {(): {A: 0.6, B_: 0.4}, (A,): {A: 0.36, B_: 0.34, EOS: 0.30}, (B_,): {EOS: 0.9, A: 0.05, B_: 0.05},
             (A, A): {EOS: 1.0}, (A, B_): {EOS: 1.0}}
    m = TableModel(table)
    src = torch.full((3, 2), A)
    g = greedy_decode(m, src, None, 4)
    assert g.tokens[0].tolist() == [A, A, EOS] and math.isclose(float(g.scores[0]), math.log(0.216), rel_tol=1e-5)
    for k in (2, 3, 5):
        b = beam_search(m, src, None, 4, k)
        assert b.tokens.tolist() == [[B_, EOS]] * 3, k
        torch.testing.assert_close(b.scores, torch.full((3,), math.log(0.36)))


def _random_table(seed, depth, symbols=(A, B_, C)):
    g = torch.Generator().manual_seed(seed)
    table = {}
    for n in range(depth):
        for prefix in itertools.product(symbols, repeat=n):
            p = torch.rand(len(symbols) + 1, generator=g) ** 3 + 0.01
            p = (p / p.sum()).tolist()
            table[prefix] = dict(zip((*symbols, EOS), p))
    return table


def _brute_force(table, max_len, length_norm, symbols=(A, B_, C)):
    best, best_key = None, None
    for n in range(max_len):
        for body in itertools.product(symbols, repeat=n):
            seq = (*body, EOS)
            lp = sum(math.log(table.get(seq[:i], {EOS: 1.0}).get(t, 1e-300)) for i, t in enumerate(seq))
            key = lp / len(seq) ** length_norm
            if best_key is None or key > best_key:
                best, best_key = seq, key
    return list(best), best_key


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("length_norm", [0.0, 1.0])
def test_wide_beam_is_exact_search(seed, length_norm):
    """With a beam as wide as the hypothesis space (3 + 9 + 27 + 81 live or ended
    hypotheses of up to 4 tokens), beam search returns the argmax."""
    max_len = 4
    table = _random_table(seed, max_len)
    want, key = _brute_force(table, max_len, length_norm)
    d = beam_search(TableModel(table), torch.zeros(2, 1, dtype=torch.long), None, max_len, 128, length_norm)
    got = [t for t in d.tokens[0].tolist() if t != PAD]
    assert got == want
    assert math.isclose(float(d.scores[0]) / len(got) ** length_norm, key, rel_tol=1e-4)


def test_decoding_never_emits_pad_or_bos_and_pads_after_eos():
    table = {(): {PAD: 0.5, BOS: 0.3, A: 0.2}, (A,): {EOS: 0.6, A: 0.4}}
    m = TableModel(table)
    for d in (greedy_decode(m, torch.zeros(2, 1, dtype=torch.long), None, 5),
              beam_search(m, torch.zeros(2, 1, dtype=torch.long), None, 5, 3)):
        assert d.tokens.tolist() == [[A, EOS]] * 2
        assert d.lengths.tolist() == [2, 2]


def test_max_len_stops_and_ended_hypotheses_win():
    # never ending: a, a, a, ... (p 0.9 each); the only ended ones: c </s>, p = 0.1 * 1
    table = {(): {A: 0.9, C: 0.1}}
    table.update({(A,) * n: {A: 0.9, EOS: 0.1} for n in range(1, 3)})
    table[(A,) * 3] = {A: 1.0}
    m = TableModel(table)
    src = torch.zeros(1, 1, dtype=torch.long)
    g = greedy_decode(m, src, None, 4)
    assert g.tokens.tolist() == [[A, A, A, A]] and g.lengths.tolist() == [4]
    # a</s>: 0.09, aa</s>: 0.081, c</s>: 0.1 (best ended)
    b = beam_search(m, src, None, 4, 4)
    assert b.tokens.tolist() == [[C, EOS]]
    # a beam of 1 follows greedy and ends nowhere: it returns the unended hypothesis
    assert beam_search(m, src, None, 4, 1).tokens.tolist() == [[A, A, A, A]]
