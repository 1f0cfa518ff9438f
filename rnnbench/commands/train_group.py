"""`rnnbench train-group`: the pipeline's job for the seeds of one grid cell (rnnbench/group.py)."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("train-group", help="train run dirs that differ only in the seed as one group",
                       description="Train the runs whose configs lie in RUN_DIR/cell.json (the pipeline "
                                   "writes them), one per dir, as one group: in lockstep where the config "
                                   "allows, else one after another. The configs must differ only in `seed`.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="a run dir holding cell.json")
    p.add_argument("--data-dir", help="data directory (default: $RNNBENCH_DATA or the user cache)")
    p.add_argument("--quiet", action="store_true", help="no progress output (run.log is still written)")
    p.add_argument("--summary", metavar="FILE",
                   help="write the group's outcome here (JSON, atomically) once every run has finished")
    p.set_defaults(func=run)


def read_cells(run_dirs: list[str]) -> tuple[dict, list[int]]:
    """(the shared config without its seed, the seeds) of the dirs' cell.json files."""
    from ..configfile import check_values

    configs = []
    for d in run_dirs:
        path = Path(d) / "cell.json"
        try:
            c = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"{path} not found: each RUN_DIR must hold its run's cell.json") from None
        except (OSError, ValueError) as e:
            raise UsageError(f"{path}: not a readable config ({type(e).__name__})") from None
        if not isinstance(c, dict) or not isinstance(c.get("seed"), int):
            raise UsageError(f"{path}: a run config with an integer `seed` expected")
        check_values(c, str(path), c.get("task"))
        configs.append(c)
    rest = [{k: v for k, v in c.items() if k != "seed"} for c in configs]
    for d, r in zip(run_dirs[1:], rest[1:]):
        if r != rest[0]:
            key = next(k for k in sorted(set(r) | set(rest[0])) if r.get(k) != rest[0].get(k))
            raise UsageError(f"{d}/cell.json differs from {run_dirs[0]}/cell.json in {key!r} "
                             f"({r.get(key)!r} vs {rest[0].get(key)!r}): a group's runs differ only in the seed")
    return rest[0], [c["seed"] for c in configs]


def run(args) -> int:
    from ..config import with_task_defaults
    from ..group import run_group

    if args.data_dir is not None:
        from ..io import check_in_path
        check_in_path(args.data_dir, "--data-dir")
    shared, seeds = read_cells(args.run_dirs)
    cfg = with_task_defaults({**shared, "seed": seeds[0]})
    results = run_group(cfg, args.run_dirs, data_dir=args.data_dir, quiet=args.quiet, seeds=seeds)
    ok = all(m["status"] in ("ok", "diverged") for m in results)
    if args.summary and ok:
        from ..io import atomic_write_json
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(args.summary, {
            "seeds": seeds, "run_dirs": list(args.run_dirs),
            "runs": [{"seed": s, "status": m["status"], "value": m["value"], "group_seeds": m["group_seeds"],
                      "train_seconds": m["train_seconds"]} for s, m in zip(seeds, results)]})
    return 0 if ok else 1
