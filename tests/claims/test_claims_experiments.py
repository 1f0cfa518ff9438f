"""Claims are experiments (rnnbench.claims): each claim's declared runs, their union as a grid
config that rnnbench.grid.expand accepts, a grid config naming the claims it covers; a claim
in which no arm learned is never "holds"; the exact claim of the 1.1 / 0.9 gradient."""
from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml

from rnnbench import claims
from rnnbench import grid as G
from rnnbench.claims import HOLDS, NOT_ENOUGH, NOTHING_LEARNED, exact
from rnnbench.errors import UsageError
from report.reporthelpers import make_runs, seeds
from runhelpers import REPO

CONFIGS = REPO / "workflows" / "config"
QUICK = yaml.safe_load((CONFIGS / "quick.yaml").read_text())
SCHEMA = yaml.safe_load((CONFIGS / "schema.yaml").read_text())
WITH_RUNS = [n for n in claims.CLAIMS.names() if claims.CLAIMS.get(n).runs is not None]
TRAINED = [n for n in WITH_RUNS if claims.CLAIMS.get(n).runs.tasks]     # with training runs


# ---- each claim's runs -------------------------------------------------------------------
def test_every_claim_declares_its_runs_or_is_computed():
    computed = [n for n in claims.CLAIMS.names() if claims.CLAIMS.get(n).runs is None]
    assert "scalar_gradient_50_steps" in computed
    assert all(claims.CLAIMS.get(n).check.__module__ == exact.__name__ for n in computed), computed
    for name in WITH_RUNS:
        exp = claims.CLAIMS.get(name).runs
        if not exp.tasks:                  # a kernel timing, no training run
            assert getattr(exp, "throughput", None), name
            continue
        assert exp.arch and (len(exp.seeds) >= 3 or exp.gradients), name


@pytest.mark.parametrize("name", TRAINED)
def test_a_claims_grid_expands_to_exactly_its_experiment(name):
    exp = claims.CLAIMS.get(name).runs
    cells = G.expand(claims.grid([name]))
    assert {c.task for c in cells} == set(exp.tasks)
    assert {c.arch for c in cells} == exp.archs()
    # the experiment's seeds, or a block's own (the window MLP's claim at adding T = 200: fresh seeds)
    assert {c.config["seed"] for c in cells} == {s for bs in exp.blocks().values() for b in bs for s in b["seed"]}
    for c in cells:      # the budget is the declared one, the same for every arm
        for block in exp.blocks()[c.task]:
            if c.arch not in block["arch"] or c.config["seed"] not in block["seed"]:
                continue                         # a block of other cells (tcn at its own lr, other seeds)
            for k in ("hidden", "steps", "eval_every", "epochs", "lr", "batch_size", "stop_when_solved"):
                if k in block and not isinstance(block[k], list):
                    assert c.config.get(k) == block[k], (name, k)
    assert any(c.gradients for c in cells) == exp.gradients


def test_the_union_of_claims_is_one_grid_config_the_schema_accepts():
    frag = claims.grid(claims.CLAIMS.names())
    jsonschema.validate(frag, SCHEMA)
    cells = G.expand(frag)
    each = {c.config_json() for n in TRAINED for c in G.expand(claims.grid([n]))}
    assert {c.config_json() for c in cells} == each     # the union, nothing more: a run two claims
    assert len(cells) == len(each)                       # need (same config) is one cell


def test_a_grid_config_naming_claims_gets_their_cells():
    # a grid of its own: the claim's adding block at seeds 0 and 1 (given with a key at its
    # default value, the same run), and sine
    block = {**claims.CLAIMS.get("irnn_competitive_adding").runs.blocks()["adding"][0], "seed": [0, 1],
             "bidirectional": False}
    own = {"grid": {"arch": ["lstm"], "steps": 50}, "tasks": {"adding": block, "sine": {}}}
    quick = G.expand(own)
    named = {**copy.deepcopy(own), "claims": ["irnn_competitive_adding", "scalar_gradient_50_steps"]}
    jsonschema.validate(named, SCHEMA)
    cells = G.expand(named)
    ids = {(c.task, c.arch, c.id) for c in cells}
    assert {(c.task, c.arch, c.id) for c in quick} <= ids
    claim_cells = G.expand(claims.grid(["irnn_competitive_adding"]))
    assert {(c.task, c.arch, c.id) for c in claim_cells} <= ids
    # the grid's 2 seeds and the claim's 3 coincide on seeds 0 and 1: only seed 2 is new
    assert len(cells) == len(quick) + sum(c.config["seed"] == 2 for c in claim_cells)
    only = G.expand({"claims": ["adding_gated_vs_tanh"]})
    assert {c.arch for c in only} == {"rnn", "lstm", "gru"}
    with pytest.raises(UsageError, match="unknown claim 'nope'"):
        G.expand({"claims": ["nope"]})


