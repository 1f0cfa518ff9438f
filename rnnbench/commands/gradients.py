"""`rnnbench gradients`: gradient-flow diagnostics of one model, at init or from a checkpoint.

    rnnbench gradients --task adding --arch lstm --hidden 128 --at init --out DIR
    rnnbench gradients --config cell.yaml --checkpoint RUN_DIR/checkpoint.pt --out DIR

writes DIR/gradients.csv and DIR/recurrent.csv (columns: rnnbench/gradients.py). The model
is described as for `rnnbench train` (--config FILE, then flags); with --checkpoint the run's
own config.json (beside the checkpoint) is the base, and a model option that contradicts
it is an error. Everything is checked before anything is written; a (task, cell) the diagnostics
cannot follow (rnnbench.gradients.unsupported: a sequence model, an encoder-decoder task) is refused
before any data is built, and the pipeline's `gradients.cells` selection leaves such cells out.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..errors import UsageError

# RunConfig fields that shape the model or the measured batch (flags as `rnnbench train`).
MODEL_FLAGS: dict[str, tuple[Any, str]] = {
    "arch": (str, "cell: rnn, irnn, lstm, gru, gru-cho, jordan"),
    "backend": (str, "the backend recorded (fused | cell | auto); measured on cell"),
    "layers": (int, "stacked layers"),
    "hidden": (int, "hidden units per layer and direction"),
    "forget_bias": (float, "lstm forget-gate bias at init"),
    "seed": (int, "seed of data and init"),
    "device": (str, "cpu | cuda | auto"),
    "threads": (int, "torch intra-op threads (default 1)"),
}
# Keys a checkpoint's own config fixes: given otherwise on the command line is an error.
FIXED_BY_CHECKPOINT = ("task", "task_params", "arch", "bidirectional", "layers", "hidden",
                       "residual", "model_params", "seed")


def add_parser(sub) -> None:
    from ..gradients import DEFAULT_JACOBIAN_SAMPLES, DEFAULT_SAMPLES
    from ..tasks import TASKS

    p = sub.add_parser("gradients", help="gradient-flow diagnostics (dL/dh_t by lag, W_hh spectrum)",
                       description="Norm of dL/dh_t for every t of one batch, the product of step "
                                   "Jacobians and the recurrent matrix's spectrum, per layer, "
                                   "direction and state. Writes gradients.csv and recurrent.csv.")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON run config (as `rnnbench train --config`)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--task", help="task name (see `rnnbench list`)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="PATH",
                       help="a run's checkpoint.pt, or its run dir (its config.json beside it)")
    which.add_argument("--at", choices=("init",), help="measure the model at initialisation (the default)")
    for name, (typ, help_) in MODEL_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_)
    p.add_argument("--bidirectional", action="store_true", default=None, help="bidirectional layers")
    p.add_argument("--residual", action="store_true", default=None, help="residual connections between layers")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES,
                   help=f"sequences measured (the first of the val split; default {DEFAULT_SAMPLES})")
    p.add_argument("--jacobian-samples", type=int, default=DEFAULT_JACOBIAN_SAMPLES,
                   help=f"sequences whose Jacobian products are formed (default {DEFAULT_JACOBIAN_SAMPLES}; 0: none)")
    p.add_argument("--loss-step", type=int, default=None,
                   help="the step whose loss is differentiated (default: the last)")
    p.add_argument("--data-dir", help="data directory (default: $RNNBENCH_DATA or the user cache)")
    g = p.add_argument_group("task parameters (any registered task's; checked against --task)")
    seen: set[str] = set()
    for tname, cls in TASKS.items():
        for spec in cls.param_specs():
            if spec["name"] not in seen:
                seen.add(spec["name"])
                g.add_argument("--" + spec["name"].replace("_", "-"), dest="tp_" + spec["name"],
                               default=None, metavar="V", help=f"({tname}...) {spec['help']}")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a task parameter, repeatable")
    p.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model_params entry, repeatable (e.g. recurrent_radius=1.5)")
    p.set_defaults(func=run, clip=None)


def _given(args) -> dict[str, Any]:
    from .train import config_from_args
    return config_from_args(args)   # --config file, then flags (the keys `train` knows)


def resolve_config(args):
    """(resolved RunConfig, checkpoint dict or None, at, step) -- raises UsageError."""
    from ..train import load_checkpoint, resolve, with_task_defaults

    given = _given(args)
    if args.checkpoint is None:
        if "task" not in given:
            raise UsageError("give --task (or a --config naming one), or --checkpoint")
        return resolve(with_task_defaults(given)), None, "init", 0

    from ..io import check_in_path

    ck_path = check_in_path(args.checkpoint, "--checkpoint")
    if ck_path.is_dir():                       # a run dir: its checkpoint
        ck_path = ck_path / "checkpoint.pt"
    ck = load_checkpoint(ck_path)
    if not isinstance(ck, dict) or not isinstance(ck.get("model"), dict):
        raise UsageError(f"checkpoint {ck_path} is corrupt or not an rnnbench checkpoint (no model state)")
    run_dir = ck_path.parent
    base: dict[str, Any] = {}
    cfg_file = run_dir / "config.json"
    if cfg_file.is_file():
        try:
            base = json.loads(cfg_file.read_text())
        except ValueError:
            raise UsageError(f"{cfg_file} is not valid JSON") from None
        chash = base.pop("config_hash", None)
        if ck.get("config_hash") is not None and chash is not None and ck["config_hash"] != chash:
            raise UsageError(f"checkpoint {ck_path} belongs to another config than {cfg_file}")
    elif "task" not in given:
        raise UsageError(f"no config.json beside {ck_path}: describe the model with --config or flags")
    cfg = resolve(with_task_defaults({**base, **given}))
    if base:
        run_cfg = resolve(with_task_defaults(base))
        for key in FIXED_BY_CHECKPOINT:
            if getattr(cfg, key) != getattr(run_cfg, key):
                raise UsageError(f"checkpoint {ck_path} was trained with {key}={getattr(run_cfg, key)!r}, "
                                 f"not {getattr(cfg, key)!r}")
        cfg = cfg.updated({"backend": run_cfg.backend})
    state = ck.get("state") if isinstance(ck.get("state"), dict) else {}
    step = int(state.get("step", 0) or 0)
    at = "trained" if (run_dir / "metrics.json").is_file() else f"step{step}"
    return cfg, ck, at, step


def check(args):
    """Everything `run` checks before it builds data or a model (the arguments, the config, that
    the diagnostics can follow this task and cell): (RunConfig, checkpoint or None, at, step).
    Raises UsageError; writes nothing. The pipeline's test of its `gradients.cells` calls it."""
    from .. import gradients as gr
    from ..io import check_in_path, check_out_dir

    check_out_dir(args.out)
    if args.samples < 1:
        raise UsageError(f"--samples must be a positive integer, got {args.samples}")
    if args.jacobian_samples < 0:
        raise UsageError(f"--jacobian-samples must be >= 0, got {args.jacobian_samples}")
    if args.data_dir is not None:
        check_in_path(args.data_dir, "--data-dir")
    cfg, ck, at, step = resolve_config(args)
    why = gr.unsupported(cfg.task, cfg.arch, cfg.model_params)
    if why is not None:
        raise UsageError(f"gradient-flow diagnostics follow one recurrent stack's states: {why}")
    return cfg, ck, at, step


def run(args) -> int:
    import torch

    from .. import gradients as gr
    from ..train import prepare

    cfg, ck, at, step = check(args)
    torch.set_num_threads(cfg.threads or 1)   # small per-step ops: 1 thread unless asked (see diagnose)
    task, model = prepare(cfg, args.data_dir)
    if ck is not None:
        try:
            model.load_state_dict(ck["model"])
        except (RuntimeError, KeyError, TypeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"checkpoint {args.checkpoint} does not fit the model ({first})") from None
    grads, recurrent = gr.diagnose(cfg, task, model, at=at, step=step, samples=args.samples,
                                   loss_step=args.loss_step, jacobian_samples=args.jacobian_samples,
                                   threads=None)
    out = Path(args.out)
    try:
        gr.write(out, grads, recurrent)
    except OSError as e:
        raise UsageError(f"cannot write to out dir {out}: {e.strerror or e}") from None
    summary = gr.flow_summary(grads)
    for r in summary.itertuples():
        print(f"| {cfg.task} | {cfg.arch} | {at} | layer {r.layer} {r.direction} {r.state} | norm lag "
              f"{r.lag} / lag {r.ref_lag} = {r.ratio:.3g} | per-step factor {r.factor:.4g} |", file=sys.stderr)
    return 0
