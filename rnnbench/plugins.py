"""Plugins: cells and tasks (any registry's entries) defined in a user's own module.

A plugin is a module that registers entries when it is imported (README: "Bring your own
cell or task"). Four places name one; `load()` imports each named module once:

    entry points   an installed package's  [project.entry-points."rnnbench.plugins"]
                   my_cells = "my_pkg.cells"   (the value names the module to import)
    environment    RNNBENCH_PLUGINS=my_cells,my_tasks   (comma-separated module names;
                   inherited by Snakemake's jobs and asv's benchmark processes)
    command line   rnnbench --plugin my_cells COMMAND ...   (repeatable; the CLI adds it to
                   RNNBENCH_PLUGINS, so that processes it starts load it too)
    grid config    plugins: [my_cells]   (the pipeline gives every job `--plugin my_cells`)

Every registry (rnnbench/registry.py) calls `load()` before it answers a lookup, so whatever
looks a name up - the CLI, the grid's expansion, asv's suites, throughput, the report - sees
the entry points' and RNNBENCH_PLUGINS' entries without asking. This module imports nothing
of rnnbench but its errors, so that the registries can import it.
"""
from __future__ import annotations

import importlib
import os
from importlib import metadata

from .errors import UsageError

GROUP = "rnnbench.plugins"   # the entry-point group
ENV = "RNNBENCH_PLUGINS"     # the environment variable

_loaded: dict[str, str] = {}  # module name -> where it was named, in load order
_entry_points_done = False


def load(modules=None) -> list[str]:
    """Import the plugin modules not imported yet: the entry points of group `rnnbench.plugins`
    (read once per process), those in $RNNBENCH_PLUGINS, then `modules`. Returns the names of
    every plugin module loaded so far, in load order.

    Raises UsageError, one line naming the module and where it was named, for a name that is
    not an importable module or a module that fails on import (a name its entries take twice,
    say); the module then counts as not loaded.
    """
    global _entry_points_done
    if not _entry_points_done:
        for ep in metadata.entry_points(group=GROUP):
            _import(ep.module, f"entry point {ep.name!r} of group {GROUP!r}")
        _entry_points_done = True
    for name in from_env():
        _import(name, f"${ENV}")
    for name in modules or ():
        _import(name, "--plugin")
    return list(_loaded)


def from_env(environ=None) -> list[str]:
    """The module names of $RNNBENCH_PLUGINS (comma-separated; blanks ignored)."""
    value = (os.environ if environ is None else environ).get(ENV, "")
    return [n.strip() for n in value.split(",") if n.strip()]


def with_env(modules, environ=None) -> str:
    """$RNNBENCH_PLUGINS with `modules` added (each once, order kept): for child processes."""
    names = from_env(environ)
    return ",".join(names + [m for m in dict.fromkeys(modules) if m not in names])


def loaded() -> dict[str, str]:
    """{module: where it was named} of the plugins loaded so far (for `rnnbench list`)."""
    return dict(_loaded)


def _import(name: str, where: str) -> None:
    if name in _loaded:
        return
    if not name or not all(part.isidentifier() for part in name.split(".")):
        hint = " (give a module name importable from sys.path, not a file path)" if (
            "/" in name or "\\" in name or name.endswith(".py")) else ""
        raise UsageError(f"plugin {name!r} (from {where}) is not a module name{hint}")
    _loaded[name] = where        # first: a registry lookup inside the module must not re-enter
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        del _loaded[name]
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise UsageError(f"plugin module {name!r} (from {where}) not found: no module named "
                             f"{e.name!r} on sys.path (PYTHONPATH, or an installed package)") from None
        raise UsageError(f"plugin module {name!r} (from {where}) failed on import: {_one_line(e)}") from e
    except Exception as e:       # noqa: BLE001 - any error of the user's module, as one line
        del _loaded[name]
        raise UsageError(f"plugin module {name!r} (from {where}) failed on import: {_one_line(e)}") from e


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
