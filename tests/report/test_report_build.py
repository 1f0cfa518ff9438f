"""The whole report on synthetic results: sections, CSVs, byte-stability, partial results, errors."""
from __future__ import annotations

import re

import pandas as pd
import pytest

from rnnbench import claims as claimlib
from rnnbench.cli import main
from rnnbench.report import build, figures, inputs, tables
from rnnbench.report.html import SECTIONS

from . import synthetic

SECTION_IDS = [sid for sid, _, _ in SECTIONS]


def page(out) -> str:
    return (out / "index.html").read_text()


def test_every_section_is_there_in_order(quick_report):
    html = page(quick_report)
    found = re.findall(r'<section id="([^"]+)"', html)
    assert found == SECTION_IDS
    assert len(SECTION_IDS) == 12
    for sid in SECTION_IDS:     # each section is reachable from the navigation bar
        assert f'href="#{sid}"' in html


# claims whose runs the synthetic grid does not have: the ablations' and the models beyond recurrence
ABLATIONS = {n for n in claimlib.CLAIMS.names()
             if claimlib.CLAIMS.get(n).check.__module__.endswith((".ablations", ".beyond", ".agreement", ".memory"))}


def test_the_quick_grid_report_has_figures_tables_and_claims(quick_report):
    html = page(quick_report)
    assert html.count("<svg") >= 12
    # every input of the synthetic grid is present; it has no model beyond recurrence, no agreement task
    assert re.findall(r'class="nodata"[^>]*>([^<]*)', html) == \
        ["no runs of tcn, transformer, window-mlp, mingru or minlstm", "no runs of agreement, agreement-lm or seqcopy"], \
        re.findall(r'class="nodata"[^>]*>([^<]*)', html)
    statuses = re.findall(r'data-claim="([^"]+)" data-status="([^"]+)"', html)
    # the synthetic grid has the runs of every claim but the ablations' (rnnbench/claims/ablations.py)
    assert len(statuses) >= 7 and all(s == "holds" for c, s in statuses if c not in ABLATIONS), statuses
    assert {c for c, s in statuses if s != "holds"} <= ABLATIONS
    assert "Partial results: 5 of 156 runs did not finish ok (3 diverged, 1 failed, 1 missing)" in html
    assert "Generated samples: textgen / lstm" in html and "&lt;&amp; done&gt;" in html   # escaped
    assert "Synthetic CPU @ 2.0GHz" in html and "2026-05-01T12:00:00Z" in html           # provenance


