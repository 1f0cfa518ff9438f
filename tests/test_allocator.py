"""rnnbench/allocator.py: the CLI and the throughput harness keep freed step buffers in the process
(glibc's mallopt); off by RNNBENCH_MALLOC=0, and a MALLOC_*_ variable of the user's wins."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from rnnbench import allocator


def _tune(monkeypatch, **env):
    for var in (allocator.ENV, *allocator.USER_VARS):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    allocator.tune.cache_clear()
    try:
        return allocator.tune()
    finally:
        allocator.tune.cache_clear()


def test_off_and_the_users_own_setting_are_left_alone(monkeypatch):
    assert _tune(monkeypatch, RNNBENCH_MALLOC="0") == "off: RNNBENCH_MALLOC=0"
    assert _tune(monkeypatch, MALLOC_TRIM_THRESHOLD_="131072") == "left to MALLOC_TRIM_THRESHOLD_"


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_settings(monkeypatch):
    assert _tune(monkeypatch) == "set"


def test_importing_rnnbench_changes_nothing_the_cli_does():
    code = ("import rnnbench, rnnbench.throughput, rnnbench.allocator as a; print(a.tune.cache_info().currsize); "
            "from rnnbench.cli import main; main(['list']); print(a.tune.cache_info().currsize)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "0" and out[-1] == "1"
