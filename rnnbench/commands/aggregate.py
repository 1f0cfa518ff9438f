"""`rnnbench aggregate RUNS_DIR --out runs.csv [--expected cells.csv]`: one tidy row per run."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("aggregate", help="every run's metrics.json -> one tidy CSV, one row per run",
                       description="Flatten every RUNS_DIR/**/metrics.json (a run record, validated) "
                                   "into one row (nested fields joined with dots); with --expected, one "
                                   "row per expected cell, those without metrics.json marked failed or "
                                   "missing with their task's and cell's registry facts.")
    p.add_argument("runs_dir", metavar="RUNS_DIR", help="folder of run dirs (results/runs)")
    p.add_argument("--out", required=True, metavar="FILE", help="the CSV to write (atomically)")
    p.add_argument("--expected", metavar="CELLS_CSV",
                   help="the grid's cells (the pipeline's provenance/cells.csv): one row each")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..aggregate import aggregate_runs, summary
    from ..io import check_in_path, check_out_file, os_error

    check_out_file(args.out)
    runs = check_in_path(args.runs_dir, "RUNS_DIR")
    if args.expected is not None:
        check_in_path(args.expected, "--expected")
    if args.expected is None and not runs.is_dir():
        raise UsageError(f"runs folder not found: {runs}")
    if args.expected is not None and not Path(args.expected).is_file():
        raise UsageError(f"expected-cells file not found: {args.expected}")
    try:
        df = aggregate_runs(runs, args.out, expected=args.expected)
    except UsageError:
        raise                   # names its file (a metrics.json, the cells' config) itself
    except (KeyError, ValueError) as e:
        raise UsageError(f"cannot read {args.expected}: {e}") from None
    except OSError as e:
        raise os_error(e, args.out) from None
    print(f"{args.out}: {summary(df, runs, args.expected is not None)}", file=sys.stderr)
    return 0
