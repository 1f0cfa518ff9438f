"""The compiled lstm and gru scans (rnnbench/models/scans.cpp) and their PyTorch twins all
equal torch.nn.LSTM / GRU: with and without gradients, on the vectorised path (H >= 8) and the
scalar tail, for NaN and saturating inputs; the build's fallbacks and error messages."""
import itertools
import shutil
import warnings

import pytest
import torch

from rnnbench.errors import UsageError
from rnnbench.models import build, native
from runhelpers import run_cli

T, B, I = 9, 6, 7
LENGTHS = torch.tensor([T, 4, 1, 9, 6, 2])
TOL = 1e-5


def compiler_missing() -> bool:
    return not any(shutil.which(c) for c in ("c++", "g++", "clang++"))


@pytest.fixture(params=["native", "torch"])
def scan(request, monkeypatch):
    """Which forward scans the cell backend runs. The compiled ones skip only on a machine
    without a C++ compiler; with a compiler, a failed build is a failure here."""
    if request.param == "torch":
        monkeypatch.setattr(native, "load", lambda: None)
    elif compiler_missing():
        pytest.skip("no C++ compiler (c++, g++, clang++) on PATH: the native kernels cannot build")
    else:
        ops = native._load(tuple(native.cflags()))       # raises if it does not build
        monkeypatch.setattr(native, "load", lambda: ops)
    return request.param


NN = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


def pair(arch, H, layers=1, bidirectional=False):
    fused = NN[arch](I, H, layers, bidirectional=bidirectional)
    with torch.no_grad():
        for p in fused.parameters():
            p.uniform_(-0.6, 0.6)
    cell = build(arch, I, H, backend="cell", layers=layers, bidirectional=bidirectional)
    cell.load_state_dict(fused.state_dict())
    return fused, cell


def forward(model, x, lengths=None, hx=None):
    """(output, h_n[, c_n]), output padded to T."""
    packed = lengths is not None and not hasattr(model, "backend")
    if packed:                                             # torch.nn: through a PackedSequence
        x = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    kw = {"lengths": lengths} if lengths is not None and not packed else {}
    out, state = model(x, hx, **kw)
    if packed:
        out = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)[0]
    return (out, *state) if isinstance(state, tuple) else (out, state)


def max_diff(a, b):
    """The largest difference, relative to each tensor's largest magnitude where that is above
    1 (gradients here reach about 5, and float32 sums over the sequence)."""
    return max(((u - v).abs().max() / u.abs().max().clamp(min=1)).item() for u, v in zip(a, b))


@pytest.mark.parametrize("arch, H, bidirectional, lengths", list(itertools.product(
    ["lstm", "gru"], [5, 8, 21], [False, True], [False, True])))
def test_scan_equals_torch_nn(scan, arch, H, bidirectional, lengths):
    """H = 21: two 8-wide vectors and a scalar tail of 5 per row; H = 5: the tail only."""
    torch.manual_seed(0)
    fused, cell = pair(arch, H, 2, bidirectional)
    lens = LENGTHS if lengths else None
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I)
    hx = (torch.randn(2 * D, B, H), torch.randn(2 * D, B, H)) if arch == "lstm" else torch.randn(2 * D, B, H)
    with torch.no_grad():                                  # the inference path: no per-step buffers
        reference = forward(fused, x, lens, hx)
        assert max_diff(reference, forward(cell, x, lens, hx)) < TOL
    xs = [x.clone().requires_grad_() for _ in range(2)]
    results = [forward(m, xi, lens, hx) for m, xi in zip((fused, cell), xs)]
    assert max_diff(*results) < TOL                        # the training path: states kept per step
    g = torch.Generator().manual_seed(1)
    weights = [torch.randn(t.shape, generator=g) for t in results[0]]
    grads = [torch.autograd.grad(sum((t * w).sum() for t, w in zip(r, weights)), [xi, *m.parameters()])
             for r, xi, m in zip(results, xs, (fused, cell))]
    assert max_diff(*grads) < TOL


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_nan_propagates_and_large_inputs_saturate(scan, arch):
    """A NaN stays NaN in its own sequence (so a diverged run is seen as one) and nowhere
    else; pre-activations of +-1e4 give the saturated values, not inf or NaN."""
    torch.manual_seed(0)
    fused, cell = pair(arch, 16)
    x = torch.randn(T, B, I)
    x[3, 1, 0] = float("nan")
    with torch.no_grad():
        out = forward(cell, x)[0]
        ref = forward(fused, x)
        assert torch.equal(out.isnan(), ref[0].isnan()) and out[3:, 1].isnan().all()
        assert not out[:, [0, 2, 3, 4, 5]].isnan().any()
        big = torch.randn(T, B, I) * 1e4
        assert max_diff(forward(fused, big), forward(cell, big)) < TOL
        assert forward(cell, big)[0].isfinite().all()


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_scan_is_bitwise_independent_of_threads(scan, arch):
    """Rows are independent: 1 or 2 threads give the same bits (CPU reproducibility)."""
    torch.manual_seed(0)
    _, cell = pair(arch, 64)
    x = torch.randn(20, 32, I)
    outs = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            outs.append(forward(cell, x))
    torch.set_num_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(*outs))


