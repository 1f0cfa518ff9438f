"""Gradient-flow diagnostics: the lecture's numbers, autograd, every cell's shape."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rnnbench import gradients as gr
from rnnbench.errors import UsageError
from rnnbench.models import build
from rnnbench.train import prepare, resolve, with_task_defaults

pytestmark = pytest.mark.usefixtures("one_thread")   # tests/conftest.py

ARCHS = ("rnn", "irnn", "lstm", "gru", "gru-cho", "jordan")
TINY_ADDING = {"seq_len": 7, "n_train": 16, "n_val": 8, "n_test": 8}


def _one_unit(w: float, T: int = 51):
    """h_t = relu(w h_{t-1} + x_t), x_t = 1 > 0: ReLU's derivative is 1, the RNN is linear."""
    m = build("irnn", 1, 1, backend="cell").eval()
    with torch.no_grad():
        m.weight_hh_l0.fill_(w)
        m.weight_ih_l0.fill_(1.0)
        m.bias_ih_l0.zero_()
        m.bias_hh_l0.zero_()
    return m, torch.ones(T, 1, 1)


@pytest.mark.parametrize("w, expected", [(1.1, 117.39), (0.9, 0.0051538)])
def test_lecture_univariate_example(w, expected):
    """dL/dh_{T-50} = w^50 dL/dh_T with L = h_T: 1.1^50 ~ 117.4, 0.9^50 ~ 0.0052."""
    m, x = _one_unit(w)
    flow = gr.measure_flow(m, x, lambda out: out[-1].sum(), entry={"fwd": 50}, jacobian_samples=1)
    by_lag = {r["lag"]: r for r in flow.rows}
    w32 = float(torch.tensor(w))                       # the weight as float32 holds it
    assert by_lag[0]["norm"] == pytest.approx(1.0)
    assert by_lag[50]["t"] == 0
    assert by_lag[50]["norm"] == pytest.approx(w32 ** 50, rel=1e-5)
    assert by_lag[50]["norm"] == pytest.approx(expected, rel=1e-3)
    assert by_lag[50]["jacobian_product_norm"] == pytest.approx(w32 ** 50, rel=1e-5)
    assert by_lag[51]["t"] == -1 and by_lag[51]["norm"] == pytest.approx(w32 ** 51, rel=1e-5)
    for lag in (1, 10, 25):
        assert by_lag[lag]["norm"] == pytest.approx(w32 ** lag, rel=1e-5)
    assert flow.recurrent == [{"layer": 0, "direction": "fwd", "gate": "all", "rows": 1,
                               "spectral_radius": pytest.approx(w, rel=1e-6),
                               "sigma_max": pytest.approx(w, rel=1e-6)}]
    rows = pd.DataFrame(flow.rows)
    s = gr.flow_summary(rows, lag=50).iloc[0]
    assert s["ratio"] == pytest.approx(w32 ** 50, rel=1e-5)
    assert s["factor"] == pytest.approx(w, rel=1e-5)
    assert s["jacobian_factor"] == pytest.approx(w, rel=1e-5)


def _autograd_jacobian_norms(m, x, names, L, D, T, H):
    """mean_b ||d h_n[k, d] / d state_t||_2 from autograd, row by row (the definition)."""
    B = x.shape[1]
    hx = [torch.zeros(L * D, B, H, dtype=x.dtype, requires_grad=True) for _ in names]
    _, h_n, states = m(x, tuple(hx) if len(hx) > 1 else hx[0], return_states=True)
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    out = {}
    for k in range(L):
        for d, dname in enumerate(("forward", "backward")[:D]):
            for j, name in enumerate(names):
                for t in ([-1] if d == 0 else [T]) + list(range(T)):
                    src = hx[j] if t in (-1, T) else states[k][dname][name]
                    J = torch.zeros(B, H, H, dtype=x.dtype)
                    for i in range(H):
                        g = torch.autograd.grad(h_n[j][k * D + d][:, i].sum(), src, retain_graph=True,
                                                allow_unused=True)[0]
                        g = torch.zeros_like(src) if g is None else g
                        J[:, i] = g[k * D + d] if t in (-1, T) else g[t]
                    out[k, ("fwd", "bwd")[d], name, t] = float(torch.linalg.matrix_norm(J, ord=2).mean())
    return out


@pytest.mark.parametrize("arch, bidirectional, layers", [
    ("rnn", False, 1), ("lstm", False, 1), ("gru-cho", False, 1), ("jordan", True, 2), ("lstm", True, 2)])
