"""The cell backend's fast path: one layer-direction of rnn (tanh, sigmoid, relu; irnn), lstm or
gru as one autograd.Function, over a group of S independent seeds (models) at once.

    seed s = 0 .. S-1, each its own weights, inputs and states, nothing shared:

          x            w_ih         w_hh          h0 (c0)        out              h_n (c_n)
    s=0 ┌──────────┐ ┌─────────┐  ┌─────────┐   ┌────────┐     ┌──────────┐     ┌────────┐
    s=1 │ [T,B,in] │ │ [G*H,in]│  │ [G*H,H] │   │ [B,H]  │ ──► │ [T,B,H]  │  +  │ [B,H]  │
    ... │          │ │         │  │         │   │        │     │          │     │        │
        └──────────┘ └─────────┘  └─────────┘   └────────┘     └──────────┘     └────────┘
          [S,T,B,in]   [S,G*H,in]   [S,G*H,H]     [S,B,H]        [S,T,B,H]        [S,B,H]

    G gate blocks: rnn 1, gru 3, lstm 4. A solo model is S = 1 (recurrent.FAST calls these with
    a leading 1); torch.func.vmap over S stacked models folds its dimension into S (each
    Function's `vmap` rule), so vmapped models run these same kernels, grouped.

The equations (per seed; the bias b of rnn and lstm is b_ih + b_hh):

    rnn    h_t = act(W_ih x_t + b + W_hh h_{t-1})                          act: tanh, σ, relu
    lstm   i, f, g, o = σ, σ, tanh, σ of the blocks of W_ih x_t + b + W_hh h_{t-1}
           c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)
    gru    r, z = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr), σ(... z blocks ...)
           n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn));   h_t = (1 - z) * n + z * h_{t-1}

Each Function: the input projection of every step in one matmul per seed, the scan forward
through time, and a hand-written backward: the scan backward through time (per step one fused
elementwise pass for dL/d(pre-activations), one batched matmul over the seeds for
dL/dh_{t-1}), then dW_ih, dW_hh and dx as one matmul per seed, the biases as one sum. The scans run
compiled on CPU in float32 (`native.py`, `scans.cpp`: torch.ops.rnnbench.<cell>_scan and
<cell>_scan_backward); elsewhere (CUDA, float64, RNNBENCH_NATIVE=0) their PyTorch twins
below, with the same arguments (`_TWINS`), which the tests hold equal to them. Once
differentiable (no double backward; the reference loop in recurrent.py has it).

A seed's results do not depend on S or on the other seeds of its group: the compiled scans'
batched matmuls compute each seed's matrix as they would alone, the matmuls around them run per
seed, and the sums reduce each seed alone (tests/models/test_grouped_scans.py checks this
bitwise; the PyTorch twins agree within float32 rounding).

seq: the batch's lengths (recurrent._Batch: `sizes`, `valid`, `order`, `final`), or None.
Lengths need S = 1: a group has none (a vmapped model runs with lengths=None).

S models as one group (SequenceModels or stacks of backend "cell", lengths None):

    params, buffers = torch.func.stack_module_state(models)    # leaves [S, ...] by name
    base = copy.deepcopy(models[0]).to("meta")
    run = lambda p, b, x: torch.func.functional_call(base, (p, b), (x,))[0]
    y = torch.func.vmap(run)(params, buffers, xs)               # xs [S, B, T, F] -> y [S, ...]
    y.square().sum().backward()            # params[name].grad[s]: seed s's gradient, alone
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ..errors import UsageError
from . import native
from .cells import ACTIVATIONS, Activation

ACT_CODE = {"tanh": 0, "sigmoid": 1, "relu": 2}       # scans.cpp's enum Act
ACT_NAME = {v: k for k, v in ACT_CODE.items()}


# ------------------------------------------------------------------------ PyTorch twins
def _rnn_scan_torch(out, h0, w_hh, sizes, act: int) -> None:
    """rnn_scan: out [S, T, B, H] holds gx = W_ih x + b on entry, h_t (running rows) on exit."""
    fn, wt, h = ACTIVATIONS[ACT_NAME[act]].fn, w_hh.mT, h0
    for t, b in enumerate(sizes):
        a = out[:, t, :b]
        a.copy_(fn(torch.baddbmm(a, h[:, :b], wt)))
        h = out[:, t]


def _rnn_scan_backward_torch(out, w_hh, dout, dh, dpre, sizes, act: int) -> None:
    """rnn_scan_backward: dh [S, B, H] dL/dh_n in, dL/dh0 out; dpre receives dL/d(pre-activation)."""
    slope = ACTIVATIONS[ACT_NAME[act]].slope
    for t in reversed(range(len(sizes))):
        b = sizes[t]
        d = (dh[:, :b] + dout[:, t, :b]) * slope(out[:, t, :b])
        dpre[:, t, :b] = d
        dh[:, :b] = torch.bmm(d, w_hh)


def _lstm_scan_torch(gates, bias, h0, c0, w_hh, out, cs, tanh_cs, sizes, keep: bool) -> None:
    """lstm_scan. tanh(z) = 2 sigmoid(2z) - 1: with g's pre-activation doubled (its columns of
    gates, bias and W_hh^T), one sigmoid over all four gates of a step replaces three calls on
    strided slices."""
    H = out.shape[3]
    scale = bias.new_ones(4 * H)
    scale[2 * H:3 * H] = 2
    torch.addcmul((bias * scale)[:, None, None], gates, scale, out=gates)
    wt = w_hh.mT * scale
    h, c = h0, (c0 if keep else cs)
    for t, b in enumerate(sizes):
        a = torch.baddbmm(gates[:, t, :b], h[:, :b], wt).sigmoid_()
        a[..., 2 * H:3 * H].mul_(2).sub_(1)
        i, f, g, o = a.chunk(4, -1)
        c_t = f * c[:, :b] + i * g
        tc = torch.tanh(c_t)
        gates[:, t, :b] = a
        k = (slice(None), t) if keep else (slice(None),)
        cs[k][:, :b], tanh_cs[k][:, :b] = c_t, tc
        out[:, t, :b] = o * tc
        h, c = out[:, t], cs[k]


def _lstm_scan_backward_torch(gates, cs, tanh_cs, c0, w_hh, dout, dh, dc, dgates, sizes) -> None:
    """lstm_scan_backward: dh, dc [S, B, H] dL/dh_n, dL/dc_n in, dL/dh0, dL/dc0 out."""
    for t in reversed(range(len(sizes))):
        b = sizes[t]
        i, f, g, o = gates[:, t, :b].chunk(4, -1)
        tc = tanh_cs[:, t, :b]
        c_prev = cs[:, t - 1, :b] if t else c0[:, :b]
        h = dh[:, :b] + dout[:, t, :b]
        c = dc[:, :b] + h * o * (1 - tc * tc)
        dgates[:, t, :b] = torch.cat([c * g * i * (1 - i), c * c_prev * f * (1 - f), c * i * (1 - g * g),
                                      h * tc * o * (1 - o)], -1)
        dc[:, :b] = c * f
        dh[:, :b] = torch.bmm(dgates[:, t, :b], w_hh)


def _gru_scan_torch(gx, b_hh, h0, w_hh, gates, ghn, out, sizes, keep: bool) -> None:
    """gru_scan: with keep, gates [S, T, B, 3H] and ghn [S, T, B, H] receive r, z, n and the n
    block of W_hh h + b_hh; without, they are one step's scratch ([S, B, 3H], [S, B, H])."""
    H = out.shape[3]
    wt, h = w_hh.mT, h0
    for t, b in enumerate(sizes):
        a = torch.bmm(h[:, :b], wt) + b_hh[:, None]                     # as scans.cpp: mm, then + b_hh
        rz = torch.sigmoid(gx[:, t, :b, :2 * H] + a[..., :2 * H])
        r, z = rz.chunk(2, -1)
        n = torch.tanh(gx[:, t, :b, 2 * H:] + r * a[..., 2 * H:])
        g_t, gh_t = (gates[:, t], ghn[:, t]) if keep else (gates, ghn)
        g_t[:, :b] = torch.cat([rz, n], -1)
        gh_t[:, :b] = a[..., 2 * H:]
        out[:, t, :b] = torch.lerp(n, h[:, :b], z)                      # (1 - z) * n + z * h
        h = out[:, t]


