"""The Neural Turing Machine (rnnbench/models/ntm.py): the addressing on hand-made memories, the
machine against a per-element reference written from the paper's equations, and its place in the zoo."""
from __future__ import annotations

import math

import pytest
import torch

from rnnbench.config import RunConfig, resolve
from rnnbench.errors import UsageError
from rnnbench.models import MODELS, zoo
from rnnbench.models import ntm as N


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def one_hot(n, i, batch=1, heads=1):
    w = torch.zeros(batch, heads, n)
    w[..., i] = 1.0
    return w


# ------------------------------------------------------------------------- addressing
def test_content_weights_pick_the_matching_row_and_sum_to_one():
    memory = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]])
    key = torch.tensor([[[0.0, 3.0, 0.0]]])                      # row 1, scaled: cosine 1
    w = N.content_weights(memory, key, torch.tensor([[50.0]]))
    assert w.shape == (1, 1, 4)
    assert torch.allclose(w.sum(-1), torch.ones(1, 1))
    assert int(w.argmax()) == 1 and float(w[0, 0, 1]) > 0.99
    # the formula: softmax(beta * cosine); beta = 0 is uniform
    cos = torch.tensor([0.0, 1.0, 0.0, 1 / math.sqrt(2)])
    assert torch.allclose(N.content_weights(memory, key, torch.tensor([[2.0]]))[0, 0], torch.softmax(2 * cos, 0),
                          atol=1e-6)
    assert torch.allclose(N.content_weights(memory, key, torch.tensor([[0.0]])), torch.full((1, 1, 4), 0.25))


@pytest.mark.parametrize("i, offset, to", [(2, 1, 3), (5, 1, 0), (0, -1, 5), (3, 0, 3)])
def test_shift_moves_a_one_hot_weighting_circularly(i, offset, to):
    s = torch.zeros(1, 1, 3)
    s[..., offset + 1] = 1.0                                      # offsets -1, 0, +1
    assert torch.equal(N.shift(one_hot(6, i), s), one_hot(6, to))


def test_shift_is_the_circular_convolution():
    w = torch.softmax(torch.randn(2, 3, 7), -1)
    s = torch.softmax(torch.randn(2, 3, 5), -1)                   # R = 2
    ref = torch.zeros_like(w)
    for i in range(7):
        for o in range(-2, 3):
            ref[..., i] += s[..., o + 2] * w[..., (i - o) % 7]
    assert torch.allclose(N.shift(w, s), ref, atol=1e-6)
    spread = N.shift(one_hot(5, 0), torch.full((1, 1, 3), 1 / 3))
    assert torch.allclose(spread, torch.tensor([[[1 / 3, 1 / 3, 0, 0, 1 / 3]]]))


def test_sharpening_keeps_the_sum_and_makes_it_peakier():
    w = torch.tensor([[[0.1, 0.2, 0.4, 0.3]]])
    sharp = N.sharpen(w, torch.tensor([[3.0]]))
    assert torch.allclose(sharp.sum(-1), torch.ones(1, 1))
    assert float(sharp.max()) > float(w.max()) and int(sharp.argmax()) == 2
    entropy = lambda p: float(-(p * p.log()).sum())             # noqa: E731
    assert entropy(sharp) < entropy(w)
    assert torch.allclose(N.sharpen(w, torch.tensor([[1.0]])), w, atol=1e-6)    # gamma 1: unchanged
    assert torch.allclose(sharp, w ** 3 / (w ** 3).sum(), atol=1e-6)
    zero = N.sharpen(torch.tensor([[[0.0, 0.5, 0.5]]]), torch.tensor([[2.0]]))   # an exact 0 stays 0
    assert float(zero[0, 0, 0]) == 0.0 and torch.allclose(zero[0, 0, 1:], torch.tensor([0.5, 0.5]))


def test_sharpening_a_thin_weighting_hard_stays_a_distribution():
    """128 slots near 1/128 at gamma 25: w~^gamma underflows float32 (a weighting of zeros, no
    gradient); the softmax form keeps the peak, the sum and the gradient."""
    w = torch.softmax(0.01 * torch.randn(1, 1, 128), -1).requires_grad_()
    assert float((w.detach() ** 25).sum()) == 0.0
    sharp = N.sharpen(w, torch.full((1, 1), 25.0))
    assert torch.allclose(sharp.sum(-1), torch.ones(1, 1)) and int(sharp.argmax()) == int(w.argmax())
    sharp[..., 0].backward()
    assert torch.isfinite(w.grad).all() and float(w.grad.abs().sum()) > 0


