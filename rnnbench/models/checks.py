"""The checks every cell of the zoo passes, for any registered cell (`rnnbench check-cell NAME`).

They read the cell from the registry only, so that a plugin's cell (README: "Bring your own cell
or task") is held to what the zoo's own cells are held to in tests/models/:

    spec             the registry entry is complete (title, citation, equations, states, gates,
                     options build() passes) and `step` returns one [B, H] tensor per state,
                     passing each through `tap` by its name
    state-dict       parameters named and shaped as torch.nn's (weight_ih_l{k}[_reverse] ...),
                     counted by CellSpec.n_params; with a fused backend: the same state_dict
                     as torch.nn's module, both ways
    deterministic    the same seed gives the same initial weights; a forward pass is repeatable
    fused            the cell backend equals torch.nn's fused backend (outputs, final states,
                     every gradient): uni/bidirectional x 1/2 layers x lengths x initial state
    fast-path        the cell backend's fast scan equals its reference loop over `step`
    lengths          a right-padded batch with lengths equals each sequence run alone; the
                     outputs at padded steps are zero (both paths, bidirectional, 2 layers)
    bidirectional    the backward direction is a forward one run on the reversed sequence
    stacked          2 layers are two 1-layer stacks chained (with residual: plus the input)
    batch-first      batch_first=True and a PackedSequence give the time-major results
    state-gradients  return_states' states and dL/dstate_t equal those of a plain loop over
                     `step` (autograd with retain_grad): the reference of gradients.py
    gradcheck        autograd's gradients equal finite differences in float64 (x, initial
                     state and every parameter; bidirectional, 2 layers, lengths; both paths)

Float32 comparisons allow 1e-5 relative to each tensor's largest magnitude above 1. A check
passes, fails (`CheckFailed`, or any error the cell raises) or is skipped (`Skip`: it does not
apply to this cell, e.g. `fused` for a cell without a fused backend).
"""
from __future__ import annotations

import inspect
import itertools
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .cells import CELLS, CellSpec
from .recurrent import FAST, build

T, B, I, H = 7, 4, 3, 5
LENGTHS = torch.tensor([T, 3, 1, 5])
TOL = 1e-5
BUILD_OPTIONS = ("forget_bias",)          # the cell options build() passes on
TORCH_NN = {"RNN_TANH": (torch.nn.RNN, {}), "RNN_RELU": (torch.nn.RNN, {"nonlinearity": "relu"}),
            "LSTM": (torch.nn.LSTM, {}), "GRU": (torch.nn.GRU, {})}


class CheckFailed(AssertionError):
    """A check's property does not hold; the message says where and by how much."""


class Skip(Exception):
    """The check does not apply to this cell; the message says why."""


@dataclass(frozen=True)
class Result:
    cell: str
    check: str
    status: str          # pass | fail | skip
    detail: str
    seconds: float = 0.0

    def line(self) -> str:
        return f"{self.cell} | {self.check:<15} | {self.status:<4} | {self.detail}"


CHECKS: dict[str, Callable[[CellSpec], str]] = {}


def check(name: str):
    def deco(fn):
        CHECKS[name] = fn
        return fn
    return deco


def run(name: str, only: list[str] | None = None) -> Iterator[Result]:
    """Run the checks (all, or `only`) on cell `name`, one Result each as it finishes."""
    spec = CELLS.get(name)
    for cname, fn in CHECKS.items():
        if only and cname not in only:
            continue
        t0 = time.perf_counter()
        torch.manual_seed(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                status, detail = "pass", fn(spec)
        except Skip as e:
            status, detail = "skip", str(e)
        except CheckFailed as e:
            status, detail = "fail", str(e)
        except Exception as e:  # noqa: BLE001 - a cell that raises fails the check
            status, detail = "fail", f"raised {type(e).__name__}: {' '.join(str(e).split())}"
        yield Result(spec.name, cname, status, detail, time.perf_counter() - t0)


# ------------------------------------------------------------------------------ helpers
def model(spec: CellSpec, backend: str = "cell", input_size: int = I, hidden: int = H, **kw):
    """A stack of the cell with generic weights, U(-0.6, 0.6) (seeded): no init's special values."""
    m = build(spec.name, input_size, hidden, backend=backend, **kw)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 1.2 - 0.6)
    return m


