"""One run's configuration: a dataclass, resolved and hashed.

A run is a pure function of its resolved config: every default below is written
into `config.json`, and `config_hash` (sha256 of the canonical JSON) names it.
Precedence, lowest first: these defaults < the task's own defaults (the lab's
settings for the lab tasks) < a `--config` file < command-line flags.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError, choices

OPTIMIZERS = ("adam", "sgd", "rmsprop")
DEVICES = ("cpu", "cuda", "auto")


@dataclass
class RunConfig:
    # --- what is trained ---
    task: str = "adding"
    task_params: dict[str, Any] = field(default_factory=dict)  # task-specific, see `rnnbench list`
    arch: str = "lstm"
    backend: str = "auto"        # auto = fused where the cell has one (fastest), else cell
    bidirectional: bool = False
    layers: int = 1
    hidden: int = 128            # Le et al. 2015 and most adding-problem tables use 100-128 units
    dropout: float = 0.0         # between stacked layers only, as torch.nn
    residual: bool = False       # residual connections between layers of equal width
    forget_bias: float = 1.0     # lstm only: Jozefowicz et al. 2015 show +1 helps long memory
    model_params: dict[str, Any] = field(default_factory=dict)  # family-specific (seq2seq variant, ...)
    # --- how it is trained ---
    epochs: int = 10
    steps: int | None = None     # if set, overrides epochs: train exactly this many optimizer steps
    batch_size: int = 64
    optimizer: str = "adam"      # adam needs no per-architecture lr search to be fair
    lr: float = 1e-3             # Adam's usual default
    momentum: float = 0.9        # sgd only
    weight_decay: float = 0.0
    clip: float | None = 1.0     # global-norm clipping threshold (Pascanu et al. 2013); None = off
    tbptt: int | None = None     # truncated BPTT window in steps for per-step tasks; None = full BPTT
    seed: int = 0
    device: str = "auto"         # cpu, cuda or auto (cuda when available)
    threads: int | None = None   # torch intra-op threads; None = torch's default
    eval_every: int | None = None        # steps between validation passes; None = once per epoch
    checkpoint_every: int | None = None  # steps between checkpoints; None = at every evaluation
    eval_batch_size: int = 1024  # evaluation only; larger is faster and changes nothing
    grad_diag_every: int | None = None   # steps between gradient-flow diagnostics, written to
                                         # out/grad_checkpoints/step<N>.csv (and step0 = init); None = off

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
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        return RunConfig(**merged)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def hash(self) -> str:
        return config_hash(self.to_dict())

    def validate(self) -> None:
        positive = {"layers": self.layers, "hidden": self.hidden, "epochs": self.epochs,
                    "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size}
        for opt in ("steps", "tbptt", "threads", "eval_every", "checkpoint_every", "grad_diag_every"):
            if getattr(self, opt) is not None:
                positive[opt] = getattr(self, opt)
        for name, v in positive.items():
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise UsageError(f"{name} must be a positive integer, got {v!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {self.optimizer!r} (valid: {choices(OPTIMIZERS)})")
        if self.device not in DEVICES:
            raise UsageError(f"unknown device {self.device!r} (valid: {choices(DEVICES)})")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise UsageError(f"lr must be a positive number, got {self.lr!r}")
        if self.clip is not None and not self.clip > 0:
            raise UsageError(f"clip must be a positive number or null (off), got {self.clip!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"seed must be a non-negative integer, got {self.seed!r}")


def config_hash(d: dict[str, Any]) -> str:
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict (UsageError if missing or malformed)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        first = str(e).splitlines()[0] if str(e) else "parse error"
        raise UsageError(f"config file {p} is not valid YAML/JSON: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {p} must hold a mapping of keys, got {type(data).__name__}")
    return data
