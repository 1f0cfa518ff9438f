"""No import cycles in rnnbench: the graph of its imports (module-level and function-local
alike) is acyclic, and every module imports on its own in a fresh interpreter.

Function-local imports remain where they keep torch, pandas or matplotlib out of a process
that does not need them (the CLI's commands, the grid read by the Snakefile, the config);
none hides a cycle, since the graph below counts them too."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "rnnbench"


def modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = modules()


def imports(name: str, path: Path) -> set[str]:
    """The rnnbench modules `name` imports anywhere in its body (`from . import x` counts as
    module x where x is one, else as the package)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "rnnbench")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            if base.split(".")[0] != "rnnbench":
                continue
            for a in node.names:
                full = f"{base}.{a.name}"
                out.add(full if full in MODULES else base)
    out.discard(name)
    return {m for m in out if m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle():
    graph = {name: imports(name, path) for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.slow
def test_every_module_imports_alone():
    """Each module first in a fresh interpreter (one interpreter per module, so an order that
    only works because another module was imported first shows up)."""
    script = "import importlib, sys; importlib.import_module(sys.argv[1])"
    failed = {}
    for name in MODULES:
        if name == "rnnbench.__main__":     # `python -m rnnbench`: importing it runs the CLI
            continue
        r = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True,
                           env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
        if r.returncode:
            failed[name] = r.stderr.strip().splitlines()[-1:]
    assert not failed, failed


def test_the_grid_and_the_config_import_without_torch():
    """What a cluster job re-reading the workflow imports (rnnbench.grid, rnnbench.config)
    loads neither torch nor pandas: the registries are imported only to expand a grid."""
    code = ("import sys, rnnbench.grid, rnnbench.config; "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr
