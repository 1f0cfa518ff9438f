"""The HTML report: `build(results_dir, out_dir)` -> index.html + one CSV per table.

    inputs.py   runs.csv as run records (rnnbench.record.read_runs), curves, gradients, asv, provenance
    stats.py    the one interval helper (scipy.stats: Welch or seeded bootstrap) every comparison uses
    tables.py   pandas group-bys of the records by their fields, "like with like" conditions
    (claims)    the claims' verdicts and the cross-task statistics come from rnnbench.claims
    figures.py  matplotlib / seaborn figures -> byte-stable inline SVG
    html.py     sections of blocks -> templates/index.html.j2 (figures drawn in worker processes)
The tests' synthetic results directories: tests/report/synthetic.py.
"""
from __future__ import annotations


def build(results_dir, out_dir=None, asv_results=None, method: str = "welch", **kw):
    """index.html + a CSV per table in out_dir (default RESULTS_DIR/report); see html.build."""
    from .html import build as _build
    return _build(results_dir, out_dir, asv_results=asv_results, method=method, **kw)
