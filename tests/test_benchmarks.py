"""The asv suites (benchmarks/): every benchmark's setup and body run once, at tiny shapes,
so a broken benchmark fails here and not in a release's asv run.

The real shapes (common.SHAPES, seq2seq.SETTINGS) are swapped for tiny ones; every class is
run over its whole parameter grid, as asv would, with setup re-run before each benchmark.
NotImplementedError from setup is asv's skip (a combination that does not exist, or no CUDA).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import itertools
import json
import math
import pkgutil
import re
import sys
from pathlib import Path

import pytest

from runhelpers import load_script

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
BENCH_NAME = re.compile(r"^(time|timeraw|peakmem|mem|track)_")   # asv's benchmark prefixes


def _suite_modules() -> list:
    """Import benchmarks/ as asv does (package `benchmarks`), without putting the repository
    root on sys.path (plain `pytest` does not)."""
    if "benchmarks" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "benchmarks", BENCH / "__init__.py", submodule_search_locations=[str(BENCH)])
        pkg = importlib.util.module_from_spec(spec)
        sys.modules["benchmarks"] = pkg
        spec.loader.exec_module(pkg)
    assert Path(sys.modules["benchmarks"].__file__).resolve().parent == BENCH
    return [importlib.import_module(f"benchmarks.{m.name}") for m in pkgutil.iter_modules([str(BENCH)])]


MODULES = _suite_modules()
common = importlib.import_module("benchmarks.common")
seq2seq = importlib.import_module("benchmarks.seq2seq")


def _benchmark_classes() -> list[type]:
    """Public classes with asv benchmark methods, as asv discovers them."""
    out = []
    for mod in MODULES:
        for name, obj in vars(mod).items():
            if (not name.startswith("_") and inspect.isclass(obj) and obj.__module__ == mod.__name__
                    and any(BENCH_NAME.match(n) for n in dir(obj))):
                out.append(obj)
    return out


CLASSES = _benchmark_classes()
TINY_SHAPES = {"latency": common.Shape(1, 3, 4, 4), "throughput": common.Shape(2, 3, 4, 4),
               "deepbench": common.Shape(2, 2, 4, 4), "longseq": common.Shape(2, 5, 1, 4)}
TINY_SEQ2SEQ = {"digits": 2, "n_train": 64, "hidden": 8, "batch": 8}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(common, "SHAPES", TINY_SHAPES)
    for mod in MODULES:   # modules that imported SHAPES by name
        if getattr(mod, "SHAPES", None) is not None and mod is not common:
            monkeypatch.setattr(mod, "SHAPES", TINY_SHAPES)
    monkeypatch.setattr(seq2seq, "SETTINGS", TINY_SEQ2SEQ)
    monkeypatch.setattr(importlib.import_module("benchmarks.kernels"), "TRACK",
                        {"warmup": 0, "repeat": 1, "rounds": 1})
    groups = importlib.import_module("benchmarks.groups")
    monkeypatch.setattr(groups, "BATCH", 4)
    monkeypatch.setattr(groups, "SEQ_LEN", 5)
    yield
    common._BUILT.clear()
    seq2seq._BUILT.clear()


def _run_class(cls) -> tuple[int, int]:
    """Every benchmark of `cls` at every parameter combination: (ran, skipped)."""
    methods = sorted(n for n in dir(cls) if BENCH_NAME.match(n) and callable(getattr(cls, n)))
    cached = hasattr(cls, "setup_cache")
    cache = cls().setup_cache() if cached else None
    ran = skipped = 0
    for params in itertools.product(*cls.params) if cls.params else [()]:
        args = (cache, *params) if cached else params
        for name in methods:
            obj = cls()
            try:
                if hasattr(obj, "setup"):
                    obj.setup(*args)
            except NotImplementedError:
                skipped += 1
                continue
            value = getattr(obj, name)(*args)
            if name.startswith("track_"):
                assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (name, params, value)
            if hasattr(obj, "teardown"):
                obj.teardown(*args)
            ran += 1
    return ran, skipped


def test_suite_has_the_expected_classes():
    names = {f"{c.__module__.split('.', 1)[1]}.{c.__name__}" for c in CLASSES}
    assert {"kernels.Kernel", "kernels.Throughput", "kernels.KernelCuda", "kernels.ThroughputCuda",
            "seq2seq.Decode", "seq2seq.TrainStep", "seq2seq.DecodeCuda", "seq2seq.TrainStepCuda",
            "groups.GroupedStep"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: f"{c.__module__.split('.', 1)[1]}.{c.__name__}")
def test_every_benchmark_runs_once_at_tiny_shapes(cls, tiny):
    import torch
    from rnnbench.models import backends_for

    ran, skipped = _run_class(cls)
    if getattr(cls, "device", "cpu") == "cuda" and not torch.cuda.is_available():
        assert ran == 0 and skipped > 0      # skipped cleanly, nothing failed
    elif cls.__name__ in ("Kernel", "Throughput"):   # skip exactly the missing / sized-out points
        grid = list(itertools.product(*cls.params))
        missing = sum(backend not in backends_for(arch) or common.sized_out(d, layers, shape) is not None
                      for arch, backend, d, layers, shape, *_ in grid)
        per = len([n for n in dir(cls) if BENCH_NAME.match(n)])
        assert (ran, skipped) == (per * (len(grid) - missing), per * missing)
    else:
        assert ran > 0 and skipped == 0


def test_grid_follows_the_model_registry():
    """A new cell or backend (a compiled one, say) must be added to the asv grid."""
    from rnnbench.models import BACKENDS, cell_names

    assert sorted(common.ARCHS) == sorted(cell_names())
    assert list(common.BACKENDS) == list(BACKENDS)


def test_asv_discovers_and_checks_every_benchmark():
    """What `asv check` does, in process: asv_runner's discovery and argument checks."""
    from asv_runner.discovery import disc_benchmarks

    found = list(disc_benchmarks(str(BENCH)))
    assert found and all(b.check(str(BENCH)) for b in found)
    classes = {b.name.rsplit(".", 1)[0] for b in found}
    assert classes == {f"{c.__module__.split('.', 1)[1]}.{c.__name__}" for c in CLASSES}
    units = {b.name: b.unit for b in found if b.name.split(".")[-1].startswith("track_")}
    assert all(u != "unit" for u in units.values()), units   # every track_ states its unit


