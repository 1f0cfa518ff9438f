"""GRU vs LSTM (issue 16): 3/4 of the parameters, exactly (an exact claim), and "faster per step"
decided per hidden size by a throughput sweep (`rnnbench throughput`, the pipeline's `throughput`
rule), with the crossover H; the claim's sweep travels with claims.grid into the pipeline."""
from __future__ import annotations

import sys

import jsonschema
import pandas as pd
import pytest
import torch
import yaml

from rnnbench import claims
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH, exact
from rnnbench.claims.base import merge_throughput
from rnnbench.models import build
from rnnbench.report import inputs
from runhelpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflows" / "config" / "schema.yaml").read_text())
SWEEP_H = (32, 64, 128, 256, 512)


def sweep(gru_ms: dict[int, float], lstm_ms: float = 10.0, rounds: int = 5, cell_factor: float = 3.0, **setting):
    """`rnnbench throughput` rows (forward_backward, N50xT50xI1, cpu, 1 thread): LSTM `lstm_ms` per call
    at every H, GRU gru_ms[H]; the cell backend `cell_factor` times slower for both; each round's
    median within +-1 % of the row's."""
    jitter = [1 - 0.01, 1.0, 1 + 0.01, 1 - 0.005, 1 + 0.005][:rounds]
    rows = []
    for h, g in gru_ms.items():
        for arch, ms in (("lstm", lstm_ms), ("gru", g)):
            for backend, f in (("fused", 1.0), ("cell", cell_factor)):
                sec = ms * f / 1e3
                rows.append({"arch": arch, "backend": backend, "bidirectional": False, "layers": 1, "batch": 50,
                             "seq_len": 50, "input_size": 1, "hidden": h, "device": "cpu", "pass": "forward_backward",
                             "seconds": sec, "repeat": 3 * rounds, "rounds": rounds, "threads": 1,
                             "round_seconds": " ".join(f"{sec * j:.6g}" for j in jitter), **setting})
    return pd.DataFrame(rows)


def verdict(throughput, runs=None):
    [(_, v)] = claims.evaluate(runs if runs is not None else pd.DataFrame(), None, names=["gru_smaller_faster"],
                               throughput=throughput)
    return v


# ---- faster per step, per hidden size ------------------------------------------------------
def test_lstm_faster_at_small_sizes_fails_with_the_crossover():
    v = verdict(sweep({32: 12.0, 64: 11.0, 128: 8.0, 256: 7.5, 512: 7.0}))
    assert v.status == FAILS, v.evidence
    assert "H=32, 64" in v.evidence and "crossover 128" in v.evidence, v.evidence
    fused = {r["hidden"]: r for r in v.numbers if r["backend"] == "fused"}
    assert [fused[h]["faster"] for h in SWEEP_H] == ["lstm", "lstm", "gru", "gru", "gru"]
    assert all(r["crossover"] == 128 and r["default"] for r in fused.values())
    assert fused[32]["ms_lstm"] == pytest.approx(10.0) and fused[32]["ms_gru"] == pytest.approx(12.0)
    assert fused[512]["params_gru"] * 4 == fused[512]["params_lstm"] * 3
    cell = [r for r in v.numbers if r["backend"] == "cell"]     # other backends: rows, not the verdict
    assert len(cell) == len(SWEEP_H) and not any(r["default"] for r in cell)


def test_gru_faster_everywhere_holds():
    v = verdict(sweep({h: 8.0 for h in SWEEP_H}))
    assert v.status == HOLDS, v.evidence
    assert "every hidden size" in v.evidence and "0.75" in v.evidence and "fused" in v.evidence
    assert {r["faster"] for r in v.numbers} == {"gru"} and {r["crossover"] for r in v.numbers} == {32}


def test_only_the_default_backend_decides():
    # LSTM faster on the cell backend only (a slow GRU cell-by-cell kernel): the fused kernel decides
    df = sweep({h: 8.0 for h in SWEEP_H})
    slow = (df["arch"] == "gru") & (df["backend"] == "cell")
    df.loc[slow, "round_seconds"] = df.loc[slow, "round_seconds"].map(
        lambda s: " ".join(f"{float(x) * 2:.6g}" for x in s.split()))
    v = verdict(df)
    assert v.status == HOLDS, v.evidence
    assert {r["crossover"] for r in v.numbers if r["backend"] == "cell"} == {"none"}


def test_no_sweep_is_not_enough_data():
    assert verdict(None).status == NOT_ENOUGH
    assert verdict(pd.DataFrame()).status == NOT_ENOUGH
    v = claims.CLAIMS.get("gru_smaller_faster").check(pd.DataFrame(), None)      # called without the sweep
    assert v.status == NOT_ENOUGH and "throughput" in v.evidence
    forward_only = sweep({32: 8.0}).assign(**{"pass": "forward"})
    assert verdict(forward_only).status == NOT_ENOUGH


def test_one_round_decides_nothing():
    v = verdict(sweep({h: 8.0 for h in SWEEP_H}, rounds=1))
    assert v.status == NOT_ENOUGH and {r["faster"] for r in v.numbers} == {"n/a"}, v.evidence


def test_timings_are_compared_on_one_device_and_thread_count_only():
    gru = sweep({32: 8.0}, device="cuda")
    lstm = sweep({32: 8.0})
    df = pd.concat([gru[gru["arch"] == "gru"], lstm[lstm["arch"] == "lstm"]])
    assert verdict(df).status == NOT_ENOUGH
    gru = sweep({32: 8.0}, threads=4)
    df = pd.concat([gru[gru["arch"] == "gru"], lstm[lstm["arch"] == "lstm"]])
    assert verdict(df).status == NOT_ENOUGH


def test_an_undecided_size_is_not_enough_data():
    v = verdict(sweep({32: 10.0, 64: 8.0, 128: 8.0}))
    assert v.status == NOT_ENOUGH and "undecided at H=32" in v.evidence, v.evidence
    assert {r["crossover"] for r in v.numbers if r["backend"] == "fused"} == {64}


def test_the_sweep_as_the_report_reads_it(tmp_path):
    """results/throughput/*.csv -> inputs.load_throughput -> the claim (round_seconds as CSV text)."""
    (tmp_path / "throughput").mkdir()
    sweep({32: 12.0, 64: 11.0, 128: 8.0, 256: 7.5, 512: 7.0}).to_csv(tmp_path / "throughput" / "sweep.csv",
                                                                    index=False)
    v = verdict(inputs.load_throughput(tmp_path))
    assert v.status == FAILS and "crossover 128" in v.evidence


def test_the_throughput_command_writes_each_rounds_median_at_the_threads_asked(tmp_path, capsys):
    from rnnbench.cli import main

    before = torch.get_num_threads()
    try:
        rc = main(["throughput", "--arch", "lstm", "gru", "--backend", "fused", "--shape", "2x3x1x4", "2x3x1x8",
                   "--pass", "forward_backward", "--rounds", "3", "--repeat", "1", "--threads", "1",
                   "--out", str(tmp_path / "sweep.csv")])
    finally:
        torch.set_num_threads(before)
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(tmp_path / "sweep.csv")
    assert len(df) == 4 and set(df["threads"]) == {1} and set(df["rounds"]) == {3}
    assert all(len(s.split()) == 3 for s in df["round_seconds"])
    v = verdict(df)
    assert v.status in (HOLDS, FAILS, NOT_ENOUGH) and len([r for r in v.numbers if r["default"]]) == 2


def test_the_threads_option_must_be_positive(capsys):
    from rnnbench.cli import main

    rc = main(["throughput", "--arch", "lstm", "--backend", "fused", "--shape", "2x3x4", "--threads", "0"])
    assert rc == 2 and "--threads" in capsys.readouterr().err


# ---- the exact 3/4 -----------------------------------------------------------------------
def test_gru_has_three_quarters_of_lstms_parameters_exactly():
    v = claims.CLAIMS.get("gru_three_quarters_params").check(pd.DataFrame(), None)
    assert v.status == HOLDS, v.evidence
    assert claims.CLAIMS.get("gru_three_quarters_params").runs is None
    assert [(r["hidden"], r["input"]) for r in v.numbers] == [(h, i) for h in SWEEP_H for i in (1, h)]
    for r in v.numbers:
        H, inp = r["hidden"], r["input"]
        assert r["params_lstm"] == 4 * H * (inp + H + 2) and r["params_gru"] == 3 * H * (inp + H + 2)
        assert r["ratio"] == 0.75 and r["ratio_exact"] == "3/4" and r["three_quarters"]
    assert "bias_ih" in v.evidence and "head" in v.evidence


