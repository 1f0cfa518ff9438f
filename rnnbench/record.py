"""The run record: what one run produced, typed and versioned (metrics.json, a row of runs.csv).

One `RunRecord` per run. The runner writes it (`to_dict` -> metrics.json), the aggregator
reads it back (`from_dict`, validated) and writes one flat row per run (`to_row`, runs.csv
in `COLUMNS` order), the report reads the table (`read_runs`, typed and validated). It
carries what the registries know (the task's kind, family, metric, baseline rule, quoted
reference time; the cell's title and citation), so nothing downstream needs a registry or
a task's name to place a run. Version 1 (metrics.json before the registry facts) is
upgraded on load by asking the registries. results/README.md documents every field.

Reading records needs no torch: only building one from a config (`of`, `registry_facts`)
imports the registries.
"""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import numbers
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import UsageError, choices

RECORD_VERSION = 2
# The keys of a record's `params`.
PARAM_GROUPS = ("task_params", "model_params", "train")
# RunConfig keys that are record fields of their own (the rest go to params.train).
IDENTITY = ("task", "arch", "backend", "bidirectional", "layers", "hidden", "seed")
# RunConfig settings added after records were first written, and the value such a record ran
# at (a new setting's default keeps the old behaviour): filled in on load, so that an older
# record and a new one of the same run are one condition in the report.
ADDED_SETTINGS = {"stop_when_solved": False}
# Record fields added within version 2, and the value a record written before them means.
ADDED_FIELDS = {"group_seeds": None, "val_mean": None}

Status = Literal["ok", "diverged", "failed", "missing"]
Kind = Literal["many_to_one", "many_to_many", "one_to_many", "seq2seq"]   # rnnbench.tasks.base.KINDS
Direction = Literal["min", "max"]


