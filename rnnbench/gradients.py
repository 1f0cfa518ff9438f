"""Gradient-flow diagnostics: the lecture's chain-rule picture, measured.

For a loss read at step s, the gradient reaching the state h_t is the loss gradient at s
carried back through the product of step Jacobians (lecture notes, vanishing gradients):

    dL/dh_t = (dh_s/dh_t)^T dL/dh_s,    dh_s/dh_t = prod_{u=t+1..s} dh_u/dh_{u-1}

and ||dh_u/dh_{u-1}|| <= ||W_hh|| * max|f'| bounds how fast it can grow or vanish. For every
layer, direction and carried state of a model we measure, on one batch of a task:

    norm                   mean over the batch of ||dL/dh_t||_2 (every path, recurrent included;
                           the loss is the per-sequence loss summed over the batch, so a
                           sequence's gradient does not depend on the batch size). The
                           derivative is taken where the step forms the state (the models'
                           probes, `tap` in rnnbench/models/cells.py): lstm's dL/dc_t also
                           flows through h_t = o_t tanh(c_t)
    jacobian_product_norm  mean over the first `jacobian_samples` sequences of the spectral
                           norm ||dh_s/dh_t||_2 of the product of step Jacobians (within the
                           layer and direction; lstm: dh_s/dh_t and dc_s/dc_t, from the
                           product of the full (h, c) step Jacobians, c_t perturbed as above)
    spectral_radius, sigma_max   of the recurrent matrix W_hh of that layer and direction

Lag. `lag` counts recurrent steps from h_t to the state the loss reads, in the direction's
own order: forward lag = s_fwd - t, backward lag = t - s_bwd. A "last" head (many-to-one
tasks) reads the forward state at s_fwd = T-1 and the backward state at s_bwd = 0 (its final
state); an "every" head (many-to-many) with the loss at step s reads both at s. The initial
state h_{-1} (= hx, zeros) is included as t = -1 (forward, lag s+1) and t = T (backward):
on the adding task with T = 100, lag 100 is the initial state. Stacked bidirectional layers
also carry gradient to states beyond the loss step (through the other direction above):
those rows have a negative lag.

Outputs (tidy CSV, one row per measured value):

    gradients.csv  task, arch, backend, bidirectional, layers, hidden, seed, at, step,
                   layer, direction (fwd|bwd), state (h|c), lag, t, norm,
                   jacobian_product_norm, spectral_radius, sigma_max, loss_step, samples
    recurrent.csv  task, arch, backend, bidirectional, layers, hidden, seed, at, step,
                   layer, direction, gate, rows, spectral_radius, sigma_max
                   one row per gate block of W_hh (rnn/irnn/jordan: "all"; lstm: i, f, g, o;
                   gru/gru-cho: r, z, n) plus "all", the stacked [n_gates*H, H] matrix (its
                   spectral radius is empty: it is not square).

The spectral_radius and sigma_max repeated on the rows of gradients.csv are those of the
state's own candidate block -- the matrix that plays W_hh in h_t = f(W_hh h_{t-1} + ...):
rnn / irnn: W_hh; jordan: W_hh (it maps y_{t-1}); lstm: W_hg (the cell input g); gru and
gru-cho: W_hn (the candidate n). `at` is "init", "step<N>" (a checkpoint during training)
or "trained" (the final checkpoint of a finished run); `step` is the optimizer step.
`backend` is the backend the run trained on; the measurement always runs on a float64
copy on the explicit cell backend (equal to the fused one, tests/models/), the only one that
keeps every state; float64 because a vanilla RNN's gradient 100 steps back is ~1e-25 at init
and its square underflows float32. The batch: the first `samples` sequences of the val split
(the same for every architecture and checkpoint). `samples` defaults to 32
and `jacobian_samples` to 1, sized so that a 100-step 128-unit model takes < 2 s.

Also here: `iterated_functions()` (lecture 000's iterated maps, data for a figure),
`set_recurrent_radius()` (rescale W_hh at init: `model_params: {recurrent_radius: 1.5}`), and
`flow_summary()` (ratio norm(lag max) / norm(lag 0) and the fitted per-step factor), and
`during_training()`, the runner's hook (RunConfig.grad_diag_every: out/grad_checkpoints/), and
`unsupported()`, why a (task, cell) cannot be diagnosed: what `rnnbench gradients` refuses and
the grid's `gradients.cells` selection leaves out (recorded in cells.csv's gradients_skipped).
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .errors import UsageError
from .io import atomic_write_text
from .models import CELLS
from .models.heads import set_recurrent_radius  # noqa: F401 (documented here: model_params recurrent_radius)
from .tasks.base import Split

DIRECTIONS = {"forward": "fwd", "backward": "bwd"}
GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "gru-cho": ("r", "z", "n")}
CANDIDATE_GATE = {"lstm": "g", "gru": "n", "gru-cho": "n"}   # else the whole W_hh ("all")

RUN_KEYS = ("task", "arch", "backend", "bidirectional", "layers", "hidden", "seed", "at", "step")
GRADIENT_COLUMNS = RUN_KEYS + ("layer", "direction", "state", "lag", "t", "norm",
                               "jacobian_product_norm", "spectral_radius", "sigma_max",
                               "loss_step", "samples")
RECURRENT_COLUMNS = RUN_KEYS + ("layer", "direction", "gate", "rows", "spectral_radius", "sigma_max")

# Defaults sized so that a 100-step, 128-unit model is diagnosed in < 2 s on 2 shared cores
# (scripts/bench_gradients.py); scripts/gradient_flow_adding.py measures more.
DEFAULT_SAMPLES = 32            # sequences of the diagnostic batch (its mean norm)
DEFAULT_JACOBIAN_SAMPLES = 1    # a full Jacobian costs S backward steps per sequence (S = H; lstm 2H)


# ------------------------------------------------------------------------ lecture 000
LOGISTIC_R = 3.5


def iterated_functions(n_iter: int = 6, n_points: int = 201, w_small: float = 0.5,
                       w_large: float = 2.0) -> pd.DataFrame:
    """Lecture 000's iterated functions as a tidy frame for a figure.

    The logistic map f(x) = 3.5 x (1 - x) on [0, 1], the identity, tanh(w x) for w = w_small
    (< 1: the iterates flatten to 0, the derivative vanishes) and w = w_large (> 1: they
    sharpen into a step, the derivative at 0 explodes), on [-2, 2]. Columns: function,
    iteration (0 = x itself .. n_iter), x, y = f^n(x), and dydx = d f^n / dx by the chain
    rule, prod_k f'(f^k(x)) -- the one-dimensional product of step Jacobians.
    """
    if not (0 < w_small < 1 < w_large):
        raise UsageError(f"need 0 < w_small < 1 < w_large, got {w_small}, {w_large}")
    tanh = lambda w: (lambda v: np.tanh(w * v), lambda v: w * (1 - np.tanh(w * v) ** 2))  # noqa: E731
    wide = np.linspace(-2.0, 2.0, n_points)
    maps = {
        f"logistic r={LOGISTIC_R:g}": (np.linspace(0.0, 1.0, n_points),
                                       lambda v: LOGISTIC_R * v * (1 - v), lambda v: LOGISTIC_R * (1 - 2 * v)),
        "identity": (wide, lambda v: v, np.ones_like),
        f"tanh({w_small:g}x)": (wide, *tanh(w_small)),
        f"tanh({w_large:g}x)": (wide, *tanh(w_large)),
    }
    frames = []
    for name, (x, f, df) in maps.items():
        y, d = x.copy(), np.ones_like(x)
        for n in range(n_iter + 1):
            frames.append(pd.DataFrame({"function": name, "iteration": n, "x": x, "y": y, "dydx": d}))
            y, d = f(y), d * df(y)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------ recurrent matrices
def _gate_names(arch: str, n_gates: int) -> tuple[str, ...]:
    return GATE_NAMES.get(arch, ()) if n_gates > 1 else ()


def recurrent_blocks(rnn) -> list[tuple[int, str, str, torch.Tensor]]:
    """[(layer, direction, gate, matrix)] of every W_hh: its gate blocks, then "all" (none for a
    cell without recurrent weights: mingru, minlstm)."""
    spec = CELLS.get(rnn.arch)
    if not spec.recurrent:
        return []
    dirs = ("forward", "backward") if rnn.bidirectional else ("forward",)
    out = []
    for k in range(rnn.num_layers):
        for d, direction in enumerate(dirs):
            w = getattr(rnn, f"weight_hh_l{k}" + ("_reverse" if d else "")).detach()
            for gate, block in zip(_gate_names(rnn.arch, spec.n_gates), w.chunk(spec.n_gates, 0)):
                out.append((k, DIRECTIONS[direction], gate, block))
            out.append((k, DIRECTIONS[direction], "all", w))
    return out


def matrix_stats(w: torch.Tensor) -> tuple[float, float]:
    """(spectral radius, largest singular value); the radius is nan for a non-square matrix."""
    w = w.detach().double().cpu()
    sigma = float(torch.linalg.matrix_norm(w, ord=2))
    rho = float(torch.linalg.eigvals(w).abs().max()) if w.shape[0] == w.shape[1] else math.nan
    return rho, sigma


# ------------------------------------------------------------------------- measurement
@dataclass
class Flow:
    """The raw measurement of one forward/backward pass: per (layer, direction, state)."""
    rows: list[dict[str, Any]]          # layer, direction, state, lag, t, norm, jacobian_product_norm
    recurrent: list[dict[str, Any]]     # layer, direction, gate, rows, spectral_radius, sigma_max


@contextmanager
def _recording(rnn):
    """Make `rnn` (cell backend) return its states to a caller that does not ask for them:
    the model's own forward (embedding, head) runs unchanged."""
    seen: dict[str, Any] = {}
    forward = rnn.forward

    def recorded(x, hx=None, lengths=None):
        output, h_n, states = forward(x, hx, lengths, return_states=True)
        seen.update(x=x, states=states)
        return output, h_n

    rnn.forward = recorded
    try:
        yield seen
    finally:
        del rnn.forward


