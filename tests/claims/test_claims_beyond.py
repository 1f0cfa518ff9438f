"""Beyond recurrence (rnnbench/claims/beyond.py): TCN vs LSTM, the min-RNNs' speed and learning
against GRU / LSTM, and every sequence model against the window MLP, on hand-made run records;
the experiments' cells; the report's "Beyond recurrence" section on a small table."""
from __future__ import annotations

import pandas as pd
import pytest

from rnnbench import claims
from rnnbench import grid as G
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED
from rnnbench.claims import beyond
from rnnbench.claims import budgets as B
from rnnbench.models import MODELS
from rnnbench.record import registry_facts
from report.reporthelpers import make_runs, seeds

BASELINE = {"adding": 1 / 6, "copy": 0.52}
BUDGET = {"adding": 2000, "copy": 3000}
TCN, MINRNN, WINDOW = beyond.CLAIM_NAMES


def runs(arch, values, solved_at=None, T=200, task="adding", ms=2.0, threads=1, **extra):
    """One run per value (seed = position) of `arch` on `task` at length T, like the grid's: zoo
    models matched to LSTM (the window MLP with window 10); solved_at: steps to solve per run (None:
    never, the run ends at the budget); ms: milliseconds per step (training time = steps x ms)."""
    model = {"match": "lstm", **({"window": 10} if arch == "window-mlp" else {})} if arch in MODELS else {}
    rows = seeds(values, **registry_facts(task, arch, {"seq_len": T}), task=task, arch=arch, hidden=32,
                 threads=threads, baseline=BASELINE[task], **{"params.task_params.seq_len": T,
                                                             "params.train.steps": BUDGET[task]},
                 **{f"params.model_params.{k}": v for k, v in model.items()}, **extra)
    for k, r in enumerate(rows):
        s = (solved_at or [None] * len(rows))[k]
        r.update(steps_to_solve=s, steps=s or BUDGET[task], solve_censored=s is None)
        r["train_seconds"] = r["steps"] * ms * (1 + 0.02 * k) / 1e3
    return rows


def check(name, rows):
    return claims.CLAIMS.get(name).check(make_runs(rows), None)


SOLVED, STUCK = [0.004, 0.005, 0.006], [0.165, 0.17, 0.168]


# ---- TCN vs LSTM -------------------------------------------------------------------------------
def test_tcn_holds_when_better_or_the_same_everywhere():
    rows = (runs("lstm", SOLVED, [1400, 1500, 1500]) + runs("tcn", SOLVED, [300, 400, 350])       # T=200: better
            + runs("lstm", SOLVED, [600, 600, 650], T=50) + runs("tcn", SOLVED, [600, 610, 640], T=50)   # same
            + runs("lstm", [0.3, 0.31, 0.29], task="copy", T=20) + runs("tcn", [0.1, 0.11, 0.12], task="copy", T=20))
    v = check(TCN, rows)
    assert v.status == HOLDS, v.evidence
    assert "better in 2, no practical difference in 1, worse in 0" in v.evidence
    assert [(r["task"], r["seq_len"], r["a"]) for r in v.numbers] == [
        ("adding", 50, "tcn (match=lstm)"), ("adding", 200, "tcn (match=lstm)"), ("copy", 20, "tcn (match=lstm)")]


def test_tcn_fails_when_worse_anywhere():
    rows = (runs("lstm", SOLVED, [600, 600, 650], T=50) + runs("tcn", SOLVED, [300, 310, 300], T=50)
            + runs("lstm", SOLVED, [1400, 1500, 1500]) + runs("tcn", STUCK))
    v = check(TCN, rows)
    assert v.status == FAILS and "worse in 1" in v.evidence and "T=200" in v.evidence


def test_tcn_is_not_decided_when_nothing_learned_or_without_lstm():
    v = check(TCN, runs("lstm", STUCK) + runs("tcn", [0.167, 0.16, 0.166]))
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)
    assert check(TCN, runs("tcn", SOLVED, [300, 400, 350])).status == NOT_ENOUGH


# ---- minGRU / minLSTM --------------------------------------------------------------------------
def minrnn(min_ms=1.0, full_ms=6.0, min_steps=(300, 300, 320), threads=1):
    """GRU and LSTM and the min-RNNs on adding at T = 100 and 200, all solving."""
    out = []
    for T in (100, 200):
        out += (runs("gru", SOLVED, [300, 310, 300], T=T, ms=full_ms) + runs("lstm", SOLVED, [300, 300, 310], T=T,
                                                                              ms=full_ms)
                + runs("mingru", SOLVED, list(min_steps), T=T, ms=min_ms, threads=threads)
                + runs("minlstm", SOLVED, list(min_steps), T=T, ms=min_ms, threads=threads))
    return out


def test_minrnn_holds_when_several_times_faster_and_matching():
    v = check(MINRNN, minrnn())
    assert v.status == HOLDS, v.evidence
    speed = [r for r in v.numbers if r["part"] == "speed"]
    assert [(r["a"], r["b"], r["seq_len"]) for r in speed] == [("mingru", "gru", 200), ("minlstm", "lstm", 200)]
    assert speed[0]["ratio_b_a"] == pytest.approx(6.0) and speed[0]["ms_per_step_a"] == pytest.approx(1.02)
    assert len([r for r in v.numbers if r["part"] == "match"]) == 4          # two pairs x two lengths
    assert "share the machine" in v.evidence


