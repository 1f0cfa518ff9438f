"""One source for a run's settings: RunConfig's declarations (rnnbench/config.py SETTINGS)
against the `rnnbench train` flags and the grid schema, field by field; and the checks that
refuse non-finite and out-of-range numbers in one line, exit 2, before anything is written."""
from __future__ import annotations

import argparse
import copy
import math

import jsonschema
import pytest
import yaml

from rnnbench import grid as G
from rnnbench.commands import train as train_cmd
from rnnbench.config import GRID_KEYS, INT_MAX, OFF, SEED_MAX, SETTINGS, RunConfig, resolve, with_task_defaults
from rnnbench.errors import UsageError
from runhelpers import REPO, run_cli

SCHEMA = REPO / "workflows" / "config" / "schema.yaml"
NAMES = list(SETTINGS)


@pytest.fixture(scope="module")
def train_parser():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    train_cmd.add_parser(sub)
    return sub.choices["train"]


@pytest.fixture(scope="module")
def schema():
    return yaml.safe_load(SCHEMA.read_text())


def _option(parser, flag):
    for a in parser._actions:
        if flag in a.option_strings:
            return a
    return None


# ---------------------------------------------------------------- agreement, field by field
@pytest.mark.parametrize("name", NAMES)
def test_the_flag_is_the_declaration(train_parser, name):
    s = SETTINGS[name]
    action = _option(train_parser, s.flag)
    if s.kind is dict:      # task_params / model_params: --set and --model-param, not a flag of their own
        assert action is None and name not in train_cmd.FLAGS
        return
    assert action is not None, f"rnnbench train has no {s.flag}"
    assert action.dest == name and action.help == s.help and action.default is None
    if s.kind is bool:
        assert isinstance(action, argparse.BooleanOptionalAction)
        assert f"--no-{s.flag[2:]}" in action.option_strings
    else:
        assert action.type == s.parse
        example = {int: "3", float: "0.5", str: (s.choices or ("x",))[0]}[s.kind]
        assert isinstance(action.type(example), s.kind)
        if s.optional:
            assert action.type("off") is OFF


@pytest.mark.parametrize("name", NAMES)
def test_the_schema_key_is_the_declaration(schema, name):
    props = schema["$defs"]["run_keys"]["properties"]
    if name in ("task", "task_params"):     # the grid names a cell's task by its `tasks` block
        assert name not in props
        return
    assert props[name] == SETTINGS[name].json_schema(), "run `python -m rnnbench.grid --write-schema`"


@pytest.mark.parametrize("name", NAMES)
def test_the_default_is_the_declaration(name):
    assert getattr(RunConfig(), name) == SETTINGS[name].default
    SETTINGS[name].check(SETTINGS[name].default)


def test_the_three_name_the_same_fields(train_parser, schema):
    fields = set(RunConfig.field_names())
    assert set(SETTINGS) == fields
    flags = {a.dest for a in train_parser._actions if a.dest in fields}
    assert flags == {n for n in fields if SETTINGS[n].kind is not dict} == set(train_cmd.FLAGS)
    assert set(schema["$defs"]["run_keys"]["properties"]) == set(GRID_KEYS) == fields - {"task", "task_params"}
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_file_is_up_to_date():
    text = SCHEMA.read_text()
    assert G.schema_text(text) == text, "run `python -m rnnbench.grid --write-schema`"


def test_backend_choices_are_the_models():
    from rnnbench.models import BACKENDS
    assert SETTINGS["backend"].choices == ("auto", *BACKENDS)


# ---------------------------------------------------------------- values, field by field
def bad_values(name):
    """The values a field must refuse: wrong types, non-finite and out-of-range numbers."""
    s = SETTINGS[name]
    if s.kind is dict:
        return [[1, 2], "x"]
    if s.kind is bool:
        return ["yes", 1, None]
    if s.kind is str:
        return [3, None] + (["bogus"] if s.choices else [])
    out = ["3", True]
    if not s.optional:
        out.append(None)
    if s.kind is float:
        out += [math.nan, math.inf, -math.inf]
    else:
        out += [2.5, 2**64, -2**64, INT_MAX + 1]
    if s.low is not None:
        out.append(s.low if s.low_open else s.low - (1 if s.kind is int else 1e-9))
    if s.high is not None:
        out.append(s.high if s.high_open else s.high + 1)
    return out


def good_values(name):
    s = SETTINGS[name]
    out = [s.default]
    if s.kind in (int, float):
        if s.low is not None and not s.low_open:
            out.append(s.kind(s.low))
        if s.high is not None and not s.high_open:
            out.append(s.kind(s.high))
        if s.optional:
            out.append(None)
    if s.choices:
        out += list(s.choices)
    return out


CASES = [(n, v) for n in NAMES for v in bad_values(n)]


@pytest.mark.parametrize("name, value", CASES, ids=[f"{n}={v!r}" for n, v in CASES])
def test_a_bad_value_is_one_line_naming_the_field(name, value):
    with pytest.raises(UsageError) as e:
        if SETTINGS[name].kind is dict:
            RunConfig().updated({name: value})
        RunConfig(**{**RunConfig().to_dict(), name: value}).validate()
    msg = str(e.value)
    assert "\n" not in msg and name in msg, msg


@pytest.mark.parametrize("name", NAMES)
def test_good_values_pass(name):
    for v in good_values(name):
        RunConfig(**{**RunConfig().to_dict(), name: v}).validate()