def measure_flow(model, x, loss_fn: Callable[[torch.Tensor], torch.Tensor], *, entry: dict[str, int],
                 jacobian_samples: int = DEFAULT_JACOBIAN_SAMPLES, jacobian_dtype=torch.float32) -> Flow:
    """dL/dh_t, the Jacobian products and W_hh's statistics for one batch.

    model: a SequenceModel (its recurrent stack at `.rnn`) or a bare stack, cell backend, in
        eval mode; called as model(x, hx=hx), its first output passed to loss_fn -> scalar.
    entry: {"fwd": s_fwd, "bwd": s_bwd}, the steps at which the loss reads each direction
        (see the module docstring); lags are counted from them.
    jacobian_samples: sequences (the first of the batch) whose Jacobian products are formed;
        0 skips them (jacobian_product_norm is then empty).
    jacobian_dtype: of the Jacobian chain (renormalised every step, so float32 loses no
        range, only digits past the 6th; it is 2-3x faster than float64). None: the model's.
    """
    rnn = getattr(model, "rnn", model)
    if getattr(rnn, "backend", None) != "cell":
        raise UsageError("gradient diagnostics need the cell backend (it keeps every state)")
    spec = CELLS.get(rnn.arch)
    names = spec.states
    L, D, H = rnn.num_layers, 2 if rnn.bidirectional else 1, rnn.hidden_size
    dirs = ("forward", "backward")[:D]
    B = x.shape[0] if rnn is not model or rnn.batch_first else x.shape[1]   # SequenceModel: batch-first
    params = next(rnn.parameters())
    hx = [params.new_zeros(L * D, B, H, requires_grad=True) for _ in names]
    with _recording(rnn) as seen:
        out = model(x, hx=tuple(hx) if len(hx) > 1 else hx[0])[0]
        loss = loss_fn(out)
    states = seen["states"]
    T = states[0]["forward"][names[0]].shape[0]
    leaves = [states[k][d][n] for k in range(L) for d in dirs for n in names]
    grads = torch.autograd.grad(loss, leaves + hx, allow_unused=True)
    grads = [torch.zeros_like(v) if g is None else g for v, g in zip(leaves + hx, grads)]
    g_states, g_hx = grads[:len(leaves)], grads[len(leaves):]

    jac = {}
    if jacobian_samples > 0:
        layer_in = seen["x"].transpose(0, 1) if rnn.batch_first else seen["x"]
        jd = jacobian_dtype or params.dtype
        layer_in = layer_in.detach()[:, :jacobian_samples].to(jd)
        for k in range(L):
            outs = []
            for d, direction in enumerate(dirs):
                vals = [states[k][direction][n].detach()[:, :jacobian_samples].to(jd) for n in names]
                init = [h.detach()[k * D + d, :jacobian_samples].to(jd) for h in hx]
                p = {n: getattr(rnn, n + f"_l{k}" + ("_reverse" if d else "")).detach().to(jd)
                     for n in spec.param_shapes(1, 1)}
                gx = F.linear(layer_in, p["weight_ih"], p["bias_ih"])
                jac[k, DIRECTIONS[direction]] = _jacobian_norms(spec.step, gx, vals, init, p, d == 1,
                                                                entry[DIRECTIONS[direction]], names)
                outs.append(vals[0])
            out_k = torch.cat(outs, 2)
            layer_in = out_k + layer_in if rnn.residual and k else out_k

    rows, i = [], 0
    for k in range(L):
        for d, direction in enumerate(dirs):
            dn = DIRECTIONS[direction]
            s = entry[dn]
            for j, name in enumerate(names):
                per_t = g_states[i].double().norm(dim=-1).mean(1).tolist()  # [T]; squares underflow in float32
                i += 1
                t_init = -1 if d == 0 else T
                per_t_init = float(g_hx[j][k * D + d].double().norm(dim=-1).mean())
                jn = jac.get((k, dn), {}).get(name)
                for t, v in [*enumerate(per_t), (t_init, per_t_init)]:
                    lag = s - t if d == 0 else t - s
                    rows.append({"layer": k, "direction": dn, "state": name, "lag": lag, "t": t,
                                 "norm": v, "jacobian_product_norm": None if jn is None else jn.get(t)})
    recurrent = []
    for k, dn, gate, w in recurrent_blocks(rnn):
        rho, sigma = matrix_stats(w)
        recurrent.append({"layer": k, "direction": dn, "gate": gate, "rows": w.shape[0],
                          "spectral_radius": rho, "sigma_max": sigma})
    rows.sort(key=lambda r: (r["layer"], r["direction"] != "fwd", r["state"] != "h", r["lag"]))
    return Flow(rows, recurrent)