def test_minrnn_fails_when_not_several_times_faster_or_learning_slower():
    v = check(MINRNN, minrnn(min_ms=5.0))             # 1.2x faster, with confidence below 2x
    assert v.status == FAILS and "speed (fails)" in v.evidence
    v = check(MINRNN, minrnn(min_steps=(1200, 1300, 1250)))
    assert v.status == FAILS and "match (fails)" in v.evidence and "speed (holds)" in v.evidence


def test_minrnn_compares_timings_of_one_device_and_thread_count_only():
    v = check(MINRNN, minrnn(threads=2))
    assert v.status == NOT_ENOUGH and "speed: no comparable runs" in v.evidence
    assert check(MINRNN, runs("mingru", SOLVED)).status == NOT_ENOUGH


# ---- the window MLP ----------------------------------------------------------------------------
def window(models=("lstm", "tcn", "transformer", "mingru"), window_values=STUCK, **model_values):
    out = []
    for T in (50, 200):
        out += runs("window-mlp", window_values, T=T)
        for m in models:
            out += runs(m, model_values.get(m, SOLVED), [500, 600, 550] if m not in model_values else None, T=T)
    return out


def test_every_sequence_model_beats_the_window_mlp():
    v = check(WINDOW, window())
    assert v.status == HOLDS, v.evidence
    assert {r["a"] for r in v.numbers} == {"lstm", "mingru", "tcn (match=lstm)", "transformer (match=lstm)"}
    assert all(r["window"] == 10 and r["b"] == "window-mlp (match=lstm, window=10)" for r in v.numbers)


def test_a_model_that_learned_nothing_is_not_holds_and_one_no_better_fails():
    v = check(WINDOW, window(transformer=[0.166, 0.167, 0.165]))
    assert v.status == NOT_ENOUGH and "transformer (match=lstm) learned nothing" in v.evidence
    # learned (off the baseline), but within the practical margin of a window MLP at the baseline
    v = check(WINDOW, window(window_values=[0.1335, 0.137, 0.134], transformer=[0.131, 0.134, 0.1325]))
    assert v.status == FAILS and "not better than the window MLP" in v.evidence


def test_a_window_mlp_off_the_baseline_decides_nothing():
    v = check(WINDOW, window(window_values=[0.05, 0.06, 0.055]))
    assert v.status == NOT_ENOUGH and "stays at the baseline" in v.evidence
    assert all("decides nothing" in r["verdict_here"] for r in v.numbers)


# ---- the experiments ---------------------------------------------------------------------------
@pytest.mark.parametrize("name, archs, lengths", [
    (TCN, {"tcn", "lstm"}, {"adding": {50, 100, 200}, "copy": {10, 20, 40}}),
    (MINRNN, {"gru", "lstm", "mingru", "minlstm"}, {"adding": {50, 100, 200}}),
    (WINDOW, {"window-mlp", "tcn", "transformer", "lstm", "gru", "mingru", "minlstm"}, {"adding": {50, 100, 200}})])
def test_each_experiment_expands_to_its_cells(name, archs, lengths):
    cells = G.expand({"claims": [name]})
    assert {c.arch for c in cells} == archs
    for task, Ts in lengths.items():
        assert {c.config["task_params"]["seq_len"] for c in cells if c.task == task} == Ts
    arms = {}
    for c in cells:
        # the window MLP's claim at adding T = 200: the TCN's measured budget, on its own fresh seeds
        long = name == WINDOW and c.task == "adding" and c.config["task_params"]["seq_len"] == 200
        assert c.config["hidden"] == 32
        assert c.config["steps"] == (B.TCN_T200_STEPS if long else {"adding": 2000, "copy": 3000}[c.task])
        # tcn on adding at its source's lr (measured: at 0.01 it learned nothing at T = 200)
        assert c.config["lr"] == (0.004 if (c.arch, c.task) == ("tcn", "adding") else 0.01)
        mp = c.config.get("model_params") or {}
        assert mp == ({"match": "lstm", "window": 10} if c.arch == "window-mlp" else
                      {"match": "lstm"} if c.arch in MODELS else {}), (c.arch, mp)
        arms.setdefault((c.task, c.arch, c.config["task_params"]["seq_len"]), set()).add(c.config["seed"])
    assert all(s == (set(B.TCN_T200_SEEDS) if name == WINDOW and key[::2] == ("adding", 200) else {0, 1, 2})
               for key, s in arms.items())
    assert len(cells) == sum(len(s) for s in arms.values())


