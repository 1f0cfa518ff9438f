"""One training run: a resolved config in, an out dir of results out.

    out/config.json     resolved RunConfig + config_hash         (written first)
    out/checkpoint.pt   model, optimizer, RNG state, curves       (every checkpoint_every steps)
    out/curve.csv       one row per evaluation                    (with each checkpoint)
    out/steps.csv       one row per optimizer step: loss, pre-clip gradient norm
    out/metrics.json    the result (results/README.md)            (written last)

Every file is written atomically. Re-running into the same out dir resumes from
the checkpoint (bit-identical to an uninterrupted run on CPU: the batch order of
epoch e is a function of (seed, e) and the torch RNG state is checkpointed); a
finished run (metrics.json present) is not redone.
"""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import RunConfig
from .errors import UsageError
from .io import atomic_torch_save, atomic_write_json, atomic_write_text

CURVE_COLUMNS = ("step", "epoch", "train_loss", "val_metric", "grad_norm", "lr", "seconds")
STEP_COLUMNS = ("step", "loss", "grad_norm")


# ---------------------------------------------------------------------------- setup
def resolve(cfg: RunConfig) -> RunConfig:
    """Fill `auto` choices and check everything a run needs, before anything is written."""
    from . import tasks
    from .models import CELLS, backends_for

    cfg.validate()
    task_cls = tasks.TASKS.get(cfg.task)
    CELLS.get(cfg.arch)
    valid_backends = backends_for(cfg.arch)
    backend = cfg.backend
    if backend == "auto":
        backend = "fused" if "fused" in valid_backends else "cell"
    elif backend not in valid_backends:
        from .models import BACKENDS
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} (valid: {', '.join(BACKENDS)})")
        raise UsageError(f"cell {cfg.arch!r} has no {backend} backend "
                         f"(backends for {cfg.arch}: {', '.join(valid_backends)})")
    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but CUDA is not available here (valid: cpu, auto)")
    params = task_cls.parse_params(cfg.task_params)
    import dataclasses
    return cfg.updated({"backend": backend, "device": device,
                        "task_params": dataclasses.asdict(params)})


def with_task_defaults(cfg_dict: dict[str, Any]) -> RunConfig:
    """RunConfig defaults < the task's defaults < the given keys."""
    from . import tasks

    base = RunConfig().updated(cfg_dict, "config")   # validates the keys
    task_cls = tasks.TASKS.get(base.task)
    return RunConfig().updated(task_cls.defaults, f"defaults of task {base.task!r}").updated(cfg_dict)