def _jacobian_norms(step, gx, vals, init, p, reverse: bool, entry: int, names) -> dict[str, dict[int, float]]:
    """{state name: {t: mean_b ||d state_entry / d state_t||_2}} for t from the entry back
    to the initial state, by a chain of vector-Jacobian products through `step`.

    The derivative is taken where the step forms the state (the cell's `tap`, as the model's
    probes are): perturbing lstm's c_t also moves h_t = o tanh(c_t), so dc_s/dc_t is the total
    derivative that dL/dc_t = (dc_s/dc_t)^T dL/dc_s + ... goes through; h_t and the initial
    state hx are perturbed alone.

    G_u = d(state_entry)/d(carried state_u) [b, S, S] (S = states x H) starts as the
    identity; one step back through step u (from state_{u-1}) gives G_{u-1} = G_u J_u, and,
    in the same backward pass, d(state_entry)/d(tap of state j at u), whose block of
    state j's rows is measured. S vector-Jacobian products per sequence run as one backward
    pass of the step on the batch repeated S times (torch.func's vmap would save the repeated
    forward but imports torch._dynamo: seconds per process). G is renormalised every step
    (its log scale kept apart), so that products far beyond the dtype's range (1e-40 in
    float32, 1e-300 in float64) are still measured. Spectral norms: the square root of the
    largest eigenvalue of M M^T, in float64.
    """
    T, b, H = vals[0].shape
    n = len(vals)
    S = n * H
    state = torch.cat(vals, -1)                    # [T, b, S]
    start = torch.cat(init, -1)                    # [b, S]
    order = range(entry, T) if reverse else range(entry, -1, -1)
    G = torch.eye(S, dtype=state.dtype, device=state.device).expand(b, S, S).clone()
    log_scale = torch.zeros(b, dtype=torch.float64, device=state.device)
    saved_t, saved_blocks, saved_scale = [], [], []
    with torch.enable_grad():
        for u in order:
            prev_t = u + 1 if reverse else u - 1
            prev = (start if prev_t in (-1, T) else state[prev_t]).repeat_interleave(S, 0).requires_grad_()
            taps = {name: prev.new_zeros(b * S, H, requires_grad=True) for name in names}
            new = torch.cat(step(gx[u].repeat_interleave(S, 0), tuple(prev.split(H, -1)), p,
                                 lambda name, v: v + taps[name]), -1)
            # <new, G> summed: a scalar, as torch.autograd.grad with grad_outputs imports sympy
            g_prev, *g_taps = torch.autograd.grad((new * G.reshape(b * S, S)).sum(), [prev, *taps.values()])
            saved_t.append(u)
            saved_blocks.append(torch.stack([g.view(b, S, H)[:, j * H:(j + 1) * H] for j, g in enumerate(g_taps)]))
            saved_scale.append(log_scale)
            G = g_prev.view(b, S, S)
            m = G.abs().amax((1, 2))
            m = torch.where((m > 0) & torch.isfinite(m), m, torch.ones_like(m))
            G = G / m[:, None, None]
            log_scale = log_scale + m.double().log()
    # the initial state: an input of the first step, each state perturbed alone
    saved_t.append(prev_t)
    saved_blocks.append(torch.stack([G[:, j * H:(j + 1) * H, j * H:(j + 1) * H] for j in range(n)]))
    saved_scale.append(log_scale)
    blocks = torch.stack(saved_blocks).double()    # [n_t, n, b, H, H]
    scale = torch.stack(saved_scale)[:, None]      # [n_t, 1, b]
    try:                                           # eigh of M M^T: ~2x faster than svd
        sig = torch.linalg.eigvalsh(blocks @ blocks.mT)[..., -1].clamp_min(0).sqrt()
    except torch.linalg.LinAlgError:               # seen once in float32 on near rank-1 products
        sig = torch.linalg.svdvals(blocks)[..., 0]
    norms = (sig.log() + scale).exp().mean(-1)     # [n_t, n]
    return {name: dict(zip(saved_t, norms[:, j].tolist())) for j, name in enumerate(names)}


