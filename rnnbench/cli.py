"""The `rnnbench` command: a thin dispatcher over rnnbench/commands/*.py.

Each command module defines `add_parser(subparsers)` (which sets
`func=run` on its parser) and `run(args) -> int`. A user's mistake is raised as
`UsageError` anywhere below and printed here as one line, exit status 2.

`--plugin MODULE` (repeatable, before or after the command) imports a module that registers
cells or tasks (rnnbench/plugins.py). It is read before the parser is built, since the
parser's choices and task-parameter flags come from the registries, and added to
$RNNBENCH_PLUGINS for the processes a command starts.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import allocator, plugins
from .errors import UsageError

# Order = the order in `rnnbench --help`.
COMMANDS = ("list", "train", "train-group", "check-cell", "throughput", "data", "gradients", "aggregate", "report")
PLUGIN_HELP = "import MODULE first: its cells and tasks join the registries (repeatable; see README)"


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (not usage + error) and exit 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def make_parser() -> Parser:
    from . import __version__

    parser = Parser(prog="rnnbench", description="Benchmark and reproducibility suite for RNNs.")
    parser.add_argument("--version", action="version", version=f"rnnbench {__version__}")
    parser.add_argument("--plugin", action="append", metavar="MODULE", help=PLUGIN_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f".commands.{name.replace('-', '_')}", __package__).add_parser(sub)
    for command in sub.choices.values():      # `rnnbench train --plugin M` works too
        command.add_argument("--plugin", action="append", metavar="MODULE", help=PLUGIN_HELP)
    return parser


def plugin_args(argv: list[str]) -> list[str]:
    """The MODULEs of `--plugin MODULE` / `--plugin=MODULE` anywhere before `--`."""
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.split("=", 1)[1])
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    modules = plugin_args(argv)
    try:
        plugins.load(modules)
    except UsageError as e:
        print(f"rnnbench: error: {e}", file=sys.stderr)
        return 2
    if modules:
        os.environ[plugins.ENV] = plugins.with_env(modules)
    parser = make_parser()
    args = parser.parse_args(argv)
    allocator.tune()                   # freed step buffers stay in the process (allocator.py)
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()             # a closed pipe shows here, not at exit
        return status
    except UsageError as e:
        print(f"rnnbench {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:            # `rnnbench list | head -1`: the reader has all it wants
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no error at exit's flush
        return 141                     # 128 + SIGPIPE, as a tool killed by the signal


if __name__ == "__main__":
    sys.exit(main())