def prepare(cfg: RunConfig, data_dir=None):
    """(task, model) for a resolved config; the model is initialised from cfg.seed."""
    from . import tasks

    task = tasks.build(cfg.task, cfg.task_params, seed=cfg.seed, data_dir=data_dir)
    task.splits  # load / generate now: a missing dataset fails before anything is written
    torch.manual_seed(cfg.seed)
    model = task.build_model(cfg)
    return task, model.to(cfg.device)


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def clip_grad_norm(parameters, max_norm: float | None) -> float:
    """The lecture notes' algorithm: g <- g * max_norm / ||g|| if ||g|| > max_norm.

    Returns the pre-clip global norm (inf/nan when the gradient is not finite; the
    caller then stops the run as diverged instead of stepping).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if max_norm is not None and torch.isfinite(norm) and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)
    return float(norm)


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The batch order of one epoch: a pure function of (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


# ---------------------------------------------------------------------------- state
@dataclass
class State:
    step: int = 0
    seconds: float = 0.0               # training time so far (evaluations excluded)
    best_val: float | None = None
    curve: list[dict] = field(default_factory=list)
    steps: list[tuple] = field(default_factory=list)
    status: str = "running"
    diverged_step: int | None = None


def _csv(columns, rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    return buf.getvalue()


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def _finite(v):
    return v if v is None or math.isfinite(v) else None


class Log:
    """Pipe-delimited progress lines to stderr and run.log; a tqdm bar on a terminal."""

    def __init__(self, out: Path, total: int, start: int, quiet: bool = False):
        self.path = out / "run.log"
        self.quiet = quiet
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=False)

    def line(self, text: str) -> None:
        with open(self.path, "a") as f:
            f.write(text + "\n")
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def tick(self, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------- run
def run(cfg: RunConfig, out: str | Path, *, data_dir=None, quiet: bool = False) -> dict[str, Any]:
    """Train one run into `out`; returns the metrics dict (also in out/metrics.json)."""
    cfg = resolve(cfg)
    out = Path(out)
    chash = cfg.hash()
    config_doc = {**cfg.to_dict(), "config_hash": chash}

    existing = _existing_hash(out)
    if existing is not None and existing != chash:
        raise UsageError(f"out dir {out} holds a run of another config (hash {existing}, this one "
                         f"{chash}): choose a new --out or delete it")
    metrics_path = out / "metrics.json"
    if existing == chash and metrics_path.exists():
        import json
        if not quiet:
            print(f"| {out} | already finished: nothing to do", file=sys.stderr)
        return json.loads(metrics_path.read_text())

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task, model = prepare(cfg, data_dir)
    _check_writable(out)
    atomic_write_json(out / "config.json", config_doc)

    train = task.splits["train"].to(cfg.device)
    n = len(train)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    eval_every = min(cfg.eval_every or per_epoch, total)
    ckpt_every = cfg.checkpoint_every or eval_every

    optimizer = make_optimizer(cfg, model.parameters())
    state = State()
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        state = _load_checkpoint(ckpt_path, chash, model, optimizer)

    log = Log(out, total, state.step, quiet)
    if state.step:
        log.line(f"| resumed at step {state.step} from {ckpt_path} |")
    else:
        log.line(f"| {cfg.task} | {cfg.arch} ({cfg.backend}) | {model.n_params:,} params | "
                 f"{total} steps of batch {cfg.batch_size} | device {cfg.device} |")

    window_loss, window_norm, window_n = 0.0, 0.0, 0
    if cfg.grad_diag_every and state.step == 0:
        _grad_diagnostics(cfg, task, model, out, 0)
    model.train()
    while state.step < total and state.status == "running":
        epoch, pos = divmod(state.step, per_epoch)
        idx = epoch_order(cfg.seed, epoch, n)[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
        batch = train.take(idx.to(train.x.device))
        sync(cfg.device)
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = _train_step_loss(task, model, batch, state.step, cfg)
        loss_v = float(loss)
        norm = clip_grad_norm(model.parameters(), cfg.clip) if math.isfinite(loss_v) else math.nan
        if not (math.isfinite(loss_v) and math.isfinite(norm)):
            state.status, state.diverged_step = "diverged", state.step
            state.steps.append((state.step + 1, _finite(loss_v), _finite(norm)))
            log.line(f"| diverged at step {state.step + 1}: loss {loss_v}, gradient norm {norm} |")
            break
        optimizer.step()
        sync(cfg.device)
        state.seconds += time.perf_counter() - t0
        state.step += 1
        state.steps.append((state.step, loss_v, norm))
        window_loss += loss_v
        window_norm = max(window_norm, norm)
        window_n += 1
        log.tick(loss_v)

        if state.step % eval_every == 0 or state.step == total:
            val = task.evaluate(model.eval(), "val", cfg.eval_batch_size, cfg.device)[task.metric]
            model.train()
            if state.best_val is None or _better(task.direction, val, state.best_val):
                state.best_val = val
            row = {"step": state.step, "epoch": round(state.step / per_epoch, 4),
                   "train_loss": window_loss / window_n, "val_metric": _finite(val),
                   "grad_norm": window_norm, "lr": optimizer.param_groups[0]["lr"],
                   "seconds": round(state.seconds, 3)}
            state.curve.append(row)
            log.line(f"| step {state.step:>6}/{total} | epoch {row['epoch']:7.2f} | loss "
                     f"{row['train_loss']:.5g} | val {task.metric} {val:.5g} | "
                     f"grad norm {window_norm:.3g} | {state.seconds:7.1f} s |")
            window_loss, window_norm, window_n = 0.0, 0.0, 0
        if cfg.grad_diag_every and state.step % cfg.grad_diag_every == 0:
            _grad_diagnostics(cfg, task, model, out, state.step)
        if state.step % ckpt_every == 0 and state.step < total:
            _save(out, ckpt_path, chash, model, optimizer, state)
    log.close()

    if state.status == "running":
        state.status = "ok"
    _save(out, ckpt_path, chash, model, optimizer, state)
    metrics = _finish(cfg, chash, task, model, state, per_epoch, out)
    log.line(f"| done | test {task.metric} {metrics['value']} | baseline {metrics['baseline']:.5g} | "
             f"solved {metrics['solved']} | status {metrics['status']} |")
    return metrics


def _train_step_loss(task, model, batch, step: int, cfg: RunConfig) -> torch.Tensor:
    """One step's loss with gradients accumulated; truncated BPTT for per-step tasks."""
    if not cfg.tbptt or task.kind != "many_to_many" or batch.x.shape[1] <= cfg.tbptt:
        loss = task.train_loss(model, batch, step)
        if torch.isfinite(loss):
            loss.backward()
        return loss.detach()
    # Truncated BPTT: windows of cfg.tbptt steps, the state carried but detached;
    # gradients of all windows accumulate into one optimizer step.
    from .tasks.base import Split
    T = batch.x.shape[1]
    hx, total = None, 0.0
    for s in range(0, T, cfg.tbptt):
        part = Split(batch.x[:, s:s + cfg.tbptt], batch.y[:, s:s + cfg.tbptt])
        pred, hx = model(part.x, hx=hx)
        loss = task.loss(pred, part) * part.x.shape[1] / T
        if not torch.isfinite(loss):
            return loss.detach()
        loss.backward()
        total += float(loss.detach())
        hx = tuple(h.detach() for h in hx) if isinstance(hx, tuple) else hx.detach()
    return torch.tensor(total)