# ------------------------------------------------------------------------ task level
# task kinds whose model is a SequenceModel over a recurrent stack
KINDS = ("many_to_one", "many_to_many", "one_to_many")


def unsupported(task: str, arch: str, model_params: dict | None = None) -> str | None:
    """Why the diagnostics cannot measure a run of `task` with cell `arch`, in a few words, or None
    when they can: they follow the states of one recurrent stack (a SequenceModel's), so a sequence
    model without a cell's states (models/zoo.py) or a task of another kind (an encoder-decoder's
    two stacks: seq2seq) has none to follow, nor a cell that feeds back the head's prediction (with
    the run's model_params: jordan's default for per-step tasks), the head inside its loop.
    Registry facts only: nothing is built. Unknown names are a UsageError (one line, the valid ones)."""
    from .models import ARCHS, MODELS
    from .tasks import TASKS

    kind = TASKS.get(task).kind
    ARCHS.get(arch)
    if arch in MODELS:
        return f"{arch} is a sequence model without a recurrent cell's states (models/zoo.py)"
    if kind not in KINDS:
        names = [k.replace("_", "-") for k in KINDS]
        return (f"task {task!r} is {kind}: the diagnostics need a {', '.join(names[:-1])} or {names[-1]} "
                "task (one recurrent stack)")
    spec = CELLS.get(arch)
    spec = spec.configured(**spec.option_values(model_params, kind))
    if spec.feeds_prediction:
        return f"{arch} with {spec.variant} has the head inside its loop, no recurrent stack's states to follow"
    return None


