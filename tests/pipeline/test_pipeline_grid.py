"""Grid expansion (rnnbench/grid.py) and the config schema: ids, axes, variants,
per-task overrides, exclusions, the registries' names, the shipped configs."""
from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
import yaml

from pipeline_helpers import CONFIGS, SCHEMA, load, validated
from rnnbench import grid as G
from rnnbench.config import RunConfig
from rnnbench.errors import UsageError

BASE = {
    "grid": {"arch": ["lstm", "gru"], "hidden": 16, "steps": 10, "seed": [0, 1]},
    "tasks": {"adding": {"task_params": {"seq_len": [10, 20]}}},
}


def cells(config):
    return G.expand(validated(config))


def ids(config):
    return [c.path for c in cells(config)]


def with_(config, **changes):
    c = copy.deepcopy(config)
    for dotted, value in changes.items():
        node = c
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return c


# ---------------------------------------------------------------- ids
def test_product_of_the_axes_with_readable_unique_ids():
    cs = cells(BASE)
    assert len(cs) == 2 * 2 * 2
    assert len({c.path for c in cs}) == len(cs)
    by_id = {c.path: c for c in cs}
    assert by_id["adding/lstm/" + cs[0].id] is cs[0]
    c = cs[0]
    assert re.fullmatch(r"T10_fused_uni_l1_h16_s0-[0-9a-f]{6}", c.id), c.id
    assert c.config == {"task": "adding", "arch": "lstm", "backend": "fused", "bidirectional": False,
                        "layers": 1, "hidden": 16, "steps": 10, "seed": 0, "device": "cpu", "threads": 1,
                        "task_params": {"seq_len": 10}}


def test_ids_are_stable_across_runs_and_config_order():
    first = ids(BASE)
    assert ids(BASE) == first
    shuffled = {"tasks": BASE["tasks"],
                "grid": dict(reversed(list(BASE["grid"].items()))) | {"seed": [1, 0], "arch": ["gru", "lstm"]}}
    assert sorted(ids(shuffled)) == sorted(first)


def test_adding_an_axis_value_keeps_every_other_id():
    before = set(ids(BASE))
    after = set(ids(with_(BASE, grid__seed=[0, 1, 2])))
    assert before < after and len(after - before) == 4
    after = set(ids(with_(BASE, tasks__adding__task_params__seq_len=[10, 20, 40])))
    assert before < after and len(after - before) == 4


def test_a_changed_setting_changes_only_the_affected_ids():
    two_tasks = with_(BASE, tasks__sine={"task_params": {"seq_len": 20}})
    before = {c.path for c in cells(two_tasks)}
    changed = with_(two_tasks, tasks__sine__steps=20)
    after = {c.path for c in cells(changed)}
    assert {p for p in before if p.startswith("adding/")} == {p for p in after if p.startswith("adding/")}
    assert not ({p for p in before if p.startswith("sine/")} & {p for p in after if p.startswith("sine/")})


def test_int_and_float_spellings_are_one_cell():
    a = ids(with_(BASE, grid__lr=0.001))
    b = ids(with_(BASE, grid__lr=1.0e-3))
    c = ids(with_(BASE, grid__clip=1))
    d = ids(with_(BASE, grid__clip=1.0))
    assert a == b and c == d


def test_only_declared_axes_and_the_structure_are_in_the_id():
    cs = cells(with_(BASE, grid__lr=[0.01, 0.001], grid__clip=[1.0, None], grid__optimizer="sgd"))
    tokens = {c.id.rsplit("-", 1)[0] for c in cs}
    assert "T10_fused_uni_l1_h16_lr0.01_clipoff_s0" in tokens
    assert all("sgd" not in t for t in tokens)      # a fixed value: in the hash only
    assert G.token("bidirectional", True) == "bi" and G.token("clip", None) == "clipoff"
    assert G.token("variant", "attention") == "attention" and G.token("n_train", 500) == "ntrain500"
    assert G.token("lr", 1e-05) == "lr1e-05" and G.token("weird", "a/b c") == "weirda-b-c"


# ---------------------------------------------------------------- layers of the config
def test_variants_add_cells_and_tasks_have_the_last_word():
    config = with_(BASE, grid__arch=["rnn", "lstm", "gru"], grid__seed=0,
                   variants=[{"arch": ["lstm", "gru"], "bidirectional": True},
                             {"arch": ["lstm", "gru"], "layers": 2}],
                   tasks__sine={"bidirectional": False})
    cs = cells(config)
    adding = [c for c in cs if c.task == "adding"]
    assert len(adding) == 2 * (3 + 2 + 2)
    assert {c.arch for c in adding if c.config["bidirectional"]} == {"lstm", "gru"}
    assert {c.arch for c in adding if c.config["layers"] == 2} == {"lstm", "gru"}
    sine = [c for c in cs if c.task == "sine"]
    assert len(sine) == 3 + 2      # the bidirectional variant collapses onto the base cells
    assert not any(c.config["bidirectional"] for c in sine)


def test_exclusions_match_every_key_and_lists_match_any():
    config = with_(BASE, tasks__sine={}, exclude=[{"task": "adding", "arch": "gru", "task_params.seq_len": 20},
                                                  {"kind": "many_to_many", "seed": [1]}])
    cs = cells(config)
    assert not any(c.task == "adding" and c.arch == "gru" and c.config["task_params"]["seq_len"] == 20 for c in cs)
    assert not any(c.task == "sine" and c.config["seed"] == 1 for c in cs)
    assert len(cs) == 8 - 2 + 2