@dataclass(kw_only=True)
class RunRecord:
    record_version: int = RECORD_VERSION  # 2 since the registry facts; 1 = metrics.json before them
    cell_id: str | None = None        # the grid cell (set by the aggregator; a run knows no grid)
    run_dir: str | None = None        # the run's folder relative to runs.csv (set by the aggregator)
    # ---- what ran (RunConfig, resolved)
    task: str                         # task registry name
    arch: str                         # cell registry name (an encoder-decoder's cell for seq2seq tasks)
    backend: str                      # fused | cell (auto resolved)
    bidirectional: bool
    layers: int
    hidden: int
    seed: int
    status: Status                    # ok | diverged (non-finite loss) | failed (started, no result) | missing
    # ---- what the task registry knows
    task_kind: Kind                   # many_to_one | many_to_many | one_to_many | seq2seq
    task_family: str                  # one of rnnbench.tasks.base.FAMILIES (see Task.family)
    task_title: str                   # Task.title
    seq_len: int | None               # value of the task's length parameter (Task.length_param); None: none
    metric: str                       # the primary metric, reported as `value`
    direction: Direction              # which way `metric` is better
    baseline: float | None = None     # the trivial predictor's `metric` on the same test split
    solved_threshold: float | None    # Task.solved_threshold; None: the task has no "solved"
    solved_rule: str | None           # what `solved` checks, for people ("mse <= 0.01")
    reference_seconds: float | None   # a time a source quotes for one run of this task (the lab's) ...
    reference_source: str | None      # ... who quotes it ...
    reference_setting: str | None     # ... and for which setting (model, epochs, hardware)
    # ---- what the cell registry knows
    cell_title: str                   # CellSpec.title (a sequence model's: ModelSpec.title, models/zoo.py)
    cell_citation: str                # CellSpec.citation (or ModelSpec.citation)
    # ---- results (None where the run has none: diverged, failed, missing)
    value: float | None = None        # `metric` on the test split
    metrics: dict = field(default_factory=dict)  # every test metric of the task
    solved: bool | None = None        # value against the task's rule; None without a rule or a value
    best_val: float | None = None     # best validation `metric` during training
    epochs: float | None = None       # epochs done (fractional when steps were asked for)
    steps: int | None = None          # optimizer steps done
    train_seconds: float | None = None      # training wall time (device synchronised; no evaluation)
    seconds_per_epoch: float | None = None
    diverged_step: int | None = None  # the step whose loss or gradient was not finite
    steps_to_solve: int | None = None       # steps to the first evaluation whose validation metrics meet the
    seconds_to_solve: float | None = None   # solved rule, and its training seconds; null: never (censored) or no rule
    solve_censored: bool | None = None      # the task has a rule and validation never met it; null: no rule / no run
    stopped_early: bool | None = None       # training ended at that evaluation (stop_when_solved); null: no run
    val_mean: float | None = None     # the mean validation `metric` over the run's evaluations: the area under its
                                      # validation curve per evaluation (how fast it learnt, for runs evaluated at
                                      # the same steps); null: no evaluation, or one not finite
    n_params: int | None = None       # trainable parameters
    native_kernel: bool | None = None  # the compiled scan ran (False: its PyTorch fallback; None: n/a)
    group_seeds: list | None = None   # the seeds trained with it in lockstep (rnnbench/group.py); null: alone
    # ---- settings: every other resolved RunConfig key
    params: dict = field(default_factory=lambda: {g: {} for g in PARAM_GROUPS})
    # ---- provenance (None for a run that never finished)
    device: str | None = None         # cpu | cuda
    threads: int | None = None        # torch intra-op threads in use
    hostname: str | None = None
    slurm_job_id: str | None = None
    torch_version: str | None = None
    rnnbench_version: str | None = None
    git_sha: str | None = None        # of the rnnbench checkout, when it is one
    config_hash: str | None = None    # names the resolved config (config.json)

    # ---- building
    @classmethod
    def of(cls, cfg, status: str, **results) -> "RunRecord":
        """The record of a resolved RunConfig: identity and params from it, registry facts from
        the registries, `results` (value, metrics, provenance, ...) as given, the rest None."""
        c = cfg.to_dict()
        params = {"task_params": c["task_params"], "model_params": c["model_params"],
                  "train": {k: v for k, v in c.items() if k not in IDENTITY + ("task_params", "model_params")}}
        d = {**{f.name: _default(f) for f in dataclasses.fields(cls)},
             **{k: c[k] for k in IDENTITY}, "status": status, "params": params,
             **registry_facts(c["task"], c["arch"], c["task_params"], c["model_params"]), **results}
        return cls.from_dict(d, source=f"the record of {c['task']}/{c['arch']}")

    # ---- metrics.json
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Any, source: str | Path | None = None) -> "RunRecord":
        """A validated record; `source` (the file) is named in errors. Version 1 is upgraded."""
        where = f"{source}: " if source else ""
        if not isinstance(d, dict):
            raise UsageError(f"{where}not a run record (expected a JSON object, got {type(d).__name__})")
        version = d.get("record_version", 1)
        if version == 1:
            d = _upgrade_v1(d, where)
        elif version != RECORD_VERSION:
            raise UsageError(f"{where}field 'record_version': unknown version {version!r} (valid: 1, 2)")
        hints = _hints()
        d = {**{k: v for k, v in ADDED_FIELDS.items() if k not in d}, **d}
        unknown = [k for k in d if k not in hints]
        if unknown:
            raise UsageError(f"{where}unknown field {unknown[0]!r} (valid: {choices(hints)})")
        missing = [k for k in hints if k not in d]
        if missing:
            raise UsageError(f"{where}missing field {missing[0]!r}")
        values = {k: _typed(where, k, d[k], hint) for k, hint in hints.items()}
        params = values["params"]
        if sorted(params) != sorted(PARAM_GROUPS) or not all(isinstance(v, dict) for v in params.values()):
            raise UsageError(f"{where}field 'params' must hold the objects {', '.join(PARAM_GROUPS)}, "
                             f"got {json.dumps(params)[:80]}")
        train = params["train"]
        values["params"] = {**params, "train": {**train, **{k: v for k, v in ADDED_SETTINGS.items() if k not in train}}}
        return cls(**values)

    @classmethod
    def read(cls, path: str | Path) -> "RunRecord":
        """metrics.json -> a validated record (UsageError naming the file when unreadable)."""
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: not a readable run record ({type(e).__name__})") from None
        return cls.from_dict(d, source=path)

    # ---- runs.csv
    def to_row(self) -> dict[str, Any]:
        """One flat row: nested keys joined with dots (`params.train.lr`, `metrics.accuracy`),
        empty objects dropped, lists as JSON text."""
        return flatten(self.to_dict())


def flatten(d: dict[str, Any]) -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": "[1, 2]"} (pandas.json_normalize)."""
    import pandas as pd

    row = pd.json_normalize(d).to_dict(orient="records")[0] if d else {}
    return {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in row.items()}