def skipped_note(cells) -> list[str]:
    """One line per (task, cell, reason) of the grid cells (rnnbench.grid.Cell) that the config's
    `gradients.cells` selected but the diagnostics cannot measure (their `gradients_skipped`)."""
    groups: dict[tuple[str, str, str], int] = {}
    for c in cells:
        if c.gradients_skipped:
            k = (c.task, c.arch, c.gradients_skipped)
            groups[k] = groups.get(k, 0) + 1
    return [f"rnnbench: gradient diagnostics skip {n} selected cell(s) of task {t}, cell {a}: {why}"
            for (t, a, why), n in sorted(groups.items())]


def diagnostic_batch(task, samples: int = DEFAULT_SAMPLES, split: str = "val"):
    """The first `samples` sequences of a split, the same for every architecture.

    Right-padded tasks (Split.lengths): the `samples` longest-enough sequences, all cut to
    one length (the shortest among them), so that every sequence has every lag.
    """
    data = task.splits[split]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise UsageError(f"samples must be a positive integer, got {samples!r}")
    if data.lengths is None:
        return data.take(slice(0, samples))
    lengths = torch.as_tensor(data.lengths)
    order = torch.argsort(-lengths, stable=True)[:samples].sort().values
    cut = int(lengths[order].min())
    part = data.take(order)
    y = part.y[:, :cut] if task.kind != "many_to_one" else part.y     # per-step targets cut too
    return Split(part.x[:, :cut], y, None)