def test_jacobian_product_matches_autograd(arch, bidirectional, layers):
    torch.manual_seed(1)
    T, B, H = 5, 2, 3
    m = build(arch, 2, H, backend="cell", bidirectional=bidirectional, layers=layers, residual=True)
    m = m.double().eval()
    x = torch.randn(T, B, 2, dtype=torch.float64)
    names = ("h", "c") if arch == "lstm" else ("h",)
    D = 2 if bidirectional else 1
    flow = gr.measure_flow(m, x, lambda out: out[-1].pow(2).sum(), entry={"fwd": T - 1, "bwd": 0},
                           jacobian_samples=B, jacobian_dtype=None)
    ref = _autograd_jacobian_norms(m, x, names, layers, D, T, H)
    got = {(r["layer"], r["direction"], r["state"], r["t"]): r["jacobian_product_norm"] for r in flow.rows}
    assert set(ref) <= set(got)
    for key, v in ref.items():
        assert got[key] == pytest.approx(v, rel=1e-9, abs=1e-12), key


def test_gradient_norm_is_the_per_sequence_gradient():
    """norm = mean_b ||dL_b/dh_t||, independent of the batch size, as autograd gives it."""
    torch.manual_seed(2)
    m = build("gru", 2, 4, backend="cell").eval()
    x = torch.randn(6, 3, 2)
    loss = lambda out: out[-1].pow(2).sum()                     # noqa: E731
    flow = gr.measure_flow(m, x, loss, entry={"fwd": 5}, jacobian_samples=0)
    out, _, states = m(x, return_states=True)
    (g,) = torch.autograd.grad(loss(out), [states[0]["forward"]["h"]])
    expected = g.norm(dim=-1).mean(1)
    got = {r["t"]: r["norm"] for r in flow.rows}
    for t in range(6):
        assert got[t] == pytest.approx(float(expected[t]), rel=1e-5)
    one = gr.measure_flow(m, x[:, :1], loss, entry={"fwd": 5}, jacobian_samples=0)
    assert {r["t"]: r["norm"] for r in one.rows}[2] == pytest.approx(float(g[2, 0].norm()), rel=1e-5)
    assert all(r["jacobian_product_norm"] is None for r in flow.rows)


def _cfg(arch, **kw):
    d = {"task": "adding", "task_params": TINY_ADDING, "arch": arch, "hidden": 5, "device": "cpu", **kw}
    return resolve(with_task_defaults(d))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("bidirectional, layers", [(False, 1), (True, 2)])
def test_every_cell_shapes(arch, bidirectional, layers):
    cfg = _cfg(arch, bidirectional=bidirectional, layers=layers)
    task, model = prepare(cfg)
    grads, rec = gr.diagnose(cfg, task, model, samples=4, jacobian_samples=1)
    T, D = 7, 2 if bidirectional else 1
    names = ["h", "c"] if arch == "lstm" else ["h"]
    assert list(grads.columns) == list(gr.GRADIENT_COLUMNS)
    assert list(rec.columns) == list(gr.RECURRENT_COLUMNS)
    assert len(grads) == layers * D * len(names) * (T + 1)
    assert sorted(grads["state"].unique()) == sorted(names)
    assert sorted(grads["direction"].unique()) == (["bwd", "fwd"] if bidirectional else ["fwd"])
    assert set(grads["layer"]) == set(range(layers))
    assert (grads["at"] == "init").all() and (grads["samples"] == 4).all() and (grads["loss_step"] == 6).all()
    assert np.isfinite(grads["norm"]).all() and (grads["norm"] >= 0).all()
    for (k, d, s), g in grads.groupby(["layer", "direction", "state"]):
        assert sorted(g["t"]) == (list(range(-1, T)) if d == "fwd" else list(range(T + 1)))
        # lag counted in the direction's own order: forward from T-1, backward from 0
        assert ((g["lag"] == 6 - g["t"]) if d == "fwd" else (g["lag"] == g["t"])).all()
        jac = g.set_index("lag")["jacobian_product_norm"]
        assert jac[0] == pytest.approx(1.0) and np.isfinite(jac.astype(float)).all()
    gates = {"lstm": 5, "gru": 4, "gru-cho": 4}.get(arch, 1)
    assert len(rec) == layers * D * gates
    square = rec[rec["gate"] != "all"] if gates > 1 else rec
    assert np.isfinite(square["spectral_radius"]).all() and (rec["sigma_max"] > 0).all()
    assert (square["sigma_max"] >= square["spectral_radius"] - 1e-9).all()
    cand = gr.CANDIDATE_GATE.get(arch, "all")
    r0 = rec[(rec["layer"] == 0) & (rec["direction"] == "fwd") & (rec["gate"] == cand)].iloc[0]
    g0 = grads[(grads["layer"] == 0) & (grads["direction"] == "fwd")].iloc[0]
    assert g0["spectral_radius"] == r0["spectral_radius"] and g0["sigma_max"] == r0["sigma_max"]


