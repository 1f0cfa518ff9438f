"""`rnnbench train`: one run from flags and/or a config file."""
from __future__ import annotations

import argparse
from typing import Any

from ..config import OFF, SETTINGS, with_task_defaults
from ..configfile import check_values, load_file
from ..errors import UsageError

# Every RunConfig field but the two mappings is a flag, generated from its declaration
# (rnnbench/config.py SETTINGS: type, help; the range is checked with the whole config).
FLAGS: tuple[str, ...] = tuple(n for n, s in SETTINGS.items() if s.kind is not dict)


def add_setting_flags(p, names: tuple[str, ...] = FLAGS) -> None:
    """--NAME for each setting: a bool as --NAME / --no-NAME, an optional one also takes 'off'."""
    for name in names:
        s = SETTINGS[name]
        if s.kind is bool:
            p.add_argument(s.flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                           help=s.help)
        else:
            metavar = "|".join(s.choices) if s.choices else {int: "N", float: "X"}.get(s.kind, "NAME")
            p.add_argument(s.flag, dest=name, type=s.parse, default=None,
                           metavar=metavar + ("|off" if s.optional else ""), help=s.help)


# model_params exposed as flags (seq2seq tasks; checked by the task's model): name -> (type, help)
MODEL_FLAGS: dict[str, tuple[Any, str]] = {
    "attention": (str, "attention score of variant attention: multiplicative (default) | additive"),
    "teacher_forcing": (float, "P(feed the true previous token) in training; 1 = always, 0 = free running"),
    "tf_decay": (str, "decay of --teacher-forcing over steps: none | linear:STEPS | exp:RATE | sigmoid:K"),
    "beam": (int, "beam width of test decoding (1 = greedy)"),
}


def add_parser(sub) -> None:
    from ..tasks import TASKS

    p = sub.add_parser("train", help="train one run into an out dir (resumes if interrupted)",
                       description="Train one run. Precedence: defaults < the task's defaults < "
                                   "--config < flags. Task parameters: --seq-len etc. or --set key=value.")
    p.add_argument("--config", metavar="FILE", help="YAML/JSON file of run settings (RunConfig keys)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="out dir (resumed if it holds this run); with --seeds one per seed: DIR/seed<k>, "
                        "or DIR itself with {seed} in it")
    p.add_argument("--seeds", metavar="A-B|A,B,...",
                   help="train these seeds in one process, in lockstep where the config allows "
                        "(README: seeds in a group); a config file's `seed: [..]` does the same")
    add_setting_flags(p)
    p.add_argument("--data-dir", help="data directory (default: $RNNBENCH_DATA or the user cache)")
    p.add_argument("--quiet", action="store_true", help="no progress output (run.log is still written)")
    g = p.add_argument_group("task parameters (any registered task's; checked against --task)")
    seen: dict[str, str] = {}
    for tname, cls in TASKS.items():
        for spec in cls.param_specs():
            if spec["name"] not in seen:
                seen[spec["name"]] = tname
                help_ = f"({tname}...) {spec['help']}"
                if spec["name"] == "variant":
                    help_ += "; for a task without a parameter `variant` (seq2seq): the model_params variant"
                g.add_argument("--" + spec["name"].replace("_", "-"), dest="tp_" + spec["name"],
                               default=None, metavar="V", help=help_)
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a task parameter, repeatable")
    m = p.add_argument_group("model family parameters (seq2seq; --variant too, for a task without one)")
    m.add_argument("--model-param", action="append", default=[], metavar="KEY=VALUE",
                   help="a model_params entry, repeatable")
    for name, (typ, help_) in MODEL_FLAGS.items():
        m.add_argument("--" + name.replace("_", "-"), dest="mp_" + name, type=typ, default=None,
                       metavar="V", help=help_)
    m.add_argument("--length-norm", dest="mp_length_norm", type=float, nargs="?", const=1.0,
                   default=None, metavar="ALPHA", help="beam ranking by score / length**ALPHA (1 if no ALPHA)")
    p.set_defaults(func=run)


def _task_has_param(task: str | None, name: str) -> bool:
    """Whether the chosen task (default: RunConfig's) declares a parameter `name`; an
    unknown task counts as having it, so that its error is the one reported."""
    from ..tasks import TASKS

    task = SETTINGS["task"].default if task is None else task
    if task not in TASKS:
        return True
    return any(spec["name"] == name for spec in TASKS.get(task).param_specs())


def _pairs(items: list[str], what: str) -> dict[str, Any]:
    import yaml
    out = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{what} {item!r} must be KEY=VALUE")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = yaml.safe_load(v)
    return out


def config_from_args(args) -> dict[str, Any]:
    d: dict[str, Any] = load_file(args.config) if args.config is not None else {}
    if isinstance(d.get("seed"), list):    # a group of seeds (run below): each seed is one run
        args.file_seeds = d.pop("seed")
    if d:   # the file's own values must be valid, even those a flag overrides
        check_values(d, args.config, getattr(args, "task", None))
    for key in FLAGS:
        v = getattr(args, key, None)
        if v is not None:
            d[key] = None if v is OFF else v
    tp = {k[3:]: v for k, v in vars(args).items() if k.startswith("tp_") and v is not None}
    tp.update(_pairs(args.set, "--set"))
    mp = _pairs(args.model_param, "--model-param")
    mp.update({k[3:]: v for k, v in vars(args).items() if k.startswith("mp_") and v is not None})
    if "variant" in tp and not _task_has_param(d.get("task"), "variant"):
        mp["variant"] = tp.pop("variant")      # seq2seq tasks: the encoder-decoder variant
    if tp:
        d["task_params"] = {**d.get("task_params", {}), **tp}
    if mp:
        d["model_params"] = {**d.get("model_params", {}), **mp}
    return d


def run(args) -> int:
    from ..train import run as train_run

    if args.data_dir is not None:
        from ..io import check_in_path
        check_in_path(args.data_dir, "--data-dir")
    d = config_from_args(args)
    seeds = args.seeds if args.seeds is not None else getattr(args, "file_seeds", None)
    if seeds is None:
        metrics = train_run(with_task_defaults(d), args.out, data_dir=args.data_dir, quiet=args.quiet)
        return 0 if metrics["status"] in ("ok", "diverged") else 1
    from ..group import parse_seeds, run_group

    seeds = parse_seeds(seeds)
    if "seed" in d:
        raise UsageError(f"give --seed or --seeds, not both (--seed {d['seed']}, --seeds {args.seeds or seeds})")
    cfg = with_task_defaults({**d, "seed": seeds[0]})
    outs = [args.out.replace("{seed}", str(s)) if "{seed}" in args.out else f"{args.out}/seed{s}" for s in seeds]
    results = run_group(cfg, outs, data_dir=args.data_dir, quiet=args.quiet, seeds=seeds)
    return 0 if all(m["status"] in ("ok", "diverged") for m in results) else 1