def setting(bidirectional=False, layers=1, lengths=False, hx=False, **_) -> str:
    words = ["bidirectional" if bidirectional else "unidirectional", f"{layers} layer{'s' * (layers > 1)}"]
    return ", ".join(words + ["lengths"] * bool(lengths) + ["initial state"] * bool(hx))


def evaluate(spec: CellSpec, m, x, hx=None, lengths=None, **kw) -> dict[str, torch.Tensor]:
    """Outputs, final states and the gradients of a random linear loss wrt x, hx and every
    parameter (by name), as in tests/models/test_models_backends.py."""
    g = torch.Generator().manual_seed(1)
    x = x.clone().requires_grad_()
    hx = [h.clone().requires_grad_() for h in hx] if hx else []
    arg = None if not hx else hx[0] if len(hx) == 1 else tuple(hx)
    output, h_n, *_ = m(x, arg, **({} if lengths is None else {"lengths": lengths}), **kw)
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    out = {"output": output, **{f"final {s}": t for s, t in zip(spec.states, h_n)}}
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in out.values())
    params = dict(m.named_parameters())
    grads = torch.autograd.grad(loss, [x, *hx, *params.values()], allow_unused=True)
    names = ["x", *(f"{s}_0" for s in spec.states[:len(hx)]), *params]
    out.update({f"dL/d{n}": torch.zeros_like(v) if gr is None else gr
                for n, v, gr in zip(names, [x, *hx, *params.values()], grads)})
    return out


def close(a: dict, b: dict, where: str, tol: float = TOL) -> float:
    """The largest difference over the tensors of a and b (relative above magnitude 1);
    CheckFailed naming the first tensor off by more than tol, or of another shape, or NaN."""
    if list(a) != list(b):
        raise CheckFailed(f"{where}: different results {sorted(set(a) ^ set(b))}")
    worst = 0.0
    for key, u in a.items():
        v = b[key]
        if u.shape != v.shape:
            raise CheckFailed(f"{where}: {key} has shape {tuple(v.shape)}, expected {tuple(u.shape)}")
        if not (u.isfinite().all() and v.isfinite().all()):
            raise CheckFailed(f"{where}: {key} is not finite")
        d = ((u - v).abs().max() / u.abs().max().clamp(min=1)).item() if u.numel() else 0.0
        if d > tol:
            raise CheckFailed(f"{where}: {key} differs by {d:.2g} (tolerance {tol:g})")
        worst = max(worst, d)
    return worst


def initial(spec: CellSpec, layers: int, bidirectional: bool, dtype=torch.float32, batch: int = B, hidden: int = H):
    return [torch.randn(layers * (2 if bidirectional else 1), batch, hidden, dtype=dtype) for _ in spec.states]


def unpack(h_n) -> tuple:
    return h_n if isinstance(h_n, tuple) else (h_n,)


def single(m, layer: int, direction: int, input_size: int, spec: CellSpec):
    """A unidirectional 1-layer stack holding layer `layer`, direction `direction` of m."""
    one = build(spec.name, input_size, m.hidden_size, backend="cell")
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    one.load_state_dict({n[:-len(sfx)] + "_l0": p for n, p in m.named_parameters() if n.endswith(sfx)})
    return one