def test_the_three_experiments_together_are_the_beyond_config():
    import yaml
    from runhelpers import REPO
    cfg = yaml.safe_load((REPO / "workflows" / "config" / "beyond.yaml").read_text())
    assert cfg["claims"] == list(beyond.CLAIM_NAMES)
    assert len(G.expand(cfg)) == 131          # 81, less 6 at T = 200 (2,000 steps), plus 7 x 8 at 3,000
    from rnnbench.claims.base import grid
    assert grid(cfg["claims"])["throughput"] == beyond.MATCHED_SWEEP      # timed at LSTM's count


def test_matched_throughput_table_relates_each_model_to_the_matched_fused_kernel(tmp_path):
    """Sweep rows of `rnnbench throughput --match lstm`: the table keeps the matched rows, ms per
    forward+backward, and the speed relative to LSTM's fused kernel at the same shape; the section
    shows it."""
    base = {"pass": "forward_backward", "batch": 50, "seq_len": 200, "input_size": 2, "match": "lstm",
            "match_hidden": 32, "threads": 1, "device": "cpu"}
    sweep = pd.DataFrame([{**base, "arch": "lstm", "backend": "fused", "hidden": 32, "n_params": 4608, "seconds": 0.010},
                          {**base, "arch": "mingru", "backend": "cell", "hidden": 768, "n_params": 4608,
                           "seconds": 0.040},
                          {**base, "arch": "lstm", "backend": "fused", "hidden": 32, "n_params": 4608, "seconds": 1.0,
                           "pass": "forward"}])
    t = beyond.matched_throughput(sweep).set_index("arch")
    assert list(t.index) == ["lstm", "mingru"]
    assert t.loc["mingru", "ms"] == pytest.approx(40.0) and t.loc["mingru", "speed_vs_match"] == pytest.approx(0.25)
    assert t.loc["lstm", "speed_vs_match"] == pytest.approx(1.0)
    assert not len(beyond.matched_throughput(sweep.drop(columns=["match"])))
    from rnnbench.report import html
    from rnnbench.report.inputs import Inputs
    empty = pd.DataFrame()
    inp = Inputs(results_dir=tmp_path, runs=make_runs(window(models=("lstm", "mingru"))), curves=empty,
                 gradients=empty, throughput=sweep, asv=empty)
    w = html.Writer(tmp_path, jobs=1)
    try:
        s = html.beyond_section(inp, w, ())
    finally:
        w.close()
    assert "Throughput at the same parameter count" in [b.title for b in s.blocks]
    assert (tmp_path / "beyond_matched_throughput.csv").is_file()


# ---- the report's section ----------------------------------------------------------------------
def section(rows, tmp_path, verdicts=()):
    from rnnbench.report import html
    from rnnbench.report.inputs import Inputs
    empty = pd.DataFrame()
    inp = Inputs(results_dir=tmp_path, runs=make_runs(rows), curves=empty, gradients=empty,
                 throughput=empty, asv=empty)
    w = html.Writer(tmp_path, jobs=1)
    try:
        return html.beyond_section(inp, w, verdicts)
    finally:
        w.close()


def test_the_section_shows_the_models_beside_lstm_and_gru_and_the_claims(tmp_path):
    s = section(window(models=("lstm", "gru", "tcn", "mingru")), tmp_path)
    assert s.title.endswith("Beyond recurrence")
    table, verdicts = (b for b in s.blocks if b.kind == "table")
    csv = pd.read_csv(tmp_path / table.csv)
    at = csv[csv["T"] == 200]
    assert list(at["model"]) == ["gru", "lstm", "mingru", "tcn (match=lstm)", "window-mlp (match=lstm, window=10)"]
    assert list(at["reached"]) == ["3/3"] * 4 + ["0/3"] and list(at["steps_to_solve"])[:4] == [550.0] * 4
    assert "ms/step" in str(table.html) and "550 (3/3)" in str(table.html)
    claims_csv = pd.read_csv(tmp_path / verdicts.csv)
    assert list(claims_csv["claim"]) == list(beyond.CLAIM_NAMES)
    assert dict(zip(claims_csv["claim"], claims_csv["status"]))[WINDOW] == HOLDS


def test_the_section_reuses_the_reports_verdicts_and_says_when_nothing_ran(tmp_path):
    c = claims.CLAIMS.get(TCN)
    s = section(window(models=("lstm", "tcn")), tmp_path, [(c, claims.Verdict(FAILS, "given"))])
    got = pd.read_csv(tmp_path / "beyond_claims.csv")
    assert got.loc[got["claim"] == TCN, "evidence"].item() == "given"
    s = section(runs("lstm", SOLVED) + runs("gru", SOLVED), tmp_path)
    assert [(b.kind, b.note) for b in s.blocks] == [("nodata", "no runs of tcn, transformer, window-mlp, mingru or "
                                                               "minlstm")]


def test_beyond_archs_are_the_alternatives_to_recurrence_by_the_registries():
    """tcn, transformer, window-mlp (MODELS) and the cells without W_hh are beyond recurrence; the
    NTM is a sequence model of the zoo but recurrent itself (an LSTM controller): not among them."""
    assert beyond.beyond_archs(["lstm", "gru", "ntm", "tcn", "mingru", "window-mlp", "transformer", "minlstm"]) == \
        ["mingru", "minlstm", "tcn", "transformer", "window-mlp"]
