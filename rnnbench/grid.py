"""The experiment grid: a pipeline config -> the list of cells, each one training run.

A grid config (workflows/config/*.yaml, checked by workflows/config/schema.yaml)
names RunConfig keys in three layers, most specific last:

    grid:      every cell                       arch: [rnn, lstm], hidden: 64, seed: [0, 1]
    variants:  extra copies of `grid`, each     - {arch: [lstm, gru], bidirectional: true}
               changing some keys
    tasks:     one block per task: its task_    adding: {task_params: {seq_len: [50, 100]}}
               params, model_params and any
               key it sets for itself (or a
               list of blocks: their union)
    claims:    claims whose runs the grid       claims: [adding_gated_vs_tanh]
               covers (rnnbench.claims): their
               cells are added, as declared
    claims_elsewhere: claims another config     claims_elsewhere: {claims.yaml: [...]}
               decides (named in the report)

A list is an axis (its values are crossed), a scalar is a fixed value. For each
task, the cells are the union over [grid, grid+variant, ...] of the product of the
axes, with the task block overriding (grid < variant < task), minus the cells
matching an `exclude` entry. A claim's cells are its experiment's alone (`claims.grid`:
neither this config's grid, variants nor excludes touch them). `backend: auto` is resolved here as `rnnbench train`
does (fused where the cell has it, else cell); a backend a cell lacks is dropped.
`gradients.cells` selects the cells whose gradient flow is measured at init, of those
`rnnbench gradients` can measure (rnnbench.gradients.unsupported); a selected cell it cannot
(an encoder-decoder, a sequence model) is left out, the reason in cells.csv's gradients_skipped.

A cell's id is readable and stable: the cell's value on every axis the config
declares for it, with backend, direction, layers, hidden and seed always shown,
then a short hash of the cell's whole config:

    T100_fused_uni_l1_h32_s0-3f9a1c     ->  results/runs/adding/lstm/T100_fused_uni_l1_h32_s0-3f9a1c/

It depends only on the cell's own config, not on the other cells or the order of
the config: adding a seed or an axis value keeps every other id, and a changed
setting gives the affected cells new ids (new runs), so a run directory only
ever holds one config. A config that two layers (or two claims) give is one cell,
with the id of the first that gives it (the same run: equal once the task's and
RunConfig's defaults are filled in).
"""
from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .config import (SETTINGS, RunConfig, config_hash, resolve, resolve_backend, schema_run_keys,
                     with_task_defaults)
from . import plugins
from .errors import UsageError, choices, unknown

# Keys of a block that are not RunConfig keys.
TASK_ONLY = ("task_params", "resources")
NESTED = ("task_params", "model_params")
# RunConfig float fields: written as floats so that `lr: 1` and `lr: 1.0` are one cell.
FLOATS = tuple(n for n, s in SETTINGS.items() if s.kind is float)

# The id: these keys always, in this order (task/model params and other axes around them).
ALWAYS = ("backend", "bidirectional", "layers", "hidden")
ALIAS = {"seq_len": "T", "hidden": "h", "layers": "l", "seed": "s", "batch_size": "bs",
         "epochs": "ep", "weight_decay": "wd", "momentum": "mom", "dropout": "drop",
         "forget_bias": "fb", "eval_every": "eval", "checkpoint_every": "ckpt",
         "eval_batch_size": "ebs", "tbptt": "tbptt", "lr": "lr", "clip": "clip", "steps": "steps"}
VALUE_ONLY = ("backend", "optimizer", "device", "variant")
HASH_CHARS = 6
# The pipeline's own defaults, below the config's: a job says which device it needs
# (so it can ask for a GPU) and uses the one core the scheduler gives it.
PIPELINE_DEFAULTS = {"device": "cpu", "threads": 1}
RUN_DEFAULTS = RunConfig().to_dict()


@dataclass(frozen=True)
class Cell:
    """One grid cell: `rnnbench train --config <config as JSON> --out <results>/runs/<path>`."""
    task: str
    arch: str
    id: str
    config: dict[str, Any]                  # RunConfig keys, exactly what the run is given
    resources: dict[str, Any] = field(default_factory=dict)
    gradients: bool = False                 # gradient diagnostics at init for this cell
    gradients_skipped: str = ""             # why `gradients.cells` selected it but it gets none
    group: str = ""                         # its seed group's path (`seed_groups`); "": trained alone

    @property
    def path(self) -> str:
        """<task>/<arch>/<id>: the run's folder under runs/ (and gradients/)."""
        return f"{self.task}/{self.arch}/{self.id}"

    @property
    def threads(self) -> int:
        return int(self.config.get("threads") or 1)

    def config_json(self) -> str:
        return canonical_json(self.config)