# ------------------------------------------------------------------------------- checks
@check("spec")
def check_spec(spec: CellSpec) -> str:
    problems = [f"{f} is empty" for f in ("title", "citation", "equations") if not getattr(spec, f).strip()]
    if not spec.states or spec.states[0] != "h" or len(set(spec.states)) != len(spec.states):
        problems.append(f"states must be distinct names, 'h' (the output) first; got {spec.states}")
    if not isinstance(spec.n_gates, int) or spec.n_gates < 1:
        problems.append(f"n_gates must be a positive integer, got {spec.n_gates!r}")
    if spec.fused not in (None, *TORCH_NN):
        problems.append(f"fused must be None or one of {', '.join(TORCH_NN)}, got {spec.fused!r}")
    if set(spec.options) - set(BUILD_OPTIONS):
        problems.append(f"options {sorted(set(spec.options) - set(BUILD_OPTIONS))} are not passed by "
                        f"build() (it passes {', '.join(BUILD_OPTIONS)})")
    for n in spec.extra_params:
        if not n.startswith(("weight_", "bias_")) or n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            problems.append(f"extra parameter {n!r} must be named weight_* or bias_*, not torch's four")
    params = list(inspect.signature(spec.step).parameters)
    if len(params) < 4:
        problems.append(f"step must take (gx, state, p, tap), takes ({', '.join(params)})")
    if problems:
        raise CheckFailed("; ".join(problems))
    m = model(spec)
    p = {n[:-3]: v for n, v in m.named_parameters()}
    gx = torch.randn(B, spec.n_gates * H)
    state = tuple(torch.randn(B, H) for _ in spec.states)
    tapped = []
    new = spec.step(gx, state, p, lambda name, value: tapped.append(name) or value)
    if not isinstance(new, tuple) or len(new) != len(spec.states):
        raise CheckFailed(f"step must return a tuple of {len(spec.states)} state(s) {spec.states}, "
                          f"returned {type(new).__name__}{'' if not isinstance(new, tuple) else f' of {len(new)}'}")
    shapes = [tuple(s.shape) for s in new]
    if any(s != (B, H) for s in shapes):
        raise CheckFailed(f"step must return states of shape [B, H] = {(B, H)}, returned {shapes}")
    if sorted(tapped) != sorted(spec.states):
        raise CheckFailed(f"step must pass each new state through tap(name, value) once: states "
                          f"{list(spec.states)}, tapped {tapped}")
    return (f"{len(spec.states)} state(s) {', '.join(spec.states)}; {spec.n_gates} gate block(s); "
            f"backends: {'fused, cell' if spec.fused else 'cell'}")


@check("state-dict")
def check_state_dict(spec: CellSpec) -> str:
    m = model(spec, layers=2, bidirectional=True)
    expected = {}
    for k, sfx in itertools.product(range(2), ("", "_reverse")):
        shapes = spec.param_shapes(I if k == 0 else 2 * H, H)
        expected.update({f"{n}_l{k}{sfx}": s for n, s in shapes.items()})
    got = {n: tuple(p.shape) for n, p in m.state_dict().items()}
    if got != expected:
        diff = sorted(set(got.items()) ^ set(expected.items()))
        raise CheckFailed(f"parameters differ from torch.nn's naming and shapes: {diff[:4]}")
    counted, has = spec.n_params(I, H, layers=2, bidirectional=True), sum(p.numel() for p in m.parameters())
    if counted != has:
        raise CheckFailed(f"CellSpec.n_params says {counted} parameters, the module has {has}")
    again = build(spec.name, I, H, backend="cell", layers=2, bidirectional=True)
    again.load_state_dict(m.state_dict())
    x = torch.randn(T, B, I)
    close({"output": m(x)[0]}, {"output": again(x)[0]}, "after load_state_dict", tol=0)
    if not spec.fused:
        return f"{len(got)} tensors ({has} parameters) as torch.nn names them (no fused backend to exchange with)"
    cls, kw = TORCH_NN[spec.fused]
    plain = cls(I, H, 2, bidirectional=True, **kw)
    if {n: tuple(p.shape) for n, p in plain.state_dict().items()} != got:
        raise CheckFailed(f"state_dict differs from torch.nn.{cls.__name__}'s")
    plain.load_state_dict(m.state_dict())
    m2 = build(spec.name, I, H, backend="cell", layers=2, bidirectional=True)
    m2.load_state_dict(plain.state_dict())
    d = close({"output": plain(x)[0]}, {"output": m2(x)[0]}, f"torch.nn.{cls.__name__} <-> cell")
    return f"{len(got)} tensors; loads into and from torch.nn.{cls.__name__} (outputs within {d:.1g})"


