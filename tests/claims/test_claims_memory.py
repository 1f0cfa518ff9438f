"""The NTM's copy generalisation (rnnbench/claims/memory.py) on hand-made run records: the claim,
its table and the addressing heatmap's frames; the experiment's cells and config."""
from __future__ import annotations

import pandas as pd
import pytest

from rnnbench import claims
from rnnbench import grid as G
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED
from rnnbench.claims import memory
from rnnbench.record import registry_facts
from report.reporthelpers import make_runs, seeds

LENGTHS = (10, 20, 30, 50, 80, 100)


def runs(arch, in_range: list[float], per_bit: list[list[float]], reached=True):
    """One ok seqcopy run per seed (trained on 1..20): its in-range bits per sequence and its error
    per bit at each test length (recorded as bits per sequence: x n x 8)."""
    rows = seeds(in_range, **registry_facts(memory.TASK, arch, {"max_len": 20}), task=memory.TASK, arch=arch,
                 baseline=42.0, **{"params.task_params.max_len": 20, "params.task_params.width": 8})
    for r, pb in zip(rows, per_bit):
        r.update({f"metrics.bits_err_L{n}": e * n * 8 for n, e in zip(LENGTHS, pb)},
                 steps_to_solve=3500 if reached else None)
    return rows


def check(rows):
    return claims.CLAIMS.get(memory.CLAIM_NAMES[0]).check(make_runs(rows), None)


NTM = [[0.0, 0.001, 0.002, 0.003, 0.02, 0.02], [0.0, 0.0, 0.001, 0.002, 0.016, 0.018],
       [0.001, 0.001, 0.003, 0.004, 0.021, 0.025]]
LSTM = [[0.02, 0.05, 0.3, 0.42, 0.46, 0.48], [0.03, 0.05, 0.28, 0.41, 0.47, 0.49], [0.02, 0.06, 0.31, 0.43, 0.45, 0.47]]


def test_holds_when_the_ntm_errs_less_at_every_length_beyond_training():
    v = check(runs("ntm", [0.3, 0.2, 0.4], NTM) + runs("lstm", [8.0, 7.5, 9.0], LSTM))
    assert v.status == HOLDS
    assert [r["length"] for r in v.numbers] == [30, 50, 80, 100]            # beyond max_len 20 only
    assert all(r["outcome"] == "ntm better" for r in v.numbers)
    assert v.numbers[0]["ntm"] == pytest.approx((0.002 + 0.001 + 0.003) / 3)


def test_fails_when_the_lstm_is_as_good_and_nothing_learned_decides_nothing():
    v = check(runs("ntm", [0.3, 0.2, 0.4], NTM) + runs("lstm", [0.3, 0.2, 0.4], NTM))
    assert v.status == FAILS and {r["outcome"] for r in v.numbers} == {"no practical difference"}
    chance = [[0.5] * 6] * 3
    v = check(runs("ntm", [41.0, 42.0, 43.0], chance, reached=False) + runs("lstm", [8.0, 7.5, 9.0], LSTM))
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)
    assert check(runs("ntm", [0.3, 0.2, 0.4], NTM)).status == NOT_ENOUGH           # no LSTM runs


def test_table_and_addressing_frames():
    t = memory.table(make_runs(runs("ntm", [0.3, 0.2, 0.4], NTM) + runs("lstm", [8.0, 7.5, 9.0], LSTM)))
    t = t.set_index("arch")
    assert t.loc["lstm", "L100"] == pytest.approx(0.48) and t.loc["ntm", "reached"] == "3/3"
    assert t.loc["ntm", "max_len"] == 20
    doc = {"task": "seqcopy", "length": 3, "read": [[0, 0.9, 0.1, 0], [0, 0, 0.95, 0]],
           "write": [[0, 0.999, 0, 0], [0, 0, 0, 0.005]]}
    f = memory.addressing_frames(doc)
    assert f["slots"] == [1, 2] and f["read"] == [[0.9, 0.1], [0, 0.95]] and f["write"] == [[0.999, 0], [0, 0]]
    assert memory.addressing_frames({"read": [], "write": []}) == {}
    # slots in the order first addressed: a head moving down through memory and wrapping around
    wrap = {"read": [[0, 0, 0, 0]] * 3, "write": [[0, 0, 0, 1.0], [1.0, 0, 0, 0], [0, 1.0, 0, 0]]}
    assert memory.addressing_frames(wrap)["slots"] == [3, 0, 1]


def test_the_experiment_is_the_ntm_config():
    import yaml
    from runhelpers import REPO
    cfg = yaml.safe_load((REPO / "workflows" / "config" / "ntm.yaml").read_text())
    assert cfg["claims"] == list(memory.CLAIM_NAMES)
    cells = G.expand(cfg)
    assert {(c.task, c.arch) for c in cells} == {(memory.TASK, "ntm"), (memory.TASK, "lstm")}
    assert all(c.config["steps"] == 6000 and c.config["stop_when_solved"] for c in cells)


def test_the_section_shows_generalisation_and_the_heatmap(tmp_path):
    import json
    from rnnbench.report import html
    from rnnbench.report.inputs import Inputs
    rows = runs("ntm", [0.3, 0.2, 0.4], NTM) + runs("lstm", [8.0, 7.5, 9.0], LSTM)
    for k, r in enumerate(rows):
        r["run_dir"] = f"runs/seqcopy/{r['arch']}/{k}"
    run = tmp_path / "runs" / "seqcopy" / "ntm" / "0"
    run.mkdir(parents=True)
    (run / "addressing.json").write_text(json.dumps({"task": "seqcopy", "length": 2, "read": [[0.0, 1.0], [1.0, 0.0]],
                                                     "write": [[1.0, 0.0], [0.0, 1.0]]}))
    empty = pd.DataFrame()
    inp = Inputs(results_dir=tmp_path, runs=make_runs(rows), curves=empty, gradients=empty, throughput=empty,
                 asv=empty)
    w = html.Writer(tmp_path / "out", jobs=1)
    try:
        s = html.systems_section(inp, w, ())
    finally:
        w.close()
    titles = [b.title for b in s.blocks]
    assert "NTM addressing on seqcopy (length 2)" in titles
    got = pd.read_csv(tmp_path / "out" / "systems_claims.csv").set_index("claim")["status"]
    assert got[memory.CLAIM_NAMES[0]] == HOLDS
    assert (tmp_path / "out" / "copy_generalisation.csv").is_file()
