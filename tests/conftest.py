"""Shared fixtures: small, fast configurations and a CLI runner."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def run_cli(*args, cwd=None, env=None, timeout=300) -> subprocess.CompletedProcess:
    """`python -m rnnbench ARGS` in a subprocess, text output captured."""
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "rnnbench", *map(str, args)], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


@pytest.fixture
def tiny_adding() -> dict:
    """An adding run that trains in about a second."""
    return {"task": "adding", "task_params": {"seq_len": 12, "n_train": 512, "n_val": 128, "n_test": 128},
            "arch": "lstm", "hidden": 16, "epochs": 2, "batch_size": 32, "device": "cpu"}