def test_many_to_many_loss_step_and_fused_twin():
    """sine (many-to-many): the loss at step s; lag 0 is t = s in both directions. A fused
    model is measured on a cell copy with its weights, and left untouched."""
    cfg = resolve(with_task_defaults({"task": "sine", "arch": "lstm", "hidden": 4, "bidirectional": True,
                                       "task_params": {"seq_len": 9, "n_train": 8, "n_val": 8, "n_test": 8},
                                       "device": "cpu"}))
    assert cfg.backend == "fused"
    task, model = prepare(cfg)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    grads, _ = gr.diagnose(cfg, task, model, samples=3, loss_step=4, jacobian_samples=1)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(rng, torch.get_rng_state())
    lag0 = grads[grads["lag"] == 0]
    assert set(lag0["t"]) == {4} and (grads["loss_step"] == 4).all()
    assert (grads["lag"] < 0).any()                # states after s (fwd) / before s (bwd)
    fwd_after = grads[(grads["direction"] == "fwd") & (grads["t"] > 4)]
    assert (fwd_after["norm"] == 0).all()          # one layer: the loss at 4 does not see h_5..
    with pytest.raises(UsageError, match="loss step"):
        gr.diagnose(cfg, task, model, samples=3, loss_step=9)


def test_set_recurrent_radius_via_model_params():
    cfg = _cfg("rnn", model_params={"recurrent_radius": 1.5})
    _, model = prepare(cfg)
    w = model.rnn.weight_hh_l0.detach().double()
    assert float(torch.linalg.eigvals(w).abs().max()) == pytest.approx(1.5, rel=1e-5)
    cfg = _cfg("lstm", model_params={"recurrent_radius": 0.5})
    _, model = prepare(cfg)
    for block in model.rnn.weight_hh_l0.detach().double().chunk(4, 0):
        assert float(torch.linalg.eigvals(block).abs().max()) == pytest.approx(0.5, rel=1e-5)
    for bad in (-1, 0, "big", True):
        with pytest.raises(UsageError, match="recurrent_radius"):
            prepare(_cfg("rnn", model_params={"recurrent_radius": bad}))


def test_iterated_functions_tidy():
    df = gr.iterated_functions(n_iter=6, n_points=11)
    assert list(df.columns) == ["function", "iteration", "x", "y", "dydx"]
    assert df["function"].nunique() == 4 and set(df["iteration"]) == set(range(7))
    assert len(df) == 4 * 7 * 11
    logi = df[df["function"].str.startswith("logistic")]
    at = lambda it, x: logi[(logi["iteration"] == it) & np.isclose(logi["x"], x)]["y"].item()  # noqa: E731
    assert at(1, 0.5) == pytest.approx(0.875) and at(2, 0.5) == pytest.approx(3.5 * 0.875 * 0.125)
    ident = df[df["function"] == "identity"]
    assert np.allclose(ident["y"], ident["x"]) and np.allclose(ident["dydx"], 1)
    small, large = df[df["function"] == "tanh(0.5x)"], df[df["function"] == "tanh(2x)"]
    assert small[small["iteration"] == 6]["y"].abs().max() < 0.05         # flattens to 0
    assert large[large["iteration"] == 6]["dydx"].max() == pytest.approx(2.0 ** 6)   # at x = 0
    # dydx is the chain rule's product: check against finite differences
    fine = gr.iterated_functions(n_iter=3, n_points=2001)
    for name, g in fine[fine["iteration"] == 3].groupby("function"):
        fd = np.gradient(g["y"].to_numpy(), g["x"].to_numpy())
        assert np.allclose(fd[5:-5], g["dydx"].to_numpy()[5:-5], rtol=1e-2, atol=1e-2), name


def test_flow_summary_lstm_c_uses_first_nonzero_lag():
    rows = pd.DataFrame({"arch": "lstm", "layer": 0, "direction": "fwd", "state": "c", "at": "init",
                         "lag": [0, 1, 2, 3], "norm": [0.0, 1.0, 0.5, 0.25],
                         "jacobian_product_norm": [1.0, 0.5, 0.25, 0.125]})
    s = gr.flow_summary(rows).iloc[0]
    assert s["ref_lag"] == 1 and s["ratio"] == pytest.approx(0.25)
    assert s["factor"] == pytest.approx(0.5) and s["jacobian_factor"] == pytest.approx(0.5)
    assert s["jacobian_ratio"] == pytest.approx(0.125)
    assert math.isnan(gr.flow_summary(rows.assign(norm=0.0)).iloc[0]["ratio"])