def _grad_diagnostics(cfg: RunConfig, task, model, out: Path, step: int) -> None:
    """out/grad_checkpoints/step<N>.csv (rnnbench.gradients); RNG, mode and grads untouched."""
    from .gradients import during_training
    during_training(cfg, task, model, out, step)


def _better(direction: str, a: float, b: float) -> bool:
    return a < b if direction == "min" else a > b


def _existing_hash(out: Path) -> str | None:
    import json
    p = out / "config.json"
    if not p.exists():
        return None
    try:
        return json.loads(p.read_text()).get("config_hash")
    except (ValueError, OSError):
        raise UsageError(f"out dir {out} holds an unreadable config.json: delete it or choose a new --out")


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to out dir {out}: {e.strerror or e}") from None


def _save(out, path, chash, model, optimizer, state: State) -> None:
    atomic_torch_save(path, {
        "config_hash": chash, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "state": state.__dict__,
    })
    atomic_write_text(out / "curve.csv", _csv(CURVE_COLUMNS, state.curve))
    atomic_write_text(out / "steps.csv", _csv(STEP_COLUMNS, [dict(zip(STEP_COLUMNS, s)) for s in state.steps]))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint; a truncated or foreign file is a UsageError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise UsageError(f"checkpoint not found: {path}") from None
    except Exception as e:  # torch raises many types for a corrupt file
        raise UsageError(f"checkpoint {path} is corrupt or not an rnnbench checkpoint "
                         f"({type(e).__name__}): delete it to start over") from None


def _load_checkpoint(path: Path, chash: str, model, optimizer) -> State:
    ck = load_checkpoint(path)
    if not isinstance(ck, dict) or ck.get("config_hash") != chash:
        raise UsageError(f"checkpoint {path} belongs to another config: delete it to start over")
    model.load_state_dict(ck["model"])
    optimizer.load_state_dict(ck["optimizer"])
    torch.set_rng_state(ck["torch_rng"])
    if ck.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ck["cuda_rng"])
    return State(**ck["state"])


def _finish(cfg: RunConfig, chash: str, task, model, state: State, per_epoch: int, out: Path) -> dict:
    from .provenance import collect

    value, test = None, {}
    if state.status == "ok":
        model.eval()
        test = {k: _finite(v) for k, v in task.evaluate(model, "test", cfg.eval_batch_size, cfg.device).items()}
        value = test.get(task.metric)
        task.artifacts(model, out, cfg.device)
    epochs = state.step / per_epoch
    prov = collect()
    metrics = {
        "task": cfg.task, "arch": cfg.arch, "backend": cfg.backend,
        "bidirectional": cfg.bidirectional, "layers": cfg.layers, "hidden": cfg.hidden,
        "seed": cfg.seed,
        "params": {"task_params": cfg.task_params, "model_params": cfg.model_params,
                   "train": {k: v for k, v in cfg.to_dict().items()
                             if k not in ("task", "task_params", "model_params", "arch", "backend",
                                          "bidirectional", "layers", "hidden", "seed")}},
        "metric": task.metric, "direction": task.direction, "value": value, "metrics": test,
        "baseline": task.baseline(), "solved": task.solved(value, test) if state.status == "ok" else None,
        "best_val": _finite(state.best_val), "epochs": round(epochs, 4), "steps": state.step,
        "train_seconds": round(state.seconds, 3),
        "seconds_per_epoch": round(state.seconds / epochs, 4) if epochs else None,
        "status": state.status, "diverged_step": state.diverged_step,
        "n_params": model.n_params, "device": cfg.device, "threads": torch.get_num_threads(),
        "native_kernel": _native_kernel(cfg),
        "hostname": prov.get("hostname"), "slurm_job_id": prov.get("slurm_job_id"),
        "torch_version": torch.__version__, "rnnbench_version": __version__,
        "git_sha": prov.get("git_sha"), "config_hash": chash,
    }
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def _native_kernel(cfg: RunConfig) -> bool | None:
    """Whether the run's recurrence ran the compiled scan (models/native.py): None where none
    applies (fused backend, other cells, CUDA), else True, or False for the PyTorch fallback."""
    from .models import native
    if cfg.backend != "cell" or cfg.arch not in native.ARCHS or cfg.device != "cpu":
        return None
    return native.load() is not None
