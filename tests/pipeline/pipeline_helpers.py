"""Shared by the pipeline tests: the repo's paths, configs as Snakemake sees them, and a
`snakemake` runner that always works in a temporary directory (never the repo's results/)."""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEFILE = REPO / "Snakefile"
CONFIGS = REPO / "workflows" / "config"
SCHEMA = CONFIGS / "schema.yaml"
DEFAULT_PROFILE = REPO / "workflows" / "profiles" / "default"
SLURM_PROFILE = REPO / "workflows" / "profiles" / "slurm"
TINY = Path(__file__).resolve().parent / "tiny.yaml"
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()

# metrics.json fields that depend on the machine or the clock, not on the config
RUN_FACTS = {"train_seconds", "seconds_per_epoch", "seconds_to_solve", "hostname", "slurm_job_id"}


def validated(config: dict) -> dict:
    """A config after the pipeline's schema check (defaults filled), as the Snakefile has it."""
    from snakemake.utils import validate
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA))
    return config


def load(name_or_path) -> dict:
    p = Path(name_or_path)
    if not p.suffix:
        p = CONFIGS / f"{name_or_path}.yaml"
    return yaml.safe_load(p.read_text())


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args, config: Path = TINY, profile: Path | None = DEFAULT_PROFILE,
              env: dict | None = None, timeout: float = 600, popen: bool = False, cores: int | None = 2):
    """`python -m snakemake` on the repo's Snakefile, in `workdir`, with `config` (None: the
    Snakefile's default grid); its stdout and stderr together in `.stdout` (a dry run
    reports on stdout, a run on stderr)."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory", str(workdir)]
    if config is not None:
        cmd += ["--configfile", str(config)]
    if profile is not None:
        cmd += ["--workflow-profile", str(profile)] if profile == DEFAULT_PROFILE else ["--profile", str(profile)]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    cmd += [str(a) for a in args]
    e = {**os.environ, **(env or {})}
    e.pop("SNAKEMAKE_PROFILE", None)
    if popen:
        return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry run: {rule: count} ({} = nothing to do)."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+(\d+)", output, re.S)
    if not m:
        return {}
    counts = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2:
            counts[parts[0]] = int(parts[1])
    return counts


def metrics(results: Path) -> dict[str, dict]:
    """{<task>/<arch>/<cell-id>: metrics.json without the machine's facts} of a results dir."""
    out = {}
    for p in sorted((results / "runs").rglob("metrics.json")):
        m = json.loads(p.read_text())
        out[str(p.parent.relative_to(results / "runs"))] = {k: v for k, v in m.items() if k not in RUN_FACTS}
    return out