# ---- a claim never holds vacuously --------------------------------------------------------
def adding(arch, values):
    return seeds(values, task="adding", arch=arch, **{"params.task_params.seq_len": 100}, solved=False)


def test_irnn_competitive_adding_when_neither_learned_is_not_holds():
    # today's quick run: IRNN and LSTM both at the trivial baseline (MSE ~1/6) at T = 100
    runs = make_runs(adding("irnn", [0.171, 0.165, 0.19]) + adding("lstm", [0.167, 0.158, 0.169]))
    v = claims.CLAIMS.get("irnn_competitive_adding").check(runs, None)
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED), v.evidence
    assert v.numbers[0]["nothing_learned"] is True and v.numbers[0]["competitive"] is None
    # one arm off the baseline: decided again
    runs = make_runs(adding("irnn", [0.171, 0.165, 0.19]) + adding("lstm", [0.004, 0.005, 0.0045]))
    assert claims.CLAIMS.get("irnn_competitive_adding").check(runs, None).status != NOT_ENOUGH


def test_comparisons_in_which_no_arm_learned_decide_nothing():
    digits = [r for bi, vals in ((True, [0.11, 0.1, 0.105]), (False, [0.09, 0.095, 0.1]))
              for r in seeds(vals, task="seqdigits", arch="lstm", bidirectional=bi, metric="accuracy",
                             direction="max", baseline=0.1)]
    v = claims.CLAIMS.get("bidirectional_helps_classification").check(make_runs(digits), None)
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)
    rev = [r for var, vals in (("attention", [0.0, 0.0, 0.0]), ("plain", [0.0, 0.0, 0.0]))
           for r in seeds(vals, task="reverse", arch="lstm", metric="exact_match", direction="max", baseline=0.0,
                          **{"params.model_params.variant": var, "params.task_params.max_len": 30})]
    v = claims.CLAIMS.get("attention_beats_plain_long_reversal").check(make_runs(rev), None)
    assert v.status == NOT_ENOUGH and v.evidence.startswith(NOTHING_LEARNED)


@pytest.mark.parametrize("mean, baseline, direction, expected", [
    (0.16, 1 / 6, "min", True), (0.19, 1 / 6, "min", True), (0.12, 1 / 6, "min", False),
    (0.11, 0.1, "max", True), (0.5, 0.1, "max", False), (0.0, 0.0, "max", True), (None, 0.1, "max", None)])
def test_at_baseline(mean, baseline, direction, expected):
    assert claims.at_baseline(mean, baseline, direction) is expected


def test_at_a_zero_baseline_the_scale_is_the_distance_to_solved():
    assert claims.at_baseline(0.1, 0.0, "max", threshold=0.99) is True       # 10 % of the way
    assert claims.at_baseline(0.5, 0.0, "max", threshold=0.99) is False


# ---- the exact claim ---------------------------------------------------------------------
def test_the_scalar_gradient_through_50_steps_is_computed_exactly():
    assert exact.scalar_gradient(1.1) == pytest.approx(1.1 ** 50, rel=1e-12)     # 117.39
    assert exact.scalar_gradient(0.9) == pytest.approx(0.9 ** 50, rel=1e-12)     # 0.00515
    v = claims.CLAIMS.get("scalar_gradient_50_steps").check(make_runs([]), None)
    assert v.status == HOLDS and "117.391" in v.evidence and "0.00515378" in v.evidence
    assert [r["rounded"] for r in v.numbers] == [117.0, 0.005]
