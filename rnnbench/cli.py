"""The `rnnbench` command: a thin dispatcher over rnnbench/commands/*.py.

Each command module defines `add_parser(subparsers)` (which sets
`func=run` on its parser) and `run(args) -> int`. A user's mistake is raised as
`UsageError` anywhere below and printed here as one line, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UsageError

# Order = the order in `rnnbench --help`.
COMMANDS = ("list", "train", "throughput", "data", "gradients", "aggregate", "report")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (not usage + error) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def make_parser() -> Parser:
    from . import __version__

    parser = Parser(prog="rnnbench", description="Benchmark and reproducibility suite for RNNs.")
    parser.add_argument("--version", action="version", version=f"rnnbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"rnnbench {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
