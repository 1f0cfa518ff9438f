"""One run's configuration: a dataclass, resolved and hashed.

A run is a pure function of its resolved config: every default below is written
into `config.json`, and `config_hash` (sha256 of the canonical JSON) names it.
Precedence, lowest first: these defaults < the task's own defaults (the lab's
settings for the lab tasks) < a `--config` file < command-line flags.

Each field is declared once, with `setting(default, help, <range>)`: its type is the
annotation, its range the check. `SETTINGS` reads the declarations, and everything
else is generated from them: `RunConfig.validate()`, the flags of `rnnbench train`
(rnnbench/commands/train.py) and the run keys of the grid schema
(workflows/config/schema.yaml, rewritten by `python -m rnnbench.grid --write-schema`;
tests/test_config.py checks the three agree field by field). `resolve()` fills the
`auto` choices for `rnnbench train`, `rnnbench gradients` and the grid alike.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError, choices

OPTIMIZERS = ("adam", "sgd", "rmsprop")
DEVICES = ("cpu", "cuda", "auto")
BACKENDS = ("auto", "fused", "cell")    # auto + rnnbench.models.BACKENDS (a test checks)
INT_MAX = 2**63 - 1                     # every count fits runs.csv's int64 columns
SEED_MAX = 2**32 - 1                    # a 32-bit seed, as numpy's and most tools'; the batch
                                        # order seeds torch with seed * 1_000_003 + epoch, which
                                        # must stay within 64 bits


class _Off:
    """What a command-line 'off' / 'none' / 'null' parses to: the setting set to None, told
    apart from a flag not given (None)."""

    def __repr__(self) -> str:
        return "off"


OFF = _Off()


def setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False, high_open: bool = False, choices: tuple[str, ...] | None = None,
            grid: dict[str, Any] | None = None):
    """A RunConfig field: its default, help and range in one place (the type is the annotation).

    low / high: the closed range of a number (open where low_open / high_open); numbers are
    always finite, integers always within INT_MAX. choices: the valid strings. grid: what the
    grid schema says differently ({"choices": ..., "description": ...}).
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open,
            "choices": choices, "grid": grid or {}}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class RunConfig:
    # --- what is trained ---
    task: str = setting("adding", "task name (see `rnnbench list`)")
    task_params: dict[str, Any] = setting({}, "task-specific parameters (see `rnnbench list`)")
    arch: str = setting("lstm", "the cell (see `rnnbench list`)")
    backend: str = setting("auto", "fused | cell | auto (fused where the cell has it)", choices=BACKENDS)
    # auto = fused where the cell has one: the fastest, and what torch users run
    bidirectional: bool = setting(False, "bidirectional layers")
    layers: int = setting(1, "stacked layers", low=1)
    hidden: int = setting(128, "hidden units per layer and direction", low=1)
    # Le et al. 2015 and most adding-problem tables use 100-128 units
    dropout: float = setting(0.0, "dropout between stacked layers (as torch.nn)", low=0, high=1, high_open=True)
    residual: bool = setting(False, "residual connections between layers of equal width")
    forget_bias: float = setting(1.0, "lstm forget-gate bias at init")
    # Jozefowicz et al. 2015 show +1 helps long memory
    model_params: dict[str, Any] = setting({}, "family-specific model parameters (seq2seq variant, ...)")
    # --- how it is trained ---
    epochs: int = setting(10, "training epochs", low=1)
    steps: int | None = setting(None, "optimizer steps; overrides --epochs", low=1)
    batch_size: int = setting(64, "batch size", low=1)
    optimizer: str = setting("adam", "adam | sgd | rmsprop", choices=OPTIMIZERS)
    # adam needs no per-architecture lr search to be fair
    lr: float = setting(1e-3, "learning rate", low=0, low_open=True)      # Adam's usual default
    momentum: float = setting(0.9, "sgd momentum", low=0)
    weight_decay: float = setting(0.0, "L2 weight decay", low=0)
    clip: float | None = setting(1.0, "global gradient-norm clipping threshold; off = none",
                                 low=0, low_open=True)                    # Pascanu et al. 2013
    tbptt: int | None = setting(None, "truncated BPTT window in steps (per-step tasks); off = full BPTT",
                                low=1)
    seed: int = setting(0, "seed of data, init and batch order", low=0, high=SEED_MAX)
    device: str = setting("auto", "cpu | cuda | auto (cuda when available)", choices=DEVICES,
                          grid={"choices": ("cpu", "cuda"),
                                "description": "cpu or cuda (explicit, so the job can ask for a GPU)"})
    threads: int | None = setting(None, "torch intra-op threads; off = torch's default", low=1,
                                  grid={"description": "torch threads per run = cores per job"})
    eval_every: int | None = setting(None, "steps between validation passes; off = once per epoch", low=1)
    checkpoint_every: int | None = setting(None, "steps between checkpoints; off = at every evaluation",
                                           low=1)
    eval_batch_size: int = setting(1024, "evaluation batch size (larger is faster, changes nothing)",
                                   low=1)
    grad_diag_every: int | None = setting(None, "steps between gradient-flow diagnostics "
                                          "(out/grad_checkpoints/step<N>.csv, and step0 = init); off = none",
                                          low=1)
    stop_when_solved: bool = setting(False, "end training at the first evaluation whose validation metrics "
                                     "meet the task's solved rule (recorded: stopped_early)")
    # off by default: a fixed budget for every arm; on, a run measures its time to solve and no more

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "RunConfig":
        return cls().updated(d, source)

    def updated(self, d: dict[str, Any], source: str = "config") -> "RunConfig":
        """A copy with the keys of `d` replaced; unknown keys are a UsageError."""
        valid = self.field_names()
        bad = [k for k in d if k not in valid]
        if bad:
            raise UsageError(f"unknown key {bad[0]!r} in {source} (valid: {choices(valid)})")
        merged = self.to_dict()
        for k, v in d.items():
            if k in ("task_params", "model_params") and v is not None:
                if not isinstance(v, dict):
                    raise UsageError(f"{k} in {source} must be a mapping of keys, got {v!r}")
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        return RunConfig(**merged)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def hash(self) -> str:
        return config_hash(self.to_dict())

    def validate(self) -> None:
        """Every field's check (SETTINGS): the first mistake is a one-line UsageError."""
        for s in SETTINGS.values():
            s.check(getattr(self, s.name))