def cell_copy(cfg, task, model, dtype=torch.float64):
    """A cell-backend copy of `model` (same weights, cast to `dtype`); `model` is not touched."""
    if getattr(model.rnn, "backend", None) == "cell":
        twin = copy.deepcopy(model)
    else:
        with torch.random.fork_rng(devices=[]):      # building initialises: keep the caller's RNG
            twin = task.build_model(cfg.updated({"backend": "cell"}))
        twin.load_state_dict(model.state_dict())
    for p in twin.parameters():
        p.grad = None
    return twin.to(device=next(model.parameters()).device, dtype=dtype)


def diagnose(cfg, task, model, *, at: str = "init", step: int = 0, samples: int = DEFAULT_SAMPLES,
             loss_step: int | None = None, jacobian_samples: int = DEFAULT_JACOBIAN_SAMPLES,
             dtype=torch.float64, threads: int | None = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """gradients.csv and recurrent.csv frames for a resolved RunConfig's task and model.

    loss_step: the step s at which the loss is read (default: the last). Many-to-one tasks:
    the prediction from the first s+1 steps (the input cut there); many-to-many and
    one-to-many: the loss of the output at s alone. Runs in eval mode on a cell-backend copy in float64 (dtype): a
    vanilla RNN's gradient at lag 100 is ~1e-25 at init and far smaller trained, below
    float32's range once squared; `model`, its gradients and the torch RNG are not touched.
    threads: torch threads while measuring (restored after; None: as set). One by default:
    the per-step ops are small, and on a shared machine two threads ran 10x slower than one.
    """
    if task.kind not in KINDS or not hasattr(model, "rnn"):
        raise UsageError(f"gradient diagnostics need a many-to-one, many-to-many or one-to-many task "
                         f"(a SequenceModel); task {task.name!r} is {task.kind}")
    if getattr(model, "feeds_prediction", False):
        raise UsageError("gradient diagnostics follow one recurrent stack's states: "
                         f"{unsupported(task.name, cfg.arch, cfg.model_params)}")
    if isinstance(jacobian_samples, bool) or not isinstance(jacobian_samples, int) or jacobian_samples < 0:
        raise UsageError(f"jacobian_samples must be a non-negative integer, got {jacobian_samples!r}")
    device = next(model.parameters()).device
    batch = diagnostic_batch(task, samples).to(device)
    batch = Split(*(v.to(dtype) if v.is_floating_point() else v for v in (batch.x, batch.y)))
    B, T = batch.x.shape[:2]
    s = T - 1 if loss_step is None else loss_step
    if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < T:
        raise UsageError(f"loss step must be an integer in [0, {T - 1}], got {loss_step!r}")
    if task.kind == "many_to_one":
        x = batch.x[:, :s + 1]
        loss_fn = lambda pred: task.loss(pred, batch) * B                       # noqa: E731
        entry = {"fwd": s, "bwd": 0}
    else:
        x = batch.x
        at_s = Split(batch.x[:, s:s + 1], batch.y[:, s:s + 1])
        loss_fn = lambda pred: task.loss(pred[:, s:s + 1], at_s) * B            # noqa: E731
        entry = {"fwd": s, "bwd": s}
    twin = cell_copy(cfg, task, model, dtype).eval()
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[]):
            flow = measure_flow(twin, x, loss_fn, entry=entry, jacobian_samples=min(jacobian_samples, B))
    finally:
        torch.set_num_threads(before)
    return frames(cfg, flow, at=at, step=step, loss_step=s, samples=B)