# ------------------------------------------------------------------------ registry facts
def registry_facts(task: str, arch: str, task_params: dict[str, Any] | None = None,
                   model_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the task and cell registries know about a run of (task, arch, task_params):
    the record's task_* / metric / solved / reference / cell_* fields and seq_len. model_params:
    the cell's model options as recorded (rnn's activation: its title says which)."""
    from .models.zoo import ARCHS     # the registries import torch; reading records does not
    from .tasks import TASKS

    try:
        cls = TASKS.get(task)
    except UsageError as e:
        raise UsageError(f"field 'task': {e}") from None
    try:
        spec = ARCHS.get(arch)            # a cell or a sequence model: both have title and citation
        options = getattr(spec, "model_options", {})
        spec = spec.configured(**{k: v for k, v in (model_params or {}).items() if k in options}) if options else spec
    except UsageError as e:
        raise UsageError(f"field 'arch': {e}") from None
    given = task_params or {}
    seq_len = None
    if cls.length_param is not None:
        seq_len = given.get(cls.length_param, getattr(cls.Params(), cls.length_param))
    ref = cls.reference or {}
    return {"task_kind": cls.kind, "task_family": cls.family, "task_title": cls.title, "seq_len": seq_len,
            "metric": cls.metric, "direction": cls.direction, "solved_threshold": cls.solved_threshold,
            "solved_rule": cls.solved_rule(), "reference_seconds": ref.get("seconds"),
            "reference_source": ref.get("source"), "reference_setting": ref.get("setting"),
            "cell_title": spec.title, "cell_citation": spec.citation}


def _upgrade_v1(d: dict[str, Any], where: str) -> dict[str, Any]:
    """Version 1 = metrics.json before the registry facts: fill them from the registries."""
    for k in ("task", "arch"):
        if not isinstance(d.get(k), str):
            raise UsageError(f"{where}missing field {k!r}" if k not in d else
                             f"{where}field {k!r} must be str, got {d[k]!r}")
    params = d.get("params")
    task_params = params.get("task_params") if isinstance(params, dict) else None
    try:
        facts = registry_facts(d["task"], d["arch"], task_params if isinstance(task_params, dict) else None)
    except UsageError as e:
        raise UsageError(f"{where}{e}") from None
    out = {"record_version": RECORD_VERSION, "cell_id": None, "run_dir": None, **facts,
           "native_kernel": None,          # native_kernel came late in version 1
           **dict.fromkeys(("steps_to_solve", "seconds_to_solve", "solve_censored", "stopped_early"))}
    out.update((k, v) for k, v in d.items() if k != "record_version")
    return out


# ------------------------------------------------------------------------ types
def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else None


@functools.cache
def _hints() -> dict[str, Any]:
    """field -> type, in field order."""
    h = get_type_hints(RunRecord)
    return {f.name: h[f.name] for f in dataclasses.fields(RunRecord)}


def _parts(hint) -> tuple[list, bool]:
    """(the non-None members of a hint, whether None is allowed)."""
    if get_origin(hint) in (Union, types.UnionType):
        args = get_args(hint)
        return [a for a in args if a is not type(None)], type(None) in args
    return [hint], False


def _typed(where: str, key: str, v: Any, hint) -> Any:
    """v checked against hint (ints and floats as Python numbers), else a UsageError."""
    members, optional = _parts(hint)
    if v is None and optional:
        return None
    for t in members:
        if get_origin(t) is Literal:
            if v in get_args(t) and isinstance(v, str):
                return v
        elif t is bool:
            if isinstance(v, bool):
                return v
        elif t is int:
            if isinstance(v, numbers.Integral) and not isinstance(v, bool):
                return int(v)
        elif t is float:
            if isinstance(v, numbers.Real) and not isinstance(v, bool):
                return float(v)
        elif isinstance(v, t):
            return v
    raise UsageError(f"{where}field {key!r} must be {_type_text(hint)}, got {v!r}")


def _type_text(hint) -> str:
    members, optional = _parts(hint)
    names = [" | ".join(map(repr, get_args(t))) if get_origin(t) is Literal else t.__name__ for t in members]
    return " or ".join(names + (["null"] if optional else []))


# ------------------------------------------------------------------------ runs.csv
# The fixed columns, in order: every field but `metrics` and `params`, whose flattened keys
# (metrics.<name>, params.<group>.<key>) follow sorted by name.
COLUMNS = tuple(f.name for f in dataclasses.fields(RunRecord) if f.name not in ("metrics", "params"))
FLAT_PREFIXES = ("metrics.", "params.")


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """COLUMNS, then every flattened metrics / params key present, sorted."""
    extra = {k for r in rows for k in r if k not in COLUMNS}
    return list(COLUMNS) + sorted(extra)


def to_csv(records: list[RunRecord]) -> str:
    """runs.csv text: one row per record, `columns` order; null and non-finite as empty cells."""
    import csv

    rows = [r.to_row() for r in records]
    cols = columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: csv_cell(r.get(c)) for c in cols})
    return buf.getvalue()


def csv_cell(v):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def _dtype(hint) -> str:
    members, optional = _parts(hint)
    t = members[0]
    if t is bool:
        return "boolean" if optional else "bool"
    return {int: "Int64", float: "float64"}.get(t, "str")


def read_runs(path: str | Path):
    """runs.csv -> a DataFrame, one row per run: the fixed columns typed as the record declares
    them (bool / nullable boolean, nullable Int64, float64, str), the flattened ones by their
    text (all True/False: boolean, all integers: Int64, all numbers: float64, else str); checked
    against the record (columns, required values, allowed values, one row per run_dir)."""
    import pandas as pd

    try:   # all text first: each column's type comes from the record, not from a guess
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise UsageError(f"runs table not found: {path}") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: not a readable runs table ({e})") from None
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise UsageError(f"{path}: missing column {missing[0]!r} (a runs.csv of record version "
                         f"{RECORD_VERSION}: rerun `rnnbench aggregate`)")
    unknown = [c for c in raw.columns if c not in COLUMNS and not c.startswith(FLAT_PREFIXES)]
    if unknown:
        raise UsageError(f"{path}: unknown column {unknown[0]!r}")
    hints = _hints()
    df = pd.DataFrame(index=raw.index)
    for c in raw.columns:
        df[c] = _column(path, c, raw[c], hints.get(c))
    for c in COLUMNS:
        members, optional = _parts(hints[c])
        if not optional and df[c].isna().any():
            raise UsageError(f"{path}: column {c!r} is empty in row {int(df[c].isna().idxmax()) + 2}")
        if _dtype(hints[c]) == "bool":
            df[c] = df[c].astype(bool)
        allowed = get_args(members[0]) if get_origin(members[0]) is Literal else None
        bad = df[c].notna() & ~df[c].isin(allowed) if allowed else None
        if bad is not None and bad.any():
            i = int(bad.idxmax())
            raise UsageError(f"{path}: column {c!r} row {i + 2}: {df[c][i]!r} is not one of "
                             f"{', '.join(allowed)}")
    dup = df["run_dir"].notna() & df["run_dir"].duplicated()
    if dup.any():
        raise UsageError(f"{path}: run_dir {df['run_dir'][int(dup.idxmax())]!r} has more than one row")
    return df


def _column(path, name: str, text, hint):
    """One column of text -> its dtype (declared by `hint`, else inferred from the text)."""
    import pandas as pd

    s = text.mask(text == "")
    present = s.dropna()
    if hint is None:     # a flattened metrics / params key (all empty: float64, as pandas reads it)
        if not len(present) or pd.to_numeric(present, errors="coerce").notna().all():
            kind = "Int64" if len(present) and present.str.fullmatch(r"[+-]?\d+").all() else "float64"
        elif present.isin(["True", "False"]).all():
            kind = "boolean"
        else:
            kind = "str"
    else:
        kind = _dtype(hint)
    if kind in ("bool", "boolean"):
        bad = present[~present.isin(["True", "False"])]
        if len(bad):
            raise UsageError(f"{path}: column {name!r} row {bad.index[0] + 2}: {bad.iloc[0]!r} is not True/False")
        return s.map({"True": True, "False": False}).astype("boolean")   # "bool" once checked non-empty
    if kind in ("Int64", "float64"):
        num = pd.to_numeric(s, errors="coerce")
        bad = present[num[present.index].isna()]
        if kind == "Int64" and not len(bad):
            bad = present[~present.str.fullmatch(r"[+-]?\d+(\.0*)?")]
        if len(bad):
            raise UsageError(f"{path}: column {name!r} row {bad.index[0] + 2}: {bad.iloc[0]!r} is not "
                             f"{'an integer' if kind == 'Int64' else 'a number'}")
        return num.astype(kind)
    return s.astype("str")
