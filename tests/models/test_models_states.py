"""return_states: the exposed states and dL/dstate_t against an independent computation,
torch.nn's LSTMCell / GRUCell / RNNCell run one sequence at a time with retain_grad()."""
import pytest
import torch

from rnnbench.models import build

T, B, I, H, L = 6, 3, 2, 4, 2
LENGTHS = torch.tensor([6, 2, 4])
TORCH_CELLS = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell, "rnn": torch.nn.RNNCell}


def independent(model, arch, x, lengths, w_out, w_fin):
    """Loss and per (layer, direction) the per-step state tensors (retaining grads) of each sequence."""
    names = ("h", "c") if arch == "lstm" else ("h",)
    cells = {}
    for k in range(L):
        for d, sfx in enumerate(("", "_reverse")):
            cell = TORCH_CELLS[arch](I if k == 0 else 2 * H, H)
            names_ = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            cell.load_state_dict({n: getattr(model, f"{n}_l{k}{sfx}") for n in names_})
            cells[k, d] = cell
    seen, loss = {}, 0
    for b in range(B):
        n = int(lengths[b])
        inp = x[:n, b:b + 1]
        for k in range(L):
            outs = []
            for d in range(2):
                state = tuple(torch.zeros(1, H) for _ in names)
                steps = range(n) if d == 0 else range(n - 1, -1, -1)
                out = [None] * n
                for t in steps:
                    state = cells[k, d](inp[t], state if arch == "lstm" else state[0])
                    state = state if isinstance(state, tuple) else (state,)
                    for name, s in zip(names, state):
                        s.retain_grad()
                        seen[k, d, name, t, b] = s
                    out[t] = state[0]
                for j, s in enumerate(state):
                    loss = loss + (s * w_fin[j][k * 2 + d, b]).sum()
                outs.append(torch.cat(out))
            inp = torch.cat(outs, -1)[:, None]
        loss = loss + (inp[:, 0] * w_out[:n, b]).sum()
    return loss, seen


@pytest.mark.parametrize("arch", ["lstm", "gru", "rnn"])
def test_state_gradients_match_an_independent_loop(arch):
    torch.manual_seed(0)
    model = build(arch, I, H, backend="cell", bidirectional=True, layers=L)
    x = torch.randn(T, B, I)
    names = ("h", "c") if arch == "lstm" else ("h",)
    w_out, w_fin = torch.randn(T, B, 2 * H), [torch.randn(2 * L, B, H) for _ in names]
    output, h_n, states = model(x, lengths=LENGTHS, return_states=True)
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    loss = (output * w_out).sum() + sum((s * w).sum() for s, w in zip(h_n, w_fin))
    leaves = [states[k][direction][n] for k in range(L) for direction in ("forward", "backward") for n in names]
    grads = dict(zip([(k, d, n) for k in range(L) for d in range(2) for n in names],
                     torch.autograd.grad(loss, leaves)))
    ref_loss, seen = independent(model, arch, x, LENGTHS, w_out, w_fin)
    ref_loss.backward()
    assert abs(loss.item() - ref_loss.item()) < 1e-4
    for (k, d, name, t, b), s in seen.items():
        mine = states[k][("forward", "backward")[d]][name]
        assert mine.shape == (T, B, H)
        assert (mine[t, b] - s[0]).abs().max() < 1e-6
        assert (grads[k, d, name][t, b] - s.grad[0]).abs().max() < 1e-5


def test_state_gradients_of_jordan_match_a_transcription():
    torch.manual_seed(0)
    model = build("jordan", I, H, backend="cell")
    p = {n[:-3]: v for n, v in model.named_parameters()}
    x, w = torch.randn(T, B, I), torch.randn(T, B, H)
    output, _, states = model(x, return_states=True)
    (g,) = torch.autograd.grad((output * w).sum(), [states[0]["forward"]["h"]])
    y, ys = torch.zeros(B, H), []
    for t in range(T):
        a = torch.tanh(x[t] @ p["weight_ih"].T + p["bias_ih"] + y @ p["weight_hh"].T + p["bias_hh"])
        y = torch.tanh(a @ p["weight_ho"].T + p["bias_ho"])
        y.retain_grad()
        ys.append(y)
    (torch.stack(ys) * w).sum().backward()
    assert (torch.stack([v.grad for v in ys]) - g).abs().max() < 1e-6
    assert (torch.stack(ys) - states[0]["forward"]["h"]).abs().max() < 1e-6
