"""`rnnbench check-cell NAME...`: the zoo's equivalence and gradient checks on any registered cell.

One pipe-delimited line per check (cell | check | pass/fail/skip | detail), then one summary
line per cell; exit status 0 if every check passed or was skipped, 1 if one failed, 2 for an
unknown cell. The checks are rnnbench/models/checks.py; a plugin's cell is checked with
`rnnbench --plugin MODULE check-cell NAME`.
"""
from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser("check-cell", help="run the zoo's equivalence and gradient checks on a cell",
                       description="Check registered cells (a plugin's too) as the zoo's cells are "
                                   "checked: fast path vs reference loop, vs torch.nn's fused backend "
                                   "where the cell has one, lengths, bidirectional and stacked "
                                   "consistency, state_dict names, state gradients, gradcheck in float64.")
    p.add_argument("names", nargs="+", metavar="NAME", help="cell name(s), see `rnnbench list`")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.add_argument("--threads", type=_threads, default=1, help="torch threads (default 1: tiny tensors)")
    p.add_argument("--json", action="store_true", help="one JSON object per check instead of lines")
    p.set_defaults(func=run)


def _threads(v: str) -> int:
    """1 .. 4096 torch threads (argparse turns the error into one line, exit 2)."""
    try:
        n = int(v)
    except ValueError:
        n = 0
    if not 1 <= n <= 4096:
        raise argparse.ArgumentTypeError(f"invalid threads {v!r} (an integer from 1 to 4096)")
    return n


def run(args) -> int:
    import torch

    from ..errors import unknown
    from ..models import CELLS, checks

    for name in args.names:
        CELLS.get(name)                       # UsageError naming the valid cells, before any check
    for name in args.only or ():
        if name not in checks.CHECKS:
            raise unknown("check", name, checks.CHECKS)
    if args.threads:
        torch.set_num_threads(args.threads)
    failed = False
    for name in args.names:
        counts = {"pass": 0, "fail": 0, "skip": 0}
        seconds = 0.0
        for r in checks.run(name, args.only):
            counts[r.status] += 1
            seconds += r.seconds
            print(json.dumps(r.__dict__) if args.json else r.line(), flush=True)
        failed |= counts["fail"] > 0
        if not args.json:
            verdict = "fail" if counts["fail"] else "pass"
            print(f"{name} | {'all':<15} | {verdict:<4} | {counts['pass']} passed, {counts['fail']} failed, "
                  f"{counts['skip']} skipped in {seconds:.1f} s", flush=True)
    return 1 if failed else 0