GRID = {"grid": {"arch": "lstm", "hidden": 8, "steps": 2, "seed": 0},
        "tasks": {"adding": {"task_params": {"seq_len": 10}}}}


@pytest.mark.parametrize("name, value", [(n, v) for n, v in CASES if n in GRID_KEYS and SETTINGS[n].kind is not dict],
                         ids=[f"{n}={v!r}" for n, v in CASES if n in GRID_KEYS and SETTINGS[n].kind is not dict])
def test_the_grid_refuses_what_the_run_refuses(schema, name, value):
    """In a grid config, a value the run would refuse is refused by the schema or, for what a
    schema cannot say (nan, inf, a name), by the expansion, before any job."""
    config = copy.deepcopy(GRID)
    config["grid"][name] = value
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError:
        return
    with pytest.raises(UsageError) as e:
        G.expand(config)
    assert "\n" not in str(e.value) and name in str(e.value)


def test_seed_range():
    RunConfig(seed=SEED_MAX).validate()
    for bad in (SEED_MAX + 1, 2**64, -1):
        with pytest.raises(UsageError, match=rf"seed must be an integer in \[0, {SEED_MAX}\], got {bad}"):
            RunConfig(seed=bad).validate()


# ---------------------------------------------------------------- model_params
@pytest.mark.parametrize("task, params, fragments", [
    ("adding", {"colour": 1}, ["'colour'", "'adding'", "recurrent_radius"]),
    ("sine", {"beam": 4}, ["'beam'", "recurrent_radius"]),
    ("adding", {"recurrent_radius": math.nan}, ["recurrent_radius", "nan"]),
    ("addition", {"recurrent_radius": 1.5}, ["'recurrent_radius'", "variant", "beam"]),
    ("addition", {"beam": 0}, ["beam"]),
])
def test_model_params_a_task_does_not_take_are_refused(task, params, fragments):
    cfg = with_task_defaults({"task": task, "model_params": params, "device": "cpu"})
    with pytest.raises(UsageError) as e:
        resolve(cfg)
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


# ---------------------------------------------------------------- the command line
SMALL = ["--task", "adding", "--seq-len", "10", "--set", "n_train=64", "--set", "n_val=16",
         "--set", "n_test=16", "--hidden", "8", "--steps", "2", "--quiet", "--device", "cpu"]


@pytest.mark.parametrize("args, fragments", [
    (["--lr", "inf"], ["lr", "positive", "inf"]),
    (["--lr", "nan"], ["lr", "nan"]),
    (["--lr", "-1"], ["lr", "-1"]),
    (["--weight-decay", "inf"], ["weight_decay", "inf"]),
    (["--weight-decay", "-0.1"], ["weight_decay", "-0.1"]),
    (["--forget-bias", "nan"], ["forget_bias", "nan"]),
    (["--forget-bias=-inf"], ["forget_bias", "-inf"]),
    (["--dropout", "nan"], ["dropout", "nan"]),
    (["--dropout", "1"], ["dropout", "[0, 1)"]),
    (["--clip", "inf"], ["clip", "inf"]),
    (["--clip", "0"], ["clip", "0"]),
    (["--momentum", "-0.5"], ["momentum", "-0.5"]),
    (["--momentum", "nan"], ["momentum", "nan"]),
    (["--seed", str(2**64)], ["seed", str(2**64)]),
    (["--seed", "-1"], ["seed", "-1"]),
    (["--hidden", str(2**70)], ["hidden", "64 bits"]),
    (["--eval-batch-size", "0"], ["eval_batch_size", "0"]),
    (["--lr", "fast"], ["--lr", "fast"]),
    (["--steps", "many"], ["--steps", "'off'"]),
    (["--model-param", "colour=red"], ["'colour'", "recurrent_radius"]),
])
def test_bad_numbers_on_the_command_line(tmp_path, args, fragments):
    out = tmp_path / "out"
    res = run_cli("train", "--out", out, *SMALL, *args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    assert not out.exists()


def test_off_and_no_flags_override_a_config_file(tmp_path):
    from rnnbench.cli import make_parser
    cfg = tmp_path / "c.yaml"
    cfg.write_text("clip: 2.0\nbidirectional: true\nsteps: 5\n")
    args = make_parser().parse_args(["train", "--out", str(tmp_path / "o"), "--config", str(cfg),
                                     "--clip", "off", "--no-bidirectional", "--steps", "none"])
    d = train_cmd.config_from_args(args)
    assert d["clip"] is None and d["bidirectional"] is False and d["steps"] is None


# ---------------------------------------------------------------- task parameters, same class
def _numeric_task_params():
    from rnnbench.tasks import TASKS
    return [(t, s["name"], s["type"]) for t, cls in TASKS.items() for s in cls.param_specs()
            if s["type"] in ("int", "float")]


@pytest.mark.parametrize("task, name, kind", _numeric_task_params())
def test_task_parameters_refuse_non_finite_and_huge_numbers(task, name, kind):
    from rnnbench.tasks import TASKS
    cls = TASKS.get(task)
    for bad in (math.nan, math.inf, -math.inf, "1e999", *([2**70] if kind == "int" else [])):
        with pytest.raises(UsageError) as e:
            cls.parse_params({name: bad})
        assert name in str(e.value) and "\n" not in str(e.value)