# ------------------------------------------------------------------ the declarations, read
@dataclass(frozen=True)
class Setting:
    """One RunConfig field as declared: what the check, the flag and the schema are made of."""
    name: str
    kind: type                 # int, float, bool, str or dict
    optional: bool             # None allowed: the setting is off
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    grid: dict[str, Any] = field(default_factory=dict)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """What a valid value is, in words: 'a positive integer', 'a number in [0, 1)'."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a string"
        if self.kind is dict:
            return "a mapping of keys"
        if self.kind is int:
            if self.high is None and self.low in (0, 1):
                return "a positive integer" if self.low == 1 else "a non-negative integer"
            return f"an integer in [{self.low}, {self.high}]"
        if self.low is not None and self.high is not None:
            return (f"a number in {'(' if self.low_open else '['}{self.low:g}, "
                    f"{self.high:g}{')' if self.high_open else ']'}")
        if self.low is not None:
            if self.low == 0:
                return "a positive number" if self.low_open else "a number >= 0"
            return f"a number {'>' if self.low_open else '>='} {self.low:g}"
        return "a finite number"

    def valid(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int if self.kind is int else (int, float)):
                return False
            if self.kind is int and not -INT_MAX - 1 <= value <= INT_MAX:
                return False
            if not math.isfinite(value):
                return False
            lo, hi = self.low, self.high
            return ((lo is None or (value > lo if self.low_open else value >= lo))
                    and (hi is None or (value < hi if self.high_open else value <= hi)))
        if not isinstance(value, self.kind):
            return False
        return self.choices is None or value in self.choices

    def check(self, value: Any) -> None:
        if self.valid(value):
            return
        if self.choices and isinstance(value, str):
            raise UsageError(f"unknown {self.name} {value!r} (valid: {choices(self.choices)})")
        off = " or null (off)" if self.optional else ""
        big = isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT_MAX
        size = f" within 64 bits (at most {INT_MAX})" if big and self.high is None else ""
        raise UsageError(f"{self.name} must be {self.describe()}{size}{off}, got {value!r}")

    def parse(self, text: str) -> Any:
        """A command-line value: the type of the field ('off' / 'none' / 'null': OFF, i.e.
        None, where the field allows it); the range is checked with the rest of the config."""
        if self.optional and text.strip().lower() in ("off", "none", "null"):
            return OFF
        if self.kind is str:
            return text
        try:
            return self.kind(text)
        except ValueError:
            off = " or 'off'" if self.optional else ""
            raise argparse.ArgumentTypeError(f"invalid {self.name} {text!r} ({self.describe()}{off})") from None

    def json_schema(self) -> dict[str, Any]:
        """The grid schema of this key: one value, or a non-empty list of them (an axis)."""
        if self.kind is dict:
            return {"description": self.grid.get("description", self.help), "$ref": "#/$defs/params"}
        types_ = [{int: "integer", float: "number", bool: "boolean", str: "string"}[self.kind]]
        if self.optional:
            types_.append("null")
        one: dict[str, Any] = {}
        names = self.grid.get("choices", self.choices)
        if names:
            one["pattern"] = "^(" + "|".join(names) + ")$"
        if self.low is not None:
            one["exclusiveMinimum" if self.low_open else "minimum"] = self.low
        if self.high is not None:
            one["exclusiveMaximum" if self.high_open else "maximum"] = self.high
        elif self.kind is int:
            one["maximum"] = INT_MAX
        return {"description": self.grid.get("description", self.help),
                "type": [*types_, "array"], **one, "minItems": 1,
                "items": {"type": types_ if len(types_) > 1 else types_[0], **one}}


def _settings() -> dict[str, Setting]:
    hints = typing.get_type_hints(RunConfig)
    out = {}
    for f in dataclasses.fields(RunConfig):
        t, optional = hints[f.name], False
        if isinstance(t, types.UnionType):
            args = [a for a in t.__args__ if a is not type(None)]
            optional, t = len(args) < len(t.__args__), args[0]
        t = typing.get_origin(t) or t
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        out[f.name] = Setting(f.name, t, optional, default, **f.metadata)
    return out


SETTINGS: dict[str, Setting] = _settings()
GRID_KEYS = tuple(n for n in SETTINGS if n not in ("task", "task_params"))   # the schema's run_keys


def schema_run_keys() -> dict[str, Any]:
    """`$defs.run_keys.properties` of the grid schema, as the settings declare it."""
    return {name: SETTINGS[name].json_schema() for name in GRID_KEYS}


# ------------------------------------------------------------------ resolution
def resolve_backend(arch: str, backend: str, model_params: dict[str, Any] | None = None) -> str | None:
    """The backend a run of cell `arch` uses: `auto` = fused where the cell has it, else cell;
    None where the cell lacks `backend`. model_params: the cell's model options (rnn with
    activation sigmoid has no fused backend)."""
    from .models import backends_for    # torch: imported when a run is resolved, not before

    offered = backends_for(arch, model_params)
    if backend == "auto":
        return "fused" if "fused" in offered else "cell"
    return backend if backend in offered else None


def resolve(cfg: RunConfig, *, here: bool = True) -> RunConfig:
    """Fill the `auto` choices and check everything a run needs, before anything is written:
    every field's range, the task and its parameters (the task's own checks), the cell and
    its backend, the model parameters the task's model takes, the device.

    here=False: for a run planned on another machine (a grid cell, a cluster job): `device`
    is kept as given and not checked against this machine's.
    """
    import torch                        # the registries and the device need torch: imported
    from .models import ARCHS, MODELS   # here so that the grid and the schema do not
    from .tasks import TASKS            # (the Snakefile reads them without torch)

    cfg.validate()
    task_cls = TASKS.get(cfg.task)
    ARCHS.get(cfg.arch)                 # a cell or a sequence model (models/zoo.py)
    backend = resolve_backend(cfg.arch, cfg.backend, cfg.model_params)
    if backend is None:
        from .models.recurrent import no_backend
        raise no_backend(cfg.arch, cfg.backend, cfg.model_params)
    device = cfg.device
    if here and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif here and device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but CUDA is not available here (valid: cpu, auto)")
    params = task_cls.parse_params(cfg.task_params)
    task_cls(params)                    # the task's own checks (no data is made)
    if cfg.arch in MODELS:              # tcn, transformer, window-mlp: their model_params and limits
        from .models.zoo import check_run
        check_run(cfg, task_cls)
    else:
        task_cls.check_model_params(cfg.model_params)
        if cfg.model_params.get("recurrent_radius") is not None and not ARCHS.get(cfg.arch).recurrent:
            raise UsageError(f"model_params recurrent_radius rescales W_hh; {cfg.arch} has none")
        from .models.heads import cell_model_params     # the cell's options: checked, recorded
        model_params = cell_model_params(cfg.updated({"backend": backend}), task_cls.kind)
    resolved = cfg.updated({"backend": backend, "device": device,
                            "task_params": dataclasses.asdict(params)})
    if cfg.arch not in MODELS and model_params != resolved.model_params:   # replaced, not merged:
        resolved = dataclasses.replace(resolved, model_params=model_params)  # a given default is dropped
    return resolved


def with_task_defaults(cfg_dict: dict[str, Any]) -> RunConfig:
    """RunConfig defaults < the task's defaults < the given keys."""
    from .tasks import TASKS            # torch, as in resolve()

    base = RunConfig().updated(cfg_dict, "config")   # validates the keys
    task_cls = TASKS.get(base.task)
    return RunConfig().updated(task_cls.defaults, f"defaults of task {base.task!r}").updated(cfg_dict)


def config_hash(d: dict[str, Any]) -> str:
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