def test_seq2seq_model_params_only_where_given():
    config = with_(BASE, tasks__addition={"model_params": {"variant": ["plain", "attention"]},
                                          "task_params": {"n_train": 500}})
    cs = cells(config)
    add = [c for c in cs if c.task == "addition"]
    assert {c.config["model_params"]["variant"] for c in add} == {"plain", "attention"}
    assert all("model_params" not in c.config for c in cs if c.task == "adding")
    assert any(c.id.startswith("attention_") for c in add)


def test_gradients_select_cells_and_resources_merge():
    config = with_(BASE, gradients={"cells": [{"arch": "lstm", "seed": 0}]},
                   resources={"mem_mb": 700, "runtime": 3},
                   tasks__adding__resources={"runtime": 9})
    cs = cells(config)
    assert {(c.arch, c.config["seed"]) for c in cs if c.gradients} == {("lstm", 0)}
    assert all(c.resources == {"mem_mb": 700, "runtime": 9} for c in cs)


def test_backend_auto_is_resolved_and_a_missing_backend_dropped():
    config = with_(BASE, grid__arch=["lstm", "jordan"], grid__backend=["fused", "cell"])
    cs = cells(config)
    assert {(c.arch, c.config["backend"]) for c in cs} == {("lstm", "fused"), ("lstm", "cell"), ("jordan", "cell")}
    assert {c.config["backend"] for c in cells(with_(BASE, grid__arch="jordan"))} == {"cell"}
    with pytest.raises(UsageError, match=r"'jordan' has no fused backend.*backend: auto"):
        cells(with_(BASE, grid__arch=["lstm", "jordan"], grid__backend="fused"))


# ---------------------------------------------------------------- mistakes
@pytest.mark.parametrize("change, fragments", [
    ({"tasks": {"nope": {}}}, ["unknown task 'nope'", "adding", "sine"]),
    ({"grid": {"arch": ["lstm", "xlstm"]}}, ["unknown cell 'xlstm'", "grid.arch", "gru-cho", "jordan"]),
    ({"tasks": {"adding": {"task_params": {"digits": 3}}}}, ["'digits'", "seq_len"]),
    ({"tasks": {"adding": {"task_params": {"seq_len": 1}}}}, ["seq_len"]),
    ({"exclude": [{"color": "red"}]}, ["unknown key 'color' in exclude[0]"]),
    ({"tasks": {"addition": {"model_params": {"beam": 0}}}}, ["beam"]),
])
def test_registry_and_value_mistakes_are_one_line(change, fragments):
    config = {**copy.deepcopy(BASE), **change}
    with pytest.raises(UsageError) as e:
        cells(config)
    msg = str(e.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


@pytest.mark.parametrize("change, fragments", [
    ({"colour": "red"}, ["'colour' was unexpected"]),
    ({"grid": {"arch": "lstm", "hiden": 8}}, ["'hiden' was unexpected"]),
    ({"grid": {"arch": "lstm", "hidden": "big"}}, ["'big' is not of type", "hidden"]),
    ({"grid": {"arch": "lstm", "seed": []}}, ["should be non-empty", "seed"]),
    ({"grid": {"arch": "lstm", "lr": "1e-3"}}, ["'1e-3' is not of type", "lr"]),
    ({"grid": {"arch": "lstm", "backend": "magic"}}, ["'magic' does not match", "backend"]),
    ({"tasks": {}}, ["should be non-empty", "tasks"]),
])
def test_schema_names_the_bad_key(change, fragments):
    config = {**copy.deepcopy(BASE), **change}
    with pytest.raises(Exception) as e:
        validated(config)
    text = str(e.value) + " " + str(getattr(e.value, "__cause__", "") or "") + " " + \
        " ".join(str(a) for a in getattr(e.value, "args", ()))
    for f in fragments:
        assert f in text, (f, text)


def test_schema_covers_every_runconfig_key():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = set(schema["$defs"]["run_keys"]["properties"])
    assert keys == set(RunConfig.field_names()) - {"task", "task_params"}
    jsonschema.Draft202012Validator.check_schema(schema)


# ---------------------------------------------------------------- shipped configs
@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml") if p.stem != "schema"))
def test_shipped_configs_expand(name):
    cs = cells(load(name))
    assert len({c.path for c in cs}) == len(cs) > 0
    for c in cs:
        RunConfig.from_dict(c.config).validate()
        assert re.fullmatch(r"[A-Za-z0-9.+_-]+", c.id), c.id


def test_quick_grid_is_what_the_issue_asks():
    """Issue 16: the default run is the union of its claims' experiments, 3+ seeds per arm, at least
    three lengths per long-dependency task, and every registered claim is either its own or named
    as decided by claims.yaml (which runs all of those)."""
    from rnnbench import claims

    quick = load("quick")
    own, elsewhere = quick["claims"], [n for names in quick["claims_elsewhere"].values() for n in names]
    assert len(own) >= 12 and not set(own) & set(elsewhere)
    assert set(own) | set(elsewhere) == set(claims.CLAIMS.names())
    for cfg, names in quick["claims_elsewhere"].items():     # each config runs what it is named for
        assert set(load(cfg.removesuffix(".yaml"))["claims"]) == set(names), cfg
    cs = cells(quick)
    assert {c.config_json() for c in cs} == {c.config_json() for c in G.expand({"claims": own})}
    arms: dict = {}
    for c in cs:
        arms.setdefault(json.dumps({k: v for k, v in c.config.items() if k != "seed"}, sort_keys=True),
                        set()).add(c.config["seed"])
    assert all(len(s) >= 3 for s in arms.values())
    for task in ("adding", "copy"):
        assert len({c.config["task_params"]["seq_len"] for c in cs if c.task == task}) >= 3, task
    assert all(c.config["device"] == "cpu" and c.threads == 1 for c in cs)