def test_interpolation_gate():
    prev, content = one_hot(4, 0), one_hot(4, 3)
    assert torch.equal(N.interpolate(prev, content, torch.zeros(1, 1)), prev)        # g = 0 keeps w_{t-1}
    assert torch.equal(N.interpolate(prev, content, torch.ones(1, 1)), content)      # g = 1 takes w^c
    assert torch.allclose(N.interpolate(prev, content, torch.full((1, 1), 0.25)),
                          torch.tensor([[[0.75, 0, 0, 0.25]]]))


def test_location_addressing_steps_through_the_memory():
    """g = 0, shift +1, sharp: the weighting walks one slot per step and wraps (the copy's write head)."""
    memory = torch.randn(1, 5, 3)
    w = one_hot(5, 3)
    s = torch.tensor([[[0.0, 0.0, 1.0]]])
    for expect in (4, 0, 1):
        w = N.address(memory, torch.randn(1, 1, 3), torch.ones(1, 1), torch.zeros(1, 1), s,
                      torch.full((1, 1), 5.0), w)
        assert int(w.argmax()) == expect and float(w.max()) > 0.999


def test_write_then_read_returns_what_was_written():
    memory = torch.randn(2, 6, 4)
    w = one_hot(6, 2, batch=2)[:, 0]
    v = torch.randn(2, 4)
    written = N.write(memory, w, torch.ones(2, 4), v)             # erase all of slot 2, add v
    assert torch.allclose(N.read(written, w), v)
    keep = [i for i in range(6) if i != 2]
    assert torch.equal(written[:, keep], memory[:, keep])          # the other slots untouched
    added = N.write(memory, w, torch.zeros(2, 4), v)               # no erase: the sum
    assert torch.allclose(N.read(added, w), memory[:, 2] + v)
    # a soft weighting: M(i) * (1 - w(i) e) + w(i) a, slot by slot
    ws, e, a = torch.softmax(torch.randn(2, 6), -1), torch.rand(2, 4), torch.randn(2, 4)
    ref = memory * (1 - ws[..., None] * e[:, None]) + ws[..., None] * a[:, None]
    assert torch.allclose(N.write(memory, ws, e, a), ref, atol=1e-6)