def test_native_mode_zero_and_bad_value(monkeypatch):
    native.load.cache_clear()
    try:
        monkeypatch.setenv("RNNBENCH_NATIVE", "0")
        assert native.load() is None
        native.load.cache_clear()
        monkeypatch.setenv("RNNBENCH_NATIVE", "yes")
        with pytest.raises(UsageError, match=r"unknown RNNBENCH_NATIVE value 'yes' \(valid: 0, 1, auto\)"):
            native.load()
    finally:
        native.load.cache_clear()


def test_failed_build_warns_once_under_auto_and_is_an_error_under_1(monkeypatch):
    def fail(flags):
        raise RuntimeError("Error building extension 'rnnbench_native':\nc++: not found")
    monkeypatch.setattr(native, "_load", fail)
    native.load.cache_clear()
    try:
        monkeypatch.setenv("RNNBENCH_NATIVE", "auto")
        with pytest.warns(RuntimeWarning, match=r"did not build \(Error building extension"):
            assert native.load() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert native.load() is None                  # cached: no second warning
        torch.manual_seed(0)
        fused, cell = pair("gru", 8)                           # and the model still runs
        x = torch.randn(T, B, I)
        with torch.no_grad():
            assert max_diff(forward(fused, x), forward(cell, x)) < TOL
        native.load.cache_clear()
        monkeypatch.setenv("RNNBENCH_NATIVE", "1")
        with pytest.raises(UsageError, match="RNNBENCH_NATIVE=1 but the native kernels did not build"):
            native.load()
    finally:
        native.load.cache_clear()


def test_cli_bad_native_setting_is_one_line_and_exit_2(tmp_path):
    r = run_cli("train", "--task", "adding", "--arch", "lstm", "--backend", "cell", "--steps", "1",
                "--out", tmp_path / "run", env={"RNNBENCH_NATIVE": "fast"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "rnnbench train: error: unknown RNNBENCH_NATIVE value 'fast' (valid: 0, 1, auto)"]
    assert not (tmp_path / "run").exists()


def test_a_compiler_without_openmp_gets_the_serial_build(monkeypatch):
    tried = []

    def load(flags):
        tried.append(flags)
        if "-fopenmp" in flags:
            raise RuntimeError("fatal error: omp.h: No such file or directory")
        return "serial kernel"
    monkeypatch.setattr(native, "_load", load)
    monkeypatch.setattr(native, "cflags", lambda: ["-O3", "-fopenmp"])
    monkeypatch.setenv("RNNBENCH_NATIVE", "1")
    native.load.cache_clear()
    try:
        assert native.load() == "serial kernel"
        assert tried == [("-O3", "-fopenmp"), ("-O3",)]
    finally:
        native.load.cache_clear()
