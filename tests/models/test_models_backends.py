"""The cell backend (fast scans and reference loop) equals the fused torch.nn backend:
outputs, final states and every gradient, float32, within 1e-5."""
import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnbench.models import build

T, B, I, H = 7, 4, 3, 5
LENGTHS = torch.tensor([T, 3, 1, 5])
TOL = 1e-5


def pair(arch, **kw):
    """A fused and a cell model with the same (non-default, generic) weights."""
    fused = build(arch, I, H, backend="fused", **kw)
    with torch.no_grad():
        for p in fused.parameters():
            p.uniform_(-0.6, 0.6)
    cell = build(arch, I, H, backend="cell", **kw)
    cell.load_state_dict(fused.state_dict())
    return fused, cell


def run(model, x, hx, lengths, **kw):
    """Outputs, final states and the gradients of a random linear loss wrt x, hx and params."""
    g = torch.Generator().manual_seed(1)
    x = x.clone().requires_grad_()
    hx = [h.clone().requires_grad_() for h in hx] if hx else []
    arg = None if not hx else tuple(hx) if len(hx) == 2 else hx[0]
    output, h_n, *_ = model(x, arg, **({} if lengths is None else {"lengths": lengths}), **kw)
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    loss = sum((t * torch.randn(t.shape, generator=g)).sum() for t in (output, *h_n))
    grads = torch.autograd.grad(loss, [x, *hx, *model.parameters()])
    return [output, *h_n, *grads]


def assert_close(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.shape == v.shape
        assert (u - v).abs().max().item() < TOL


@pytest.mark.parametrize("arch, bidirectional, layers, lengths, hx", list(itertools.product(
    ["rnn", "irnn", "lstm", "gru"], [False, True], [1, 2, 3], [False, True], [False, True])))
def test_cell_equals_fused(arch, bidirectional, layers, lengths, hx):
    torch.manual_seed(0)
    fused, cell = pair(arch, bidirectional=bidirectional, layers=layers)
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I)
    h0 = [torch.randn(layers * D, B, H) for _ in range(2 if arch == "lstm" else 1)] if hx else None
    lens = LENGTHS if lengths else None
    reference = run(fused, x, h0, lens)
    assert_close(reference, run(cell, x, h0, lens))                       # fast scan
    assert_close(reference, run(cell, x, h0, lens, return_states=True))   # reference loop over step()
    if lengths:   # padded outputs are zero
        assert reference[0][LENGTHS[1]:, 1].abs().max() == 0


@pytest.mark.parametrize("arch, bidirectional, lengths", list(itertools.product(
    ["rnn", "lstm", "gru"], [False, True], [False, True])))
def test_residual_cell_equals_fused(arch, bidirectional, lengths):
    torch.manual_seed(0)
    fused, cell = pair(arch, bidirectional=bidirectional, layers=3, residual=True)
    plain, _ = pair(arch, bidirectional=bidirectional, layers=3)
    plain.load_state_dict(fused.state_dict())
    x, lens = torch.randn(T, B, I), LENGTHS if lengths else None
    reference = run(fused, x, None, lens)
    assert_close(reference, run(cell, x, None, lens))
    assert_close(reference, run(cell, x, None, lens, return_states=True))
    assert (reference[0] - run(plain, x, None, lens)[0]).abs().max() > 1e-3   # residual did something


@pytest.mark.parametrize("arch, residual", [("lstm", False), ("gru", False), ("lstm", True), ("rnn", True)])
def test_batch_first_and_packed_input(arch, residual):
    torch.manual_seed(0)
    fused, cell = pair(arch, bidirectional=True, layers=2, batch_first=True, residual=residual)
    x = torch.randn(B, T, I)
    out_f, _ = fused(x, lengths=LENGTHS)
    out_c, _ = cell(x, lengths=LENGTHS)
    assert out_f.shape == (B, T, 2 * H) and (out_f - out_c).abs().max() < TOL
    packed = pack_padded_sequence(x, LENGTHS, batch_first=True, enforce_sorted=False)
    pf, hf = fused(packed)
    pc, hc = cell(packed)
    assert (pad_packed_sequence(pf, True)[0] - pad_packed_sequence(pc, True)[0]).abs().max() < TOL
    assert (hf[0] - hc[0]).abs().max() < TOL
    assert (pad_packed_sequence(pc, True, total_length=T)[0] - out_c).abs().max() < TOL


def test_plain_torch_state_dicts_load_into_the_cell_backend():
    torch.manual_seed(0)
    x = torch.randn(T, B, I)
    plains = {"lstm": torch.nn.LSTM(I, H, 2, bidirectional=True), "gru": torch.nn.GRU(I, H, 2, bidirectional=True),
              "rnn": torch.nn.RNN(I, H, 2, bidirectional=True),
              "irnn": torch.nn.RNN(I, H, 2, nonlinearity="relu", bidirectional=True)}
    for arch, plain in plains.items():
        cell = build(arch, I, H, backend="cell", layers=2, bidirectional=True)
        cell.load_state_dict(plain.state_dict())
        assert_close(run(plain, x, None, None)[:2], run(cell, x, None, None)[:2])
        back = type(plain)(I, H, 2, bidirectional=True, **({"nonlinearity": "relu"} if arch == "irnn" else {}))
        back.load_state_dict(cell.state_dict())                          # and back
        assert_close(run(plain, x, None, None), run(back, x, None, None))
