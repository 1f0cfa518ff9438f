"""Bring your own cell or task: a cell (mut3) and a task (recall-first, long-dependency family)
defined in a test module (tests/plugins/demo_plugin.py) are listed, train, run in a grid,
are benchmarked and land in the report's long-dependency and comparison sections, loaded by
`--plugin`, $RNNBENCH_PLUGINS, an entry point or the grid's `plugins:` key; `check-cell`
passes on mut3 and fails on the deliberately broken cells of tests/plugins/broken_plugin.py.

Everything that loads a plugin runs in a subprocess, except the tests of the `loads`
fixture, which puts the registries back as it found them.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runhelpers import REPO, read_json, run_cli

PLUGINS = Path(__file__).resolve().parent / "plugins"
PYTHONPATH = os.pathsep.join(p for p in (str(PLUGINS), os.environ.get("PYTHONPATH")) if p)
ENV = {"PYTHONPATH": PYTHONPATH, "OMP_NUM_THREADS": "1"}
TINY_TASK = ["--seq-len", "8", "--set", "n_train=128", "--set", "n_val=32", "--set", "n_test=32"]


def one_line_error(r, *words) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines
    return lines[0]


# ----------------------------------------------------------------------- in-process load()
@pytest.fixture
def loads(monkeypatch):
    """plugins.load() in this process, undone afterwards: the registries, the loaded modules
    and $RNNBENCH_PLUGINS as before (other tests see the zoo only)."""
    from rnnbench import plugins
    from rnnbench.models import CELLS
    from rnnbench.tasks import TASKS

    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.delenv(plugins.ENV, raising=False)
    saved = [(r, dict(r._entries)) for r in (CELLS, TASKS)]
    loaded, modules = dict(plugins._loaded), set(sys.modules)
    yield plugins
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(entries)
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    for name in set(sys.modules) - modules:
        if name in ("demo_plugin", "broken_plugin", "plugin_that_raises"):
            del sys.modules[name]


def test_load_registers_once_and_is_idempotent(loads):
    from rnnbench.models import CELLS, backends_for
    from rnnbench.tasks import TASKS

    assert "mut3" not in CELLS
    assert "demo_plugin" in loads.load(["demo_plugin"])
    assert loads.load(["demo_plugin"]) == loads.load() and loads.loaded()["demo_plugin"] == "--plugin"
    assert CELLS.names()[-1] == "mut3" and backends_for("mut3") == ("cell",)
    task = TASKS.get("recall-first")
    assert (task.family, task.length_param, task.kind) == ("long-dependency", "seq_len", "many_to_one")


def test_registries_load_the_environment_plugins_at_their_first_lookup(loads, monkeypatch):
    from rnnbench.models import CELLS

    monkeypatch.setenv(loads.ENV, " demo_plugin, ,broken_plugin ")
    assert loads.from_env() == ["demo_plugin", "broken_plugin"]
    assert {"mut3", "gru-misfused"} <= set(CELLS.names())     # the lookup loaded them
    assert loads.loaded() == {"demo_plugin": "$RNNBENCH_PLUGINS", "broken_plugin": "$RNNBENCH_PLUGINS"}
    assert loads.with_env(["x", "demo_plugin", "x"]) == "demo_plugin,broken_plugin,x"


@pytest.mark.parametrize("name, words", [
    ("no_such_plugin_module", ["plugin module 'no_such_plugin_module' (from --plugin) not found",
                               "no module named 'no_such_plugin_module'"]),
    ("plugins/demo_plugin.py", ["plugin 'plugins/demo_plugin.py' (from --plugin) is not a module name",
                                "not a file path"]),
    ("plugin_that_raises", ["plugin module 'plugin_that_raises' (from --plugin) failed on import: "
                            "KeyError: \"cell 'lstm' registered twice\""]),
])
def test_a_bad_plugin_is_a_usage_error_naming_it(loads, tmp_path, monkeypatch, name, words):
    from rnnbench.errors import UsageError
    from rnnbench.models import CELLS

    (tmp_path / "plugin_that_raises.py").write_text(
        "from rnnbench.models import CELLS, register_cell\n"
        "register_cell('lstm', CELLS.get('lstm').step, title='t', states=('h', 'c'), n_gates=4,\n"
        "              fused=None, citation='c')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = CELLS.names()
    with pytest.raises(UsageError) as e:
        loads.load([name])
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value), str(e.value)
    assert name not in loads.loaded() and CELLS.names() == before


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize("how", ["global", "after-command", "equals", "environment"])
def test_list_shows_the_plugin_cell_and_task(how):
    args, env = {"global": (["--plugin", "demo_plugin", "list", "--json"], ENV),
                 "after-command": (["list", "--json", "--plugin", "demo_plugin"], ENV),
                 "equals": (["--plugin=demo_plugin", "list", "--json"], ENV),
                 "environment": (["list", "--json"], {**ENV, "RNNBENCH_PLUGINS": "demo_plugin"})}[how]
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    cat = json.loads(r.stdout)
    cells = {c["name"]: c for c in cat["cells"]}
    assert cells["mut3"]["backends"] == ["cell"] and "Jozefowicz" in cells["mut3"]["citation"]
    assert "h_t = z * n + (1 - z) * h_{t-1}" in cells["mut3"]["equations"]
    task = {t["name"]: t for t in cat["tasks"]}["recall-first"]
    assert (task["kind"], task["family"]) == ("many_to_one", "long-dependency")
    assert [p["name"] for p in task["params"]][:2] == ["seq_len", "n_symbols"]


def test_list_text_and_train_help_without_and_with_the_plugin():
    r = run_cli("list", env=ENV)
    assert r.returncode == 0 and "mut3" not in r.stdout and "recall-first" not in r.stdout
    r = run_cli("--plugin", "demo_plugin", "list", env=ENV)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^\s+mut3\s+MUT3", r.stdout, re.M) and re.search(r"^\s+recall-first\s+Recall", r.stdout, re.M)
    r = run_cli("--plugin", "demo_plugin", "train", "--help", env=ENV)
    assert r.returncode == 0 and "--n-symbols" in r.stdout    # the plugin task's own parameter is a flag


def test_entry_point_plugins_load_without_any_option(tmp_path):
    dist = tmp_path / "rnnbench_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rnnbench-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[rnnbench.plugins]\ndemo = demo_plugin\n")
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), PYTHONPATH])}
    r = run_cli("list", "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "mut3" in [c["name"] for c in json.loads(r.stdout)["cells"]]
    (dist / "entry_points.txt").write_text("[rnnbench.plugins]\ndemo = no_such_plugin_module\n")
    one_line_error(run_cli("list", env=env), "rnnbench: error: plugin module 'no_such_plugin_module' (from "
                   "entry point 'demo' of group 'rnnbench.plugins') not found")


@pytest.mark.parametrize("args, env, words", [
    (["--plugin", "no_such_plugin_module", "list"], {},
     ["rnnbench: error: plugin module 'no_such_plugin_module' (from --plugin) not found"]),
    (["train", "--plugin", "no_such_plugin_module", "--out", "x"], {}, ["'no_such_plugin_module'"]),
    (["list"], {"RNNBENCH_PLUGINS": "demo_plugin,no_such_plugin_module"},
     ["plugin module 'no_such_plugin_module' (from $RNNBENCH_PLUGINS) not found"]),
    (["--plugin", "tests/plugins/demo_plugin.py", "list"], {}, ["is not a module name", "not a file path"]),
])
def test_cli_bad_plugin_is_one_line_and_exit_2(args, env, words):
    one_line_error(run_cli(*args, env={**ENV, **env}), *words)


def test_train_a_plugin_cell_on_a_plugin_task(tmp_path):
    out = tmp_path / "run"
    r = run_cli("train", "--plugin", "demo_plugin", "--task", "recall-first", "--arch", "mut3", *TINY_TASK,
                "--hidden", "8", "--steps", "12", "--eval-every", "4", "--quiet", "--out", out, env=ENV)
    assert r.returncode == 0, r.stderr[-3000:]
    m = read_json(out / "metrics.json")
    assert (m["task"], m["arch"], m["backend"], m["status"]) == ("recall-first", "mut3", "cell", "ok")
    assert m["params"]["task_params"]["seq_len"] == 8 and 0 <= m["metrics"]["accuracy"] <= 1
    assert m["n_params"] == 3 * 8 * (4 + 8) + 2 * 3 * 8 + 8 * 4 + 4      # mut3 (3 gate blocks) + head
    for field, value in (("task_family", "long-dependency"), ("seq_len", 8), ("metric", "accuracy"),
                         ("direction", "max"), ("cell_title", "MUT3 (evolved, GRU-like)")):
        assert m[field] == value, (field, m[field])                        # the run record, version 2
    # as a grid job runs it: a config file, the plugin from the environment; the same numbers
    cell = {"task": "recall-first", "arch": "mut3", "hidden": 8, "steps": 12, "eval_every": 4,
            "task_params": {"seq_len": 8, "n_train": 128, "n_val": 32, "n_test": 32}}
    (tmp_path / "cell.json").write_text(json.dumps(cell))
    r = run_cli("train", "--config", tmp_path / "cell.json", "--out", tmp_path / "again", "--quiet",
                env={**ENV, "RNNBENCH_PLUGINS": "demo_plugin"})
    assert r.returncode == 0, r.stderr[-3000:]
    again = read_json(tmp_path / "again" / "metrics.json")
    assert (again["config_hash"], again["metrics"]) == (m["config_hash"], m["metrics"])


# --------------------------------------------------------------------------- check-cell
def check_lines(stdout: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in stdout.strip().splitlines():
        _, check, status, detail = (s.strip() for s in line.split("|", 3))
        out[check] = (status, detail)
    return out


def test_check_cell_passes_on_the_plugin_cell():
    r = run_cli("--plugin", "demo_plugin", "check-cell", "mut3", env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    lines = check_lines(r.stdout)
    assert list(lines) == ["spec", "state-dict", "deterministic", "fused", "fast-path", "lengths",
                           "bidirectional", "stacked", "batch-first", "state-gradients", "gradcheck", "all"]
    assert {s for s, _ in lines.values()} == {"pass", "skip"}
    assert lines["fused"] == ("skip", "no fused backend") and lines["gradcheck"][0] == "pass"
    assert all(line.startswith("mut3 | ") for line in r.stdout.splitlines())


def test_check_cell_fails_on_broken_cells():
    r = run_cli("--plugin", "broken_plugin", "check-cell", "gru-misfused", env=ENV)
    assert r.returncode == 1, r.stdout + r.stderr[-2000:]
    lines = check_lines(r.stdout)
    assert lines["fused"][0] == "fail" and "fused vs cell" in lines["fused"][1] and "differs by" in lines["fused"][1]
    assert lines["gradcheck"][0] == "pass" and lines["all"][0] == "fail"
    r = run_cli("--plugin", "broken_plugin", "check-cell", "rnn-untapped", "--only", "state-gradients",
                "--only", "spec", env=ENV)
    assert r.returncode == 1
    lines = check_lines(r.stdout)
    assert lines["state-gradients"][0] == "fail" and "dL/dh_t differs" in lines["state-gradients"][1]
    assert lines["spec"][0] == "fail" and "tap" in lines["spec"][1]


def test_check_cell_unknown_names_are_usage_errors():
    one_line_error(run_cli("check-cell", "mut3", env=ENV), "rnnbench check-cell: error: unknown cell 'mut3'",
                   "gru-cho")
    one_line_error(run_cli("check-cell", "gru", "--only", "gradchek", env=ENV), "unknown check 'gradchek'")


# ------------------------------------------------------------------- throughput and asv
def test_throughput_times_the_plugin_cell(tmp_path):
    r = run_cli("--plugin", "demo_plugin", "throughput", "--arch", "mut3", "gru", "--backend", "cell",
                "--shape", "2x3x4x4", "--repeat", "1", "--rounds", "1", "--out", tmp_path / "t.csv", env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    with open(tmp_path / "t.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["arch"] for row in rows} == {"mut3", "gru"}
    assert all(float(row["gflops"]) > 0 for row in rows)


ASV_SCRIPT = textwrap.dedent("""
    import importlib, importlib.util, sys
    from pathlib import Path
    bench = Path(sys.argv[1])
    spec = importlib.util.spec_from_file_location("benchmarks", bench / "__init__.py",
                                                  submodule_search_locations=[str(bench)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks"] = pkg
    spec.loader.exec_module(pkg)
    common = importlib.import_module("benchmarks.common")
    kernels = importlib.import_module("benchmarks.kernels")
    assert common.ARCHS[-1] == "mut3", common.ARCHS
    common.SHAPES = kernels.SHAPES = {name: common.Shape(2, 3, 4, 4) for name in common.SHAPES}
    params = ("mut3", "cell", "bi", 2, "latency")
    b = kernels.Kernel()
    b.setup(*params)
    b.time_forward(*params)
    b.time_forward_backward(*params)
    try:
        kernels.Kernel().setup("mut3", "fused", "uni", 1, "latency")
        raise SystemExit("a fused mut3 was not skipped")
    except NotImplementedError:
        pass
    print("ok", common.ARCHS)
""")


def test_asv_suite_benchmarks_the_plugin_cell():
    """asv imports benchmarks/ with the environment of `asv run`: RNNBENCH_PLUGINS=demo_plugin."""
    r = subprocess.run([sys.executable, "-c", ASV_SCRIPT, str(REPO / "benchmarks")], capture_output=True,
                       text=True, env={**os.environ, **ENV, "RNNBENCH_PLUGINS": "demo_plugin"}, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stdout + r.stderr[-3000:]


# ------------------------------------------------------------- a tiny grid to its report
GRID = {
    "name": "plugin-demo",
    "plugins": ["demo_plugin"],
    "grid": {"arch": ["lstm", "mut3"], "hidden": 8, "steps": 24, "batch_size": 16, "eval_every": 8,
             "seed": [0, 1], "lr": 0.01},
    "tasks": {"recall-first": {"task_params": {"seq_len": [4, 8], "n_train": 128, "n_val": 32, "n_test": 32}}},
    "resources": {"mem_mb": 500, "runtime": 5},
}


def pipeline():
    """tests/pipeline/pipeline_helpers.py (`snakemake` in a temporary directory)."""
    if str(REPO / "tests" / "pipeline") not in sys.path:
        sys.path.insert(0, str(REPO / "tests" / "pipeline"))
    import pipeline_helpers
    return pipeline_helpers


@pytest.fixture(scope="module")
def plugin_grid(tmp_path_factory):
    """The grid above (8 runs) run once by Snakemake, its plugin named in the config only."""
    p = pipeline()
    wd = tmp_path_factory.mktemp("plugin-grid")
    r = p.snakemake(wd, config=p.write_config(wd / "grid.yaml", GRID), env=ENV)
    return wd, r


def section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{re.escape(sid)}".*?</section>', html, re.S)
    assert m, f"no section {sid!r}"
    return m.group(0)


@pytest.mark.slow
def test_plugin_grid_trains_every_cell(plugin_grid):
    wd, r = plugin_grid
    assert r.returncode == 0, r.stdout[-4000:]
    with open(wd / "results" / "runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {row["status"] for row in rows} == {"ok"}
    assert {(row["task"], row["arch"]) for row in rows} == {("recall-first", "lstm"), ("recall-first", "mut3")}
    assert {row["backend"] for row in rows if row["arch"] == "mut3"} == {"cell"}
    assert {row["task_family"] for row in rows} == {"long-dependency"}
    assert {row["seq_len"] for row in rows} == {"4", "8"}
    # the two seeds of each cell train as one job (group_seeds): one job log per group, a run.log per run
    assert len(list((wd / "results" / "logs" / "train").rglob("*.log"))) == 4
    assert len(list((wd / "results" / "runs").rglob("run.log"))) == 8
    assert {row["group_seeds"] for row in rows} == {"[0, 1]"}


@pytest.mark.slow
def test_plugin_grid_lands_in_the_long_dependency_and_comparison_sections(plugin_grid):
    """The report places runs by their record (task family; every cell against lstm)."""
    wd, r = plugin_grid
    assert r.returncode == 0, r.stdout[-4000:]
    html = (wd / "results" / "report" / "index.html").read_text()
    longdep = section(html, "long-dependencies")
    assert "recall-first" in longdep and "mut3" in longdep and "no data" not in longdep
    comparison = section(html, "lstm-gru")
    assert "mut3" in comparison and "recall-first" in comparison


@pytest.mark.slow
def test_grid_plugins_key_reaches_the_expansion_and_every_job(tmp_path):
    p = pipeline()
    without = {k: v for k, v in GRID.items() if k != "plugins"}
    r = p.snakemake(tmp_path, "-n", config=p.write_config(tmp_path / "grid.yaml", without), env=ENV)
    assert r.returncode != 0 and "unknown task 'recall-first'" in r.stdout, r.stdout[-2000:]
    bad = {**GRID, "plugins": ["no_such_plugin_module"]}
    r = p.snakemake(tmp_path, "-n", config=p.write_config(tmp_path / "grid.yaml", bad), env=ENV)
    assert r.returncode != 0 and "plugin module 'no_such_plugin_module'" in r.stdout, r.stdout[-2000:]
    r = p.snakemake(tmp_path, "-n", "-p", config=p.write_config(tmp_path / "grid.yaml", GRID), env=ENV)
    assert r.returncode == 0, r.stdout[-2000:]
    jobs = [line for line in r.stdout.splitlines() if " -m rnnbench " in line]
    assert jobs and all("--plugin demo_plugin" in line for line in jobs), jobs[:3]


# ------------------------------------------------------------------ the README's example
def readme_blocks(lang: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    part = text.split("## Bring your own cell or task", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{lang}\n(.*?)```", part, re.S)


def test_the_readme_example_module_works(tmp_path):
    (module,) = readme_blocks("python")
    (tmp_path / "my_cells.py").write_text(module)
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), PYTHONPATH])}
    r = run_cli("--plugin", "my_cells", "list", "--json", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    cat = json.loads(r.stdout)
    assert "mut3" in [c["name"] for c in cat["cells"]]
    assert {t["name"]: t["family"] for t in cat["tasks"]}["recall-first"] == "long-dependency"
    r = run_cli("--plugin", "my_cells", "check-cell", "mut3", env=env)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    r = run_cli("--plugin", "my_cells", "train", "--task", "recall-first", "--seq-len", "6", "--set",
                "n_train=64", "--arch", "mut3", "--hidden", "4", "--steps", "4", "--quiet",
                "--out", tmp_path / "run", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert read_json(tmp_path / "run" / "metrics.json")["status"] == "ok"
    for command in readme_blocks("bash")[0].splitlines():      # the commands the README shows
        if command.startswith("rnnbench "):
            assert command.split("#")[0].split()[1:3] == ["--plugin", "my_cells"]


def test_the_readme_grid_expands(tmp_path):
    import yaml

    (module,) = readme_blocks("python")
    (tmp_path / "my_cells.py").write_text(module)
    (grid,) = readme_blocks("yaml")
    config = yaml.safe_load(grid)
    p = pipeline()
    r = p.snakemake(tmp_path, "-n", config=p.write_config(tmp_path / "my-grid.yaml", config),
                    env={**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), PYTHONPATH])})
    assert r.returncode == 0, r.stdout[-3000:]
    counts = p.job_counts(r.stdout)          # 27 runs, 3 seeds a cell: one job per cell (group_seeds)
    assert counts["train_group"] == 3 * 3 and "train" not in counts, counts
