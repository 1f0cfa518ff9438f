"""The fast path's grouped scans (rnnbench/models/scan_functions.py, scans.cpp): the compiled
backward equals autograd through the reference loop; a group of S seeds equals S solo runs,
each seed bitwise what it computes alone; torch.func.vmap over stacked models runs the grouped
kernels and equals the solo models; the compiled ops equal their PyTorch twins; bad input is
refused with a clear message."""
import copy
import itertools
import shutil

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from rnnbench.errors import UsageError
from rnnbench.models import build, native, scan_functions
from rnnbench.models.cells import ACTIVATIONS
from rnnbench.models.heads import SequenceModel
from rnnbench.models.recurrent import _Batch
from rnnbench.models.scan_functions import GRUScan, LSTMScan, RNNScan

T, B, I = 7, 5, 3
LENGTHS = torch.tensor([7, 3, 1, 7, 5])
TOL = 1e-5
# (arch, cell_options): every cell the fast path runs
CELLS = [("lstm", None), ("gru", None), ("rnn", None), ("rnn", {"activation": "sigmoid"}),
         ("rnn", {"activation": "relu"}), ("irnn", None)]
CELL_IDS = ["lstm", "gru", "rnn-tanh", "rnn-sigmoid", "rnn-relu", "irnn"]


def compiler_missing() -> bool:
    return not any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def compiled_ops():
    if compiler_missing():
        pytest.skip("no C++ compiler (c++, g++, clang++) on PATH: the native kernels cannot build")
    return native._load(tuple(native.cflags()))           # raises if it does not build


@pytest.fixture(params=["native", "torch"])
def scan(request, monkeypatch):
    """Which scans the cell backend runs: compiled, or the PyTorch twins (as RNNBENCH_NATIVE=0)."""
    ops = compiled_ops() if request.param == "native" else None
    monkeypatch.setattr(native, "load", lambda: ops)
    return request.param


def max_diff(a, b):
    """The largest difference, relative to each tensor's largest magnitude where that is above 1."""
    return max(((u - v).abs().max() / u.abs().max().clamp(min=1)).item() for u, v in zip(a, b))


def states(out):
    return tuple(out[1]) if isinstance(out[1], tuple) else (out[1],)


# ------------------------------------------------------- compiled backward == reference loop
@pytest.mark.parametrize("layers, bidirectional, lengths",
                         [(1, False, False), (1, False, True), (2, True, False), (2, True, True)])
@pytest.mark.parametrize("cell", range(len(CELLS)), ids=CELL_IDS)
def test_fast_path_equals_the_reference_loop(scan, cell, layers, bidirectional, lengths):
    """Outputs, h_n (c_n), and the gradients of x, h0 (c0) and every parameter: the fast path
    (the grouped Functions at S = 1) against autograd through `CellSpec.step` (return_states)."""
    arch, options = CELLS[cell]
    torch.manual_seed(0)
    m = build(arch, I, 8, backend="cell", layers=layers, bidirectional=bidirectional, cell_options=options)
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-0.6, 0.6)
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I)
    h0 = [torch.randn(layers * D, B, 8) for _ in m.spec.states]
    lens = LENGTHS if lengths else None
    g = torch.Generator().manual_seed(1)
    results = []
    for return_states in (False, True):
        inputs = [x.clone().requires_grad_(), *(h.clone().requires_grad_() for h in h0)]
        out = m(inputs[0], tuple(inputs[1:]) if arch == "lstm" else inputs[1], lens, return_states=return_states)
        values = (out[0], *states(out))
        g.manual_seed(1)
        loss = sum((v * torch.randn(v.shape, generator=g)).sum() for v in values)
        results.append((values, torch.autograd.grad(loss, [*inputs, *m.parameters()])))
    (fast, fast_grads), (ref, ref_grads) = results
    assert max_diff(ref, fast) < TOL
    assert max_diff(ref_grads, fast_grads) < TOL


# ------------------------------------------------------------------ a group == its seeds
def function_inputs(cell, S, H=8, seed=0):
    """Random inputs of the cell's Function for a group of S: (Function, tensors, rest, n_out)."""
    arch, options = CELLS[cell]
    G = {"lstm": 4, "gru": 3}.get(arch, 1) * H
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.6):
        return ((torch.rand(shape, generator=g) * 2 - 1) * scale).requires_grad_()
    x, w_ih, w_hh, b = r(S, T, B, I, scale=1.5), r(S, G, I), r(S, G, H), r(S, G)
    h0 = r(S, B, H, scale=1.0)
    if arch == "lstm":
        return LSTMScan, (x, w_ih, b, h0, r(S, B, H, scale=1.0), w_hh), [None, True], 3
    if arch == "gru":
        return GRUScan, (x, w_ih, b, h0, w_hh, r(S, G)), [None, True], 2
    act = ACTIVATIONS[(options or {}).get("activation", "relu" if arch == "irnn" else "tanh")]
    return RNNScan, (x, w_ih, b, h0, w_hh), [act, None], 2


def run(fn, tensors, rest, n_out, seed=2):
    """Differentiable outputs, and the gradients of every input for random output weights."""
    outs = fn.apply(*tensors, *rest)[:n_out]
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o.shape, generator=g) for o in outs]
    return outs, torch.autograd.grad(sum((o * w).sum() for o, w in zip(outs, weights)), tensors), weights


@pytest.mark.parametrize("cell", range(len(CELLS)), ids=CELL_IDS)
def test_a_group_is_bitwise_its_seeds_alone(scan, cell):
    """Seed k of a group of 3 (forward, and every gradient) equals, bit for bit, the same seed
    run alone (S = 1): a seed's arithmetic does not depend on S or on its neighbours. The
    PyTorch twins agree within float32 rounding only (ATen's elementwise kernels round a
    vector's tail through their scalar path, and where a seed's tail falls depends on S)."""
    same = torch.equal if scan == "native" else (lambda a, b: max_diff([a], [b]) < TOL)
    fn, tensors, rest, n_out = function_inputs(cell, 3)
    outs, grads, weights = run(fn, tensors, rest, n_out)
    for k in range(3):
        solo = [t[k:k + 1].detach().requires_grad_() for t in tensors]
        o = fn.apply(*solo, *rest)[:n_out]
        gk = torch.autograd.grad(sum((a * w[k:k + 1]).sum() for a, w in zip(o, weights)), solo)
        assert all(same(a, b[k:k + 1]) for a, b in zip(o, outs))
        assert all(same(a, b[k:k + 1]) for a, b in zip(gk, grads))
    with torch.no_grad():                                      # the inference path (no buffers kept)
        if fn is not RNNScan:
            rest = [None, False]
        plain = [t.detach() for t in tensors]
        group = fn.apply(*plain, *rest)[:n_out]
        for k in range(3):
            alone = fn.apply(*(t[k:k + 1] for t in plain), *rest)[:n_out]
            assert all(same(a, b[k:k + 1]) for a, b in zip(alone, group))


@pytest.mark.parametrize("cell", [0, 1, 2], ids=CELL_IDS[:3])
def test_a_group_equals_solo_models_and_does_not_depend_on_threads(scan, cell):
    """A group of 3 (S = 3) equals three solo models of the cell backend (forward and
    gradients, 1e-5), and 1 or 2 threads give the same bits (the batch is large enough for
    the elementwise pass to split)."""
    arch, options = CELLS[cell]
    torch.manual_seed(0)
    models = [build(arch, I, 16, backend="cell", cell_options=options) for _ in range(3)]
    fn, _, rest, n_out = function_inputs(cell, 3, H=16)
    x = torch.randn(3, T, 32, I)
    p = [m._params(0, 0) for m in models]
    stack = lambda name: torch.stack([q[name] for q in p]).detach().requires_grad_()      # noqa: E731
    names = {"lstm": ["weight_ih", "bias", "h0", "c0", "weight_hh"],
             "gru": ["weight_ih", "bias_ih", "h0", "weight_hh", "bias_hh"]}.get(arch, ["weight_ih", "bias", "h0", "weight_hh"])
    zeros = torch.zeros(3, 32, 16)
    tensors = [x.clone().requires_grad_()] + [
        zeros.clone().requires_grad_() if n in ("h0", "c0") else
        torch.stack([q["bias_ih"] + q["bias_hh"] for q in p]).detach().requires_grad_() if n == "bias" else stack(n)
        for n in names]
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results[threads] = run(fn, tensors, rest, n_out)[:2]
    torch.set_num_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(results[1][0] + results[1][1], results[2][0] + results[2][1]))
    outs = results[1][0]
    for k, m in enumerate(models):
        out, state = m(x[k])
        assert max_diff((out, *(state if isinstance(state, tuple) else (state,))), [o[k] for o in outs]) < TOL


# ----------------------------------------------------------------------------------- vmap
def vmapped(models, xs):
    """torch.func.vmap over the stacked models: outputs [S, B, ...] and the stacked parameters
    (their .grad after backward)."""
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    y = vmap(lambda p, b, x: functional_call(base, (p, b), (x,))[0])(params, buffers, xs)
    return y, params


@pytest.mark.parametrize("arch, head, layers, bidirectional", [
    (a, h, *lb) for a, h, lb in itertools.product(["lstm", "gru", "rnn", "irnn"], ["last", "every"],
                                                  [(1, False), (2, True)])])