def _gru_scan_backward_torch(gates, ghn, out, h0, w_hh, dout, dh, dgx, dghn, sizes) -> None:
    """gru_scan_backward: dh [S, B, H] dL/dh_n in, dL/dh0 out; dgx [S, T, B, 3H] receives
    dL/d(W_ih x + b_ih), dghn [S, T, B, H] the n block of dL/d(W_hh h + b_hh) (its r and z
    blocks are dgx's)."""
    H = out.shape[3]
    for t in reversed(range(len(sizes))):
        b = sizes[t]
        r, z, n = gates[:, t, :b].chunk(3, -1)
        h_prev = out[:, t - 1, :b] if t else h0[:, :b]
        d = dh[:, :b] + dout[:, t, :b]
        dn = d * (1 - z) * (1 - n * n)
        dr = dn * ghn[:, t, :b] * r * (1 - r)
        dz = d * (h_prev - n) * z * (1 - z)
        dgx[:, t, :b] = torch.cat([dr, dz, dn], -1)
        dghn[:, t, :b] = dn * r
        dh[:, :b] = torch.baddbmm(d * z, torch.cat([dr, dz, dn * r], -1), w_hh)


_TWINS = {f.__name__[1:-6]: f for f in (_rnn_scan_torch, _rnn_scan_backward_torch, _lstm_scan_torch,
                                        _lstm_scan_backward_torch, _gru_scan_torch, _gru_scan_backward_torch)}