def canonical_json(d: dict[str, Any]) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


# ------------------------------------------------------------------------- registries
def _registries():
    """(TASKS, CELLS, backends_for), imported when a grid is expanded: they import torch, which
    a job of a cluster executor re-reading the workflow (load_cells) does not need."""
    from .models import ARCHS, backends_for      # cells and sequence models (models/zoo.py)
    from .tasks import TASKS
    return TASKS, ARCHS, backends_for


# ------------------------------------------------------------------------- expansion
def _run_key(c: "Cell") -> str:
    """What makes two cells one run: the same RunConfig once the task's and RunConfig's
    defaults are filled in (a key given at its default value is the same run as one left out)."""
    from .config import with_task_defaults

    return with_task_defaults(c.config).hash()


def expand(config: dict[str, Any]) -> list[Cell]:
    """Every cell of a (schema-validated) grid config, in config order, ids unique.

    The config's `plugins` (modules registering cells and tasks) are imported first.
    Raises UsageError (one line, naming the valid choices) for an unknown task or
    cell, a task parameter the task does not have, a value RunConfig rejects, a
    plugin that does not import, or a config whose axes leave no cell.
    """
    plugins.load(config.get("plugins") or [])
    named = config.get("claims") or []
    elsewhere = [n for names in (config.get("claims_elsewhere") or {}).values() for n in names or []]
    if named or elsewhere:
        from . import claims
        for name in [*named, *elsewhere]:
            claims.CLAIMS.get(name)          # an unknown claim: one line naming the valid ones
    if named:
        extra = claims.grid(named)
        own = {k: v for k, v in config.items() if k not in ("claims", "claims_elsewhere")}
        grads = (config.get("gradients") or {}).get("cells") or []
        frag = {**extra, "plugins": config.get("plugins") or [], "resources": config.get("resources") or {},
                "gradients": {"cells": grads + (extra.get("gradients") or {}).get("cells", [])}}
        # one run per config: a cell both name (or two claims name) is one job, the first id kept
        cells: dict[str, Cell] = {}
        for c in [*(expand(own) if own.get("tasks") else []), *(expand(frag) if frag["tasks"] else [])]:
            key = _run_key(c)
            old = cells.setdefault(key, c)
            if c.gradients and not old.gradients:      # one cell, two reasons: its diagnostics kept
                cells[key] = dataclasses.replace(old, gradients=True, gradients_skipped="")
            elif c.gradients_skipped and not old.gradients and not old.gradients_skipped:
                cells[key] = dataclasses.replace(old, gradients_skipped=c.gradients_skipped)
        if not cells:
            raise UsageError(f"the grid config's claims ({', '.join(named)}) declare no runs and it names no task")
        return list(cells.values())
    TASKS, CELLS, backends_for = _registries()
    from .gradients import unsupported
    grid = dict(config.get("grid") or {})
    variants = [dict(v) for v in config.get("variants") or []]
    tasks = config.get("tasks") or {}
    excludes = config.get("exclude") or []
    grad_select = (config.get("gradients") or {}).get("cells") or []
    base_resources = dict(config.get("resources") or {})
    if not tasks:
        raise UsageError("the grid config names no task (tasks: {name: {...}}; "
                         f"valid: {choices(TASKS.names())})")
    for name in tasks:
        if name not in TASKS:
            raise unknown("task", name, TASKS.names())
    valid_keys = [*RunConfig.field_names(), "kind"]
    for where, entries in (("exclude", excludes), ("gradients.cells", grad_select)):
        for i, m in enumerate(entries):
            for key in m:
                if "." not in key and key not in valid_keys:
                    raise UsageError(f"unknown key {key!r} in {where}[{i}] (valid: {choices(valid_keys)}, "
                                     "task_params.NAME, model_params.NAME)")
    tasks = {t: [dict(b or {}) for b in _as_list(blocks)] for t, blocks in tasks.items()}
    for where, block in [("grid", grid), *((f"variants[{i}]", v) for i, v in enumerate(variants)),
                         *((f"tasks.{t}", b) for t, bs in tasks.items() for b in bs)]:
        for arch in _as_list(block.get("arch", [])):
            if arch not in CELLS:
                raise UsageError(f"unknown cell {arch!r} in {where}.arch "
                                 f"(valid: {choices(CELLS.names())})")

    cells: dict[str, Cell] = {}
    dropped: dict[tuple[str, str], set[str]] = {}   # (task, arch) -> backends asked but absent
    for tname, tblock in ((t, b) for t, bs in tasks.items() for b in bs):
        task_cls = TASKS.get(tname)
        resources = {**base_resources, **(tblock.pop("resources", None) or {})}
        for layer in [{}, *variants]:
            merged, task_params = _merge(PIPELINE_DEFAULTS, grid, layer, tblock)
            if "arch" not in merged:
                raise UsageError(f"no cell for task {tname!r}: set `arch` in grid or tasks.{tname} "
                                 f"(valid: {choices(CELLS.names())})")
            for cfg, axes in _product(tname, merged, task_params):
                _normalise(cfg, task_cls)
                for k in (*ALWAYS, "seed"):   # the id shows them: make them explicit
                    cfg.setdefault(k, task_cls.defaults.get(k, RUN_DEFAULTS[k]))
                backend = resolve_backend(cfg["arch"], cfg.get("backend", "auto"), cfg.get("model_params"))
                if backend is None:
                    dropped.setdefault((tname, cfg["arch"]), set()).add(cfg["backend"])
                    continue
                cfg["backend"] = backend
                facts = {**cfg, "kind": task_cls.kind}
                if any(matches(facts, m) for m in excludes):
                    continue
                _check(cfg)
                cid = cell_id(cfg, axes)
                key = canonical_json(cfg)       # one run per config (the first id kept): two
                if key not in cells:            # layers or blocks giving it are one job
                    # gradient diagnostics where selected and `rnnbench gradients` can measure them
                    selected = any(matches(facts, m) for m in grad_select)
                    skip = unsupported(tname, cfg["arch"], cfg.get("model_params")) if selected else None
                    cells[key] = Cell(tname, cfg["arch"], cid, cfg, dict(resources),
                                      selected and skip is None, skip or "")
    _check_dropped(cells, dropped, backends_for)
    if not cells:
        raise UsageError("the grid config leaves no cell (every combination is excluded)")
    return list(cells.values())


