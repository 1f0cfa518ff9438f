"""The pipeline end to end, in temporary directories (`--directory`), never the repo's
results/: a tiny grid to its report, a no-op rerun, a changed axis, a bad config, a
failed cell, resume after SIGKILL (and `--unlock`), paths with spaces, dry runs of the
shipped configs, lint."""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline_helpers import (REPO, RUN_FACTS, SHARED_DATA, SLURM_PROFILE, SNAKEFILE, TINY, job_counts, load,
                              metrics, snakemake, write_config)

pytestmark = pytest.mark.slow


def rows(results: Path) -> list[dict]:
    with open(results / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny grid (4 runs, 1 gradient job) run once to its report."""
    wd = tmp_path_factory.mktemp("tiny")
    t0 = time.perf_counter()
    r = snakemake(wd)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-3000:]
    print(f"\ntiny grid: {job_counts(r.stdout)} in {wall:.1f} s")
    return wd, r


def test_tiny_grid_to_its_report(tiny):
    wd, r = tiny
    assert job_counts(r.stdout) == {"grid": 1, "train": 4, "gradients": 1, "provenance": 1, "aggregate": 1,
                                    "report": 1, "all": 1}, r.stdout[-2000:]
    res = wd / "results"
    table = rows(res)
    assert len(table) == 4 and {t["status"] for t in table} == {"ok"}
    for t in table:
        run = res / t["run_dir"]
        assert (run / "metrics.json").is_file() and (run / "cell.json").is_file()
        assert json.loads((run / "cell.json").read_text())["threads"] == 1
        assert (res / "logs" / "train" / Path(t["run_dir"]).relative_to("runs")).with_suffix(".log").is_file()
    assert {t["params.task_params.seq_len"] for t in table} == {"8", "12"}
    assert len(list((res / "gradients").rglob("gradients.csv"))) == 1
    for name in ("grid.yaml", "cells.csv", "environment.json"):
        assert (res / "provenance" / name).is_file(), name
    env = json.loads((res / "provenance" / "environment.json").read_text())
    assert env["versions"]["torch"] and "git_sha" in env
    assert yaml.safe_load((res / "provenance" / "grid.yaml").read_text())["name"] == "tiny"
    assert (res / "report" / "index.html").is_file()


def test_noop_rerun_runs_nothing(tiny):
    wd, _ = tiny
    t0 = time.perf_counter()
    r = snakemake(wd)
    wall = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-2000:]
    assert job_counts(r.stdout) == {} and "Nothing to be done" in r.stdout, r.stdout[-2000:]
    print(f"\nno-op rerun: {wall:.1f} s")   # ~6 s on an idle 2-core machine (no bound: a shared box)


def test_changed_axis_reruns_only_the_affected_cells(tiny, tmp_path):
    src, _ = tiny
    wd = tmp_path / "copy"
    shutil.copytree(src, wd, symlinks=True)     # keeps the mtimes: the copy is as up to date
    config = yaml.safe_load(TINY.read_text())
    config["tasks"]["adding"]["task_params"]["seq_len"] = [8, 16]   # 12 -> 16
    cfg = write_config(tmp_path / "changed.yaml", config)
    r = snakemake(wd, "-n", config=cfg)
    counts = job_counts(r.stdout)
    assert r.returncode == 0, r.stdout[-2000:]
    assert counts["train"] == 2 and counts["aggregate"] == 1 and counts["report"] == 1, counts
    assert "gradients" not in counts, counts


def test_bad_config_fails_before_any_job(tmp_path):
    for change, fragments in [
        (("grid", "hiden", 8), ["hiden", "was unexpected"]),
        (("grid", "arch", ["lstm", "xlstm"]), ["unknown cell 'xlstm'", "gru-cho"]),
    ]:
        config = yaml.safe_load(TINY.read_text())
        config[change[0]][change[1]] = change[2]
        wd = tmp_path / change[1]
        wd.mkdir()
        r = snakemake(wd, config=write_config(tmp_path / f"{change[1]}.yaml", config))
        assert r.returncode != 0
        for f in fragments:
            assert f in r.stdout, (f, r.stdout[-2000:])
        assert not (wd / "results").exists()


def test_failed_cell_is_recorded_and_the_grid_goes_on(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("the failing cell asks for CUDA, which is available here")
    config = yaml.safe_load(TINY.read_text())
    config["tasks"]["adding"]["task_params"]["seq_len"] = 8
    config["variants"] = [{"arch": "lstm", "device": "cuda"}]   # fails at run time here
    config["gradients"] = {"cells": []}
    cfg = write_config(tmp_path / "fails.yaml", config)
    wd = tmp_path / "wd"
    r = snakemake(wd, config=cfg)
    assert r.returncode != 0
    table = {(t["arch"], t["device"] or t.get("params.train.device")): t for t in rows(wd / "results")}
    assert len(table) == 3
    assert table[("lstm", "cuda")]["status"] == "failed"
    assert table[("lstm", "cpu")]["status"] == "ok" and table[("gru", "cpu")]["status"] == "ok"
    assert (wd / "results" / "report" / "index.html").is_file()
    assert "failed or missing" in r.stdout
    r = snakemake(wd, config=cfg)     # the same command retries the failed cell only
    assert r.returncode != 0 and job_counts(r.stdout).get("train") == 1, r.stdout[-2000:]


RESUME = {
    "name": "resume",
    "grid": {"arch": "lstm", "hidden": 16, "steps": 500, "batch_size": 16, "eval_every": 100,
             "checkpoint_every": 10, "seed": 0},
    "tasks": {"adding": {"task_params": {"seq_len": 40, "n_train": 512, "n_val": 64, "n_test": 64}}},
    "resources": {"mem_mb": 500, "runtime": 5},
}


def test_resume_after_sigkill_gives_the_uninterrupted_metrics(tmp_path):
    cfg = write_config(tmp_path / "resume.yaml", RESUME)
    wd = tmp_path / "wd"
    p = snakemake(wd, config=cfg, popen=True)
    deadline = time.time() + 300
    ckpt = None
    while time.time() < deadline and ckpt is None:
        found = list((wd / "results" / "runs").rglob("checkpoint.pt")) if (wd / "results").exists() else []
        ckpt = found[0] if found else None
        time.sleep(0.2)
    assert ckpt is not None, "no checkpoint appeared"
    os.killpg(p.pid, signal.SIGKILL)       # Snakemake and its job, mid-run
    p.wait()
    run = ckpt.parent
    assert not (run / "metrics.json").exists()
    r = snakemake(wd, config=cfg)          # the killed run's locks stay: Snakemake says so
    assert r.returncode != 0 and "--unlock" in r.stdout, r.stdout[-2000:]
    r = snakemake(wd, "--unlock", config=cfg)
    assert r.returncode == 0, r.stdout[-2000:]
    r = snakemake(wd, config=cfg)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "resumed at step" in (run / "run.log").read_text()
    # the same cell, uninterrupted, straight through `rnnbench train`
    ref = tmp_path / "ref"
    t = subprocess.run([sys.executable, "-m", "rnnbench", "train", "--config", str(run / "cell.json"),
                        "--out", str(ref), "--quiet"], capture_output=True, text=True)
    assert t.returncode == 0, t.stderr
    want = {k: v for k, v in json.loads((ref / "metrics.json").read_text()).items() if k not in RUN_FACTS}
    assert list(metrics(wd / "results").values()) == [want]
    assert {t["status"] for t in rows(wd / "results")} == {"ok"}


def test_paths_with_spaces(tmp_path):
    """A working directory and a results directory with spaces in their names: every path
    in the rules is quoted, so the jobs write where they should and nowhere else."""
    config = yaml.safe_load(TINY.read_text())
    config["grid"]["arch"] = "lstm"
    config["tasks"]["adding"]["task_params"]["seq_len"] = 8
    config["results"] = "my results"
    cfg = write_config(tmp_path / "spaces.yaml", config)
    wd = tmp_path / "work dir"
    r = snakemake(wd, config=cfg)
    assert r.returncode == 0, r.stdout[-3000:]
    assert job_counts(r.stdout) == {"grid": 1, "train": 1, "gradients": 1, "provenance": 1, "aggregate": 1,
                                    "report": 1, "all": 1}, r.stdout[-2000:]
    res = wd / "my results"
    assert sorted(p.name for p in wd.iterdir()) == [".snakemake", "my results"]
    assert sorted(p.name for p in res.iterdir()) == ["gradients", "logs", "provenance", "report", "runs",
                                                     "runs.csv"]
    assert [t["status"] for t in rows(res)] == ["ok"]
    assert len(list((res / "gradients").rglob("gradients.csv"))) == 1
    assert (res / "report" / "index.html").is_file()
    r = snakemake(wd, config=cfg)
    assert r.returncode == 0 and job_counts(r.stdout) == {}, r.stdout[-2000:]


@pytest.mark.parametrize("name, env, expect", [
    ("quick", {}, {"train": 18, "train_group": 18, "gradients": 3, "throughput": 1}),
    ("claims", {}, {"train": 160, "train_group": 9}),    # teacher forcing: 32 runs to 99 %, 128 of one epoch
    ("beyond", {}, {"train": 0, "train_group": 32, "throughput": 1}),
    ("beyond_tasks", {}, {"train": 0, "train_group": 14}),
    ("agreement", {}, {"train": 20, "train_group": 0}),
    ("ntm", {}, {"train": 6, "train_group": 0}),
    ("lab", {"RNNBENCH_DATA": str(SHARED_DATA)}, {"train": 12, "train_group": 6, "gradients": 8}),
    ("beyond_lab", {"RNNBENCH_DATA": str(SHARED_DATA)}, {"train": 0, "train_group": 14}),
    # jordan on copy feeds back its prediction (the default on per-step tasks), which `rnnbench
    # gradients` cannot diagnose: its 4 copy cells are left out (cells.csv: gradients_skipped)
    ("longdep", {"RNNBENCH_DOWNLOAD": "1"}, {"train": 0, "train_group": 70, "gradients": 60}),
    (None, {}, {"train": 18, "train_group": 18}),                          # no --configfile: the quick grid
])
def test_dry_run_of_every_shipped_config(tmp_path, name, env, expect):
    if name in ("lab", "beyond_lab") and not SHARED_DATA.is_dir():
        pytest.skip(f"the course data is not at {SHARED_DATA}")
    cfg = None
    if name:
        config = load(name)
        config["results"] = "results"
        cfg = write_config(tmp_path / "c.yaml", config)
    r = snakemake(tmp_path / "wd", "-n", config=cfg, env=env)
    assert r.returncode == 0, r.stdout[-3000:]
    counts = job_counts(r.stdout)
    for rule, n in expect.items():      # train_group: a cell's seeds as one job (group_seeds)
        assert counts.get(rule, 0) == n, counts


def test_lab_without_its_data_stops_with_the_data_layers_message(tmp_path):
    env = {"RNNBENCH_DATA": str(tmp_path / "empty"), "RNNBENCH_DOWNLOAD": "0"}
    r = snakemake(tmp_path, "-n", config=REPO / "workflows" / "config" / "lab.yaml", env=env)
    assert r.returncode != 0
    assert "not found" in r.stdout and "dataset" in r.stdout, r.stdout[-2000:]


def test_slurm_profile_plans_the_default_grid(tmp_path):
    """`snakemake --profile workflows/profiles/slurm -n` (no cluster needed to plan)."""
    r = snakemake(tmp_path, "-n", config=None, profile=SLURM_PROFILE, cores=None,
                  env={"SLURM_CONF": str(tmp_path / "none.conf")})
    assert r.returncode == 0, r.stdout[-3000:]
    counts = job_counts(r.stdout)
    assert counts.get("train") == 18 and counts.get("train_group") == 18 and counts.get("throughput") == 1


def test_lint_finds_only_the_justified_conda_lint(tmp_path):
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
                        str(tmp_path), "--configfile", str(TINY), "--lint"], capture_output=True, text=True)
    lints = [line.strip() for line in (r.stdout + r.stderr).splitlines() if line.startswith("    * ")]
    assert lints, r.stdout + r.stderr
    # the project's own environment is the environment (see workflows/README.md)
    assert set(lints) == {"* Specify a conda environment or container for each rule.:"}, lints


def test_a_changed_grid_rewrites_its_cells_and_the_aggregation_follows(tiny, tmp_path):
    """After the config changes (a seed added), the grid job writes the new cells.csv, not the one
    it replaces (a job run apart from the main process reads the old cells.csv to find its cell),
    and runs.csv has the new cells: the finished runs are kept, only the new ones train."""
    wd = tmp_path / "wd"
    shutil.copytree(tiny[0], wd)                  # .snakemake too: its record of the grid job's params
    config = yaml.safe_load(TINY.read_text())
    config["grid"]["seed"] = [0, 1]
    r = snakemake(wd, config=write_config(tmp_path / "more-seeds.yaml", config))
    assert r.returncode == 0, r.stdout[-3000:]
    # seeds 0 and 1 of a cell are now one group job (group_seeds): seed 0's finished run is kept
    assert job_counts(r.stdout).get("train_group") == 4 and "train" not in job_counts(r.stdout), r.stdout[-2000:]
    with open(wd / "results" / "provenance" / "cells.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 8
    assert sorted({t["seed"] for t in rows(wd / "results")}) == ["0", "1"] and len(rows(wd / "results")) == 8
    before = {t["run_dir"]: t["train_seconds"] for t in rows(tiny[0] / "results")}
    assert all(t["train_seconds"] == before[t["run_dir"]] for t in rows(wd / "results") if t["seed"] == "0")


def test_seeds_of_a_cell_train_as_one_group_job(tmp_path):
    """Two seeds per cell: one `train_group` job per (arch, seq_len), each seed in its own run dir
    with the id it has without grouping; `group_seeds: false` plans one job per seed instead; a
    third seed is a new group whose finished members are not trained again."""
    config = yaml.safe_load(TINY.read_text())
    config["grid"]["seed"] = [0, 1]
    config["gradients"] = {"cells": []}
    cfg = write_config(tmp_path / "two.yaml", config)
    wd = tmp_path / "g"
    r = snakemake(wd, config=cfg)
    assert r.returncode == 0, r.stdout[-3000:]
    assert job_counts(r.stdout)["train_group"] == 4 and "train" not in job_counts(r.stdout), r.stdout[-2000:]
    res = wd / "results"
    table = rows(res)
    assert len(table) == 8 and {t["status"] for t in table} == {"ok"}
    assert {t["group_seeds"] for t in table} == {"[0, 1]"}
    summaries = list((res / "groups").rglob("*.json"))
    assert len(summaries) == 4 and all(len(json.loads(p.read_text())["runs"]) == 2 for p in summaries)
    solo = write_config(tmp_path / "solo.yaml", {**config, "group_seeds": False})
    r = snakemake(tmp_path / "s", "-n", config=solo)
    assert r.returncode == 0 and job_counts(r.stdout)["train"] == 8 and "train_group" not in job_counts(r.stdout)
    cells = {row["path"] for row in csv.DictReader(open(res / "provenance" / "cells.csv"))}
    assert cells == {t["run_dir"].removeprefix("runs/") for t in table}
    config["grid"]["seed"] = [0, 1, 2]
    three = write_config(tmp_path / "three.yaml", config)
    r = snakemake(wd, config=three)
    assert r.returncode == 0 and job_counts(r.stdout)["train_group"] == 4, r.stdout[-2000:]
    again = rows(res)
    assert len(again) == 12
    first = {t["run_dir"]: t["train_seconds"] for t in table}
    assert all(t["train_seconds"] == first[t["run_dir"]] for t in again if t["run_dir"] in first)  # not retrained
    log = next((res / "logs" / "train" / "adding" / "lstm").glob("*s0-2-*.log")).read_text()
    assert "already finished" in log
