"""Fixtures of the report's tests: synthetic results (no training) and small run tables.

`quick_results` is a results directory shaped like the `quick` grid's (written by
synthetic.py: run records, runs.csv aggregated from them, curve.csv per run,
attention.json, samples.txt, generation.csv, gradients/, throughput/, provenance/, asv
results); `quick_report` is its report, built once per session.
Small hand-made run tables come from reporthelpers.py.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from . import synthetic


@pytest.fixture(scope="session")
def quick_results(tmp_path_factory) -> Path:
    return synthetic.make_results(tmp_path_factory.mktemp("quick") / "results", seeds=3)


@pytest.fixture(scope="session")
def quick_report(quick_results, tmp_path_factory) -> Path:
    from rnnbench.report import build
    out = tmp_path_factory.mktemp("quick-report")
    build(quick_results, out, asv_results=quick_results / "asv-results", jobs=2)
    return out
