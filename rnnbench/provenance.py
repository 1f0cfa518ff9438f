"""Where and with what a result was made: host, SLURM job, CPU, threads, versions, git sha.

    >>> from rnnbench import provenance
    >>> p = provenance.collect()
    >>> p["hostname"], p["slurm_job_id"], p["git_sha"], p["versions"]["torch"]

Standard library only and cheap (no package is imported to learn its version;
git is asked with a short timeout), so `rnnbench train` can call it once per run
and the pipeline can call it at any time. Every value that cannot be found is
None, never an exception.
"""
from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

# Packages whose versions decide a result or its report (distribution names).
PACKAGES = ("rnnbench", "torch", "numpy", "pandas", "scikit-learn", "matplotlib", "seaborn",
            "pyyaml", "jsonschema", "snakemake", "snakemake-executor-plugin-slurm")

# SLURM's environment names for the job we run in (array tasks report both ids).
SLURM_VARS = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID",
              "array_task_id": "SLURM_ARRAY_TASK_ID", "partition": "SLURM_JOB_PARTITION",
              "nodelist": "SLURM_JOB_NODELIST", "cpus_per_task": "SLURM_CPUS_PER_TASK",
              "cluster": "SLURM_CLUSTER_NAME"}

_SOURCE = Path(__file__).resolve().parents[1]   # the checkout holding this package


def collect(threads: int | None = None) -> dict[str, Any]:
    """Everything below as one flat-ish, JSON-serialisable dict.

    `threads`: the intra-op thread count the caller uses (torch.get_num_threads());
    when None it is read from torch only if torch is already imported.
    """
    sha, dirty = git_state()
    return {
        "hostname": hostname(),
        "slurm_job_id": slurm_job_id(),
        "slurm": slurm(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": cpus_available(),
        "threads": threads if threads is not None else torch_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "versions": versions(),
        "git_sha": sha,
        "git_dirty": dirty,
        "time_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def hostname() -> str:
    return socket.gethostname()


def slurm_job_id() -> str | None:
    """The SLURM job id this process runs in ("<array job>_<task>" for an array task)."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def slurm() -> dict[str, str] | None:
    """The SLURM_* facts of the current job, or None outside SLURM."""
    found = {k: os.environ[v] for k, v in SLURM_VARS.items() if os.environ.get(v)}
    return found or None


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        return _run(["sysctl", "-n", "machdep.cpu.brand_string"])
    return platform.processor() or None


def cpus_available() -> int | None:
    """CPUs this process may run on (the cgroup / SLURM allocation), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    try:
        return int(torch.get_num_threads()) if torch is not None else None
    except Exception:  # noqa: BLE001 - a half-imported torch must not break provenance
        return None


def versions(packages=PACKAGES) -> dict[str, str | None]:
    """Installed distribution versions, None where absent (rnnbench falls back to __version__)."""
    out: dict[str, str | None] = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out.get("rnnbench") is None and "rnnbench" in packages:
        from . import __version__
        out["rnnbench"] = __version__
    return out


def installed() -> dict[str, str]:
    """Every installed distribution: name -> version (the whole environment, sorted)."""
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return dict(sorted(out.items()))


def git_state(path: str | Path = _SOURCE) -> tuple[str | None, bool | None]:
    """(HEAD's sha, whether tracked files differ from it) of the checkout at `path`.

    (None, None) when `path` is not a git checkout (an installed wheel) or git is absent.
    """
    sha = _run(["git", "-C", str(path), "rev-parse", "HEAD"])
    if sha is None:
        return None, None
    status = _run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"])
    return sha, (bool(status) if status is not None else None)


def git_sha(path: str | Path = _SOURCE) -> str | None:
    return git_state(path)[0]


def _run(cmd: list[str], timeout: float = 5.0) -> str | None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def main(argv=None) -> int:
    """`python -m rnnbench.provenance [--out FILE]`: collect() plus every installed package."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m rnnbench.provenance", description=main.__doc__)
    p.add_argument("--out", metavar="FILE", help="write the JSON here (atomically) instead of stdout")
    args = p.parse_args(argv)
    text = json.dumps({**collect(), "packages": installed()}, indent=2, sort_keys=True) + "\n"
    if args.out:
        from .io import atomic_write_text
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