def test_vmap_over_stacked_models_equals_each_model(scan, monkeypatch, arch, head, layers, bidirectional):
    """The loss and every parameter's gradient of S = 3 stacked SequenceModels under
    torch.func.vmap equal each solo model's (1e-5), and the scans ran grouped (S = 3)."""
    torch.manual_seed(0)
    models = [SequenceModel(arch, 2, 8, 3, head=head, backend="cell", layers=layers,
                            bidirectional=bidirectional) for _ in range(3)]
    xs = torch.randn(3, 4, 6, 2)                              # [S, B, T, F]
    groups = []
    kernel = scan_functions.kernel
    monkeypatch.setattr(scan_functions, "kernel", lambda name, like: groups.append(like.shape[0]) or kernel(name, like))
    y, params = vmapped(models, xs)
    loss = y.square().sum()
    loss.backward()
    assert groups and set(groups) == {3}                      # forward and backward scans, grouped
    for k, m in enumerate(models):
        solo = m(xs[k])[0].square().sum()
        solo.backward()
        assert max_diff([solo], [y[k].square().sum()]) < TOL
        names = [n for n, _ in m.named_parameters()]
        assert max_diff([q.grad for q in m.parameters()], [params[n].grad[k] for n in names]) < TOL


def test_vmap_with_a_shared_input_and_without_gradients(scan):
    """An input vmap does not batch is expanded to the group; under no_grad the inference path
    (no per-step buffers) runs grouped too."""
    torch.manual_seed(0)
    models = [SequenceModel("lstm", 2, 8, 3, head="every", backend="cell") for _ in range(2)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    x = torch.randn(4, 6, 2)
    with torch.no_grad():
        y = vmap(lambda p, b: functional_call(base, (p, b), (x,))[0])(params, buffers)
        for k, m in enumerate(models):
            assert max_diff([m(x)[0]], [y[k]]) < TOL


# ------------------------------------------------------------------ compiled == PyTorch twin
def op_inputs(name, S, H, sizes, act=0, seed=0):
    """Random arguments of op `name` (the twin takes the same); the outputs are the ones it writes."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return (torch.rand(shape, generator=g) * 2 - 1) * scale
    cell = name.split("_")[0]
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell] * H
    w = r(S, G, H, scale=0.5)
    if cell == "rnn":
        out = r(S, T, B, H, scale=2.0)
        if name == "rnn_scan":
            return [out, r(S, B, H), w, sizes, act], [0]
        y = ACTIVATIONS[scan_functions.ACT_NAME[act]].fn(out)
        return [y, w, r(S, T, B, H), r(S, B, H), torch.zeros(S, T, B, H), sizes, act], [3, 4]
    if name == "lstm_scan":
        return [r(S, T, B, G, scale=2.0), r(S, G), r(S, B, H), r(S, B, H), w, torch.zeros(S, T, B, H),
                torch.zeros(S, T, B, H), torch.zeros(S, T, B, H), sizes, True], [0, 5, 6, 7]
    if name == "gru_scan":
        return [r(S, T, B, G, scale=2.0), r(S, G), r(S, B, H), w, torch.zeros(S, T, B, G), torch.zeros(S, T, B, H),
                torch.zeros(S, T, B, H), sizes, True], [4, 5, 6]
    gates = torch.rand(S, T, B, G, generator=g)
    if name == "lstm_scan_backward":
        gates[..., 2 * H:3 * H] = gates[..., 2 * H:3 * H] * 2 - 1
        cs = r(S, T, B, H, scale=2.0)
        return [gates, cs, cs.tanh(), r(S, B, H), w, r(S, T, B, H), r(S, B, H), r(S, B, H),
                torch.zeros(S, T, B, G), sizes], [6, 7, 8]
    gates[..., 2 * H:] = gates[..., 2 * H:] * 2 - 1
    return [gates, r(S, T, B, H), r(S, T, B, H), r(S, B, H), w, r(S, T, B, H), r(S, B, H),
            torch.zeros(S, T, B, G), torch.zeros(S, T, B, H), sizes], [6, 7, 8]


@pytest.mark.parametrize("name, H, S, lengths, act", [
    (n, H, S, lens, act) for n in native.OPS for H, S, lens in [(5, 1, True), (21, 3, False), (16, 2, False)]
    for act in ((0, 1, 2) if n.startswith("rnn") else (0,))])
def test_compiled_ops_equal_their_pytorch_twins(name, H, S, lengths, act):
    """H = 21: two 8-wide vectors and a scalar tail of 5 per row; H = 5: the tail only."""
    ops = compiled_ops()
    sizes = [int((LENGTHS > t).sum()) for t in range(T)] if lengths else [B] * T
    args, written = op_inputs(name, S, H, sizes, act)
    twin_args = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    getattr(ops, name)(*args)
    scan_functions._TWINS[name](*twin_args)
    valid = (torch.arange(B)[None] < torch.tensor(sizes)[:, None])[..., None]     # [T, B, 1]
    running = [lambda t: t.where(valid, 0) if t.dim() == 4 else t][0]   # rows past their end: not specified
    assert max_diff([running(twin_args[i]) for i in written], [running(args[i]) for i in written]) < TOL


# ------------------------------------------------------------------------------ bad input
def test_the_ops_refuse_bad_shapes_types_and_lengths_of_a_group():
    ops = compiled_ops()
    H, S = 4, 2
    args, _ = op_inputs("lstm_scan", S, H, [B] * T)
    bad = list(args)
    bad[4] = torch.zeros(S, 4 * H, H + 1)
    with pytest.raises(RuntimeError, match=r"lstm_scan: w_hh must have shape \[2, 16, 4\], got \[2, 16, 5\]"):
        ops.lstm_scan(*bad)
    bad = list(args)
    bad[1] = torch.zeros(S + 1, 4 * H)
    with pytest.raises(RuntimeError, match="every tensor leads with the seed dimension S = 2"):
        ops.lstm_scan(*bad)
    bad = list(args)
    bad[2] = bad[2].double()
    with pytest.raises(RuntimeError, match="float32 contiguous CPU tensors expected"):
        ops.lstm_scan(*bad)
    bad = list(args)
    bad[-2] = [B] * (T - 1) + [B - 1]
    with pytest.raises(RuntimeError, match=r"lengths \(sizes below B\) need S = 1, got S = 2"):
        ops.lstm_scan(*bad)
    bad = list(args)
    bad[-2] = [B + 1] + [B] * (T - 1)
    with pytest.raises(RuntimeError, match=r"sizes must be non-increasing within \[0, 5\]"):
        ops.lstm_scan(*bad)
    args, _ = op_inputs("rnn_scan_backward", S, H, [B] * T)
    args[-1] = 3
    with pytest.raises(RuntimeError, match=r"rnn_scan_backward: act must be 0 \(tanh\), 1 \(sigmoid\) or 2 \(relu\), got 3"):
        ops.rnn_scan_backward(*args)
    args, _ = op_inputs("gru_scan_backward", S, H, [B] * T)
    args[7] = torch.zeros(S, T, B, 3 * H + 1)
    with pytest.raises(RuntimeError, match=r"gru_scan_backward: dgx must have shape \[2, 7, 5, 12\]"):
        ops.gru_scan_backward(*args)


@pytest.mark.parametrize("cell", [0, 1, 2], ids=CELL_IDS[:3])
def test_a_group_with_lengths_is_refused(scan, cell):
    fn, tensors, rest, n_out = function_inputs(cell, 2)
    sorted_lengths = LENGTHS.sort(descending=True).values
    rest[rest.index(None)] = _Batch(sorted_lengths, T, B, "cpu")
    with pytest.raises(UsageError, match=r"a group of S = 2 seeds \(a vmapped model\) takes no lengths"):
        fn.apply(*tensors, *rest)


def test_a_vmapped_model_with_lengths_is_refused(scan):
    torch.manual_seed(0)
    models = [SequenceModel("gru", 2, 8, 3, backend="cell") for _ in range(2)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    lengths = torch.tensor([6, 2, 3, 6])
    with pytest.raises(UsageError, match="takes no lengths"):
        vmap(lambda p, b, x: functional_call(base, (p, b), (x, lengths))[0])(params, buffers, torch.randn(2, 4, 6, 2))


@pytest.mark.parametrize("cell", range(len(CELLS)), ids=CELL_IDS)
def test_the_twins_backward_passes_gradcheck(cell):
    """float64 runs the PyTorch twins (the compiled ops are float32): their hand-written backward
    against finite differences, for a group of 2 and for lengths (S = 1)."""
    fn, tensors, rest, n_out = function_inputs(cell, 2, H=3)
    sorted_lengths = LENGTHS.sort(descending=True).values
    for S, seq in ((2, None), (1, _Batch(sorted_lengths, T, B, "cpu"))):
        inputs = [t[:S].detach().double().requires_grad_() for t in tensors]
        args = list(rest)
        args[args.index(None)] = seq
        assert torch.autograd.gradcheck(lambda *ts: fn.apply(*ts, *args)[:n_out], inputs, fast_mode=True)


def test_rnnbench_native_0_runs_the_twins(monkeypatch):
    native.load.cache_clear()
    try:
        monkeypatch.setenv("RNNBENCH_NATIVE", "0")
        like = torch.zeros(1)
        assert all(scan_functions.kernel(name, like) is scan_functions._TWINS[name] for name in native.OPS)
    finally:
        native.load.cache_clear()
    with pytest.raises(UsageError, match=r"unknown native op 'lstm_step'"):
        native.op("lstm_step", like)