def kernel(name: str, like: torch.Tensor):
    """The compiled op `name` ("lstm_scan", "gru_scan_backward", ...) for tensors like `like`,
    else its PyTorch twin."""
    return native.op(name, like) or _TWINS[name]


# ----------------------------------------------------------------------------- helpers
def _sizes(seq, S: int, T: int, B: int) -> list[int]:
    """The rows running at each step; lengths are refused for a group (S > 1)."""
    if seq is None or not seq.sizes:
        return [B] * T
    if S > 1:
        raise UsageError(f"a group of S = {S} seeds (a vmapped model) takes no lengths: run it "
                         "with lengths=None, or each seed alone")
    return seq.sizes


def _buffer(like, seq, *shape):
    """Scan buffers; zeroed with lengths, so that padded rows stay zero and finite."""
    return like.new_zeros(shape) if seq is not None and seq.sizes else like.new_empty(shape)


def _final(t, seq):
    """[S, T, B, H] -> [S, B, H]: each sequence's entry at its last valid step (a copy)."""
    return t[:, -1].clone() if seq is None or seq.order is None else seq.final(t[0])[None]


def _contiguous(*ts):
    """The kernels take contiguous tensors (scans.cpp checks)."""
    return [None if t is None else t.contiguous() for t in ts]


def _grad(g, like):
    """A gradient autograd did not materialise (an output not used): zeros."""
    return torch.zeros_like(like) if g is None else g.contiguous()


def _needs_grad(tensors) -> bool:
    """Whether a scan must keep its per-step buffers for a backward pass."""
    return torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def _mm(a, b, bias=None):
    """[S, m, k] x [S, k, n] (+ bias [S, n]) -> [S, m, n]: one matmul per seed. torch.bmm gives
    the same numbers but ran 2-10x slower here on these shapes (the weight gradients' transposed
    [S, G, T*B] operands, the projection of a 1-wide input). A 1-wide inner dimension (the
    projection of a 1-wide input: sine, pixel-by-pixel digits) is a broadcast product, twice
    as fast as addmm there."""
    if a.shape[2] == 1:
        return a * b if bias is None else torch.addcmul(bias[:, None, :], a, b)
    out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    for s in range(a.shape[0]):
        if bias is None:
            torch.mm(a[s], b[s], out=out[s])
        else:
            torch.addmm(bias[s], a[s], b[s], out=out[s])
    return out


def _bulk(ctx, dgx, x, w_ih):
    """The input side's products after the backward scan, one matmul per seed or one sum over
    the group: dx, dW_ih, db (the input side's bias); dgx [S, T, B, G] = dL/d(W_ih x + b)."""
    S, T, B, G = dgx.shape
    dgx = dgx.view(S, T * B, G)
    dx = _mm(dgx, w_ih).view(x.shape) if ctx.needs_input_grad[0] else None
    dw_ih = _mm(dgx.mT, x.reshape(S, T * B, -1))
    return dx, dw_ih, dgx.sum(1)


def _dw_hh(dgh, h0, out):
    """dW_hh = sum_t dgh_t^T h_{t-1}, one matmul per seed: dgh [S, T, B, G'] = dL/d(W_hh h) (or
    a block of its rows; any strides that merge T and B), steps 1.. against out[:-1], step 0
    against h0 (no [h0, out[:-1]] copy)."""
    S, T, B, G = dgh.shape
    H = out.shape[3]
    dgh = dgh.view(S, T * B, G)
    dw_hh = _mm(dgh[:, B:].mT, out[:, :-1].reshape(S, (T - 1) * B, H))
    for s in range(S):
        dw_hh[s].addmm_(dgh[s, :B].t(), h0[s])
    return dw_hh


