"""Claims decided by computation, not by runs: shown with the others, the same every time.

The lecture notes' picture of vanishing and exploding gradients is a scalar recurrence,
h_t = w h_{t-1}: backpropagated through T steps, dh_T/dh_0 = w^T. The check does not
trust the closed form; it backpropagates through the T steps with autograd (float64).

GRU's 3/4 of LSTM's parameters: the cells' own parameters as the registry counts them
(CellSpec.n_params: weight_ih, weight_hh, bias_ih, bias_hh per layer and direction, the
same for either backend), compared as exact fractions.
"""
from __future__ import annotations

from fractions import Fraction

from .base import FAILS, HOLDS, Verdict, claim

STEPS = 50
QUOTED = {1.1: (117.0, 0), 0.9: (0.005, 3)}   # w -> (the quoted gradient, decimals it is quoted to)


def scalar_gradient(w: float, steps: int = STEPS) -> float:
    """d h_steps / d h_0 for h_t = w * h_{t-1}, by autograd through `steps` steps."""
    import torch

    h0 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    h = h0
    for _ in range(steps):
        h = w * h
    h.backward()
    return float(h0.grad)


@claim("scalar_gradient_50_steps",
       "Backpropagated through 50 steps, a scalar weight 1.1 grows the gradient to about 117 and 0.9 shrinks "
       "it to about 0.005",
       "lecture notes (vanishing and exploding gradients); Pascanu et al. 2013")
def scalar_gradient_50_steps(runs, grads, method="welch") -> Verdict:
    rows = [{"w": w, "steps": STEPS, "gradient": g, "quoted": q, "rounded": round(g, d), "as_quoted": round(g, d) == q}
            for w, (q, d) in QUOTED.items() for g in [scalar_gradient(w)]]
    text = "; ".join(f"w = {r['w']}: dh_{STEPS}/dh_0 = {r['gradient']:.6g} (quoted {r['quoted']:g})" for r in rows)
    return Verdict(HOLDS if all(r["as_quoted"] for r in rows) else FAILS,
                   f"autograd through {STEPS} steps of h_t = w h_(t-1): {text}", rows)


PARAM_HIDDEN = (32, 64, 128, 256, 512)


def param_rows(hidden=PARAM_HIDDEN) -> list[dict]:
    """Per H and input width (1, and = H), one layer: the registry's parameter counts of LSTM
    and GRU and their exact ratio."""
    from ..models import CELLS

    lstm, gru = CELLS.get("lstm"), CELLS.get("gru")
    rows = []
    for H in hidden:
        for inp in (1, H):
            pl, pg = lstm.n_params(inp, H, layers=1), gru.n_params(inp, H, layers=1)
            r = Fraction(pg, pl)
            rows.append({"hidden": H, "input": inp, "params_lstm": pl, "params_gru": pg, "ratio": float(r),
                         "ratio_exact": f"{r.numerator}/{r.denominator}", "three_quarters": r == Fraction(3, 4)})
    return rows


@claim("gru_three_quarters_params", "GRU has 3/4 of LSTM's parameters at every size",
       "lecture notes; Cho et al. 2014; Chung et al. 2014")
def gru_three_quarters_params(runs, grads, method="welch") -> Verdict:
    rows = param_rows()
    bad = [r for r in rows if not r["three_quarters"]]
    counted = ("the cells' own parameters, as the registry counts them (CellSpec.n_params, 1 layer): weight_ih "
               "[G*H, I], weight_hh [G*H, H], bias_ih and bias_hh [G*H], G = 4 gates (LSTM) or 3 (GRU), so "
               "G*H*(I + H + 2) each; a model's output head (the same for both) is not counted, and with it a "
               "whole model's ratio is slightly above 3/4")
    sizes = f"H = {', '.join(map(str, PARAM_HIDDEN))}, input 1 and input = H"
    if bad:
        r = bad[0]
        return Verdict(FAILS, f"GRU/LSTM = {r['ratio_exact']} at H = {r['hidden']}, input {r['input']} "
                       f"({len(bad)} of {len(rows)} sizes not 3/4); {counted}", rows)
    return Verdict(HOLDS, f"GRU/LSTM = 3/4 exactly at all {len(rows)} sizes ({sizes}; e.g. H = 512, input 1: "
                   f"{rows[-2]['params_gru']:,} vs {rows[-2]['params_lstm']:,}); {counted}", rows)
