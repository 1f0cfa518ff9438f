"""The quick grid's report has the same sections and numbers as before the run record.

data/quick is a saved results directory: the synthetic quick grid (2 seeds, trimmed) as
version-1 metrics.json files (as train.py wrote them before the record), the grid's
provenance/cells.csv (one run failed, one missing), curves, gradients, throughput, asv
results. data/quick-before holds what the report built from it before issue 14 (the
regex-placing report, on runs.csv of the old aggregator): each table's CSV and the page's
sections with their headings. Here the directory is aggregated into records
(version 1 upgraded) and the new report is built from them: the same sections and
headings (the comparison section may add pairs), the same numbers in every table.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from rnnbench.aggregate import aggregate_runs
from rnnbench.report import build

DATA = Path(__file__).with_name("data")
BEFORE = DATA / "quick-before"
# what a table's rows are (the rows' order may differ); lab.csv's columns were renamed
KEYS = {"claims.csv": ["claim"], "clipping.csv": ["group", "clip"], "gradients.csv": ["task", "arch", "phase", "state"],
        "grid.csv": ["arch", "task", "condition"], "lab.csv": ["task", "arch"],
        "learning_curves.csv": ["task", "condition", "arch", "step"],
        "long_dependencies.csv": ["task", "condition", "arch", "seq_len"], "provenance_runs.csv": ["field", "value"],
        "seq2seq.csv": ["task", "condition", "variant", "arch"], "status.csv": ["task"],
        "throughput.csv": ["source", "arch", "backend", "pass", "bidirectional", "layers", "shape"],
        "compare_lstm_gru.csv": ["task", "condition"], "compare_gru_gru-cho.csv": ["task", "condition"]}
# claims decided differently since (their own tests cover them): gru_smaller_faster is decided by a
# throughput sweep (issue 16; tests/claims/test_gru_speed.py), not by the training runs' times
# and lab_learning_to_add_99 has the wording and attribution issue 16 asked for, decided on exact match
REWORKED = {"gru_smaller_faster", "lab_learning_to_add_99"}
RENAMED = {"lab.csv": {"quoted_seconds": "reference_seconds", "ratio_to_quoted": None,
                       "lab_task": None}}   # the lab's own label is the task's title now; the ratio
# to the quote is given only for runs at the quoted setting now (these saved runs are not: `setting`)


def sections(html: str) -> list[tuple[str, list[str]]]:
    """(section id, [its h2 and h3 headings]) in page order."""
    return [(m.group(1), re.findall(r"<h2>([^<]*)</h2>", m.group(2)) + re.findall(r"<h3[^>]*>([^<]*)", m.group(2)))
            for m in re.finditer(r'<section id="([^"]+)"(.*?)</section>', html, re.S)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("saved") / "quick"
    shutil.copytree(DATA / "quick", root)
    aggregate_runs(root / "runs", root / "runs.csv", expected=root / "provenance" / "cells.csv")
    out = root / "report"
    build(root, out, asv_results=root / "asv-results", jobs=2)
    return out


def test_the_same_sections_and_headings(report):
    old = json.loads((BEFORE / "sections.json").read_text())
    new = dict(sections((report / "index.html").read_text()))
    # the same sections in the same order; sections added since (beyond recurrence, issue 18) may sit between
    assert [sid for sid in new if sid in dict(old)] == [sid for sid, _ in old]
    def plain(hs):      # a section's number moves when one is added before it
        return [re.sub(r"^\d+\. ", "", h) for h in hs]
    for sid, headings in old:
        assert [h for h in plain(new[sid]) if h in plain(headings)] == plain(headings), sid   # in order


@pytest.mark.parametrize("name", sorted(KEYS))
def test_the_same_numbers(report, name):
    old = pd.read_csv(BEFORE / name)
    new = pd.read_csv(report / name)
    renamed = RENAMED.get(name, {})
    old = old.drop(columns=[k for k, v in renamed.items() if v is None]).rename(
        columns={k: v for k, v in renamed.items() if v})
    assert set(old.columns) <= set(new.columns), set(old.columns) - set(new.columns)
    keys = KEYS[name]
    if name == "claims.csv":     # a claim added since (rnnbench.claims) is a new row; the old ones stay
        new = new[new["claim"].isin(old["claim"]) & ~new["claim"].isin(REWORKED)]
        old = old[~old["claim"].isin(REWORKED)]
    old = old.sort_values(keys, kind="mergesort").reset_index(drop=True)
    new = new[list(old.columns)].sort_values(keys, kind="mergesort").reset_index(drop=True)
    pd.testing.assert_frame_equal(new, old, check_dtype=False, rtol=1e-9)


def test_every_table_of_before_is_compared():
    assert {p.name for p in BEFORE.glob("*.csv")} == set(KEYS)