@check("deterministic")
def check_deterministic(spec: CellSpec) -> str:
    def init():
        torch.manual_seed(0)
        return build(spec.name, I, H, backend="cell", layers=2, bidirectional=True)
    a, b = init(), init()
    for (n, u), v in zip(a.state_dict().items(), b.state_dict().values()):
        if not torch.equal(u, v):
            raise CheckFailed(f"the same seed gave different initial {n}")
        if not u.isfinite().all():
            raise CheckFailed(f"initial {n} is not finite")
    x = torch.randn(T, B, I)
    for path in ({}, {"return_states": True}):
        first, second = a(x, **path)[0], a(x, **path)[0]
        if not torch.equal(first, second):
            raise CheckFailed(f"two forward passes differ{' (reference loop)' * bool(path)}")
    return "same seed, same weights; forward passes bitwise repeatable"


@check("fused")
def check_fused(spec: CellSpec) -> str:
    if not spec.fused:
        raise Skip("no fused backend")
    worst = 0.0
    for bi, layers, lengths, hx in itertools.product([False, True], [1, 2], [False, True], [False, True]):
        fused = model(spec, "fused", bidirectional=bi, layers=layers)
        cell = build(spec.name, I, H, backend="cell", bidirectional=bi, layers=layers)
        cell.load_state_dict(fused.state_dict())
        x = torch.randn(T, B, I)
        h0 = initial(spec, layers, bi) if hx else None
        lens = LENGTHS if lengths else None
        where = f"fused vs cell, {setting(bi, layers, lengths, hx)}"
        worst = max(worst, close(evaluate(spec, fused, x, h0, lens), evaluate(spec, cell, x, h0, lens), where))
    plain = TORCH_NN[spec.fused][0].__name__
    return f"outputs, final states, gradients within {worst:.1g} in 16 settings (vs torch.nn.{plain})"


@check("fast-path")
def check_fast_path(spec: CellSpec) -> str:
    if spec.name not in FAST:
        raise Skip("no fast path: the cell backend runs its reference loop over step()")
    worst = 0.0
    for bi, layers, lengths, hx in itertools.product([False, True], [1, 2], [False, True], [False, True]):
        m = model(spec, bidirectional=bi, layers=layers)
        x = torch.randn(T, B, I)
        h0 = initial(spec, layers, bi) if hx else None
        lens = LENGTHS if lengths else None
        where = f"fast scan vs reference loop, {setting(bi, layers, lengths, hx)}"
        worst = max(worst, close(evaluate(spec, m, x, h0, lens),
                                 evaluate(spec, m, x, h0, lens, return_states=True), where))
    return f"outputs, final states, gradients within {worst:.1g} in 16 settings"


def _paths(spec: CellSpec) -> list[tuple[str, dict]]:
    return [("fast scan", {}), ("reference loop", {"return_states": True})] if spec.name in FAST \
        else [("reference loop", {})]


@check("lengths")
def check_lengths(spec: CellSpec) -> str:
    m = model(spec, bidirectional=True, layers=2)
    x = torch.randn(T, B, I)
    worst = 0.0
    with torch.no_grad():
        for path, kw in _paths(spec):
            out, h_n, *_ = m(x, lengths=LENGTHS, **kw)
            h_n = unpack(h_n)
            for b, n in enumerate(LENGTHS.tolist()):
                alone, alone_n, *_ = m(x[:n, b:b + 1], **kw)
                where = f"{path}: sequence {b} (length {n} of {T}) in a padded batch vs alone"
                got = {"output": out[:n, b], **{f"final {s}": t[:, b] for s, t in zip(spec.states, h_n)}}
                ref = {"output": alone[:, 0], **{f"final {s}": t[:, 0] for s, t in zip(spec.states, unpack(alone_n))}}
                worst = max(worst, close(ref, got, where))
                if n < T and out[n:, b].abs().max() != 0:
                    raise CheckFailed(f"{path}: output at padded steps of sequence {b} is not zero")
    paths = ", ".join(p for p, _ in _paths(spec))
    return f"padded batch = each sequence alone within {worst:.1g}; padded outputs zero ({paths})"


