"""Subject-verb agreement (rnnbench/claims/agreement.py): the two claims on hand-made run records
(accuracy per number of attractors), the experiment's cells and config, and the report's section."""
from __future__ import annotations

import pandas as pd
import pytest

from rnnbench import claims
from rnnbench import grid as G
from rnnbench.claims import FAILS, HOLDS, NOT_ENOUGH, NOTHING_LEARNED
from rnnbench.claims import agreement
from rnnbench.record import registry_facts
from report.reporthelpers import make_runs, seeds

GROWS, LSTM_BEATS = agreement.CLAIM_NAMES
BASE = 0.485


def runs(arch, by_k: list[list[float]]):
    """One ok agreement-lm run per row of by_k (seed = position): its accuracy at 0..4 attractors;
    the overall value is their mean."""
    rows = seeds([sum(r) / len(r) for r in by_k], **registry_facts(agreement.TASK, arch, {}), task=agreement.TASK,
                 arch=arch, hidden=50, baseline=BASE)
    for r, accs in zip(rows, by_k):
        r.update({f"metrics.accuracy_attractors_{k}": a for k, a in enumerate(accs)})
    return rows


def check(name, rows):
    return claims.CLAIMS.get(name).check(make_runs(rows), None)


RNN = [[0.9, 0.8, 0.7, 0.6, 0.5], [0.88, 0.79, 0.72, 0.62, 0.52], [0.91, 0.82, 0.69, 0.58, 0.49]]
FLAT = [[1.0, 1.0, 1.0, 0.998, 0.998], [1.0, 0.999, 1.0, 0.999, 0.997], [0.999, 1.0, 0.998, 0.998, 0.999]]
FALLING = [[0.99, 0.9, 0.8, 0.7, 0.6], [0.98, 0.88, 0.79, 0.72, 0.62], [0.99, 0.91, 0.82, 0.69, 0.58]]
CHANCE = [[0.52, 0.5, 0.49, 0.5, 0.48], [0.5, 0.49, 0.5, 0.47, 0.5], [0.49, 0.5, 0.48, 0.5, 0.49]]


def test_errors_grow_holds_when_accuracy_falls_with_attractors_and_fails_when_flat():
    v = check(GROWS, runs("lstm", FALLING))
    assert v.status == HOLDS and "drop 0.387" in v.evidence
    v = check(GROWS, runs("lstm", FLAT))                        # a drop within the practical margin
    assert v.status == FAILS and "no practical growth" in v.evidence
    # an architecture that learned nothing decides nothing; alone, the claim is not decided
    v = check(GROWS, runs("rnn", CHANCE))
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)
    assert check(GROWS, runs("lstm", FALLING) + runs("rnn", CHANCE)).status == HOLDS


def test_lstm_beats_rnn_at_every_number_of_attractors():
    v = check(LSTM_BEATS, runs("lstm", FLAT) + runs("rnn", RNN))
    assert v.status == HOLDS and [r["outcome"] for r in v.numbers] == ["lstm better"] * 5
    # one count with an interval across zero: undecided, not holds
    undecided = [[0.99, 0.8, 0.7, 0.6, 0.5], [0.97, 0.79, 0.72, 0.62, 0.52], [1.0, 0.82, 0.69, 0.58, 0.49]]
    assert check(LSTM_BEATS, runs("lstm", FLAT) + runs("rnn", undecided)).status == NOT_ENOUGH
    # at 0 attractors both near 1: not better there -> the claim "at every number" fails
    v = check(LSTM_BEATS, runs("lstm", FLAT) + runs("rnn", [[1.0, 0.9, 0.8, 0.7, 0.6], [0.999, 0.88, 0.79, 0.72, 0.62],
                                                             [1.0, 0.91, 0.82, 0.69, 0.58]]))
    assert v.status == FAILS and v.numbers[0]["outcome"] == "no practical difference"
    v = check(LSTM_BEATS, runs("lstm", CHANCE) + runs("rnn", CHANCE))
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)
    assert check(LSTM_BEATS, runs("lstm", FLAT)).status == NOT_ENOUGH        # no RNN runs


def test_the_experiment_is_the_agreement_config():
    import yaml
    from runhelpers import REPO
    cfg = yaml.safe_load((REPO / "workflows" / "config" / "agreement.yaml").read_text())
    assert cfg["claims"] == list(agreement.CLAIM_NAMES)
    cells = G.expand(cfg)
    assert {(c.task, c.arch) for c in cells} == {(agreement.TASK, "lstm"), (agreement.TASK, "rnn")}
    assert sorted(c.config["seed"] for c in cells if c.arch == "lstm") == list(range(3, 13))   # 10 fresh seeds


def test_the_section_shows_accuracy_by_attractors_and_the_claims(tmp_path):
    from rnnbench.report import html
    from rnnbench.report.inputs import Inputs
    empty = pd.DataFrame()
    inp = Inputs(results_dir=tmp_path, runs=make_runs(runs("lstm", FLAT) + runs("rnn", RNN)), curves=empty,
                 gradients=empty, throughput=empty, asv=empty)
    w = html.Writer(tmp_path, jobs=1)
    try:
        s = html.systems_section(inp, w, ())
    finally:
        w.close()
    table = pd.read_csv(tmp_path / "agreement_by_attractors.csv").set_index("arch")
    assert table.loc["rnn", "attractors_4"] == pytest.approx((0.5 + 0.52 + 0.49) / 3)
    assert table.loc["lstm", "attractors_0"] == pytest.approx((1.0 + 1.0 + 0.999) / 3)
    got = pd.read_csv(tmp_path / "systems_claims.csv").set_index("claim")["status"]
    assert got[LSTM_BEATS] == HOLDS and got[GROWS] == FAILS          # the LSTM's flat curve: no growth
    empty_runs = make_runs(seeds([0.1], task="adding", arch="lstm"))
    s = html.systems_section(Inputs(results_dir=tmp_path, runs=empty_runs, curves=empty, gradients=empty,
                                    throughput=empty, asv=empty), html.Writer(tmp_path, jobs=1), ())
    assert [b.kind for b in s.blocks] == ["nodata"]
