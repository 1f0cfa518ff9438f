"""Issue 18's models: minGRU / minLSTM (sequential step = parallel log-space scan), and the
sequence models that are not cells (tcn, transformer, window-mlp): causality, receptive
field, windows, parameter matching, training through the runner, bad input."""
from __future__ import annotations

import json

import pytest
import torch

from rnnbench import train
from rnnbench.config import RunConfig, resolve
from rnnbench.errors import UsageError
from rnnbench.models import ARCHS, CELLS, MODELS, build
from rnnbench.models import minrnn, zoo
from rnnbench.models.recurrent import _unroll
from rnnbench.record import RunRecord
from runhelpers import run_cli

MIN = ["mingru", "minlstm"]
SEQ = ["tcn", "transformer", "window-mlp"]
B, T, I, H = 3, 40, 4, 6
# float32: the log-space scan's rounding grows with |A_t| = |sum_s log a_s|, i.e. linearly in T
# (relative to the largest value: ~2e-6 at T = 40, 1e-5 at 200, 4e-5 at 1000; the step's own
# float32 loop stays at 1e-7). Float64 holds it to 1e-10.
F32 = 1e-4


# ------------------------------------------------------------------ minGRU / minLSTM
def _sequential(arch, gx, h0):
    out, h_n, _ = _unroll(CELLS.get(arch).step, gx, (h0,), {}, None, None)
    return out


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize("scan", minrnn.SCANS)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, F32)])
def test_parallel_scan_is_the_sequential_step(arch, scan, dtype, tol):
    """Either scan (log space, or the linear recurrence as one autograd node with its own
    backward) over gx [T, B, G*H] = the step looped over t: every h_t and the gradients into gx
    and h0 (h0 of either sign: it stays out of the logarithm)."""
    g = torch.Generator().manual_seed(0)
    G = CELLS.get(arch).n_gates
    gx = (torch.randn(T, B, G * H, generator=g, dtype=dtype) * 2).requires_grad_()
    h0 = torch.randn(B, H, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(T, B, H, generator=g, dtype=dtype)
    seq, par = _sequential(arch, gx, h0), minrnn.PARALLEL[arch](gx, h0, scan)
    assert torch.allclose(par, seq, rtol=tol, atol=tol)
    grads_seq = torch.autograd.grad((seq * w).sum(), (gx, h0))
    grads_par = torch.autograd.grad((par * w).sum(), (gx, h0))
    for a, b in zip(grads_par, grads_seq):
        assert torch.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(b.detach().abs().max())))


@pytest.mark.parametrize("arch", MIN)
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, F32)])
def test_stack_fast_path_is_the_reference_loop(arch, dtype, tol):
    """Through the cell backend: 2 bidirectional layers, lengths, an initial state. The fast
    path (the scan) against the reference loop over `step` (return_states=True): outputs,
    final states, gradients of every parameter, the input and the initial state."""
    torch.manual_seed(0)
    m = build(arch, I, H, backend="cell", layers=2, bidirectional=True).to(dtype)
    x = torch.randn(T, B, I, dtype=dtype, requires_grad=True)
    h0 = torch.randn(4, B, H, dtype=dtype, requires_grad=True)
    lengths = torch.tensor([T, 17, 1])
    w = torch.randn(T, B, 2 * H, dtype=dtype)
    results = []
    for path in ({}, {"return_states": True}):
        out, h_n = m(x, h0, lengths, **path)[:2]
        loss = (out * w).sum() + h_n.pow(2).sum()
        results.append([out, h_n, *torch.autograd.grad(loss, [x, h0, *m.parameters()])])
    assert not results[0][0][17:, 1].any() and not results[0][0][1:, 2].any()   # padded steps are zero
    for a, b in zip(*results):
        assert torch.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(b.detach().abs().max())))