def test_write_backward_is_the_derivative():
    """write's hand-written backward against finite differences (float64)."""
    torch.manual_seed(5)
    args = (torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True),
            torch.softmax(torch.randn(2, 5, dtype=torch.float64), -1).requires_grad_(),
            torch.rand(2, 3, dtype=torch.float64, requires_grad=True),
            torch.randn(2, 3, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(N.write, args)


# ------------------------------------------------------------------------- the machine
def reference_features(ntm: N.NTM, x: torch.Tensor):
    """([h_t; r_t] [T, H + M], {"read", "write": w_t [T, N]}) of one sequence x [T, F], element by
    element from the module docstring's equations."""
    n, m, R, H = ntm.N, ntm.M, ntm.R, ntm.hidden
    lstm, S = ntm.controller, 2 * ntm.R + 1
    mem = [[N.MEMORY_INIT] * m for _ in range(n)]
    w = {"read": [1.0] + [0.0] * (n - 1), "write": [1.0] + [0.0] * (n - 1)}
    r = [sum(w["read"][i] * mem[i][j] for i in range(n)) for j in range(m)]
    h, c = torch.zeros(H, dtype=x.dtype), torch.zeros(H, dtype=x.dtype)
    out, trace = [], {"read": [], "write": []}
    for t in range(x.shape[0]):
        inp = torch.cat([x[t], torch.tensor(r, dtype=x.dtype)])
        z = lstm.weight_ih_l0 @ inp + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
        i_, f_, g_, o_ = z.chunk(4)
        c = torch.sigmoid(f_) * c + torch.sigmoid(i_) * torch.tanh(g_)
        h = torch.sigmoid(o_) * torch.tanh(c)
        p = ntm.heads(h).tolist()
        keys, p = [p[:m], p[m:2 * m]], p[2 * m:]
        betas, p = p[:2], p[2:]
        gates, p = p[:2], p[2:]
        shifts, p = [p[:S], p[S:2 * S]], p[2 * S:]
        gammas, p = p[:2], p[2:]
        erase, add = p[:m], p[m:]
        new = {}
        for j, name in enumerate(("read", "write")):
            k = keys[j]
            beta = math.log1p(math.exp(betas[j]))
            g = 1 / (1 + math.exp(-gates[j]))
            s = [math.exp(v) for v in shifts[j]]
            s = [v / sum(s) for v in s]
            gamma = 1 + math.log1p(math.exp(gammas[j]))
            K = [sum(a * b for a, b in zip(k, row)) /
                 (math.sqrt(sum(a * a for a in k)) * math.sqrt(sum(b * b for b in row)) + 1e-8) for row in mem]
            ex = [math.exp(beta * v) for v in K]
            wc = [v / sum(ex) for v in ex]
            wg = [g * wc[i] + (1 - g) * w[name][i] for i in range(n)]
            ws = [sum(s[o + R] * wg[(i - o) % n] for o in range(-R, R + 1)) for i in range(n)]
            wp = [v ** gamma for v in ws]
            new[name] = [v / sum(wp) for v in wp]
        w = new
        for name in w:
            trace[name].append(w[name])
        r = [sum(w["read"][i] * mem[i][j] for i in range(n)) for j in range(m)]        # reads M_{t-1}
        e = [1 / (1 + math.exp(-v)) for v in erase]
        a = [math.tanh(v) for v in add]
        mem = [[mem[i][j] * (1 - w["write"][i] * e[j]) + w["write"][i] * a[j] for j in range(m)] for i in range(n)]
        out.append(torch.cat([h, torch.tensor(r, dtype=x.dtype)]))
    return torch.stack(out), {k: torch.tensor(v, dtype=x.dtype) for k, v in trace.items()}


def test_the_machine_computes_the_papers_equations():
    torch.manual_seed(0)
    ntm = N.NTM(3, 5, 1, 0.0, True, memory_slots=6, memory_width=4, shift_range=2).double()
    with torch.no_grad():
        ntm.heads.weight.mul_(4)               # sharper weightings than at init: every term matters
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    ntm.record = True
    got = ntm(x)
    assert got.shape == (2, 5, 5 + 4)
    for b in range(2):
        with torch.no_grad():
            features, weightings = reference_features(ntm, x[b])
        assert torch.allclose(got[b], features, atol=1e-7), b
        # the weightings too: with w_0 on slot 0, mirroring every shift (i -> -i mod N) would
        # leave the outputs exactly as they are
        for name in ("read", "write"):
            assert torch.allclose(ntm.trace[name][b], weightings[name], atol=1e-7), (b, name)
    for name in ("read", "write"):
        assert ntm.trace[name].shape == (2, 5, 6)
        assert torch.allclose(ntm.trace[name].sum(-1), torch.ones(2, 5, dtype=torch.float64))


def test_the_machines_gradients_are_the_derivatives():
    torch.manual_seed(6)
    ntm = N.NTM(2, 3, 1, 0.0, True, memory_slots=5, memory_width=3, shift_range=1).double()
    x = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: ntm(x), (x,))


def build(hidden=8, out=3, inp=4, head="every", **options):
    return zoo.build("ntm", inp, out, head=head, hidden=hidden,
                     model_params={"memory_slots": 10, "memory_width": 5, **options})


def test_shapes_layers_and_parameter_count():
    m = build()
    y, _ = m(torch.randn(3, 7, 4))
    assert y.shape == (3, 7, 3)
    assert m.n_params == N.n_params(4, 8, 3, memory_slots=10, memory_width=5)
    deep = zoo.build("ntm", 4, 2, head="last", hidden=6, layers=2, model_params={"memory_slots": 8})
    y, _ = deep(torch.randn(3, 5, 4), lengths=torch.tensor([5, 2, 3]))
    assert y.shape == (3, 2)
    assert deep.n_params == N.n_params(4, 6, 2, layers=2, memory_slots=8)


def test_match_picks_the_controller_width_of_a_cells_parameter_count():
    lstm = zoo.cell_model_params("lstm", 9, 100, 8)
    m = zoo.build("ntm", 9, 8, head="every", hidden=100, model_params={"match": "lstm"})
    assert m.features.hidden < 100 and abs(m.n_params - lstm) <= abs(N.n_params(9, m.features.hidden + 1, 8) - lstm)
    assert abs(m.n_params - lstm) / lstm < 0.02


