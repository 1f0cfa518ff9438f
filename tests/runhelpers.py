"""Helpers shared by tests: run the CLI in a subprocess, read JSON, load a script of scripts/.

(A plain module, not conftest.py: several folders have their own conftest.py, so
`from runhelpers import ...` would be ambiguous.)
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def shared_data() -> Path | None:
    """The reference data (../shared/data beside the repo, or $RNNBENCH_DATA), if present."""
    for cand in (os.environ.get("RNNBENCH_DATA"), REPO / ".." / "shared" / "data"):
        if cand and (Path(cand) / "course").is_dir():
            return Path(cand).resolve()
    return None


SHARED = shared_data()
needs_data = pytest.mark.skipif(SHARED is None, reason="reference data absent: no ../shared/data beside "
                                "the repo and no $RNNBENCH_DATA holding course/ and ucr/")


def run_cli(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m rnnbench ARGS` in a subprocess, text output captured."""
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "rnnbench", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def load_script(name: str):
    """scripts/<name>.py as a module (the scripts are not a package), to call its main()."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kill_after_first_checkpoint(cmd: list[str], out: Path, settle: float = 0.3, env=None) -> None:
    """Start `cmd --out out`, SIGKILL it a moment after its first checkpoint.pt appears."""
    import signal
    import time

    proc = subprocess.Popen(cmd + ["--out", str(out)], env=env)
    deadline = time.time() + 120
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(settle)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