def test_the_page_is_self_contained(quick_report):
    html = page(quick_report)
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<link" not in html and "@import" not in html and "url(http" not in html
    assert "<img" not in html                       # figures are inline SVG


def test_each_table_is_a_csv_matching_the_tables(quick_results, quick_report):
    names = {p.name for p in quick_report.glob("*.csv")}
    assert {"status.csv", "grid.csv", "long_dependencies.csv", "compare_lstm_gru.csv", "compare_gru_gru-cho.csv",
            "gradients.csv", "clipping.csv", "seq2seq.csv", "lab.csv", "throughput.csv", "claims.csv",
            "learning_curves.csv", "provenance_runs.csv"} <= names
    for name in names:
        assert f'href="{name}"' in page(quick_report)
    runs = inputs.load_runs(quick_results)
    grid = pd.read_csv(quick_report / "grid.csv", keep_default_na=False, na_values=[""])
    expected = tables.grid_table(runs)
    assert len(grid) == len(expected)
    assert grid["runs"].sum() == len(runs) == 156
    pd.testing.assert_series_equal(grid["mean"], expected["mean"], check_dtype=False, rtol=1e-12)
    lab = pd.read_csv(quick_report / "lab.csv")      # the course-lab family, with the times quoted for it
    assert set(lab["task"]) == {"airquality", "electricdevices", "sentiment", "textgen", "addition"}
    assert lab["reference_seconds"].notna().all()
    claims = pd.read_csv(quick_report / "claims.csv")
    assert set(claims.loc[~claims["claim"].isin(ABLATIONS), "status"]) == {"holds"}


def test_same_inputs_give_the_same_bytes(quick_results, quick_report, tmp_path):
    """Built again, serially this time (the fixture drew its figures in worker processes)."""
    build(quick_results, tmp_path, asv_results=quick_results / "asv-results", jobs=1)
    files = sorted(p.name for p in quick_report.iterdir())
    assert files == sorted(p.name for p in tmp_path.iterdir())
    for name in files:
        assert (tmp_path / name).read_bytes() == (quick_report / name).read_bytes(), name


@pytest.fixture(scope="module")
def partial_results(tmp_path_factory):
    """Only runs.csv, and many runs did not finish: no curves, gradients, provenance, asv."""
    root = synthetic.make_results(tmp_path_factory.mktemp("partial") / "results", seeds=2, curves=False,
                                  extras=False)
    runs = pd.read_csv(root / "runs.csv")
    lost = runs.index % 3 == 0
    runs.loc[lost, "status"] = "missing"    # as the aggregator writes them: the record without results
    runs.loc[lost, ["value", "n_params", "train_seconds", "seconds_per_epoch", "epochs", "steps", "device"]] = None
    runs.loc[runs.index % 7 == 1, ["status", "value"]] = ["diverged", None]
    runs.to_csv(root / "runs.csv", index=False)
    return root


def test_partial_results_still_make_a_report_that_says_so(partial_results, tmp_path):
    out = build(partial_results, tmp_path).parent
    html = page(out)
    assert re.findall(r'<section id="([^"]+)"', html) == SECTION_IDS
    note = re.search(r'id="partial-results">Partial results: (\d+) of (\d+) runs', html)
    assert note and int(note.group(1)) > 0
    for missing in ("no curve.csv found", "no gradient diagnostics", "no asv results and no throughput",
                    "no provenance/"):
        assert missing in html
    assert "could not be built" not in html
    grid = pd.read_csv(out / "grid.csv")
    assert grid["missing"].sum() > 0 and grid["diverged"].sum() > 0


def test_a_section_that_breaks_says_so_and_the_rest_stands(partial_results, tmp_path, monkeypatch):
    def broken(runs):
        raise KeyError("no such column")
    monkeypatch.setattr(tables, "lab_table", broken)
    html = page(build(partial_results, tmp_path).parent)
    assert "this section could not be built from these inputs: KeyError" in html
    assert re.findall(r'<section id="([^"]+)"', html) == SECTION_IDS


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_figure_that_breaks_says_so(partial_results, tmp_path, monkeypatch, jobs):
    def broken(*args):
        raise ValueError("bad axis")
    monkeypatch.setattr(figures, "seq2seq", broken)     # seen by forked workers too
    html = page(build(partial_results, tmp_path, jobs=jobs).parent)
    assert "this figure could not be drawn: ValueError: bad axis" in html
    assert re.findall(r'<section id="([^"]+)"', html) == SECTION_IDS


def test_bad_inputs_are_one_line_usage_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"rnnbench report: error: results directory not found: {tmp_path / 'nope'}"
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no runs.csv in {tmp_path}" in err
    (tmp_path / "runs.csv").write_text("")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "runs.csv" in err


def test_the_command_writes_to_results_report_by_default(partial_results, capsys):
    assert main(["report", str(partial_results), "--ci", "bootstrap"]) == 0
    assert (partial_results / "report" / "index.html").is_file()
    assert "Intervals: 95 % bootstrap" in page(partial_results / "report")


def test_a_grid_naming_its_claims_evaluates_those_and_names_the_ones_decided_elsewhere(quick_results, tmp_path):
    """The default run lists its claims (`claims:`) and leaves others to claims.yaml
    (`claims_elsewhere:`): claims.csv holds exactly its own, the page names the others as decided
    there, and a name this version does not know (an older results directory) is left out."""
    import shutil

    import yaml

    res = tmp_path / "results"
    shutil.copytree(quick_results, res)
    own = ["adding_gated_vs_tanh", "scalar_gradient_50_steps", "no_such_claim"]
    (res / "provenance" / "grid.yaml").write_text(yaml.safe_dump(
        {"name": "quick", "claims": own, "claims_elsewhere": {"claims.yaml": ["forget_bias_helps_lstm"]}}))
    out = build(res, tmp_path / "report", asv_results=res / "asv-results", jobs=1)
    claims = pd.read_csv(out.parent / "claims.csv")
    assert claims["claim"].tolist() == own[:2]
    html = out.read_text()
    assert 'data-claim="forget_bias_helps_lstm" data-status="decided by claims.yaml"' in html
    assert "1 decided by claims.yaml" in html and 'data-claim="no_such_claim"' not in html