def test_linear_scan_gradcheck_and_the_device_choice(monkeypatch):
    """LinearScan's hand-written backward against finite differences (a, b, h0), and the fast
    path runs the scan SCAN_ON names for the device (here: CPU)."""
    g = torch.Generator().manual_seed(1)
    a = torch.rand(7, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    b = torch.randn(7, 2, 3, generator=g, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(minrnn.LinearScan.apply, (a, b, h0))
    assert minrnn.SCAN_ON["cpu"] == "linear" and minrnn.SCAN_ON["cuda"] == "log"
    used = []
    real = minrnn.PARALLEL["mingru"]
    m = build("mingru", I, H, backend="cell")
    monkeypatch.setitem(minrnn.SCAN_ON, "cpu", "log")
    for scan in ("log", "linear"):
        monkeypatch.setitem(minrnn.SCAN_ON, "cpu", scan)
        monkeypatch.setattr(minrnn, "scan_" + scan, lambda *args, _f=getattr(minrnn, "scan_" + scan), _s=scan:
                            used.append(_s) or _f(*args))
        m(torch.randn(T, B, I))
    assert used == ["log", "linear"] and real is minrnn.PARALLEL["mingru"]


def test_min_rnn_parameters_and_equations():
    H_, I_ = 10, 3
    assert CELLS.get("mingru").n_params(I_, H_) == 2 * H_ * (I_ + 1)                 # W_iz, W_ih̃, biases
    assert CELLS.get("minlstm").n_params(I_, H_, layers=2, bidirectional=True) == \
        2 * 3 * H_ * (I_ + 1) + 2 * 3 * H_ * (2 * H_ + 1)
    m = build("minlstm", I_, H_, backend="cell")
    assert sorted(n for n, _ in m.named_parameters()) == ["bias_ih_l0", "weight_ih_l0"]
    for arch in MIN:
        spec = CELLS.get(arch)
        assert spec.fused is None and not spec.recurrent and "h_t =" in spec.equations
        assert spec.flops(I_, H_, batch=2, seq_len=5) == 2 * spec.n_gates * H_ * I_ * 2 * 5


def test_log_g_is_log_of_g():
    a = torch.linspace(-30, 30, 601, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(minrnn.log_g(a), minrnn.g(a).log())
    (grad,) = torch.autograd.grad(minrnn.log_g(a).sum(), a)
    assert grad.isfinite().all()


# ------------------------------------------------------------------ the sequence models
def _model(arch, head="every", width=8, input_size=I, **kw):
    torch.manual_seed(0)
    m = zoo.build(arch, input_size, 2, head=head, hidden=width, seq_len=T, **kw).double()
    return m.eval()


@pytest.mark.parametrize("arch, kw", [("tcn", {"model_params": {"kernel_size": 3, "levels": 4}}),
                                      ("transformer", {"layers": 2}),
                                      ("window-mlp", {"layers": 2, "model_params": {"window": 5}})])
def test_causal_models_never_see_the_future(arch, kw):
    """Perturbing the inputs after t leaves every output up to t unchanged (per-step head)."""
    m = _model(arch, **kw)
    x = torch.randn(B, T, I, dtype=torch.float64)
    y = m(x)[0]
    for t in (0, 7, T - 2):
        x2 = x.clone()
        x2[:, t + 1:] += torch.randn_like(x2[:, t + 1:]) * 3
        y2 = m(x2)[0]
        assert torch.equal(y2[:, :t + 1], y[:, :t + 1]) or torch.allclose(y2[:, :t + 1], y[:, :t + 1], atol=1e-12)
        assert not torch.allclose(y2[:, t + 1:], y[:, t + 1:])


def test_transformer_for_many_to_one_sees_every_step():
    """head "last" (many_to_one tasks): no causal mask, so the output moves with the first
    input; with lengths, the padding after a sequence's end changes nothing."""
    m = _model("transformer", head="last")
    assert not m.causal and _model("transformer").causal
    x = torch.randn(B, T, I, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 0] += 1
    assert not torch.allclose(m(x)[0], m(x2)[0])
    lengths = torch.tensor([T, 9, 1])
    padded = x.clone()
    padded[1, 9:] = 5.0
    y, y_pad = m(x, lengths=lengths)[0], m(padded, lengths=lengths)[0]
    assert torch.allclose(y, y_pad, atol=1e-12)
    assert torch.allclose(y[1], m(x[1:2, :9])[0][0], atol=1e-10)          # = the sequence alone


@pytest.mark.parametrize("k, levels", [(2, 1), (3, 3), (7, 2), (4, 4)])
def test_tcn_receptive_field_formula(k, levels):
    """The output at t depends on exactly the inputs t - R + 1 .. t, R = 1 + 2 (k-1) (2^L - 1)
    (the gradient's support), and the model reports R."""
    R = zoo.TCN.field(k, levels)
    assert R == 1 + 2 * (k - 1) * (2 ** levels - 1)
    Tl = R + 5
    torch.manual_seed(0)
    m = zoo.build("tcn", I, 2, head="every", hidden=8, seq_len=None,      # no T: no coverage check
                  model_params={"kernel_size": k, "levels": levels}).double().eval()
    assert m.receptive_field == R
    x = torch.randn(4, Tl, I, dtype=torch.float64, requires_grad=True)
    t = Tl - 1
    (grad,) = torch.autograd.grad(m(x)[0][:, t].sum(), x)
    support = grad.abs().sum((0, 2)).nonzero().flatten().tolist()
    assert support == list(range(t - R + 1, t + 1))


def test_tcn_levels_default_and_paper_settings():
    """levels unset: the fewest whose receptive field covers T; the source's settings on its
    tasks (adding: k 7, 8 levels; copy: k 8, 8 levels)."""
    assert zoo.build("tcn", 1, 1, head="last", hidden=4, seq_len=100).features.levels == 4   # 1+12*15 = 181
    spec = MODELS.get("tcn")
    assert spec.resolved("adding", {}) == {"kernel_size": 7, "levels": 8}
    assert spec.resolved("copy", {"levels": 9}) == {"kernel_size": 8, "levels": 9}
    assert spec.describe()["receptive_field"]["adding"] == 3061


def test_window_mlp_is_an_mlp_on_the_window():
    """y_t = head(relu(W [x_{t-k+1}; ...; x_t] + b)) with zeros before the start."""
    k = 5
    m = _model("window-mlp", model_params={"window": k})
    x = torch.randn(B, T, I, dtype=torch.float64)
    W = m.features.first.weight                          # [H, I, k]: tap j reads x_{t-k+1+j}
    padded = torch.cat([x.new_zeros(B, k - 1, I), x], 1)
    for t in (0, 2, T - 1):
        window = padded[:, t:t + k]                      # [B, k, I]
        h = torch.relu(torch.einsum("bji,hij->bh", window, W) + m.features.first.bias)
        assert torch.allclose(m(x)[0][:, t], m.head(h), atol=1e-12)
    assert m.receptive_field == k


@pytest.mark.parametrize("arch", SEQ)
def test_history_state_continues_the_sequence(arch):
    """model(x[:, s:], hx=state of x[:, :s]) = the last steps of model(x): what truncated BPTT
    and `heads.generate` rely on."""
    m = _model(arch, model_params={"window": 6} if arch == "window-mlp" else {})
    x = torch.randn(B, T, I, dtype=torch.float64)
    full = m(x)[0]
    first, state = m(x[:, :25])
    rest, _ = m(x[:, 25:], hx=state)
    assert torch.allclose(torch.cat([first, rest], 1), full, atol=1e-10)


@pytest.mark.parametrize("arch", SEQ)
def test_last_head_reads_each_sequence_at_its_length(arch):
    m = _model(arch, head="last", model_params={"window": 6} if arch == "window-mlp" else {})
    x = torch.randn(B, T, I, dtype=torch.float64)
    y = m(x, lengths=torch.tensor([T, 9, 1]))[0]
    for b, n in enumerate([T, 9, 1]):
        assert torch.allclose(y[b], m(x[b:b + 1, :n])[0][0], atol=1e-10)


# ------------------------------------------------------------------ parameter matching
def test_match_params_is_the_nearest_width():
    assert zoo.match_params(50, lambda w: w * w) == 7                 # 49 beats 64
    assert zoo.match_params(57, lambda w: w * w) == 8                 # 64 is 7 away, 49 is 8
    assert zoo.match_params(100, lambda w: w * w, step=4) == 8        # 64 or 144: 8 is nearer
    assert zoo.match_params(0, lambda w: w) == 1


@pytest.mark.parametrize("arch", SEQ)
def test_match_makes_the_counts_equal(arch):
    """match: lstm picks the width whose model count is nearest the LSTM SequenceModel's at the
    same hidden: no multiple of the width step is nearer."""
    from rnnbench.models.heads import SequenceModel

    target = SequenceModel("lstm", 2, 64, 1).n_params
    assert zoo.cell_model_params("lstm", 2, 64, 1) == target
    m = zoo.build(arch, 2, 1, head="last", hidden=64, seq_len=100, model_params={"match": "lstm"})
    step = 4 if arch == "transformer" else 1
    width = m.features.output_size
    assert width % step == 0

    def count(w):
        return zoo.build(arch, 2, 1, head="last", hidden=w, seq_len=100).n_params
    nearest = min(abs(count(width + step) - target), abs(count(max(step, width - step)) - target))
    assert abs(m.n_params - target) <= nearest
    assert abs(m.n_params - target) / target < 0.15
    assert zoo.build(arch, 2, 1, head="last", hidden=64, seq_len=100, model_params={"match": 5000}).n_params > 0


@pytest.mark.parametrize("arch, match", [("mingru", "gru"), ("minlstm", "lstm"), ("gru", "lstm"), ("lstm", 2000)])
def test_match_sizes_a_cell_to_another_cells_count(arch, match, tmp_path):
    """model_params match for a cell: the hidden size whose SequenceModel count is nearest the
    matched cell's at the run's hidden (or the given count); the runner builds it and records
    that count."""
    hidden = zoo.matched_hidden(arch, match, 2, 32, 1)
    target = match if isinstance(match, int) else zoo.cell_model_params(match, 2, 32, 1)
    count = lambda h: zoo.cell_model_params(arch, 2, h, 1)  # noqa: E731
    assert abs(count(hidden) - target) <= min(abs(count(hidden + 1) - target), abs(count(hidden - 1) - target))
    cfg = RunConfig(task="adding", arch=arch, hidden=32, steps=1, batch_size=8, threads=1,
                    task_params={"seq_len": 10, "n_train": 16, "n_val": 8, "n_test": 8},
                    model_params={"match": match})
    train.run(cfg, tmp_path, quiet=True)
    rec = RunRecord.from_dict(json.loads((tmp_path / "metrics.json").read_text()))
    assert rec.n_params == count(hidden) and rec.hidden == 32
    if arch in MIN:
        assert hidden > 4 * 32                  # no W_hh: many more units for the same count


@pytest.mark.parametrize("bad", ["nosuchcell", 0, -3, True])
def test_match_for_a_cell_refuses_bad_values_in_one_line(bad):
    with pytest.raises(UsageError, match=r"model_params match must be a cell \(.*gru.*\) or a positive "):
        resolve(RunConfig(task="adding", arch="mingru", model_params={"match": bad}))


# ------------------------------------------------------------------ the runner and the record
@pytest.mark.parametrize("arch", [*SEQ, *MIN])
def test_trains_on_adding_and_writes_a_record(arch, tmp_path):
    cfg = RunConfig(task="adding", arch=arch, hidden=8, steps=3, batch_size=16, threads=1,
                    task_params={"seq_len": 20, "n_train": 64, "n_val": 32, "n_test": 32},
                    model_params={"match": "lstm"} if arch in SEQ else {})
    metrics = train.run(cfg, tmp_path / arch, quiet=True)
    rec = RunRecord.from_dict(json.loads((tmp_path / arch / "metrics.json").read_text()))
    spec = ARCHS.get(arch)
    assert rec.status == "ok" and rec.arch == arch and rec.backend == "cell"
    assert (rec.cell_title, rec.cell_citation) == (spec.title, spec.citation)
    assert rec.n_params == metrics["n_params"] > 0


def test_list_shows_the_models():
    r = run_cli("list", "--json")
    cat = json.loads(r.stdout)
    assert set(SEQ) <= {m["name"] for m in cat["models"]}
    assert {c["name"] for c in cat["cells"]} >= set(MIN)
    tcn = cat["models"][0]
    assert tcn["receptive_field"]["copy"] == zoo.TCN.field(8, 8) and "Bai" in tcn["citation"]


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("change, words", [
    ({"arch": "tcn", "model_params": {"dilation": 2}}, ["unknown model_params key 'dilation' for tcn",
                                                        "kernel_size, levels, match"]),
    ({"arch": "tcn", "model_params": {"kernel_size": 0}}, ["kernel_size", "positive integer", "0"]),
    ({"arch": "window-mlp", "model_params": {"window": 0}}, ["window", "positive integer", "0"]),
    ({"arch": "transformer", "model_params": {"match": "lsmt"}}, ["match", "lstm", "'lsmt'"]),
    ({"arch": "transformer", "hidden": 30}, ["d_model", "30", "nhead 4"]),
    ({"arch": "tcn", "task": "reverse", "task_params": {}}, ["tcn runs many_to_one, many_to_many and one_to_many",
                                                             "'reverse' is seq2seq"]),
    ({"arch": "transformer", "bidirectional": True}, ["bidirectional", "transformer does not take it"]),
    ({"arch": "tcn", "layers": 3}, ["levels, not layers"]),
    ({"arch": "window-mlp", "grad_diag_every": 5}, ["grad_diag_every"]),
    ({"arch": "tnc"}, ["unknown cell 'tnc'", "lstm", "mingru", "tcn", "transformer", "window-mlp"]),
    ({"arch": "minlstm", "model_params": {"recurrent_radius": 1.5}}, ["recurrent_radius", "minlstm has none"]),
])
def test_bad_settings_are_refused_in_one_line(change, words):
    cfg = RunConfig(**{"task": "adding", "task_params": {"seq_len": 30}, **change})
    with pytest.raises(UsageError) as err:
        resolve(cfg)
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value), str(err.value)


def test_short_receptive_field_is_refused(tmp_path):
    cfg = RunConfig(task="adding", arch="tcn", hidden=4, steps=1,
                    task_params={"seq_len": 100, "n_train": 16, "n_val": 16, "n_test": 16},
                    model_params={"kernel_size": 3, "levels": 3})
    with pytest.raises(UsageError, match=r"receptive field .* = 29 steps does not cover the task's 100: "
                                         r"set model_params levels >= 5"):
        train.run(cfg, tmp_path / "r", quiet=True)
    assert not (tmp_path / "r" / "metrics.json").exists()


def test_cli_refuses_a_seq2seq_task_with_exit_2(tmp_path):
    r = run_cli("train", "--task", "reverse", "--arch", "window-mlp", "--out", tmp_path / "o")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "window-mlp runs many_to_one, many_to_many and one_to_many tasks" in r.stderr


def test_flops_count_every_weight_once_per_step():
    """zoo.flops: 2 x the matrix entries per step-sample (weight_norm's g not among them), plus
    attention's 4 T d per layer; rnnbench.throughput uses it for the sequence models."""
    from rnnbench import throughput as tp

    m = zoo.features("window-mlp", 3, 5, layers=2)                    # conv [5, 3, 10], linear [5, 5]
    assert zoo.flops(m, batch=2, seq_len=7) == 2 * (5 * 3 * 10 + 5 * 5) * 2 * 7
    tcn = zoo.features("tcn", 1, 4, seq_len=20)                       # k 7, 2 levels: 1 + 12 * 3 = 37 >= 20
    convs = 4 * 1 * 7 + 4 * 4 * 7 + 4 * 1 + (4 * 4 * 7) * 2          # block 0 (+1x1 downsample), block 1
    assert tcn.levels == 2 and zoo.flops(tcn, 1, 1) == 2 * convs
    tr = zoo.features("transformer", 4, 8, layers=1)
    assert zoo.flops(tr, 1, 10, backward=True) == 3 * 10 * (2 * sum(
        p.numel() for p in tr.parameters() if p.dim() >= 2) + 4 * 10 * 8)
    assert tp.flops(tp.Case("tcn", "cell", False, 1, 1, 20, 1, 4)) == zoo.flops(tcn, 1, 20)


def test_throughput_match_times_every_arch_at_the_same_count(tmp_path):
    """`rnnbench throughput --match lstm`: each arch at the width whose timed module has LSTM's
    count at the shape's I and H (the nearest width), the rows carrying hidden and n_params; an
    unknown cell is refused in one line, exit 2."""
    from rnnbench.throughput import Case, matched, n_params

    target = n_params(Case("lstm", "fused", input_size=2, hidden=32))
    assert target == CELLS.get("lstm").n_params(2, 32)
    for arch in ("mingru", "gru", "tcn"):
        c = matched(Case(arch, "cell", input_size=2, hidden=32, seq_len=50), "lstm")
        near = [abs(n_params(Case(arch, "cell", input_size=2, hidden=h, seq_len=50)) - target)
                for h in (c.hidden - 1, c.hidden + 1) if h > 0]
        assert abs(n_params(c) - target) <= min(near)
    out = tmp_path / "t.csv"
    r = run_cli("throughput", "--arch", "mingru", "lstm", "--backend", "cell", "--shape", "4x5x2x8",
                "--match", "lstm", "--pass", "forward", "--repeat", "1", "--rounds", "1", "--out", str(out))
    assert r.returncode == 0, r.stderr
    import pandas as pd
    rows = pd.read_csv(out).set_index("arch")
    assert rows.loc["lstm", "hidden"] == 8 and rows.loc["mingru", "hidden"] > 8
    assert abs(rows.loc["mingru", "n_params"] - rows.loc["lstm", "n_params"]) < 0.1 * rows.loc["lstm", "n_params"]
    r = run_cli("throughput", "--match", "nope", "--shape", "4x5x2x8")
    assert r.returncode == 2 and "unknown cell for --match 'nope' (valid: " in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_match_counts_the_tasks_own_model_embedding_included():
    """On a token task with an embedding (agreement: 50-dim), the matched width counts the model the
    task builds (embedding, cell, head): mingru matched to lstm has the nearest count to the LSTM
    model's, which the formula on the vocabulary size would miss."""
    from rnnbench import tasks

    task = tasks.build("agreement", {"n_train": 50, "n_val": 20, "n_test": 20})
    cfg = resolve(RunConfig(task="agreement", arch="mingru", hidden=50, model_params={"match": "lstm"}))
    lstm = task.build_model(resolve(RunConfig(task="agreement", arch="lstm", hidden=50))).n_params
    got = task.build_model(cfg)
    h = got.hidden_size if hasattr(got, "hidden_size") else task.hidden(cfg)
    count = lambda w: task._count(cfg, "mingru", w)  # noqa: E731
    assert got.n_params == count(h)
    assert abs(count(h) - lstm) <= min(abs(count(h + 1) - lstm), abs(count(h - 1) - lstm))
