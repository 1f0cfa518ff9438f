"""The cells' model options (issue 19): rnn's activation (tanh, sigmoid, relu) on both backends
and both cell paths, and jordan's jordan_feedback (an extra layer, or the head's prediction)."""
import dataclasses
import math

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import CELLS, backends_for, build
from rnnbench.models.heads import PredictionFeedback, SequenceModel, generate
from rnnbench.models.recurrent import FAST

T, B, I, H, O = 7, 3, 4, 5, 2
ACT = {"tanh": math.tanh, "sigmoid": lambda z: 1 / (1 + math.exp(-z)), "relu": lambda z: max(0.0, z)}


# ----------------------------------------------------------------------------- activation
@pytest.mark.parametrize("activation, backend", [(a, b) for a in ACT for b in ("fused", "cell")
                                                 if (a, b) != ("sigmoid", "fused")])   # none: refused below
def test_each_activation_is_its_equation_on_a_hand_computed_step(activation, backend):
    """One unit, two steps, two sequences (pre-activations 1 and -1 at step 0), against
    h_t = act(w_ih x_t + b_ih + w_hh h_{t-1} + b_hh) written out with math."""
    m = build("rnn", 1, 1, backend=backend, cell_options={"activation": activation}).double()
    w_ih, b_ih, w_hh, b_hh = 0.5, 0.1, -0.3, 0.2
    with torch.no_grad():
        for name, v in (("weight_ih_l0", w_ih), ("bias_ih_l0", b_ih), ("weight_hh_l0", w_hh), ("bias_hh_l0", b_hh)):
            getattr(m, name).fill_(v)
    x = torch.tensor([[[2.0], [-2.0]], [[1.0], [3.0]]], dtype=torch.float64)     # [T=2, B=2, 1]
    h0 = torch.tensor([[[1.0], [1.0]]], dtype=torch.float64)
    act = ACT[activation]
    expected = []
    for b in range(2):
        h, hs = 1.0, []
        for t in range(2):
            h = act(w_ih * float(x[t, b, 0]) + b_ih + w_hh * h + b_hh)
            hs.append(h)
        expected.append(hs)
    assert w_ih * 2 + b_ih + w_hh + b_hh == pytest.approx(1.0)       # step 0: z = 1 and z = -1
    paths = [{}] if backend == "fused" else [{}, {"return_states": True}]   # cell: fast scan, reference loop
    for kw in paths:
        with torch.no_grad():
            out = m(x, h0, **kw)[0]
        for b in range(2):
            for t in range(2):
                assert float(out[t, b, 0]) == pytest.approx(expected[b][t], abs=1e-12), (kw, b, t)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_fused_equals_cell_for_tanh_and_relu(activation):
    torch.manual_seed(0)
    kw = dict(layers=2, bidirectional=True, cell_options={"activation": activation})
    fused = build("rnn", I, H, backend="fused", **kw).double()
    cell = build("rnn", I, H, backend="cell", **kw).double()
    cell.load_state_dict(fused.state_dict())
    x = torch.randn(T, B, I, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 2])
    outs, grads = [], []
    for m in (fused, cell):
        out, h_n = m(x, lengths=lengths)
        (out.sum() + h_n.pow(2).sum()).backward()
        outs.append((out, h_n))
        grads.append({n: p.grad.clone() for n, p in m.named_parameters()})
    assert torch.allclose(outs[0][0], outs[1][0], atol=1e-10) and torch.allclose(outs[0][1], outs[1][1], atol=1e-10)
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-9), n


