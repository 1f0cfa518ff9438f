"""Claims decided by computation, not by runs: shown with the others, the same every time.

The lecture notes' picture of vanishing and exploding gradients is a scalar recurrence,
h_t = w h_{t-1}: backpropagated through T steps, dh_T/dh_0 = w^T. The check does not
trust the closed form; it backpropagates through the T steps with autograd (float64).
"""
from __future__ import annotations

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
