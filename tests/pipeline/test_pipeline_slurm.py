"""The slurm profile against a real single-node SLURM cluster on this machine
(scripts/slurm-local.sh): every cell a SLURM job, metrics identical to a local run,
a job cancelled with scancel recorded as failed, and the same command completing it.

Skips, with the reason, where SLURM cannot be started: not root, the Debian packages
(slurmctld slurmd slurm-client munge) absent, or a real SLURM configuration present."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_helpers import REPO, RUN_FACTS, SLURM_PROFILE, TINY, job_counts, metrics, snakemake, write_config

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm-local.sh"
CONF = Path("/etc/slurm/slurm.conf")
# No accounting on this cluster: no account to guess, squeue for job states; poll every 2 s.
SLURM_ARGS = ("--slurm-no-account", "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "2", "--jobs", "4", "--latency-wait", "5")


def why_not() -> str | None:
    if os.geteuid() != 0:
        return "starting munged, slurmctld and slurmd needs root"
    missing = [c for c in ("munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
               if shutil.which(c) is None]
    if missing:
        return (f"SLURM is not installed ({', '.join(missing)} missing): "
                "apt-get install -y slurmctld slurmd slurm-client munge")
    if CONF.exists() and "slurm-local.sh" not in CONF.read_text().splitlines()[0]:
        return f"{CONF} belongs to a real SLURM installation: not starting a test cluster over it"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = why_not()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "SLURM_LOCAL_DIR": str(tmp_path_factory.mktemp("slurm"))}
    r = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)
        pytest.skip(f"the local SLURM cluster did not start: {(r.stderr or r.stdout).strip()[-500:]}")
    yield env
    subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=120)


def slurm(wd, *args, config=TINY, **kw):
    return snakemake(wd, *SLURM_ARGS, *args, config=config, profile=SLURM_PROFILE, cores=None, **kw)


def rows(results: Path) -> list[dict]:
    with open(results / "runs.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_grid_through_slurm_matches_the_local_run(cluster, tmp_path):
    t0 = time.perf_counter()
    local = snakemake(tmp_path / "local")
    t_local = time.perf_counter() - t0
    assert local.returncode == 0, local.stdout[-3000:]
    t0 = time.perf_counter()
    r = slurm(tmp_path / "slurm")
    t_slurm = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout[-3000:]
    res = tmp_path / "slurm" / "results"
    submitted = job_counts(r.stdout)
    n_remote = submitted["train"] + submitted["gradients"]
    print(f"\ntiny grid ({n_remote} SLURM jobs): local {t_local:.1f} s, SLURM {t_slurm:.1f} s, "
          f"overhead {(t_slurm - t_local) / n_remote:.1f} s per job")
    # every training run ran as a SLURM job, and says which
    ids = [json.loads(p.read_text())["slurm_job_id"] for p in (res / "runs").rglob("metrics.json")]
    assert len(ids) == submitted["train"] == 4 and all(ids) and len(set(ids)) == 4, ids
    assert {t["slurm_job_id"] for t in rows(res)} == set(ids)
    assert (res / "report" / "index.html").is_file() and (res / "provenance" / "environment.json").is_file()
    # CPU determinism across executors
    assert metrics(res) == metrics(tmp_path / "local" / "results")


CANCEL = {
    "name": "cancel",
    "grid": {"arch": "lstm", "hidden": 16, "steps": 1000, "batch_size": 16, "eval_every": 500,
             "checkpoint_every": 10, "seed": 0},
    "variants": [{"arch": "gru", "steps": 30}],
    "tasks": {"adding": {"task_params": {"seq_len": 40, "n_train": 512, "n_val": 64, "n_test": 64}}},
    "resources": {"mem_mb": 500, "runtime": 5},
}


def test_scancel_is_a_failed_cell_and_the_same_command_completes(cluster, tmp_path):
    cfg = write_config(tmp_path / "cancel.yaml", CANCEL)
    wd = tmp_path / "wd"
    p = slurm(wd, config=cfg, popen=True)
    long_run = None
    deadline = time.time() + 300
    while time.time() < deadline and long_run is None:
        for ck in (wd / "results" / "runs" / "adding" / "lstm").glob("*/checkpoint.pt"):
            long_run = ck.parent
        time.sleep(0.5)
    assert long_run is not None, "the long cell never started"
    q = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k"], capture_output=True, text=True)
    job = [line.split("|")[0] for line in q.stdout.splitlines() if long_run.name in line]
    assert len(job) == 1, q.stdout
    subprocess.run(["scancel", job[0]], check=True)
    out, _ = p.communicate(timeout=300)
    assert p.returncode != 0, out[-3000:]
    table = {t["arch"]: t for t in rows(wd / "results")}
    assert table["lstm"]["status"] == "failed", table["lstm"]
    assert table["gru"]["status"] == "ok"
    assert (wd / "results" / "report" / "index.html").is_file()
    assert not (long_run / "metrics.json").exists()
    r = slurm(wd, config=cfg)               # the same command again
    assert r.returncode == 0, r.stdout[-3000:]
    assert job_counts(r.stdout).get("train") == 1
    assert "resumed at step" in (long_run / "run.log").read_text()
    assert {t["status"] for t in rows(wd / "results")} == {"ok"}
    m = json.loads((long_run / "metrics.json").read_text())
    assert m["slurm_job_id"] and m["slurm_job_id"] != job[0]
    assert set(RUN_FACTS) <= set(m)