def test_outputs_are_causal():
    """An output never sees later inputs: padding after a sequence changes nothing before it."""
    torch.manual_seed(1)
    m = build()
    x = torch.randn(2, 6, 4)
    later = x.clone()
    later[:, 4:] = torch.randn(2, 2, 4)
    assert torch.equal(m(x)[0][:, :4], m(later)[0][:, :4])
    assert not torch.allclose(m(x)[0][:, 4:], m(later)[0][:, 4:])


def test_gradients_reach_every_parameter():
    torch.manual_seed(2)
    m = build()
    y, _ = m(torch.randn(4, 6, 4))
    y[:, -1].pow(2).sum().backward()                 # only the last step: through memory and time
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert float(p.grad.abs().sum()) > 0, name


def test_same_seed_same_output():
    x = torch.randn(2, 5, 4)
    outs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        outs.append(build()(x)[0])
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])


def test_addressing_trace_for_a_heatmap():
    torch.manual_seed(3)
    m = build()
    trace = N.addressing_trace(m, torch.randn(2, 5, 4))
    assert set(trace) == {"read", "write"} and trace["write"].shape == (2, 5, 10)
    assert torch.allclose(trace["read"].sum(-1), torch.ones(2, 5), atol=1e-5)
    ntm = m.features
    assert ntm.record is False and ntm.trace is None              # nothing kept after the call
    m(torch.randn(1, 3, 4))
    assert ntm.trace is None
    tcn = zoo.build("tcn", 4, 3, head="every", hidden=4, seq_len=5)
    assert N.addressing_trace(tcn, torch.randn(1, 5, 4)) is None   # no memory, no trace


# ------------------------------------------------------------------------- the zoo
def test_registered_with_structure_citation_and_options():
    from rnnbench.commands.list import catalogue
    entry = next(e for e in catalogue()["models"] if e["name"] == "ntm")
    assert entry["options"] == {"memory_slots": 128, "memory_width": 20, "shift_range": 1}
    assert "Graves" in entry["citation"] and "1410.5401" in entry["citation"]
    assert "w~(i) = sum_o s(o)" in entry["structure"] and entry["width"] == "controller LSTM units"
    assert MODELS.get("ntm").features is N.NTM


@pytest.mark.parametrize("params, words", [
    ({"shift_range": 5, "memory_slots": 10}, ["shift_range 5", "2*5+1 = 11", "memory_slots 10", "<= 4"]),
    ({"memory_slots": 0}, ["memory_slots", "positive integer", "0"]),
    ({"memory_width": 2.5}, ["memory_width", "positive integer", "2.5"]),
    ({"heads": 2}, ["unknown model_params key 'heads' for ntm", "memory_slots, memory_width, shift_range"]),
])
def test_bad_options_are_refused_in_one_line(params, words):
    for attempt in (lambda: zoo.build("ntm", 4, 3, head="every", hidden=8, model_params=params),
                    lambda: resolve(RunConfig(task="seqcopy", arch="ntm", model_params=params))):
        with pytest.raises(UsageError) as e:
            attempt()
        msg = str(e.value)
        assert "\n" not in msg and all(w in msg for w in words), msg


def test_shift_weights_must_be_odd_and_fit():
    with pytest.raises(UsageError, match="odd count"):
        N.shift(torch.ones(1, 1, 5) / 5, torch.ones(1, 1, 2) / 2)
    with pytest.raises(UsageError, match="at most the 3 slots"):
        N.shift(torch.ones(1, 1, 3) / 3, torch.ones(1, 1, 5) / 5)


def test_a_recurrent_stack_setting_is_refused():
    with pytest.raises(UsageError, match="bidirectional"):
        resolve(RunConfig(task="seqcopy", arch="ntm", bidirectional=True))


def test_float_precision_matches_double():
    """float32 steps agree with float64 ones (no precision trap in the sharpening's exp/log)."""
    torch.manual_seed(4)
    m = build()
    x = torch.randn(2, 8, 4)
    y32 = m(x)[0]
    y64 = m.double()(x.double())[0]
    assert torch.allclose(y32.double(), y64, atol=1e-4)
