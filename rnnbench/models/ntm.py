"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, arXiv:1410.5401): an LSTM controller
with an external memory M_t [N x M], one read head and one write head (`ntm` in zoo.MODELS).

    x_t ──┐                                  ┌──────────────────────────────► [h_t; r_t] ─► head ─► y_t
          ├─► LSTM controller ─► h_t ─► W_p ─┤ read head:  k, β, g, s, γ ──► w^r_t ─► r_t = w^r_t M_{t-1}
    r_{t-1} ┘   (`layers` LSTMs)              └ write head: k, β, g, s, γ, e, a ─► w^w_t ─► M_t

Step t (both heads address M_{t-1}; section numbers are the paper's):

    (h_t, c_t) = LSTM([x_t; r_{t-1}], (h_{t-1}, c_{t-1}))                  the controller
                 (layers > 1: a stack; layer k > 0 reads layer k-1's h_t, the heads the top h_t)
    per head, from W_p h_t + b_p:  k_t (raw), β_t = softplus(.), g_t = σ(.),
        s_t = softmax(.) over the offsets -R..R (R = shift_range), γ_t = 1 + softplus(.)
    3.3.1 content   K(k, M(i)) = k·M(i) / (|k| |M(i)| + 1e-8)
                    w^c_t(i) = exp(β_t K(k_t, M_{t-1}(i))) / Σ_j exp(β_t K(k_t, M_{t-1}(j)))
    3.3.2 location  w^g_t = g_t w^c_t + (1 - g_t) w_{t-1}                     interpolation
                    w~_t(i) = Σ_{o=-R..R} s_t(o) w^g_t((i - o) mod N)          circular shift
                    w_t(i) = w~_t(i)^γ_t / Σ_j w~_t(j)^γ_t                      sharpening
    3.1 read        r_t = Σ_i w^r_t(i) M_{t-1}(i)
    3.2 write       e_t = σ(.), a_t = tanh(.)
                    M_t(i) = M_{t-1}(i) * (1 - w^w_t(i) e_t) + w^w_t(i) a_t        erase, then add
    output          y_t = W_y [h_t; r_t] + b_y    (ZooModel's linear head: logits; the tasks apply σ)

A shift by offset o moves the weighting o slots forward: a one-hot on slot i goes to i + o (mod N).

Start of a sequence (fixed, nothing learned):
    M_0 = 1e-6 everywhere: the "constant" initialisation of Collier & Smith 2018 (Implementing Neural
        Turing Machines; MarkPKCollier/NeuralTuringMachine), which they found to learn fastest.
        (loudinthecloud/pytorch-ntm instead draws M_0 once, U[-1/sqrt(N+M), 1/sqrt(N+M)], as a fixed
        buffer; the paper does not say.)
    w^r_0 = w^w_0 = one-hot on slot 0: with identical rows, content addressing is uniform, and a
        uniform start would stay uniform under shift and sharpening, so the rows could never
        become different; a one-hot start lets the location mechanism step from slot 0.
    r_0 = w^r_0 M_0 (= 1e-6 everywhere); h_0 = c_0 = 0.

The addressing is exposed as pure functions over batches of heads (content_weights, interpolate,
shift, sharpen, address, read, write) so that tests can drive them on hand-made memories. The
step loop is vectorised over the batch and over the two heads; the one Python loop is over time
(and over the controller's layers). `write` has a hand-written backward (tested against finite
differences), a third less time than autograd's on the [B, N, M] outer products.

Since w_0 sits on slot 0, mirroring every shift (o -> -o) mirrors every weighting (i -> -i mod N)
and leaves the outputs exactly as they are: only the weightings show which way a head moves.
`NTM.record = True` makes a forward keep its weightings (`NTM.trace`: read and write, [B, T, N]).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError

MEMORY_INIT = 1e-6       # M_0 (Collier & Smith 2018's "constant" scheme)
COSINE_EPS = 1e-8        # K's denominator floor (as Collier & Smith's implementation)
SHARPEN_FLOOR = 1e-30    # the sharpening's floor under w~ (its logarithm)
HEADS = ("read", "write")  # the order of the heads along dim 1 of the addressing tensors


# ------------------------------------------------------------------------------ addressing
# Shapes: memory [B, N, M]; a batch of H heads: key [B, H, M], weightings [B, H, N], scalars
# (beta, g, gamma) [B, H], shift weights [B, H, 2R+1] over the offsets -R..R.
def content_weights(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """w^c(i) = softmax_i(β K(k, M(i))), K the cosine similarity (3.3.1). -> [B, H, N]"""
    dots = torch.bmm(key, memory.transpose(1, 2))                                    # [B, H, N]
    k_norm = key.mul(key).sum(-1, keepdim=True).sqrt()                                # [B, H, 1]
    m_norm = memory.mul(memory).sum(-1).sqrt().unsqueeze(1)                           # [B, 1, N]
    return torch.softmax(beta.unsqueeze(-1) * dots / (k_norm * m_norm + COSINE_EPS), dim=-1)


def interpolate(w_prev: torch.Tensor, w_content: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """w^g = g w^c + (1 - g) w_prev (3.3.2, the interpolation gate)."""
    g = g.unsqueeze(-1)
    return g * w_content + (1 - g) * w_prev


def _shift_index(n: int, radius: int, device=None) -> torch.Tensor:
    """[(2R+1) N]: row o + R of the view [2R+1, N] holds (i - o) mod N, i = 0..N-1."""
    offsets = torch.arange(-radius, radius + 1, device=device)
    return ((torch.arange(n, device=device)[None, :] - offsets[:, None]) % n).reshape(-1)


def shift(w: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """w~(i) = Σ_{o=-R..R} s(o) w((i - o) mod N): circular convolution with the shift weights
    (3.3.2); s [..., 2R+1] over offsets -R..R, 2R+1 <= N. Every shifted copy of w in one
    index_select ([..., 2R+1, N]; half the time of a padded unfold, forward and backward)."""
    width, n = s.shape[-1], w.shape[-1]
    if width % 2 == 0 or width > n:
        raise UsageError(f"shift weights must cover offsets -R..R (an odd count, at most the {n} slots), "
                         f"got {width}")
    copies = w.index_select(-1, _shift_index(n, width // 2, w.device)).view(*w.shape[:-1], width, n)
    return (copies * s.unsqueeze(-1)).sum(-2)


def sharpen(w: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """w(i) = w~(i)^γ / Σ_j w~(j)^γ, γ >= 1 (3.3.2), computed as softmax_i(γ ln w~(i)) (w~ floored
    at 1e-30, so an exact 0 stays 0 to float32). The same function, but stable: w~^γ itself
    underflows once w~ is spread thin and γ is large (128 slots of 1/128 at γ = 20: 1e-42, a float32
    denormal), and an all-zero weighting would pass no gradient."""
    return torch.softmax(gamma.unsqueeze(-1) * torch.log(w.clamp_min(SHARPEN_FLOOR)), -1)


def address(memory, key, beta, g, s, gamma, w_prev) -> torch.Tensor:
    """The whole mechanism of figure 2: content, interpolation, shift, sharpening."""
    return sharpen(shift(interpolate(w_prev, content_weights(memory, key, beta), g), s), gamma)


def read(memory: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """r = Σ_i w(i) M(i) (3.1): memory [B, N, M], w [B, N] -> [B, M]."""
    return torch.bmm(w.unsqueeze(1), memory).squeeze(1)


def write(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """M(i) <- M(i) * (1 - w(i) e) + w(i) a (3.2): w [B, N], erase and add [B, M] -> [B, N, M]."""
    return _Write.apply(memory, w, erase, add)


class _Write(torch.autograd.Function):
    """`write` with its backward written out (two thirds of autograd's time: the outer products'
    gradients as batched matmuls, not reductions over broadcast dimensions). With K = 1 - w e^T,
    out = M * K + w a^T and G = dL/dout:
        dM = G * K,  dw = G a - (G * M) e,  de = -w^T (G * M),  da = w^T G."""

    @staticmethod
    def forward(ctx, memory, w, erase, add):
        col = w.unsqueeze(-1)                                                        # [B, N, 1]
        keep = torch.baddbmm(memory.new_ones(1, 1, 1), col, erase.unsqueeze(1), alpha=-1)   # 1 - w e^T
        ctx.save_for_backward(memory, w, erase, add, keep)
        return torch.baddbmm(memory * keep, col, add.unsqueeze(1))

    @staticmethod
    def backward(ctx, g):
        memory, w, erase, add, keep = ctx.saved_tensors
        gm = g * memory
        row = w.unsqueeze(1)                                                         # [B, 1, N]
        d_w = (torch.bmm(g, add.unsqueeze(-1)) - torch.bmm(gm, erase.unsqueeze(-1))).squeeze(-1)
        return g * keep, d_w, -torch.bmm(row, gm).squeeze(1), torch.bmm(row, g).squeeze(1)


# ------------------------------------------------------------------------------ the machine
def check_options(options: dict) -> None:
    """Refuse, in one line, memory and shift sizes the machine cannot have (zoo's ModelSpec.check):
    the 2R+1 offsets must be distinct slots mod N."""
    n, r = options["memory_slots"], options["shift_range"]
    if 2 * r + 1 > n:
        raise UsageError(f"ntm model_params shift_range {r} needs 2*{r}+1 = {2 * r + 1} distinct slots, more "
                         f"than memory_slots {n}: use shift_range <= {(n - 1) // 2} or more memory_slots")


class NTM(nn.Module):
    """The features of `ntm` (zoo.MODELS): [B, T, F] -> [B, T, hidden + memory_width], [h_t; r_t].

    The controller's parameters are a torch.nn.LSTM's (`controller.weight_ih_l0` [4H, F + M], gate
    order i, f, g, o), run one step at a time here; the input part of layer 0's projection is one
    matmul over all steps. `heads` (a Linear) maps h_t to both heads' parameters, laid out as
    [k (read, write: 2M) | β (2) | g (2) | s (2 (2R+1)) | γ (2) | e (M) | a (M)], pre-activation."""

    def __init__(self, input_size, width, layers, dropout, causal, *, memory_slots, memory_width, shift_range):
        super().__init__()
        check_options({"memory_slots": memory_slots, "shift_range": shift_range})
        self.input_size, self.hidden, self.layers = input_size, width, layers
        self.N, self.M, self.R = memory_slots, memory_width, shift_range
        self.output_size = width + memory_width
        self.receptive_field = self.context = None       # every step (a recurrent state)
        self.controller = nn.LSTM(input_size + memory_width, width, num_layers=layers)
        S = 2 * shift_range + 1
        self.head_sizes = (memory_width, 1, 1, S, 1)                          # k, β, g, s, γ per head
        self.heads = nn.Linear(width, len(HEADS) * sum(self.head_sizes) + 2 * memory_width)   # + e, a
        self.drop = nn.Dropout(dropout)
        self.record = False                  # set True to keep the weightings of the next forward
        self.trace: dict[str, torch.Tensor] | None = None

    def initial_state(self, B: int, like: torch.Tensor):
        """(memory, weightings [B, 2, N], r_0, [(h, c)] per layer) at the start of a sequence."""
        memory = like.new_full((B, self.N, self.M), MEMORY_INIT)
        w = like.new_zeros(B, len(HEADS), self.N)
        w[:, :, 0] = 1.0
        r = read(memory, w[:, 0])
        hc = [(like.new_zeros(B, self.hidden), like.new_zeros(B, self.hidden)) for _ in range(self.layers)]
        return memory, w, r, hc

    def _lstm(self, gates, c):
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x, lengths=None):                     # [B, T, F]; causal: padding changes nothing before it
        B, T, F_in = x.shape
        lstm = self.controller
        w_ih0 = lstm.weight_ih_l0
        # layer 0: W_ih [x; r] = W_x x (all steps at once) + W_r r; the recurrent part joins W_r and W_hh
        gx = F.linear(x, w_ih0[:, :F_in], lstm.bias_ih_l0 + lstm.bias_hh_l0).unbind(1)  # T x [B, 4H]
        w_rh = [torch.cat([w_ih0[:, F_in:], lstm.weight_hh_l0], 1)]
        w_rh += [torch.cat([getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")], 1)
                 for k in range(1, self.layers)]
        biases = [None] + [getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")
                           for k in range(1, self.layers)]
        memory, w, r, hc = self.initial_state(B, x)
        sizes = [len(HEADS) * s for s in self.head_sizes] + [self.M, self.M]
        outs, trace = [], []
        for t in range(T):
            below = r
            for k in range(self.layers):
                h, c = hc[k]
                gates = torch.cat([below, h], 1) @ w_rh[k].t()
                gates = gates + (gx[t] if k == 0 else biases[k])
                hc[k] = self._lstm(gates, c)
                below = hc[k][0]
            h = below
            k_, beta, g, s, gamma, e, a = self.heads(h).split(sizes, 1)
            w = address(memory, k_.view(B, len(HEADS), self.M), F.softplus(beta), torch.sigmoid(g),
                        torch.softmax(s.view(B, len(HEADS), -1), -1), 1 + F.softplus(gamma), w)
            r = read(memory, w[:, 0])                       # both heads see M_{t-1}
            memory = write(memory, w[:, 1], torch.sigmoid(e), torch.tanh(a))
            outs.append(torch.cat([h, r], 1))
            if self.record:
                trace.append(w.detach())
        if self.record:
            ws = torch.stack(trace, 1) if trace else x.new_zeros(B, 0, len(HEADS), self.N)
            self.trace = {name: ws[:, :, i] for i, name in enumerate(HEADS)}
        return self.drop(torch.stack(outs, 1))


def addressing_trace(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The read and write weightings ([B, T, N] each) of `model` over x, if it holds an NTM
    (for a heatmap); None for a model without addressing. Runs without gradients."""
    ntm = next((m for m in model.modules() if isinstance(m, NTM)), None)
    if ntm is None:
        return None
    was, ntm.record = ntm.record, True
    try:
        with torch.no_grad():
            model(x)
        return dict(ntm.trace)
    finally:
        ntm.record, ntm.trace = was, None


def describe() -> str:
    """The structure `rnnbench list` shows."""
    return ("(h_t, c_t) = LSTM([x_t; r_{t-1}]) (hidden = controller units, the run's layers); per head from h_t:\n"
            "  k, beta = softplus, g = sigmoid, s = softmax over offsets -R..R, gamma = 1 + softplus\n"
            "  w^c = softmax_i(beta cos(k, M_{t-1}(i)));  w^g = g w^c + (1 - g) w_{t-1}\n"
            "  w~(i) = sum_o s(o) w^g(i - o mod N);  w = w~^gamma / sum w~^gamma\n"
            "read r_t = w^r M_{t-1};  write M_t = M_{t-1} * (1 - w^w e) + w^w a   (e = sigmoid, a = tanh)\n"
            "y_t = head([h_t; r_t]); memory N x M = memory_slots x memory_width, M_0 = 1e-6 (fixed),\n"
            "w_0 one-hot on slot 0 (both heads); one read and one write head; dropout on [h_t; r_t]")


def n_params(input_size: int, hidden: int, output_size: int, layers: int = 1, memory_slots: int = 128,
             memory_width: int = 20, shift_range: int = 1) -> int:
    """Trainable parameters of the `ntm` ZooModel (controller, head parameters, output head)."""
    H, M, S = hidden, memory_width, 2 * shift_range + 1
    lstm = 4 * H * (input_size + M + H + 2) + (layers - 1) * 4 * H * (2 * H + 2)
    heads = (H + 1) * (len(HEADS) * (M + 3 + S) + 2 * M)
    return lstm + heads + (H + M + 1) * output_size