@check("bidirectional")
def check_bidirectional(spec: CellSpec) -> str:
    m = model(spec, bidirectional=True)
    fwd, bwd = single(m, 0, 0, I, spec), single(m, 0, 1, I, spec)
    x = torch.randn(T, B, I)
    worst = 0.0
    with torch.no_grad():
        f_out, f_n = fwd(x)
        b_out, b_n = bwd(x.flip(0))
        ref = {"output": torch.cat([f_out, b_out.flip(0)], 2),
               **{f"final {s}": torch.cat([u, v]) for s, u, v in zip(spec.states, unpack(f_n), unpack(b_n))}}
        for path, kw in _paths(spec):
            out, h_n, *_ = m(x, **kw)
            got = {"output": out, **{f"final {s}": t for s, t in zip(spec.states, unpack(h_n))}}
            worst = max(worst, close(ref, got, f"{path}: bidirectional vs two unidirectional runs"))
    return f"= forward run + backward run on the reversed sequence, within {worst:.1g}"


@check("stacked")
def check_stacked(spec: CellSpec) -> str:
    x = torch.randn(T, B, I)
    worst = 0.0
    with torch.no_grad():
        for residual in (False, True):
            m = model(spec, bidirectional=True, layers=2, residual=residual)
            layers = []
            for k in range(2):
                one = build(spec.name, I if k == 0 else 2 * H, H, backend="cell", bidirectional=True)
                sfx = f"_l{k}"
                one.load_state_dict({n.replace(sfx, "_l0"): p for n, p in m.named_parameters()
                                     if n.endswith(sfx) or f"{sfx}_reverse" in n})
                layers.append(one)
            first, first_n = layers[0](x)
            second, second_n = layers[1](first)
            ref = {"output": second + first if residual else second,
                   **{f"final {s}": torch.cat([u, v]) for s, u, v in
                      zip(spec.states, unpack(first_n), unpack(second_n))}}
            for path, kw in _paths(spec):
                out, h_n, *_ = m(x, **kw)
                got = {"output": out, **{f"final {s}": t for s, t in zip(spec.states, unpack(h_n))}}
                where = f"{path}: 2 layers{' (residual)' * residual} vs two 1-layer stacks chained"
                worst = max(worst, close(ref, got, where))
        dropped = model(spec, bidirectional=True, layers=2, dropout=0.5).eval()
        plain = build(spec.name, I, H, backend="cell", bidirectional=True, layers=2)
        plain.load_state_dict(dropped.state_dict())
        if not torch.equal(dropped(x)[0], plain(x)[0]):
            raise CheckFailed("dropout changes the output in eval mode")
    return f"= 1-layer stacks chained (plain and residual) within {worst:.1g}; no dropout in eval mode"


@check("batch-first")
def check_batch_first(spec: CellSpec) -> str:
    m = model(spec, bidirectional=True, layers=2)
    bf = build(spec.name, I, H, backend="cell", bidirectional=True, layers=2, batch_first=True)
    bf.load_state_dict(m.state_dict())
    x = torch.randn(T, B, I)
    with torch.no_grad():
        out, h_n = m(x, lengths=LENGTHS)
        ref = {"output": out, **{f"final {s}": t for s, t in zip(spec.states, unpack(h_n))}}
        out_bf, h_bf = bf(x.transpose(0, 1), lengths=LENGTHS)
        got = {"output": out_bf.transpose(0, 1), **{f"final {s}": t for s, t in zip(spec.states, unpack(h_bf))}}
        worst = close(ref, got, "batch_first=True vs time-major")
        packed, h_p = m(pack_padded_sequence(x, LENGTHS, enforce_sorted=False))
        got = {"output": pad_packed_sequence(packed, total_length=T)[0],
               **{f"final {s}": t for s, t in zip(spec.states, unpack(h_p))}}
        worst = max(worst, close(ref, got, "PackedSequence vs lengths"))
    return f"batch_first and PackedSequence inputs = time-major with lengths, within {worst:.1g}"