@pytest.mark.parametrize("backend", ["fused", "cell"])
def test_the_registrys_counts_are_the_built_cells(backend):
    for row in exact.param_rows(hidden=(32, 64)):
        for arch in ("lstm", "gru"):
            m = build(arch, row["input"], row["hidden"], backend=backend)
            assert sum(p.numel() for p in m.parameters()) == row[f"params_{arch}"], (arch, row)


# ---- the claim's sweep, into the grid config and the pipeline -----------------------------
def test_the_claims_grid_carries_its_throughput_sweep():
    frag = claims.grid(["gru_smaller_faster"])
    assert frag["tasks"] == {}                         # no training run
    t = frag["throughput"]
    assert set(t["arch"]) == {"lstm", "gru"} and set(t["backend"]) == {"fused", "cell"}
    assert t["hidden"] == list(SWEEP_H) and (t["batch"], t["seq_len"], t["input"]) == (50, 50, 1)
    jsonschema.validate({"claims": ["gru_smaller_faster"], "throughput": t}, SCHEMA)
    assert "throughput" not in claims.grid(["scalar_gradient_50_steps"])


def test_sweeps_merge_as_the_union_of_their_axes():
    a = {"arch": ["lstm", "gru"], "backend": "fused", "hidden": [64, 32], "batch": 50}
    b = {"arch": ["gru", "rnn"], "backend": ["cell"], "hidden": [512, 32], "batch": 8, "rounds": 7}
    assert merge_throughput(a, None, b) == {"arch": ["lstm", "gru", "rnn"], "backend": ["fused", "cell"],
                                            "hidden": [32, 64, 512], "batch": 50, "rounds": 7}
    assert merge_throughput(None, {}) is None


def _pipeline():
    pipeline_dir = str(REPO / "tests" / "pipeline")
    if pipeline_dir not in sys.path:
        sys.path.insert(0, pipeline_dir)
    import pipeline_helpers
    return pipeline_helpers


def test_the_schema_fills_a_present_throughput_block_only():
    p = _pipeline()
    tiny = p.load(p.TINY)
    assert "throughput" not in p.validated(tiny)          # no key: no sweep, nothing new to run
    t = p.validated({**tiny, "throughput": {"hidden": [32]}})["throughput"]
    assert t == {"hidden": [32], "arch": ["lstm", "gru"], "backend": ["fused", "cell"], "batch": 50, "seq_len": 50,
                 "input": 1, "rounds": 5, "repeat": 3, "threads": 1, "device": "cpu", "match": None}


@pytest.mark.slow
def test_the_pipeline_schedules_the_sweep_alone_at_one_torch_thread(tmp_path):
    p = _pipeline()
    tiny = p.load(p.TINY)
    r = p.snakemake(tmp_path / "none", "-n", config=p.TINY)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "throughput" not in p.job_counts(r.stdout)
    cfg = p.write_config(tmp_path / "sweep.yaml", {**tiny, "throughput": {"hidden": [32, 64], "rounds": 2}})
    r = p.snakemake(tmp_path / "own", "-n", "-p", config=cfg)
    assert r.returncode == 0, r.stdout[-3000:]
    assert p.job_counts(r.stdout)["throughput"] == 1
    job = r.stdout[r.stdout.index("rule throughput:"):]
    job = job[:job.index("\n\n")] if "\n\n" in job else job
    assert "threads: 2" in job                            # every core of --cores 2: nothing runs beside it
    assert ("throughput --arch lstm gru --backend fused cell --shape 50x50x1x32 50x50x1x64 --pass forward_backward "
            "--rounds 2 --repeat 3 --threads 1 --device cpu --out results/throughput/sweep.csv") in r.stdout
    report = r.stdout[r.stdout.index("rule report:"):]
    assert "results/throughput/sweep.csv" in report[:report.index("Shell command")]   # the report waits for it
    # a grid naming the claim gets the claim's sweep
    cfg = p.write_config(tmp_path / "claim.yaml", {**tiny, "claims": ["gru_smaller_faster"]})
    r = p.snakemake(tmp_path / "claim", "-n", "-p", config=cfg)
    assert r.returncode == 0, r.stdout[-3000:]
    assert p.job_counts(r.stdout)["throughput"] == 1
    assert "--shape 50x50x1x32 50x50x1x64 50x50x1x128 50x50x1x256 50x50x1x512" in r.stdout