class _Grouped(torch.autograd.Function):
    """What the three Functions share: the vmap rule. A vmapped dimension (size N) goes to the
    front (inputs it does not batch are expanded) and folds into S: [N, S, ...] -> [N*S, ...];
    the group runs, and each output unfolds to [N, S, ...] (out_dims 0). Whether to keep the
    buffers for a backward pass is decided here again: under vmap the batched tensors do not
    report requires_grad, the tensors underneath do."""

    @classmethod
    def vmap(cls, info, in_dims, *args):
        N = info.batch_size
        folded = []
        for a, d in zip(args, in_dims):
            if isinstance(a, torch.Tensor):
                a = a.expand(N, *a.shape) if d is None else a.movedim(d, 0)
                a = a.reshape(N * a.shape[1], *a.shape[2:])
            folded.append(a)
        if cls._training_arg is not None:
            folded[cls._training_arg] = _needs_grad(folded)
        outs = cls.apply(*folded)
        return tuple(o.unflatten(0, (N, -1)) for o in outs), (0,) * len(outs)


# --------------------------------------------------------------------------------- rnn
class RNNScan(_Grouped):
    """(x [S, T, B, in], w_ih [S, H, in], bias [S, H] = b_ih + b_hh, h0 [S, B, H], w_hh [S, H, H],
    act: Activation, seq) -> out [S, T, B, H], h_n [S, B, H].

    act'(z) is taken from the outputs, f(h_t) (`Activation.slope`), so nothing else is kept."""
    _training_arg = None

    @staticmethod
    def forward(x, w_ih, bias, h0, w_hh, act: Activation, seq):
        S, T, B = x.shape[:3]
        H = w_hh.shape[-1]
        sizes = _sizes(seq, S, T, B)
        out = _mm(x.reshape(S, T * B, -1), w_ih.mT, bias).view(S, T, B, H)
        h0, w_hh = _contiguous(h0, w_hh)
        kernel("rnn_scan", out)(out, h0, w_hh, sizes, ACT_CODE[act.name])
        if seq is not None and seq.valid is not None:
            out.masked_fill_(~seq.valid, 0)
        return out, _final(out, seq)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w_ih, _, h0, w_hh, act, seq = inputs
        ctx.act, ctx.seq = act, seq
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, w_ih, h0, w_hh, output[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n):
        x, w_ih, h0, w_hh, out = ctx.saved_tensors
        S, T, B, H = out.shape
        sizes = _sizes(ctx.seq, S, T, B)
        dh = _grad(dh_n, h0).clone()
        dpre = _buffer(out, ctx.seq, S, T, B, H)
        w_hh, h0 = _contiguous(w_hh, h0)
        kernel("rnn_scan_backward", out)(out, w_hh, _grad(dout, out), dh, dpre, sizes, ACT_CODE[ctx.act.name])
        dx, dw_ih, db = _bulk(ctx, dpre, x, w_ih)
        dw_hh = _dw_hh(dpre, h0, out)
        return dx, dw_ih, db, dh, dw_hh, None, None


# -------------------------------------------------------------------------------- lstm
class LSTMScan(_Grouped):
    """(x [S, T, B, in], w_ih [S, 4H, in], bias [S, 4H] = b_ih + b_hh, h0, c0 [S, B, H],
    w_hh [S, 4H, H], seq, training) -> out [S, T, B, H], h_n, c_n [S, B, H], and the buffers the
    backward pass reads (activated gates [S, T, B, 4H], c_t and tanh(c_t) [S, T, B, H]: outputs
    only so that setup_context can keep them, not differentiable).

    The projection's output is the gate buffer (the step's addmm accumulates into it in place,
    the activated gates replace it). Without gradients (training=False) c_t lives in one
    [S, B, H] buffer and only h_t is kept per step: fewer fresh pages to fault in, which on CPU
    costs about as much as the elementwise arithmetic."""
    _training_arg = 7

    @staticmethod
    def forward(x, w_ih, bias, h0, c0, w_hh, seq, training: bool):
        S, T, B = x.shape[:3]
        H = w_hh.shape[-1]
        sizes = _sizes(seq, S, T, B)
        gates = _mm(x.reshape(S, T * B, -1), w_ih.mT).view(S, T, B, 4 * H)
        out = _buffer(gates, seq, S, T, B, H)
        h0, c0, w_hh, bias = _contiguous(h0, c0, w_hh, bias)
        if training:
            if seq is not None and seq.valid is not None:
                gates.masked_fill_(~seq.valid, 0)            # padded rows stay zero and finite
            cs, tanh_cs = _buffer(gates, seq, S, T, B, H), _buffer(gates, seq, S, T, B, H)
        else:                          # cs: c_{t-1} in, c_t out; rows past their end keep theirs
            cs, tanh_cs = c0.clone(), torch.empty_like(c0)
        kernel("lstm_scan", gates)(gates, bias, h0, c0, w_hh, out, cs, tanh_cs, sizes, training)
        c_n = _final(cs, seq) if training else cs.clone()
        return out, _final(out, seq), c_n, gates, cs, tanh_cs

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w_ih, _, h0, c0, w_hh, seq, training = inputs
        out, _, _, *buffers = output
        ctx.mark_non_differentiable(*buffers)
        ctx.set_materialize_grads(False)
        ctx.seq = seq
        if training:
            ctx.save_for_backward(x, w_ih, h0, c0, w_hh, out, *buffers)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, dc_n, *_):
        x, w_ih, h0, c0, w_hh, out, gates, cs, tanh_cs = ctx.saved_tensors
        S, T, B, H = out.shape
        sizes = _sizes(ctx.seq, S, T, B)
        dh, dc = _grad(dh_n, h0).clone(), _grad(dc_n, c0).clone()
        dgates = _buffer(gates, ctx.seq, S, T, B, 4 * H)
        c0, w_hh, h0 = _contiguous(c0, w_hh, h0)
        kernel("lstm_scan_backward", gates)(gates, cs, tanh_cs, c0, w_hh, _grad(dout, out), dh, dc, dgates, sizes)
        dx, dw_ih, db = _bulk(ctx, dgates, x, w_ih)
        dw_hh = _dw_hh(dgates, h0, out)
        return dx, dw_ih, db, dh, dc, dw_hh, None, None