@check("state-gradients")
def check_state_gradients(spec: CellSpec) -> str:
    m = model(spec)
    p = {n[:-3]: v for n, v in m.named_parameters()}
    x = torch.randn(T, B, I)
    w_out = torch.randn(T, B, H)
    w_fin = [torch.randn(B, H) for _ in spec.states]
    output, h_n, states = m(x, return_states=True)
    loss = (output * w_out).sum() + sum((s[0] * w).sum() for s, w in zip(unpack(h_n), w_fin))
    leaves = [states[0]["forward"][s] for s in spec.states]
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    # the plain loop: autograd through step(), every state kept with retain_grad()
    state, seen, ref_loss = tuple(torch.zeros(B, H) for _ in spec.states), [], 0
    for t in range(T):
        state = spec.step(F.linear(x[t], p["weight_ih"], p["bias_ih"]), state, p, lambda name, v: v)
        for s in state:
            s.retain_grad()
        seen.append(state)
        ref_loss = ref_loss + (state[0] * w_out[t]).sum()
    ref_loss = ref_loss + sum((s * w).sum() for s, w in zip(state, w_fin))
    ref_loss.backward()
    worst = 0.0
    for j, name in enumerate(spec.states):
        ref_v = torch.stack([s[j] for s in seen]).detach()
        ref_g = torch.stack([torch.zeros(B, H) if s[j].grad is None else s[j].grad for s in seen])
        g = torch.zeros_like(leaves[j]) if grads[j] is None else grads[j]
        worst = max(worst, close({f"{name}_t": ref_v, f"dL/d{name}_t": ref_g},
                                 {f"{name}_t": leaves[j].detach(), f"dL/d{name}_t": g},
                                 "return_states vs a plain loop over step()"))
    return f"states and dL/dstate_t ({', '.join(spec.states)}) within {worst:.1g} of a plain loop"


@check("gradcheck")
def check_gradcheck(spec: CellSpec) -> str:
    Tg, Bg, Ig, Hg = 4, 3, 2, 3
    m = model(spec, input_size=Ig, hidden=Hg, bidirectional=True, layers=2).double()
    names = [n for n, _ in m.named_parameters()]
    x = torch.randn(Tg, Bg, Ig, dtype=torch.float64, requires_grad=True)
    h0 = [h.requires_grad_() for h in initial(spec, 2, True, torch.float64, Bg, Hg)]
    params = [p.detach().clone().requires_grad_() for p in m.parameters()]
    lengths = torch.tensor([Tg, 2, 3])
    n = len(h0)
    checked = []
    for path, kw in _paths(spec):
        def f(x, *rest):
            hx = rest[:n] if n > 1 else rest[0]
            out, h_n, *_ = functional_call(m, dict(zip(names, rest[n:])), (x, hx),
                                           {"lengths": lengths, **kw})
            return (out, *unpack(h_n))
        try:
            ok = torch.autograd.gradcheck(f, (x, *h0, *params), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True)
        except Exception as e:  # noqa: BLE001 - gradcheck's GradcheckError: the first mismatch
            raise CheckFailed(f"{path}: {' '.join(str(e).split())[:300]}") from None
        if not ok:
            raise CheckFailed(f"{path}: analytical and numerical gradients differ")
        checked.append(path)
    total = x.numel() + sum(h.numel() for h in h0) + sum(p.numel() for p in params)
    return (f"float64, bidirectional, 2 layers, lengths: {total} input entries, fast mode ({', '.join(checked)})")
