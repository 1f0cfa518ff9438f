"""`rnnbench report RESULTS_DIR [--out DIR]`: one self-contained index.html + a CSV per table.

    rnnbench report results                      -> results/report/index.html
    rnnbench report results --out /tmp/r --ci bootstrap --asv-results .asv/results --jobs 2
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="the HTML report of a results directory (figures embedded)",
                       description="Read RESULTS_DIR/runs.csv (required) and, where present, the runs' "
                                   "curves, gradients/, throughput/, provenance/ and asv results; write one "
                                   "self-contained index.html and each table as CSV.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="the results folder (holds runs.csv)")
    p.add_argument("--out", metavar="DIR", help="where to write (default: RESULTS_DIR/report)")
    p.add_argument("--asv-results", metavar="DIR",
                   help="asv results folder (default: .asv/results when it exists here)")
    p.add_argument("--ci", choices=("welch", "bootstrap"), default="welch",
                   help="the 95%% interval of differences (default: welch; bootstrap is seeded)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="processes drawing the figures (default: $RNNBENCH_REPORT_JOBS, else the usable "
                        "cores, at most 4); the page is the same bytes for any N")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..io import check_in_path, check_out_dir, os_error

    if args.out is not None:
        check_out_dir(args.out)
    results = check_in_path(args.results_dir, "RESULTS_DIR")
    if args.asv_results is not None:
        check_in_path(args.asv_results, "--asv-results")
    if not results.is_dir():
        raise UsageError(f"results directory not found: {results}")
    if not (results / "runs.csv").is_file():
        raise UsageError(f"no runs.csv in {results} (run `rnnbench aggregate` first)")
    asv = Path(args.asv_results) if args.asv_results else Path(".asv/results")
    if args.asv_results and not asv.is_dir():
        raise UsageError(f"asv results folder not found: {asv}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    from ..report import build

    if args.out is None:
        check_out_dir(results / "report")
    try:
        index = build(results, args.out, asv_results=asv if asv.is_dir() else None, method=args.ci,
                      jobs=args.jobs)
    except OSError as e:
        raise os_error(e, f"the report in {args.out or results / 'report'}") from None
    print(f"{index}", file=sys.stderr)
    return 0