def frames(cfg, flow: Flow, *, at: str, step: int, loss_step: int, samples: int
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    run = {"task": cfg.task, "arch": cfg.arch, "backend": cfg.backend, "bidirectional": cfg.bidirectional,
           "layers": cfg.layers, "hidden": cfg.hidden, "seed": cfg.seed, "at": at, "step": step}
    rec = pd.DataFrame([{**run, **r} for r in flow.recurrent], columns=list(RECURRENT_COLUMNS))
    cand = CANDIDATE_GATE.get(cfg.arch, "all")
    stats = {(r["layer"], r["direction"]): (r["spectral_radius"], r["sigma_max"])
             for r in flow.recurrent if r["gate"] == cand}
    rows = []
    for r in flow.rows:
        rho, sigma = stats.get((r["layer"], r["direction"]), (math.nan, math.nan))   # nan: no W_hh (mingru)
        rows.append({**run, **r, "spectral_radius": rho, "sigma_max": sigma,
                     "loss_step": loss_step, "samples": samples})
    return pd.DataFrame(rows, columns=list(GRADIENT_COLUMNS)), rec


def write(out: str | Path, grads: pd.DataFrame, recurrent: pd.DataFrame | None = None,
          name: str = "gradients.csv") -> None:
    out = Path(out)
    atomic_write_text(out / name, grads.to_csv(index=False, lineterminator="\n"))
    if recurrent is not None:
        atomic_write_text(out / "recurrent.csv", recurrent.to_csv(index=False, lineterminator="\n"))


def during_training(cfg, task, model, out: str | Path, step: int) -> None:
    """The runner's hook (RunConfig.grad_diag_every): out/grad_checkpoints/step<N>.csv."""
    grads, _ = diagnose(cfg, task, model, at="init" if step == 0 else f"step{step}", step=step,
                        threads=cfg.threads or 1)
    write(Path(out) / "grad_checkpoints", grads, name=f"step{step}.csv")


# ------------------------------------------------------------------------- summaries
SUMMARY_KEYS = ("task", "arch", "backend", "bidirectional", "layers", "hidden", "seed", "at",
                "layer", "direction", "state")


def flow_summary(df: pd.DataFrame, lag: int | None = None) -> pd.DataFrame:
    """One row per (run, at, layer, direction, state) of a gradients.csv frame:

    ratio    norm(lag) / norm(ref_lag); lag: the largest measured unless given; ref_lag: 0,
             or the first lag with a non-zero norm (lstm's c: the loss reads h_s, so
             dL/dc_s = 0 and the memory path starts at lag 1)
    factor   the per-step factor exp(slope) of a least-squares line through ln norm against
             lag, over lags ref_lag+1 .. lag (lag 0 is the head's direct read, not a recurrent
             step): < 1 vanishing, > 1 exploding; decay per step = 1 - factor
    jacobian_ratio, jacobian_factor   the same for the Jacobian products (1 at lag 0)
    """
    keys = [k for k in SUMMARY_KEYS if k in df.columns]
    out = []
    for key, g in df[df["lag"] >= 0].groupby(keys, sort=False, dropna=False):
        g = g.sort_values("lag")
        lags = g["lag"].to_numpy(int)
        norms = pd.to_numeric(g["norm"], errors="coerce").to_numpy(float)
        jac = pd.to_numeric(g.get("jacobian_product_norm", pd.Series(np.nan, index=g.index)),
                            errors="coerce").to_numpy(float)
        hi = int(lags.max()) if lag is None else int(lag)
        positive = lags[(norms > 0) & np.isfinite(norms)]
        ref = int(positive.min()) if len(positive) else 0
        value = lambda v, l: float(np.nanmean(v[lags == l])) if (lags == l).any() else math.nan  # noqa: E731
        n0, nh = value(norms, ref), value(norms, hi)
        span = (lags > ref) & (lags <= hi)
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(lag=hi, ref_lag=ref, norm_ref=n0, norm_lag=nh,
                   ratio=nh / n0 if n0 > 0 and math.isfinite(n0) else math.nan,
                   factor=_fit_factor(lags[span], norms[span]),
                   jacobian_ratio=value(jac, hi),
                   jacobian_factor=_fit_factor(lags[(lags > 0) & (lags <= hi)], jac[(lags > 0) & (lags <= hi)]))
        out.append(row)
    return pd.DataFrame(out)


def _fit_factor(lag, norm) -> float:
    lag, norm = np.asarray(lag, dtype=float), np.asarray(norm, dtype=float)
    ok = np.isfinite(norm) & (norm > 0)
    if ok.sum() < 2 or np.ptp(lag[ok]) == 0:
        return math.nan
    slope = np.polyfit(lag[ok], np.log(norm[ok]), 1)[0]
    return float(np.exp(slope))