# ------------------------------------------------------------------------- seed groups
def pipeline_cells(config: dict[str, Any]) -> list[Cell]:
    """The pipeline's cells: `expand`, then `seed_groups` unless the config's group_seeds is false."""
    cells = expand(config)
    return seed_groups(cells) if config.get("group_seeds", True) else cells


def seed_groups(cells: list[Cell]) -> list[Cell]:
    """The cells with `group` set: cells that differ only in the seed (same task, cell, config
    and resources) and whose runs can train in lockstep (rnnbench.group.why_solo) form one group
    of two or more, one pipeline job (`rnnbench train-group`). Its path,
    <task>/<arch>/<id without seed>_s<seeds>-<hash of the members' ids>, changes when a member
    does; the members' own ids and run dirs do not change."""
    from .group import why_solo

    members: dict[tuple, list[Cell]] = {}
    for c in cells:
        rest = {k: v for k, v in c.config.items() if k != "seed"}
        key = (c.task, c.arch, canonical_json(rest), canonical_json(c.resources))
        members.setdefault(key, []).append(c)
    path_of: dict[str, str] = {}
    for group in members.values():
        if len(group) < 2 or why_solo(group[0].config) is not None:
            continue
        group = sorted(group, key=lambda c: c.config["seed"])
        seeds = [c.config["seed"] for c in group]
        text = (f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1))
                else ".".join(map(str, seeds)))
        prefix = group[0].id.rsplit("-", 1)[0].rsplit("_", 1)[0]
        digest = config_hash({"members": [c.id for c in group]})[:HASH_CHARS]
        for c in group:
            path_of[c.path] = f"{c.task}/{c.arch}/{prefix}_s{text}-{digest}"
    return [dataclasses.replace(c, group=path_of.get(c.path, "")) for c in cells]


