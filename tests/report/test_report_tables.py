"""The report's tables on hand-made runs: what they contain, and like-with-like grouping."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from .reporthelpers import make_runs, record, seeds

from rnnbench.models.cells import CELLS
from rnnbench.record import to_csv
from rnnbench.report import build, inputs, stats, tables


def test_status_table_counts_every_status():
    runs = make_runs(seeds([0.1, None, 0.2], task="adding", arch="lstm")
                     + [{"task": "adding", "arch": "gru", "seed": 0, "status": "failed"},
                        {"task": "copy", "arch": "gru", "seed": 0, "status": "missing"}])
    t = tables.status_table(runs).set_index("task")
    assert t.loc["adding", ["runs", "ok", "diverged", "failed", "missing"]].tolist() == [4, 2, 1, 1, 0]
    assert t.loc["all", ["runs", "ok", "diverged", "failed", "missing"]].tolist() == [5, 2, 1, 1, 1]


def test_conditions_ignore_the_seed_and_separate_other_parameters():
    runs = make_runs(seeds([1, 2], task="adding", arch="lstm", **{"params.task_params.seq_len": 50,
                                                                  "params.train.seed": 0})
                     + seeds([3], task="adding", arch="lstm", **{"params.task_params.seq_len": 200}))
    c = tables.with_condition(runs)
    assert c["cond"].nunique() == 2
    assert sorted(set(c["condition"])) == ["seq_len=200", "seq_len=50"]
    # a parameter not given is left out of the label; clip's None reads "off"
    c = tables.with_condition(make_runs([{"task": "adding", "arch": "lstm", "value": 1, "params.train.clip": None},
                                         {"task": "adding", "arch": "lstm", "value": 1, "params.train.clip": 1.0}]))
    assert sorted(c["condition"]) == ["clip=1", "clip=off"]


def test_compare_marks_the_better_one_only_when_the_interval_excludes_zero():
    common = {"task": "adding", "n_params": 100, "train_seconds": 10.0, "seconds_per_epoch": 1.0}
    runs = make_runs(seeds([0.010, 0.011, 0.012], arch="lstm", **common)
                     + seeds([0.020, 0.021, 0.022], arch="gru", **{**common, "n_params": 75,
                                                                    "seconds_per_epoch": 0.8})
                     + seeds([0.05, 0.01], arch="lstm", task="copy", n_params=100, seconds_per_epoch=1.0)
                     + seeds([0.03, 0.02], arch="gru", task="copy", n_params=75, seconds_per_epoch=1.0))
    comp = tables.compare(runs, "lstm", "gru").set_index("task")
    row = comp.loc["adding"]
    assert (row["n_a"], row["n_b"]) == (3, 3)
    assert row["mean_a"] == pytest.approx(0.011) and row["std_a"] == pytest.approx(0.001)
    iv = stats.welch([0.010, 0.011, 0.012], [0.020, 0.021, 0.022])
    assert (row["diff"], row["ci_low"], row["ci_high"]) == pytest.approx((iv.diff, iv.low, iv.high))
    assert row["better"] == "lstm" and row["smaller"] == "gru"
    assert row["sec_per_epoch_b"] == pytest.approx(0.8) and row["time_ratio_b_a"] == pytest.approx(0.8)
    assert row["quicker"] == "gru"              # zero-variance timings: a point interval below zero
    assert comp.loc["copy", "better"] == ""     # the interval includes zero: nobody is marked


def test_compare_counts_diverged_runs_outside_the_mean():
    runs = make_runs(seeds([0.01, None, 0.03], task="adding", arch="lstm") + seeds([0.02, 0.02], task="adding",
                                                                                    arch="gru"))
    row = tables.compare(runs, "lstm", "gru").iloc[0]
    assert (row["n_a"], row["diverged_a"], row["mean_a"]) == (2, 1, pytest.approx(0.02))


def test_longdep_table_per_length_with_baseline_and_solved():
    rows = []
    for T, vals, solved in ((50, [0.002, 0.004], True), (200, [0.16, 0.17], False)):
        rows += [{**r, "solved": solved} for r in seeds(vals, task="adding", arch="rnn",
                                                        **{"params.task_params.seq_len": T})]
    rows += [{"task": "temporal_order", "arch": "rnn", "seed": 0, "value": 0.3, "metric": "accuracy",
              "direction": "max", "baseline": 0.25, "solved": False}]
    rows += [{"task": "sine", "arch": "rnn", "seed": 0, "value": 0.3, "params.task_params.seq_len": 100}]
    lt = tables.longdep_table(make_runs(rows))
    assert set(lt["task"]) == {"adding", "temporal_order"}           # sine is no long-dependency task
    a = lt[lt["task"] == "adding"].set_index("seq_len")
    assert a.loc[50.0, "mean"] == pytest.approx(0.003) and a.loc[50.0, "solved_frac"] == 1.0
    assert a.loc[200.0, "solved_frac"] == 0.0 and a.loc[200.0, "baseline"] == pytest.approx(1 / 6)
    assert math.isnan(lt.loc[lt["task"] == "temporal_order", "seq_len"].iloc[0])   # fixed length


def test_longdep_table_puts_a_models_own_settings_in_its_arm_not_the_condition():
    """tcn sized to LSTM's count (match=lstm) and a window MLP (window=10) share LSTM's condition:
    one condition per length, the arms named with their settings; a real setting (hidden) still
    separates conditions."""
    rows = []
    for T in (50, 100):
        common = {"task": "adding", "params.task_params.seq_len": T}
        rows += seeds([0.01, 0.02], arch="lstm", **common)
        rows += seeds([0.03, 0.05], arch="tcn", **common, **{"params.model_params.match": "lstm"})
        rows += seeds([0.16], arch="window-mlp", **common,
                      **{"params.model_params.match": "lstm", "params.model_params.window": 10})
    rows += seeds([0.02], arch="lstm", task="adding", hidden=128, **{"params.task_params.seq_len": 50})
    lt = tables.longdep_table(make_runs(rows))
    assert set(lt["arch"]) == {"lstm", "tcn (match=lstm)", "window-mlp (match=lstm, window=10)"}
    assert sorted(set(lt["condition"])) == ["hidden=128", "hidden=64"]
    tcn = lt[lt["arch"] == "tcn (match=lstm)"].set_index("seq_len")
    assert tcn.loc[50.0, "mean"] == pytest.approx(0.04) and tcn.loc[50.0, "condition"] == "hidden=64"
    # arms(own=...): a model at its own (source's) learning rate keeps LSTM's condition, its arm says so
    rows2 = [{**r, "params.train.lr": 0.004 if r["arch"] == "tcn" else 0.01} for r in rows]
    a = tables.arms(make_runs(rows2), own=["params.train.lr"])
    assert set(a["_arm"]) == {"lstm", "tcn (match=lstm, lr=0.004)", "window-mlp (match=lstm, window=10)"}
    assert a.groupby(["hidden", "seq_len"])["cond"].nunique().eq(1).all()


def test_grid_table_is_one_row_per_arch_and_task():
    runs = make_runs(seeds([0.1, 0.2, None], task="adding", arch="lstm", n_params=10)
                     + seeds([0.3], task="adding", arch="gru") + seeds([0.5], task="copy", arch="gru")
                     + [{"task": "copy", "arch": "gru", "seed": 1, "status": "missing"}])
    g = tables.grid_table(runs).set_index(["arch", "task"])
    assert len(g) == 3
    r = g.loc[("lstm", "adding")]
    assert (r["runs"], r["ok"], r["diverged"], r["missing"]) == (3, 2, 1, 0)
    assert r["mean"] == pytest.approx(0.15) and r["best"] == pytest.approx(0.1) and r["n_params"] == 10
    assert g.loc[("gru", "copy"), "missing"] == 1


def test_clipping_table_pairs_runs_differing_only_in_clip():
    rows = [{"task": "adding", "arch": "rnn", "seed": i, "status": s, "value": None if s != "ok" else 0.1,
             "params.train.clip": c} for i, (s, c) in enumerate([("diverged", None), ("ok", None),
                                                                  ("ok", 1.0), ("ok", 1.0)])]
    rows.append({"task": "adding", "arch": "lstm", "seed": 0, "value": 0.1, "params.train.clip": 1.0})
    runs = make_runs(rows)
    unclipped = runs.index[(runs["arch"] == "rnn") & (runs["status"] == "diverged")][0]
    clipped = runs.index[(runs["arch"] == "rnn") & runs["params.train.clip"].notna()][0]
    curves = pd.DataFrame({"run": [unclipped] * 4 + [clipped] * 4, "step": [1, 2, 3, 4] * 2,
                           "grad_norm": [1, 1, 50, np.inf, 1, 1.1, 0.9, 1]})
    ct = tables.clipping_table(runs, curves).set_index("clip")
    assert list(ct.index) == ["1", "off"] and (ct["arch"] == "rnn").all()
    assert ct.loc["off", "diverged"] == 1 and ct.loc["off", "spikes"] == 1
    assert ct.loc["off", "max_grad_norm"] == 50 and ct.loc["1", "spikes"] == 0


def test_seq2seq_table_and_variant_labels():
    mp = "params.model_params."
    rows = (seeds([0.9, 0.92], task="reverse", arch="lstm", metric="exact_match", direction="max",
                  **{mp + "variant": "attention", mp + "attention": "additive", mp + "beam": 4,
                     "metrics.token_accuracy": 0.95})
            + seeds([0.5, 0.52], task="reverse", arch="lstm", metric="exact_match", direction="max",
                    **{mp + "variant": "plain"}))
    st = tables.seq2seq_table(make_runs(rows)).set_index("variant")
    assert sorted(st.index) == ["attention (additive), beam=4", "plain"]
    assert st.loc["plain", "mean"] == pytest.approx(0.51)
    assert st.loc["attention (additive), beam=4", "token_accuracy"] == pytest.approx(0.95)


def _at(settings: dict) -> dict:
    """Row fields of a run at these RunConfig settings (model_params nested)."""
    row = {k: v for k, v in settings.items() if k in ("hidden", "layers")}
    row.update({f"params.train.{k}": v for k, v in settings.items() if k not in ("hidden", "layers", "model_params")})
    row.update({f"params.model_params.{k}": v for k, v in (settings.get("model_params") or {}).items()})
    return row


def test_lab_table_puts_the_quoted_times_beside_runs_at_the_quoted_setting():
    """Like with like: the ratio to the quoted time only for runs at the quoted setting (the task
    registry's reference_params, else the task's defaults); other runs name what differs."""
    from rnnbench.tasks import TASKS
    air, add = TASKS.get("airquality"), TASKS.get("addition")
    runs = make_runs(seeds([0.1, 0.12], task="airquality", arch="lstm", train_seconds=15.0, **_at(air.defaults))
                     + seeds([0.9], task="addition", arch="lstm", train_seconds=660.0, **_at(add.LAB_SETTING))
                     + seeds([0.99], task="addition", arch="lstm", train_seconds=100.0,
                             **_at({**add.defaults, "model_params": {"variant": "attention"}}))
                     + seeds([0.1], task="adding", arch="lstm"))
    lt = tables.lab_table(runs)
    assert sorted(set(lt["task"])) == ["addition", "airquality"]     # the course-lab family; adding is not
    a = lt[lt["task"] == "airquality"].iloc[0]
    assert a["reference_seconds"] == 30 and a["ratio_to_reference"] == 0.5 and a["setting"] == "the quoted one"
    quoted, other = (lt[(lt["task"] == "addition") & (lt["setting"] == "the quoted one")],
                     lt[(lt["task"] == "addition") & (lt["setting"] != "the quoted one")])
    assert quoted["reference_seconds"].item() == 330 and quoted["ratio_to_reference"].item() == 2
    assert math.isnan(other["ratio_to_reference"].item())
    assert "variant=attention (quoted: repeat)" in other["setting"].item()
    assert "epochs=30 (quoted: 50)" in other["setting"].item()
    assert quoted["task_title"].item() == runs.loc[runs["task"] == "addition", "task_title"].iloc[0]


def test_throughput_table_ratio_to_fused_and_flops():
    tp = pd.DataFrame([{"arch": "lstm", "backend": b, "bidirectional": False, "layers": 1, "batch": 10,
                        "seq_len": 10, "input_size": 8, "hidden": 8, "pass": "forward", "seconds": s}
                       for b, s in (("fused", 0.01), ("cell", 0.04))])
    tt = tables.throughput_table(tp, pd.DataFrame()).set_index("backend")
    assert tt.loc["fused", "step_samples_per_s"] == pytest.approx(10_000)
    assert tt.loc["cell", "ratio_to_fused"] == pytest.approx(0.25)
    # the cell's own count (CellSpec.flops) per step-sample, times step-samples per second
    assert tt.loc["fused", "gflops"] == pytest.approx(CELLS.get("lstm").flops(8, 8) * 10_000 / 1e9)


def test_asv_results_are_read_per_parameter_combination(tmp_path):
    root = tmp_path / "asv"
    (root / "m1").mkdir(parents=True)
    params = [["'lstm'", "'gru'"], ["'fused'"], ["32"], ["100"], ["64"]]
    (root / "benchmarks.json").write_text(json.dumps({"k.T.time_step": {
        "type": "time", "unit": "seconds", "param_names": ["arch", "backend", "batch", "seq_len", "hidden"],
        "params": params}, "version": 2}))
    (root / "m1" / "abcdef12-py.json").write_text(json.dumps({
        "commit_hash": "abcdef1234", "version": 2, "result_columns": ["result", "params", "version"],
        "results": {"k.T.time_step": [[0.002, None], params, "1"]}}))
    asv = inputs.load_asv(root)
    assert list(asv["arch"]) == ["lstm", "gru"] and asv["batch"].tolist() == [32, 32]
    assert asv["value"].iloc[0] == 0.002 and math.isnan(asv["value"].iloc[1])
    tt = tables.throughput_table(pd.DataFrame(), asv)
    assert tt["step_samples_per_s"].iloc[0] == pytest.approx(32 * 100 / 0.002)


def test_gradient_table_fits_the_decay_per_step():
    lag = np.arange(30)
    g = pd.DataFrame({"lag": np.tile(lag, 2), "norm": np.concatenate([0.9 ** lag, 0.99 ** lag]),
                      "arch": ["rnn"] * 30 + ["lstm"] * 30, "task": "adding", "phase": "init", "state": "h",
                      "source": "s", "seed": 0, "layer": 0, "direction": "forward", "spectral_radius": 0.5,
                      "sigma_max": 1.0})
    gt = tables.gradient_table(g).set_index("arch")
    assert gt.loc["rnn", "decay_per_step"] == pytest.approx(0.9)
    assert gt.loc["lstm", "decay_per_step"] == pytest.approx(0.99)
    assert gt.loc["rnn", "spectral_radius"] == 0.5


def test_gradients_files_are_read_with_missing_columns(tmp_path):
    d = tmp_path / "gradients" / "adding" / "rnn" / "c1"
    d.mkdir(parents=True)
    pd.DataFrame({"lag": [0, 1, 2, 0, 1, 2], "norm": [1, 0.5, 0.25, 1, 0.9, 0.8], "arch": "rnn",
                  "at": ["init"] * 3 + ["step500"] * 3}).to_csv(d / "gradients.csv", index=False)
    g = inputs.load_gradients(tmp_path)
    assert sorted(set(g["phase"])) == ["init", "trained"] and g["spectral_radius"].isna().all()
    assert (g["task"] == "?").all() and len(g) == 6


def test_asv_tracked_throughput_with_named_shapes(tmp_path):
    """The kernels suite's shape: track_* values as they are, shapes by name, direction uni|bi."""
    root = tmp_path / "asv"
    (root / "vm").mkdir(parents=True)
    names = ["arch", "backend", "direction", "layers", "shape", "pass_"]
    params = [["'lstm'"], ["'fused'", "'cell'"], ["'uni'", "'bi'"], ["1"], ["'latency'"], ["'forward'"]]
    bench = {f"kernels.Throughput.{m}": {"type": "track", "unit": "x", "param_names": names, "params": params}
             for m in ("track_step_samples_per_s", "track_gflops")}
    (root / "benchmarks.json").write_text(json.dumps({**bench, "version": 2}))
    (root / "vm" / "abc-py.json").write_text(json.dumps({
        "commit_hash": "abc", "result_columns": ["result", "params"],
        "results": {"kernels.Throughput.track_step_samples_per_s": [[1000.0, 900.0, 250.0, 200.0], params],
                    "kernels.Throughput.track_gflops": [[4.0, 3.6, 1.0, 0.8], params],
                    "kernels.ThroughputCuda.track_gflops": [None, params]}}))
    tt = tables.throughput_table(pd.DataFrame(), inputs.load_asv(root))
    tt = tt.set_index(["backend", "bidirectional"])
    assert len(tt) == 4 and (tt["shape"] == "latency").all() and (tt["pass"] == "forward").all()
    assert tt.loc[("cell", False), "step_samples_per_s"] == 250.0 and tt.loc[("cell", False), "gflops"] == 1.0
    assert tt.loc[("cell", False), "ratio_to_fused"] == 0.25
    assert tt.loc[("cell", True), "ratio_to_fused"] == 200 / 900