# --------------------------------------------------------------------------------- gru
class GRUScan(_Grouped):
    """(x [S, T, B, in], w_ih [S, 3H, in], b_ih [S, 3H], h0 [S, B, H], w_hh [S, 3H, H],
    b_hh [S, 3H], seq, training) -> out [S, T, B, H], h_n [S, B, H], and the buffers the
    backward pass reads (r, z, n [S, T, B, 3H] and the n block of W_hh h + b_hh [S, T, B, H]: the
    r and z blocks are not read; not differentiable). b_hh stays inside r * (.). Without
    gradients (training=False) only h_t is kept per step.

    Backward: dL/d(W_hh h + b_hh) has dL/d(W_ih x + b_ih)'s r and z blocks, and dn * r; the scan
    keeps only that n block (dghn), so dW_hh is two products per seed (the r, z rows from dgx's
    columns) and db_hh's r, z blocks are db_ih's: a third less written per step than both whole."""
    _training_arg = 7

    @staticmethod
    def forward(x, w_ih, b_ih, h0, w_hh, b_hh, seq, training: bool):
        S, T, B = x.shape[:3]
        H = w_hh.shape[-1]
        sizes = _sizes(seq, S, T, B)
        gx = _mm(x.reshape(S, T * B, -1), w_ih.mT, b_ih).view(S, T, B, 3 * H)
        steps = (T,) if training else ()
        gates, ghn = _buffer(gx, seq, S, *steps, B, 3 * H), _buffer(gx, seq, S, *steps, B, H)
        out = _buffer(gx, seq, S, T, B, H)
        h0, w_hh, b_hh = _contiguous(h0, w_hh, b_hh)
        kernel("gru_scan", gx)(gx, b_hh, h0, w_hh, gates, ghn, out, sizes, training)
        return out, _final(out, seq), gates, ghn

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w_ih, _, h0, w_hh, _, seq, training = inputs
        out, _, *buffers = output
        ctx.mark_non_differentiable(*buffers)
        ctx.set_materialize_grads(False)
        ctx.seq = seq
        if training:
            ctx.save_for_backward(x, w_ih, h0, w_hh, out, *buffers)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dh_n, *_):
        x, w_ih, h0, w_hh, out, gates, ghn = ctx.saved_tensors
        S, T, B, H = out.shape
        sizes = _sizes(ctx.seq, S, T, B)
        dh = _grad(dh_n, h0).clone()
        dgx, dghn = _buffer(gates, ctx.seq, S, T, B, 3 * H), _buffer(gates, ctx.seq, S, T, B, H)
        h0, w_hh = _contiguous(h0, w_hh)
        kernel("gru_scan_backward", gates)(gates, ghn, out, h0, w_hh, _grad(dout, out), dh, dgx, dghn, sizes)
        dx, dw_ih, db_ih = _bulk(ctx, dgx, x, w_ih)
        dw_hh = torch.cat([_dw_hh(dgx[..., :2 * H], h0, out), _dw_hh(dghn, h0, out)], 1)
        db_hh = torch.cat([db_ih[:, :2 * H], dghn.flatten(1, 2).sum(1)], 1)
        return dx, dw_ih, db_ih, dh, dw_hh, db_hh, None, None