def _as_list(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _merge(*blocks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Later blocks win, key by key (model_params entry by entry); task_params apart."""
    merged: dict[str, Any] = {}
    model_params: dict[str, Any] = {}
    task_params: dict[str, Any] = {}
    for b in blocks:
        for k, v in b.items():
            if k == "model_params":
                model_params.update(v or {})
            elif k == "task_params":
                task_params.update(v or {})
            elif k not in TASK_ONLY:
                merged[k] = v
    if model_params:
        merged["model_params"] = model_params
    return merged, task_params


def _product(task: str, merged: dict[str, Any], task_params: dict[str, Any]):
    """(cell config, axis keys) for every combination of the list-valued keys."""
    flat: list[tuple[str, Any]] = [("task_params." + k, v) for k, v in task_params.items()]
    flat += [("model_params." + k, v) for k, v in merged.get("model_params", {}).items()]
    flat += [(k, v) for k, v in merged.items() if k != "model_params"]
    axes = [k for k, v in flat if isinstance(v, list)]
    for k, v in flat:
        if isinstance(v, list) and not v:
            raise UsageError(f"axis {k!r} of task {task!r} is empty: give it at least one value")
    values = [v if isinstance(v, list) else [v] for _, v in flat]
    for combo in itertools.product(*values):
        cfg: dict[str, Any] = {"task": task}
        for (k, _), v in zip(flat, combo):
            if "." in k:
                group, name = k.split(".", 1)
                cfg.setdefault(group, {})[name] = v
            else:
                cfg[k] = v
        yield cfg, axes


def _normalise(cfg: dict[str, Any], task_cls) -> None:
    """One spelling per value: floats as floats, task params in their declared types."""
    for k in FLOATS:
        if isinstance(cfg.get(k), int) and not isinstance(cfg.get(k), bool):
            cfg[k] = float(cfg[k])
    if "task_params" in cfg:
        specs = {s["name"]: s for s in task_cls.param_specs()}
        for k, v in cfg["task_params"].items():
            if specs.get(k, {}).get("type") == "float" and isinstance(v, int) and not isinstance(v, bool):
                cfg["task_params"][k] = float(v)


def _check(cfg: dict[str, Any]) -> None:
    """What `rnnbench train` would reject, rejected now (before any job runs): the job's
    `resolve()`, but for the device, which is the job's machine's."""
    try:
        resolve(with_task_defaults(cfg), here=False)
    except UsageError as e:
        raise UsageError(f"{e} (in the cells of task {cfg['task']!r}, arch {cfg['arch']!r})") from None


def _check_dropped(cells, dropped, backends_for) -> None:
    have = {(c.task, c.arch) for c in cells.values()}
    for (task, arch), asked in dropped.items():
        if (task, arch) not in have:
            raise UsageError(f"cell {arch!r} has no {' or '.join(sorted(asked))} backend, so task "
                             f"{task!r} gets no {arch} cell (backends for {arch}: "
                             f"{', '.join(backends_for(arch))}; `backend: auto` picks the fastest)")


# ------------------------------------------------------------------------- matching
def matches(facts: dict[str, Any], match: dict[str, Any]) -> bool:
    """True when every key of `match` holds for the cell (a list: any of its values).

    Keys are RunConfig keys, `kind` (the task's kind) or dotted `task_params.X` /
    `model_params.X`; a key the cell does not set never matches.
    """
    for key, want in match.items():
        if "." in key:
            group, name = key.split(".", 1)
            container = facts.get(group) or {}
            if name not in container:
                return False
            have = container[name]
        elif key in facts:
            have = facts[key]
        else:
            return False
        options = want if isinstance(want, list) else [want]
        if not any(_same(have, w) for w in options):
            return False
    return True


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


# ------------------------------------------------------------------------- ids
def cell_id(cfg: dict[str, Any], axes: Iterable[str] = ()) -> str:
    """`<axis tokens>_<backend>_<uni|bi>_l<layers>_h<hidden>_s<seed>-<hash>`; see the module doc."""
    axes = set(axes)
    keys: list[str] = []
    keys += [f"task_params.{k}" for k in sorted(cfg.get("task_params", {})) if f"task_params.{k}" in axes]
    keys += [f"model_params.{k}" for k in sorted(cfg.get("model_params", {})) if f"model_params.{k}" in axes]
    keys += list(ALWAYS)
    keys += [k for k in RunConfig.field_names()
             if k in axes and k not in ALWAYS and k not in ("seed", "arch", "task") and k not in NESTED]
    keys += ["seed"]
    tokens = []
    for k in keys:
        group, _, name = k.rpartition(".")
        value = cfg[group].get(name) if group else cfg.get(name, RUN_DEFAULTS.get(name))
        tokens.append(token(name, value))
    return "_".join(tokens) + "-" + config_hash(cfg)[:HASH_CHARS]


def token(key: str, value: Any) -> str:
    """One readable, path-safe piece of an id: T100, h64, bi, lr0.001, clipoff, attention."""
    if key == "bidirectional":
        return "bi" if value else "uni"
    prefix = "" if key in VALUE_ONLY else ALIAS.get(key, key.replace("_", ""))
    if value is None:
        text = "off"
    elif isinstance(value, bool):
        return prefix if value else "no" + prefix
    elif isinstance(value, float):
        text = repr(value)[:-2] if repr(value).endswith(".0") else repr(value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9.+-]", "-", prefix + text)


# ------------------------------------------------------------------------- tables
def cells_table(cells: list[Cell]) -> list[dict[str, Any]]:
    """One row per cell (for provenance/cells.csv and aggregation's expected runs)."""
    return [{"task": c.task, "arch": c.arch, "cell_id": c.id, "path": c.path,
             "gradients": c.gradients, "gradients_skipped": c.gradients_skipped,
             "resources": canonical_json(c.resources), "group": c.group,
             "config": c.config_json()} for c in cells]


def cells_csv(cells: list[Cell]) -> str:
    """`cells_table` as CSV text: the pipeline's provenance/cells.csv."""
    rows = cells_table(cells)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def load_cells(path: str | Path) -> list[Cell]:
    """The cells of a cells.csv written from `cells_table` (no registry, no torch needed)."""
    with open(path, newline="") as f:
        return [Cell(r["task"], r["arch"], r["cell_id"], json.loads(r["config"]),
                     json.loads(r.get("resources") or "{}"), r["gradients"] == "True",
                     r.get("gradients_skipped") or "", r.get("group") or "")
                for r in csv.DictReader(f)]


def needed_datasets(cells: list[Cell]) -> list[str]:
    """The datasets the cells read: a task's only dataset, or, for a task that may read
    several (seqdigits: mnist, fashion-mnist), the one its parameters name (source: mnist)."""
    TASKS = _registries()[0]
    needed: set[str] = set()
    for c in cells:
        cls = TASKS.get(c.task)
        if len(cls.datasets) == 1:
            needed.add(cls.datasets[0])
        elif cls.datasets:
            values = dataclasses.asdict(cls.parse_params(c.config.get("task_params", {}))).values()
            needed.update(v for v in values if isinstance(v, str) and v in cls.datasets)
    return sorted(needed)


def check_data(cells: list[Cell], data_dir: str | None = None) -> None:
    """Every dataset the grid reads is in the data dir, or may be downloaded by the jobs;
    otherwise the data layer's UsageError (where it looked, how to get it)."""
    from . import data

    for ds in needed_datasets(cells):
        missing = [s for s in data.status(ds, data_dir) if s.status == "missing"]
        if missing and not data.downloads_allowed():
            data.resolve(ds, data_dir=data_dir, download=False, quiet=True)


# ------------------------------------------------------------------------- the schema
SCHEMA_BEGIN = "    # BEGIN generated from RunConfig (rnnbench/config.py): python -m rnnbench.grid --write-schema\n"
SCHEMA_END = "    # END generated\n"


def schema_text(current: str) -> str:
    """The grid schema's text with its run keys (`$defs.run_keys.properties`) as RunConfig
    declares them: one line of JSON (valid YAML) per key, between the markers."""
    head, rest = current.split(SCHEMA_BEGIN, 1)
    _, tail = rest.split(SCHEMA_END, 1)
    lines = [f"      {name}: {json.dumps(prop)}\n" for name, prop in schema_run_keys().items()]
    return head + SCHEMA_BEGIN + "".join(lines) + SCHEMA_END + tail


def schema_path() -> Path:
    return Path(__file__).resolve().parents[1] / "workflows" / "config" / "schema.yaml"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--write-schema"]:
        sys.exit("usage: python -m rnnbench.grid --write-schema   (rewrites workflows/config/schema.yaml's run keys)")
    p = schema_path()
    p.write_text(schema_text(p.read_text()))
    print(f"wrote {p}")