def test_asv_conf_keeps_its_output_under_ignored_dot_asv():
    from asv.util import load_json

    conf = load_json(str(REPO / "asv.conf.json"), js_comments=True)
    assert conf["benchmark_dir"] == "benchmarks"
    for key in ("results_dir", "env_dir", "html_dir"):
        assert conf[key].startswith(".asv/"), (key, conf[key])
    assert ".asv/" in (REPO / ".gitignore").read_text().split()
    assert conf["matrix"]["req"]["torch"] == ["2.13.0"]
    json.dumps(conf)


def test_bench_groups_script_reports_what_4x_needs(tmp_path, capsys):
    """scripts/bench_groups.py at tiny shapes: its table has a row per mode, and `4x needs` is
    4 x the fused run's share of sgemm (what a group must reach for the issue's target)."""
    import pandas as pd

    script = load_script("bench_groups")
    out = tmp_path / "groups.csv"
    assert script.main(["--arch", "rnn", "--hidden", "8", "--seeds", "1", "2", "--batch", "3", "--seq-len", "4",
                        "--rounds", "1", "--repeat", "1", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| vs fused | of sgemm | 4x needs |" in table
    assert [line.split("|")[3].strip() for line in table.splitlines()[2:]] == ["fused x1", "cell x1", "group x2"]
    rows = pd.read_csv(out)
    fused = rows[rows.backend == "fused"].iloc[0]
    assert fused.vs_fused == 1.0
    assert rows.four_x_needs.tolist() == pytest.approx([4 * fused.gflops / fused.sgemm_gflops] * 3, rel=1e-12)
    assert rows.of_sgemm.tolist() == pytest.approx((rows.gflops / rows.sgemm_gflops).tolist(), rel=1e-12)