@pytest.mark.parametrize("activation", list(ACT))
def test_fast_scan_equals_the_reference_loop_with_gradients(activation):
    """The hand-written backward of each activation (its slope from the outputs) against autograd
    through the step, on a padded batch."""
    torch.manual_seed(1)
    m = build("rnn", I, H, backend="cell", cell_options={"activation": activation}).double()
    x = torch.randn(T, B, I, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([7, 5, 1])
    res = []
    for kw in ({}, {"return_states": True}):
        m.zero_grad()
        x.grad = None
        out, h_n = m(x, lengths=lengths, **kw)[:2]
        (out.pow(2).sum() + h_n.sum()).backward()
        res.append((out.detach(), x.grad.clone(), {n: p.grad.clone() for n, p in m.named_parameters()}))
    (o1, dx1, g1), (o2, dx2, g2) = res
    assert torch.allclose(o1, o2, atol=1e-12) and torch.allclose(dx1, dx2, atol=1e-10)
    assert all(torch.allclose(g1[n], g2[n], atol=1e-10) for n in g1)
    assert CELLS.get("rnn").configured(activation=activation).key in FAST      # the first was the fast scan


def test_activations_differ_and_relu_is_not_identity_initialised():
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    outs = {}
    for a in ACT:
        torch.manual_seed(0)
        m = build("rnn", I, H, backend="cell", cell_options={"activation": a})
        outs[a] = m(x)[0]
    assert (outs["tanh"] - outs["sigmoid"]).abs().max() > 0.1 and (outs["tanh"] - outs["relu"]).abs().max() > 0.1
    assert bool((outs["relu"] >= 0).all()) and bool(((outs["sigmoid"] > 0) & (outs["sigmoid"] < 1)).all())
    relu = build("rnn", I, 50, backend="fused", cell_options={"activation": "relu"})
    assert relu.nonlinearity == "relu" and not torch.equal(relu.weight_hh_l0, torch.eye(50))
    assert relu.weight_hh_l0.abs().max() <= 1 / 50 ** 0.5          # torch.nn's init
    assert torch.equal(build("irnn", I, 50, backend="fused").weight_hh_l0, torch.eye(50))   # irnn keeps its own


def test_activation_refusals_are_one_line_naming_the_choices():
    cases = [
        (dict(backend="fused", cell_options={"activation": "sigmoid"}),
         "cell 'rnn' with activation=sigmoid has no fused backend (backends for rnn[activation=sigmoid]: cell)"),
        (dict(backend="cell", cell_options={"activation": "softplus"}),
         "unknown model_params activation 'softplus' for cell 'rnn' (valid: relu, sigmoid, tanh)"),
        (dict(backend="cell", cell_options={"slope": 2}), "cell 'rnn' has no option 'slope' (its options: activation)"),
    ]
    for kw, message in cases:
        with pytest.raises(UsageError) as e:
            build("rnn", I, H, **kw)
        assert str(e.value) == message
    with pytest.raises(UsageError, match=r"^cell 'lstm' has no option 'activation' \(its options: none\)$"):
        build("lstm", I, H, cell_options={"activation": "relu"})
    assert backends_for("rnn", {"activation": "sigmoid"}) == ("cell",)
    assert backends_for("rnn", {"activation": "relu"}) == backends_for("rnn") == ("fused", "cell")


# -------------------------------------------------------------------------- jordan feedback
def _jordan(head="every", **kw):
    return SequenceModel("jordan", I, H, O, head=head, backend="cell",
                         cell_options={"jordan_feedback": "prediction"}, **kw).double()


def test_prediction_feedback_feeds_back_the_previous_prediction():
    torch.manual_seed(0)
    m = _jordan()
    assert isinstance(m.rnn, PredictionFeedback) and m.rnn.weight_hh_l0.shape == (H, O)
    seen = []
    step = m.rnn.spec.step

    def recording(gx, state, p, tap=lambda n, v: v):
        seen.append(state[0].detach().clone())
        return step(gx, state, p, tap)

    m.rnn.spec = dataclasses.replace(m.rnn.spec, step=recording)
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, y_n = m(x)
    assert y.shape == (B, T, O) and len(seen) == T
    assert not seen[0].any()                                           # y_{-1} = 0
    for t in range(1, T):
        assert torch.equal(seen[t], y[:, t - 1].detach())              # fed back: the previous prediction
    assert torch.equal(y_n[0], y[:, -1])
    # and the equations: h_t = tanh(W_ih x_t + b_ih + W_hh y_{t-1} + b_hh), y_t = head(h_t)
    r, prev = m.rnn, torch.zeros(B, O, dtype=torch.float64)
    for t in range(T):
        h = torch.tanh(x[:, t] @ r.weight_ih_l0.T + r.bias_ih_l0 + prev @ r.weight_hh_l0.T + r.bias_hh_l0)
        prev = h @ m.head.weight.T + m.head.bias
        assert torch.allclose(y[:, t], prev, atol=1e-12)


def test_prediction_feedback_padding_last_head_and_generation():
    torch.manual_seed(0)
    every, last = _jordan(), _jordan(head="last")
    last.load_state_dict(every.state_dict())
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = [7, 4, 2]
    y, y_n = every(x, lengths=lengths)
    y_last, _ = last(x, lengths=lengths)
    for b, L in enumerate(lengths):
        alone, alone_n = every(x[b:b + 1, :L])
        assert torch.allclose(y[b, :L], alone[0], atol=1e-12) and not y[b, L:].any()
        assert torch.allclose(y_n[0, b], alone_n[0, 0], atol=1e-12) and torch.allclose(y_last[b], alone[0, -1])
    # free-running generation carries the prediction as the state (hx)
    g = generate(every, x[:, :3], 4, lambda out: torch.cat([out, out], -1))
    assert g.shape == (B, 4, O) and torch.allclose(g[:, 0], every(x[:, :3])[0][:, -1])


def test_jordan_layer_feedback_is_the_cell_stack():
    m = SequenceModel("jordan", I, H, O, head="every", backend="cell", cell_options={"jordan_feedback": "layer"})
    plain = SequenceModel("jordan", I, H, O, head="every", backend="cell")
    assert type(m.rnn) is type(plain.rnn) and not isinstance(m.rnn, PredictionFeedback)
    assert "weight_ho_l0" in dict(m.rnn.named_parameters())


def test_prediction_feedback_refusals_are_one_line():
    opts = {"jordan_feedback": "prediction"}
    cases = [
        (dict(bidirectional=True), "runs forward only: bidirectional must be false"),
        (dict(layers=2), "is one layer: layers must be 1, got 2"),
        (dict(backend="fused"), "runs on backend cell only, got backend 'fused'"),
    ]
    for kw, needle in cases:
        with pytest.raises(UsageError) as e:
            SequenceModel("jordan", I, H, O, cell_options=opts, **{"backend": "cell", **kw})
        assert needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UsageError, match="build a SequenceModel"):
        build("jordan", I, H, backend="cell", cell_options=opts)
    with pytest.raises(UsageError, match=r"^unknown model_params jordan_feedback 'output' for cell 'jordan' "
                                         r"\(valid: layer, prediction\)$"):
        SequenceModel("jordan", I, H, O, backend="cell", cell_options={"jordan_feedback": "output"})
