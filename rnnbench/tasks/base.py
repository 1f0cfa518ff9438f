"""What a task is: deterministic splits, a model shape, a loss, metrics and a baseline.

A task module subclasses `Task`, declares its parameters as a dataclass and
registers itself:

    @TASKS.register("adding")
    class Adding(Task):
        @dataclass
        class Params:
            seq_len: int = 100   # T, the distance the memory must bridge
        kind = "many_to_one"; metric = "mse"; direction = "min"; solved_threshold = 0.01
        def make_splits(self): ...  -> {"train": Split, "val": Split, "test": Split}

`tasks.build(name, params, seed)` validates the parameters and returns the task;
splits are built lazily once and are a pure function of (params, seed): the same
for every architecture, and train / val / test come from disjoint random streams.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError, choices
from ..registry import Registry
from ..models import zoo
from ..models.cells import CELLS
from ..models.heads import HEAD_OF_KIND, SequenceModel, check_recurrent_radius, set_recurrent_radius
from ..models.zoo import MODELS

SPLITS = ("train", "val", "test")
# Task.family's values (documented there); the run record carries them, the report groups by them.
FAMILIES = ("long-dependency", "course-lab", "seq2seq", "synthetic")
# Task.kind's values: the usage patterns of the lecture notes a SequenceModel serves (its head by
# kind: models/heads.py HEAD_OF_KIND), and seq2seq (an encoder-decoder, models/seq2seq.py). The
# run record's task_kind (record.Kind) holds the same names.
KINDS = (*HEAD_OF_KIND, "seq2seq")
# The kinds with a target at every input step (y [N, T, ...] aligned with x): truncated BPTT
# applies to them (train.py).
PER_STEP_KINDS = ("many_to_many", "one_to_many")


@dataclass
class Split:
    """One split, batch-first: x [N, T, F] float or [N, T] long; y per task kind."""
    x: torch.Tensor
    y: torch.Tensor
    lengths: torch.Tensor | None = None   # [N] valid lengths (right padding), or None

    def __len__(self) -> int:
        return self.x.shape[0]

    def take(self, idx) -> "Split":
        return Split(self.x[idx], self.y[idx], None if self.lengths is None else self.lengths[idx])

    def to(self, device) -> "Split":
        return Split(self.x.to(device), self.y.to(device),
                     self.lengths)  # lengths stay on the CPU (pack_padded_sequence wants them there)

    def batches(self, batch_size: int):
        for i in range(0, len(self), batch_size):
            yield self.take(slice(i, i + batch_size))


def rng(seed: int, split: str, salt: int = 0) -> np.random.Generator:
    """A numpy generator for one split: disjoint, reproducible streams per (seed, split)."""
    return np.random.default_rng([seed, SPLITS.index(split) if split in SPLITS else 99, salt])


class Task:
    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    kind: ClassVar[str] = "many_to_one"      # one of KINDS: many_to_one | many_to_many | one_to_many | seq2seq
    metric: ClassVar[str] = "mse"            # the primary metric, reported as `value`
    direction: ClassVar[str] = "min"         # min | max: which way is better
    solved_threshold: ClassVar[float | None] = None
    datasets: ClassVar[tuple[str, ...]] = ()  # names in rnnbench.data's registry it reads
    # Where the report places the task (one of FAMILIES):
    #   "long-dependency"  a problem built to need a long memory: adding, copy, temporal_order,
    #                      seqdigits (pixel by pixel)
    #   "course-lab"       the course lab's tasks, at the lab's settings: airquality,
    #                      electricdevices, sentiment, textgen, addition (learning to add)
    #   "seq2seq"          an encoder-decoder task that is not the lab's: reverse
    #   "synthetic"        any other task on generated data: sine (and the default)
    family: ClassVar[str] = "synthetic"
    # The Params field that sets the sequence length (the record's seq_len; the long-dependency
    # tables' x axis); None when no single parameter does (fixed or data-given lengths).
    length_param: ClassVar[str | None] = None
    # A time a source quotes for one run of this task, and under what setting (the course
    # lab's for its tasks; the report sets measured times beside it):
    # {"seconds": float, "source": str, "setting": str}, or None.
    reference: ClassVar[dict[str, Any] | None] = None
    # The setting that time is quoted for, as RunConfig keys (model_params nested); None: the
    # task's defaults are it. The lab table compares a run's time with the quote only where the
    # run ran this setting (`quoted_setting_differs`).
    reference_params: ClassVar[dict[str, Any] | None] = None
    # Training defaults of this task (the lab's settings for lab tasks); RunConfig keys.
    defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def quoted_setting_differs(cls, settings: dict[str, Any]) -> list[str]:
        """Where a run's settings (RunConfig keys, model_params nested; a key it lacks ran at the
        default: None) differ from the quoted setting, as "key=value (quoted: value)"; [] where the
        run is at it, or the task quotes no time."""
        if cls.reference is None:
            return []
        want = cls.reference_params if cls.reference_params is not None else cls.defaults

        def same(a, b) -> bool:
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
                return math.isclose(float(a), float(b), rel_tol=1e-9)
            return a == b
        out = []
        for k, v in want.items():
            if k == "model_params":
                got = settings.get("model_params") or {}
                out += [f"{mk}={got.get(mk)} (quoted: {mv})" for mk, mv in v.items() if not same(got.get(mk), mv)]
            elif not same(settings.get(k), v):
                out.append(f"{k}={settings.get(k)} (quoted: {v})")
        return out

    @dataclass
    class Params:
        pass

    def __init__(self, params: "Task.Params", seed: int = 0, data_dir: str | Path | None = None):
        self.params = params
        self.seed = seed
        self.data_dir = data_dir
        self._splits: dict[str, Split] | None = None
        self.check()

    # ---- to override -------------------------------------------------------------
    def check(self) -> None:
        """Validate self.params beyond their types; raise UsageError."""

    def make_splits(self) -> dict[str, Split]:
        raise NotImplementedError

    @property
    def input_size(self) -> int:
        """Features per step (for token inputs: the vocabulary size)."""
        return self.splits["train"].x.shape[-1]

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    vocab_size: ClassVar[int | None] = None   # set for token-id inputs (embedding / one-hot)
    # Every training batch has one shape (no Split.lengths): the seeds of a run can train in
    # lockstep (rnnbench/group.py). False where sequences of different lengths share a batch.
    lockstep: ClassVar[bool] = True

    # The model_params a task's model takes, beyond the run's settings: a recurrent model's
    # init option (the seq2seq tasks take the encoder-decoder's, models/seq2seq.py Options).
    @classmethod
    def check_model_params(cls, model_params: dict[str, Any]) -> None:
        """Refuse a model_params key this task's model does not take, naming the valid ones."""
        # and the cells' model options (CellSpec.model_options: rnn's activation, jordan's
        # jordan_feedback; which cell takes which: config.resolve, models.heads.cell_model_params)
        valid = ("recurrent_radius", "match", *sorted({k for _, c in CELLS.items() for k in c.model_options}))
        bad = [k for k in model_params if k not in valid]
        if bad:
            raise UsageError(f"unknown model_params key {bad[0]!r} for task {cls.name!r} "
                             f"(valid: {choices(valid)})")
        if "recurrent_radius" in model_params:
            check_recurrent_radius(model_params["recurrent_radius"])
        if "match" in model_params:
            zoo.check_match(model_params["match"])

    def hidden(self, cfg) -> int:
        """The run's hidden size, or with model_params match the one at which this task's model of
        the cell has the matched parameter count: that of `match`'s model (a cell) at the run's
        hidden, or the count given; embedding and head included (zoo.match_params; the record's
        n_params gives the count)."""
        match = cfg.model_params.get("match")
        if match is None:
            return cfg.hidden
        zoo.check_match(match)
        target = match if not isinstance(match, str) else self._count(cfg, match, cfg.hidden)
        return zoo.match_params(target, lambda h: self._count(cfg, cfg.arch, h))

    def _count(self, cfg, arch: str, hidden: int) -> int:
        """Parameters of this task's SequenceModel of `arch` at `hidden` (built on the meta device)."""
        kw = self.model_kwargs(cfg)
        if arch != "lstm":
            kw.pop("forget_bias", None)
        with torch.device("meta"):
            return SequenceModel(arch, self.input_size, hidden, self.output_size, head=HEAD_OF_KIND[self.kind],
                                 vocab_size=self.vocab_size, **kw).n_params

    def build_model(self, cfg) -> torch.nn.Module:
        if cfg.arch in MODELS:          # a sequence model that is not a cell (models/zoo.py)
            return zoo.for_task(self, cfg)
        model = SequenceModel(
            cfg.arch, self.input_size, self.hidden(cfg), self.output_size,
            head=HEAD_OF_KIND[self.kind], vocab_size=self.vocab_size,
            cell_options=CELLS.get(cfg.arch).option_values(cfg.model_params, self.kind),  # given, else the kind's
            **self.model_kwargs(cfg))
        if cfg.model_params.get("recurrent_radius") is not None:   # W_hh rescaled at init
            set_recurrent_radius(model, cfg.model_params["recurrent_radius"])
        return model

    def model_kwargs(self, cfg) -> dict[str, Any]:
        kw = dict(backend=cfg.backend, bidirectional=cfg.bidirectional, layers=cfg.layers,
                  dropout=cfg.dropout, residual=cfg.residual)
        if cfg.arch == "lstm":
            kw["forget_bias"] = cfg.forget_bias
        return kw

    def loss(self, pred: torch.Tensor, batch: Split) -> torch.Tensor:
        """Training loss on one batch. Default: MSE for regression, CE for classification."""
        if self.metric in ("mse",):
            return F.mse_loss(pred, batch.y)
        return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), batch.y.reshape(-1))

    def train_loss(self, model, batch: Split, step: int) -> torch.Tensor:
        """The loss of one optimizer step (seq2seq tasks override: teacher forcing)."""
        pred, _ = model(batch.x, lengths=batch.lengths)
        return self.loss(pred, batch)

    @torch.no_grad()
    def predict(self, model, split: Split, batch_size: int) -> torch.Tensor:
        outs = [model(b.x, lengths=b.lengths)[0] for b in split.batches(batch_size)]
        return torch.cat(outs)

    def metrics(self, pred: torch.Tensor, split: Split) -> dict[str, float]:
        """All metrics of predictions on a split; must include `self.metric`."""
        raise NotImplementedError

    def evaluate(self, model, split_name: str, batch_size: int = 1024, device="cpu") -> dict[str, float]:
        split = self.splits[split_name].to(device)
        return self.metrics(self.predict(model, split, batch_size), split)

    def baseline(self) -> float:
        """The trivial predictor's `metric` on the test split."""
        raise NotImplementedError

    def solved(self, value: float | None, metrics: dict | None = None) -> bool | None:
        if self.solved_threshold is None or value is None or not math.isfinite(value):
            return None if self.solved_threshold is None else False
        if self.direction == "min":
            return value <= self.solved_threshold
        return value >= self.solved_threshold

    @classmethod
    def solved_rule(cls) -> str | None:
        """What `solved` checks, for people: "mse <= 0.01" (None: the task has no threshold)."""
        if cls.solved_threshold is None:
            return None
        return f"{cls.metric} {'<=' if cls.direction == 'min' else '>='} {cls.solved_threshold}"

    def artifacts(self, model, out_dir: Path, device="cpu") -> None:
        """Write task-specific outputs after training (generations, samples)."""

    # ---- provided ----------------------------------------------------------------
    @property
    def splits(self) -> dict[str, Split]:
        if self._splits is None:
            self._splits = self.make_splits()
        return self._splits

    @classmethod
    def param_specs(cls) -> list[dict[str, Any]]:
        """[{name, type, default, help}] for `rnnbench list`, the CLI and the grid schema."""
        out = []
        for f in dataclasses.fields(cls.Params):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out.append({"name": f.name, "type": _type_name(f.type), "default": default,
                        "help": f.metadata.get("help", ""), "choices": f.metadata.get("choices")})
        return out

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {"name": cls.name, "title": cls.title, "kind": cls.kind, "metric": cls.metric,
                "direction": cls.direction, "solved_threshold": cls.solved_threshold,
                "solved_rule": cls.solved_rule(),
                "family": cls.family, "length_param": cls.length_param,
                "reference": dict(cls.reference) if cls.reference else None,
                "citation": cls.citation, "datasets": list(cls.datasets),
                "params": cls.param_specs(), "defaults": dict(cls.defaults),
                "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""}

    @classmethod
    def check_facts(cls) -> None:
        """Raise UsageError unless family, length_param and reference are well formed
        (`tasks.register` calls it, so a task with a wrong fact never registers)."""
        where = f"task {cls.name or cls.__name__!r}"
        if cls.kind not in KINDS:
            raise UsageError(f"{where}: unknown kind {cls.kind!r} (valid: {choices(KINDS)})")
        if cls.family not in FAMILIES:
            raise UsageError(f"{where}: unknown family {cls.family!r} (valid: {choices(FAMILIES)})")
        ints = [f.name for f in dataclasses.fields(cls.Params) if _type_name(f.type) == "int"]
        if cls.length_param is not None and cls.length_param not in ints:
            raise UsageError(f"{where}: length_param {cls.length_param!r} is not an int field of its "
                             f"Params (valid: {choices(ints) or 'none'})")
        ref = cls.reference
        if ref is not None and not (isinstance(ref, dict) and set(ref) == {"seconds", "source", "setting"}
                                    and isinstance(ref["seconds"], (int, float)) and ref["seconds"] > 0):
            raise UsageError(f"{where}: reference must be {{'seconds': > 0, 'source': ..., 'setting': ...}}, "
                             f"got {ref!r}")

    @classmethod
    def parse_params(cls, given: dict[str, Any]) -> "Task.Params":
        specs = {s["name"]: s for s in cls.param_specs()}
        bad = [k for k in given if k not in specs]
        if bad:
            raise UsageError(f"unknown parameter {bad[0]!r} for task {cls.name!r} "
                             f"(valid: {choices(specs) or 'none'})")
        values = {}
        for k, v in given.items():
            values[k] = _coerce(cls.name, k, v, specs[k])
        return cls.Params(**values)


def param(default, help: str = "", choices=None):
    """A task parameter with its help text (shown by `rnnbench list`)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


def _type_name(t) -> str:
    s = t if isinstance(t, str) else getattr(t, "__name__", str(t))
    return s.replace("typing.", "")


def _coerce(task: str, key: str, value, spec) -> Any:
    t = spec["type"]
    where = f"task {task!r} parameter {key!r}"
    try:
        if t == "bool":
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                value = value.lower() in ("true", "1", "yes")
            elif not isinstance(value, bool):
                raise ValueError
        elif t == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            value = int(value)
        elif t == "float":
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        elif t == "str":
            value = str(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{where} must be of type {t}, got {value!r}") from None
    if t == "float" and not math.isfinite(value):
        raise UsageError(f"{where} must be a finite number, got {value!r}")
    if t == "int" and abs(value) > 2**63 - 1:
        raise UsageError(f"{where} must be an integer within 64 bits, got {value!r}")
    if spec.get("choices") and value not in spec["choices"]:
        raise UsageError(f"{where}: unknown value {value!r} (valid: {choices(spec['choices'])})")
    return value


def positive(task: str, **values) -> None:
    """Raise UsageError naming the first non-positive value."""
    for k, v in values.items():
        if v <= 0:
            raise UsageError(f"task {task!r} parameter {k!r} must be positive, got {v!r}")


# ---------------------------------------------------------------------------- registry
TASKS: Registry[type[Task]] = Registry("task")


def register(name: str):
    """Class decorator: `@register("adding")` names the task, checks its registry facts
    (family, length_param, reference) and adds it to TASKS."""
    def deco(cls):
        cls.name = name
        cls.check_facts()
        return TASKS.add(name, cls)
    return deco
