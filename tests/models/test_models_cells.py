"""Cells against direct transcriptions of their equations, and their initialisations."""
import pytest
import torch

from rnnbench.models import CELLS, build, cell_names

T, B, I, H = 6, 3, 4, 5


def transcribe(arch, p, x, h):
    """The equations written out, one sequence direction at a time: x [T, B, I] -> [T, B, H]."""
    sig = torch.sigmoid
    outs = []
    for t in range(x.shape[0]):
        if arch == "gru-cho":
            (W_ir, W_iz, W_in), (W_hr, W_hz, W_hn) = p["weight_ih"].chunk(3), p["weight_hh"].chunk(3)
            (b_ir, b_iz, b_in), (b_hr, b_hz, b_hn) = p["bias_ih"].chunk(3), p["bias_hh"].chunk(3)
            r = sig(x[t] @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
            z = sig(x[t] @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
            n = torch.tanh(x[t] @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
            h = (1 - z) * n + z * h
        else:   # jordan: h is the fed-back output y
            a = torch.tanh(x[t] @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])
            h = torch.tanh(a @ p["weight_ho"].T + p["bias_ho"])
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("arch", ["gru-cho", "jordan"])
def test_cell_only_archs_follow_their_equations(arch):
    torch.manual_seed(0)
    m = build(arch, I, H, backend="cell", bidirectional=True)
    x, h0 = torch.randn(T, B, I), torch.randn(2, B, H)
    out, h_n = m(x, h0)
    for d, sfx in enumerate(["_l0", "_l0_reverse"]):
        p = {n[:-len(sfx)]: v for n, v in m.named_parameters() if n.endswith(sfx)}
        expected = transcribe(arch, p, x if d == 0 else x.flip(0), h0[d])
        expected = expected if d == 0 else expected.flip(0)
        assert (out[..., d * H:(d + 1) * H] - expected).abs().max() < 1e-6
        assert (h_n[d] - expected[-1 if d == 0 else 0]).abs().max() < 1e-6


def test_gru_cho_differs_from_gru():
    torch.manual_seed(0)
    cho = build("gru-cho", I, H, backend="cell")
    gru = build("gru", I, H, backend="cell")
    gru.load_state_dict(cho.state_dict())
    x = torch.randn(T, B, I)
    assert (cho(x)[0] - gru(x)[0]).abs().max() > 1e-4


def test_jordan_has_output_weights():
    m = build("jordan", I, H, backend="cell", layers=2)
    shapes = {n: tuple(p.shape) for n, p in m.named_parameters()}
    assert shapes["weight_ho_l1"] == (H, H) and shapes["bias_ho_l0"] == (H,) and shapes["weight_ih_l1"] == (H, H)


@pytest.mark.parametrize("backend", ["fused", "cell"])
def test_irnn_init(backend):
    torch.manual_seed(0)
    m = build("irnn", 200, 300, backend=backend, bidirectional=True, layers=2)
    for name, p in m.named_parameters():
        if name.startswith("weight_hh"):
            assert torch.equal(p, torch.eye(300))
        elif name.startswith("bias"):
            assert not p.any()
        else:
            assert abs(p.std().item() - 0.001) < 1e-4 and abs(p.mean().item()) < 1e-4


@pytest.mark.parametrize("backend", ["fused", "cell"])
def test_forget_bias_goes_to_the_forget_slice_of_bias_ih(backend):
    def params(forget_bias):
        torch.manual_seed(0)
        m = build("lstm", I, H, backend=backend, bidirectional=True, forget_bias=forget_bias)
        return dict(m.named_parameters())

    plain, shifted = params(0.0), params(1.5)
    for name in plain:
        diff = shifted[name] - plain[name]
        if name.startswith("bias_ih"):
            assert torch.allclose(diff[H:2 * H], torch.full((H,), 1.5))
            assert not diff[:H].any() and not diff[2 * H:].any()
        else:
            assert not diff.any()
    bound = 1 / H ** 0.5
    assert all(p.abs().max() <= bound for p in plain.values())   # 0.0: torch's own init


def test_registry_describes_every_cell():
    assert cell_names() == ["rnn", "irnn", "lstm", "gru", "gru-cho", "jordan", "mingru", "minlstm"]
    for name, spec in CELLS.items():
        assert spec.name == name and spec.equations and spec.citation and spec.title
        assert spec.states[0] == "h" and spec.n_gates in ((1, 3, 4) if spec.recurrent else (2, 3))
    assert CELLS.get("lstm").states == ("h", "c") and CELLS.get("lstm").options == {"forget_bias": 1.0}
    assert CELLS.get("jordan").fused is None and CELLS.get("gru").fused == "GRU"