def new_task_and_cell() -> list[dict]:
    """Runs of a long-dependency task whose name no pattern knows and of a cell no registry here
    knows (each row gives the registry facts its record carries), against lstm."""
    task = {"task": "zebra-recall", "task_kind": "many_to_one", "task_family": "long-dependency",
            "task_title": "Zebra recall", "metric": "accuracy", "direction": "max", "baseline": 0.25,
            "solved_threshold": 0.99, "solved_rule": "accuracy >= 0.99", "reference_seconds": None,
            "reference_source": None, "reference_setting": None}
    quokka = {"arch": "quokka", "cell_title": "Quokka cell", "cell_citation": "a test", "backend": "cell"}
    lstm = {"arch": "lstm", "cell_title": "LSTM", "cell_citation": "Hochreiter & Schmidhuber 1997"}
    rows = []
    for T in (10, 40):
        for cell, vals in ((quokka, [0.99, 1.0, 0.995]), (lstm, [0.5, 0.55, 0.52])):
            rows += [{**r, "solved": r["value"] >= 0.99} for r in
                     seeds(vals, **task, **cell, seq_len=T, **{"params.task_params.length": T, "n_params": 99})]
    return rows


def test_a_new_task_and_cell_are_placed_by_their_records_alone():
    """The record's fields put them in section 3 and (against lstm) in section 2."""
    runs = make_runs(new_task_and_cell())
    lt = tables.longdep_table(runs).set_index(["arch", "seq_len"])
    assert set(lt.index) == {(a, T) for a in ("lstm", "quokka") for T in (10.0, 40.0)}
    assert (lt["condition"] == "").all()      # the length parameter is the record's seq_len, no condition
    assert lt.loc[("quokka", 40.0), "mean"] == pytest.approx(0.995) and lt.loc[("quokka", 40.0), "solved_frac"] == 1
    assert tables.pairs(runs["arch"].unique()) == [("lstm", "quokka")]
    comp = tables.compare(runs, "lstm", "quokka").set_index("condition")
    assert list(comp.index) == ["length=10", "length=40"] and (comp["better"] == "quokka").all()
    assert not len(tables.lab_table(runs)) and not len(tables.seq2seq_table(runs))


def test_a_new_task_and_cell_land_in_the_report_sections(tmp_path):
    recs = [record({**r, "run_dir": f"runs/{k}"}) for k, r in enumerate(new_task_and_cell())]
    (tmp_path / "runs.csv").write_text(to_csv(recs))
    html = (build(tmp_path, tmp_path / "report", jobs=1)).read_text()
    for sid in ("long-dependencies", "lstm-gru"):
        part = re.search(rf'<section id="{sid}".*?</section>', html, re.S).group(0)
        assert "zebra-recall" in part and "quokka" in part and "no data" not in part, sid
