"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs all we needed?", arXiv 2410.01201).

The gates read x_t only (no W_hh), so each layer's recurrence is linear in h:

    h_t = a_t * h_{t-1} + b_t          a_t = 1 - z_t (mingru) or f'_t (minlstm), b_t > 0

and the gate projections of every step are one matmul; what remains is a scan, evaluated one
of two ways (`SCANS`):

  log     over the whole sequence at once, in log space (Heinsen 2023, "Efficient
          parallelization of a ubiquitous sequential computation"; the paper's appendix):
              A_t = Σ_{s<=t} log a_s                                          (cumsum)
              h_t = exp(A_t) * h_0 + exp(A_t + logcumsumexp_{s<=t}(log b_s - A_s))
          The h_0 term is kept out of the logarithm (the paper takes log h_0, which needs
          h_0 > 0; the zoo's initial state is zero unless given, and may be negative).
  linear  h_t = a_t h_{t-1} + b_t step by step, as one autograd node (`LinearScan`): no matmul
          per step, and the backward is the same recurrence reversed,
              g_t = dL/dh_t + a_{t+1} g_{t+1},  dL/db_t = g_t,  dL/da_t = g_t h_{t-1},  dL/dh_0 = a_1 g_1

The parallel (log) form pays on parallel hardware; on CPU the logcumsumexp and its backward cost
more than the whole sequential scan (fwd+bwd at T = 200, batch 50, hidden 32, 1 thread: 117 vs
18 ms; scripts/bench_minrnn_scan.py measures both against T). So the fast path (`FAST`, used for
training and inference) takes `SCAN_ON[device]`: log on CUDA, linear on CPU. `step` below is the
sequential form in the zoo's equation style and the explicit-cell backend's reference loop; both
scans are proven equal to it in tests/models/ (outputs, final states, gradients; lengths,
bidirectional, stacked: `rnnbench check-cell mingru`). No fused backend.

Parameters per layer-direction: weight_ih [G*H, I_k], bias_ih [G*H] (G = 2 for mingru: z, h̃;
3 for minlstm: f, i, h̃); `CellSpec.recurrent = False` drops weight_hh / bias_hh.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .cells import _identity, register_cell
from .recurrent import FAST


def g(a: torch.Tensor) -> torch.Tensor:
    """g(a) = a + 0.5 for a >= 0, σ(a) otherwise: positive, continuous, linear for large a."""
    return torch.where(a >= 0, a + 0.5, torch.sigmoid(a))


def log_g(a: torch.Tensor) -> torch.Tensor:
    """log g(a), written so that neither branch is nan (torch.where differentiates both)."""
    return torch.where(a >= 0, (F.relu(a) + 0.5).log(), -F.softplus(-a))


# ------------------------------------------------------------------------------ steps
def mingru_step(gx, state, p, tap=_identity):
    """z_t = σ(W_iz x_t + b_iz)
    h̃_t = g(W_ih̃ x_t + b_ih̃),   g(a) = a + 0.5 if a >= 0 else σ(a)
    h_t = (1 - z_t) * h_{t-1} + z_t * h̃_t
    no W_hh: run as a log-space parallel scan over t (Heinsen 2023); this step is its reference"""
    (h,) = state
    a_z, a_h = gx.chunk(2, 1)
    z = torch.sigmoid(a_z)
    return (tap("h", (1 - z) * h + z * g(a_h)),)


def minlstm_step(gx, state, p, tap=_identity):
    """f_t = σ(W_if x_t + b_if)
    i_t = σ(W_ii x_t + b_ii)
    h̃_t = g(W_ih̃ x_t + b_ih̃),   g(a) = a + 0.5 if a >= 0 else σ(a)
    f'_t = f_t / (f_t + i_t),   i'_t = i_t / (f_t + i_t)
    h_t = f'_t * h_{t-1} + i'_t * h̃_t
    no W_hh, no c: run as a log-space parallel scan over t (Heinsen 2023); this step is its reference"""
    (h,) = state
    a_f, a_i, a_h = gx.chunk(3, 1)
    f, i = torch.sigmoid(a_f), torch.sigmoid(a_i)
    return (tap("h", f / (f + i) * h + i / (f + i) * g(a_h)),)


# ----------------------------------------------------------------------- parallel form
def scan_log(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t for t = 0..T-1 (time first, [T, B, H]), from log a and log b:
    h_t = exp(A_t) h_0 + exp(A_t + logcumsumexp(log b - A)_t), A = cumsum(log a)."""
    A = log_a.cumsum(0)
    return A.exp() * h0 + (A + torch.logcumsumexp(log_b - A, 0)).exp()


class LinearScan(torch.autograd.Function):
    """h_t = a_t h_{t-1} + b_t over t (time first: a, b [T, B, H], h0 [B, H]), one node: the
    forward and the backward (the module docstring's reversed recurrence) each loop over t with
    one fused multiply-add per step and no graph of T nodes. Under torch.func.vmap (a group of
    seeds, rnnbench/group.py) the seeds join the batch: the recurrence is elementwise, so each
    seed's arithmetic is its solo run's."""

    @staticmethod
    def forward(a, b, h0):
        h = torch.empty_like(b)
        prev = h0
        for t in range(a.shape[0]):
            prev = torch.addcmul(b[t], a[t], prev, out=h[t])
        return h

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, _, h0 = inputs
        ctx.save_for_backward(a, output, h0)

    @staticmethod
    def backward(ctx, grad_h):
        a, h, h0 = ctx.saved_tensors
        g = grad_h.clone()
        for t in range(a.shape[0] - 2, -1, -1):
            torch.addcmul(g[t], a[t + 1], g[t + 1], out=g[t])
        grad_a = g * torch.cat([h0.unsqueeze(0), h[:-1]])
        return grad_a, g, a[0] * g[0]

    @staticmethod
    def vmap(info, in_dims, a, b, h0):
        """S vmapped seeds [T, B, H] each -> one scan over [T, S*B, H]; the output vmapped at dim 1."""
        S = info.batch_size

        def fold(x, d, at):        # the seed dim at `at`, then merged with the batch dim after it
            x = x.movedim(d, at) if d is not None else x.unsqueeze(at).expand(*x.shape[:at], S, *x.shape[at:])
            return x.reshape(*x.shape[:at], -1, *x.shape[at + 2:]).contiguous()
        h = LinearScan.apply(fold(a, in_dims[0], 1), fold(b, in_dims[1], 1), fold(h0, in_dims[2], 0))
        return h.view(h.shape[0], S, -1, h.shape[-1]), 1


def scan_linear(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t for t = 0..T-1 (time first, [T, B, H]), step by step (LinearScan)."""
    return LinearScan.apply(a, b, h0.expand_as(b[0]).contiguous())


def mingru_parallel(gx: torch.Tensor, h0: torch.Tensor, scan: str = "log") -> torch.Tensor:
    """Every h_t of mingru_step over gx [T, B, 2H] from h0 [B, H], at once: log(1 - z) =
    -softplus(a_z), log z = -softplus(-a_z) (scan "log"); a = σ(-a_z), b = σ(a_z) g(a_h) ("linear")."""
    a_z, a_h = gx.chunk(2, -1)
    if scan == "linear":
        return scan_linear(torch.sigmoid(-a_z), torch.sigmoid(a_z) * g(a_h), h0)
    return scan_log(-F.softplus(a_z), -F.softplus(-a_z) + log_g(a_h), h0)


def minlstm_parallel(gx: torch.Tensor, h0: torch.Tensor, scan: str = "log") -> torch.Tensor:
    """Every h_t of minlstm_step over gx [T, B, 3H] from h0 [B, H], at once: with
    d = log(i / f) = softplus(-a_f) - softplus(-a_i), log f' = -softplus(d), log i' = -softplus(-d)
    (scan "log"); f' = σ(-d), i' = σ(d) ("linear")."""
    a_f, a_i, a_h = gx.chunk(3, -1)
    d = F.softplus(-a_f) - F.softplus(-a_i)
    if scan == "linear":
        return scan_linear(torch.sigmoid(-d), torch.sigmoid(d) * g(a_h), h0)
    return scan_log(-F.softplus(d), -F.softplus(-d) + log_g(a_h), h0)


PARALLEL = {"mingru": mingru_parallel, "minlstm": minlstm_parallel}
SCANS = ("log", "linear")
SCAN_ON = {"cuda": "log", "cpu": "linear"}     # measured: see the module docstring


def _fast(parallel):
    def run(x, state, p, seq):
        """The cell backend's fast path over one layer-direction (sorted, flipped for the
        backward direction): padded steps are computed (they come after each sequence's valid
        part, so they change nothing before it), then zeroed; h_n at the last valid step.
        The scan: SCAN_ON[the device] (log on CUDA, linear elsewhere)."""
        h = parallel(F.linear(x, p["weight_ih"], p["bias_ih"]), state[0], SCAN_ON.get(x.device.type, "linear"))
        if seq.valid is None:
            return h, (h[-1],)
        return torch.where(seq.valid, h, 0), (seq.final(h),)
    return run


# ---------------------------------------------------------------------------- registry
CITATION = "Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, Were RNNs all we needed? (arXiv 2410.01201)"
register_cell("mingru", mingru_step, title="minGRU (x_t-only gates, parallel scan)", states=("h",),
              n_gates=2, fused=None, recurrent=False, citation=CITATION)
register_cell("minlstm", minlstm_step, title="minLSTM (x_t-only gates, parallel scan)", states=("h",),
              n_gates=3, fused=None, recurrent=False, citation=CITATION)
FAST.update({name: _fast(fn) for name, fn in PARALLEL.items()})
