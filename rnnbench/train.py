"""One training run: a resolved config in, an out dir of results out.

    out/config.json     resolved RunConfig + config_hash         (written first)
    out/checkpoint.pt   model, optimizer, RNG state, curves       (every checkpoint_every steps)
    out/curve.csv       one row per evaluation                    (with each checkpoint)
                        (`solved`: the task's rule on the validation metrics; the first
                        True is the run's time to solve, and with stop_when_solved its end)
    out/steps.csv       one row per optimizer step: loss, pre-clip gradient norm
    out/metrics.json    the result (results/README.md)            (written last)
    out/.lock           flock'ed while a runner trains here; holds its pid and host

Every file is written atomically. Re-running into the same out dir resumes from
the checkpoint (bit-identical to an uninterrupted run on CPU, curve.csv included:
the batch order of epoch e is a function of (seed, e), and the torch RNG state and
the evaluation interval's running sums are checkpointed); a finished run
(metrics.json present) is not redone. A checkpoint holds tensors and plain types
only and is read with `weights_only=True`: a file that needs more is refused.
Everything that can refuse a run (config, sizes against free memory, the out
dir's config.json / metrics.json / checkpoint, another runner's lock) does so
before anything is written; `.*.tmp` leftovers of a killed write are removed.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import __version__, tasks
from .config import RunConfig, resolve, with_task_defaults  # noqa: F401 (the runner's API)
from .errors import UsageError
from .gradients import during_training
from .models import CELLS
from .record import RunRecord
from .tasks.base import PER_STEP_KINDS, Split
from .io import atomic_torch_save, atomic_write_json, atomic_write_text, check_out_dir, clean_tmp

CURVE_COLUMNS = ("step", "epoch", "train_loss", "val_metric", "grad_norm", "lr", "seconds", "solved")
STEP_COLUMNS = ("step", "loss", "grad_norm")


# ---------------------------------------------------------------------------- setup
def prepare(cfg: RunConfig, data_dir=None):
    """(task, model) for a resolved config; the model is initialised from cfg.seed."""
    task = tasks.build(cfg.task, cfg.task_params, seed=cfg.seed, data_dir=data_dir)
    with _allocation_is_usage_error(f"the data of task {cfg.task!r}"):
        task.splits  # load / generate now: a missing dataset fails before anything is written
    check_memory(cfg, task)
    torch.manual_seed(cfg.seed)
    with _allocation_is_usage_error(f"the model (hidden {cfg.hidden}, layers {cfg.layers})"):
        model = task.build_model(cfg)
        return task, model.to(cfg.device)


# ---------------------------------------------------------------------------- memory
def gate_blocks(arch: str) -> int:
    """Gate blocks a step keeps per unit (the cell registry's n_gates; 1 for a non-cell model)."""
    return CELLS.get(arch).n_gates if arch in CELLS else 1


LAYER_OVERHEAD = 4096    # bytes of Python objects per layer and direction (measured 4.6 KB, torch 2.13)


def estimate_memory(cfg: RunConfig, task) -> tuple[int, int, bool, int]:
    """(bytes, parameters, whether that count is exact, sample-steps per batch) of a training run.

    A lower bound, not a forecast: float32 parameters, their gradients and two optimizer
    moments, plus what backpropagation keeps of one batch (gates and states of every layer
    and direction at every step) or an evaluation batch's outputs, whichever is larger. The
    parameters are counted on the meta device (shapes only, nothing allocated) unless a
    lower bound (an H x H matrix per layer and direction) already rules the run out."""
    x = task.splits["train"].x
    dirs = 2 if cfg.bidirectional else 1
    steps = x.shape[1] if x.dim() > 1 else 1
    if cfg.tbptt and task.kind in PER_STEP_KINDS:
        steps = min(steps, cfg.tbptt)
    batch = min(cfg.batch_size, x.shape[0])
    kept = batch * steps * (gate_blocks(cfg.arch) + 2) * cfg.hidden * cfg.layers * dirs
    evaluated = min(cfg.eval_batch_size, x.shape[0]) * steps * 2 * cfg.hidden * dirs
    n_params, exact = cfg.layers * dirs * cfg.hidden * cfg.hidden, False
    if 16 * n_params < available_memory(cfg.device) and cfg.layers <= 10_000:
        try:
            with torch.device("meta"):
                n_params = sum(p.numel() for p in task.build_model(cfg).parameters())
            exact = True
        except Exception:  # an init the meta device cannot run: keep the lower bound
            pass
    need = 4 * (4 * n_params + max(kept, evaluated)) + LAYER_OVERHEAD * cfg.layers * dirs
    return need, n_params, exact, batch * steps


def available_memory(device: str) -> int:
    """Free bytes: the GPU's for cuda, else MemAvailable (or the cgroup's room, if less)."""
    if str(device).startswith("cuda"):
        return int(torch.cuda.mem_get_info()[0])
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return avail


def check_memory(cfg: RunConfig, task) -> None:
    """Refuse, before anything is allocated or written, a run that cannot fit in memory."""
    need, n_params, exact, sample_steps = estimate_memory(cfg, task)
    avail = available_memory(cfg.device)
    if need > avail:
        dirs = " x 2 directions" if cfg.bidirectional else ""
        count = f"{'' if exact else 'at least '}{n_params:,} parameters"
        raise UsageError(f"hidden {cfg.hidden} x layers {cfg.layers}{dirs} at batch size {cfg.batch_size} "
                         f"needs at least {format_bytes(need)} ({count}, {sample_steps:,} sample-steps "
                         f"per batch), more than the {format_bytes(avail)} of {cfg.device} memory "
                         f"available: lower --hidden, --layers or --batch-size")


def format_bytes(n: float) -> str:
    """1234567 -> '1.23 MB' (decimal units)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000:
            return f"{int(n)} B" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


@contextlib.contextmanager
def _allocation_is_usage_error(what: str):
    """An allocation failure (host or GPU) as one line naming what was being built."""
    try:
        yield
    except MemoryError as e:
        detail = str(e).splitlines()[0] if str(e) else "MemoryError"
        raise UsageError(f"not enough memory for {what}: {detail}") from None
    except RuntimeError as e:
        msg = str(e)
        if "allocate" not in msg and "out of memory" not in msg:
            raise
        tried = re.search(r"allocate (\d+) bytes", msg)
        size = f" (an allocation of {format_bytes(int(tried.group(1)))})" if tried else ""
        raise UsageError(f"not enough memory for {what}{size}") from None


def make_optimizer(cfg: RunConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def clip_grad_norm(parameters, max_norm: float | None) -> float:
    """torch.nn.utils.clip_grad_norm_ (the lecture notes' g <- g * max_norm / ||g|| if
    ||g|| > max_norm; None = no clipping). Returns the pre-clip global norm, inf/nan when the
    gradient is not finite: the caller then stops the run as diverged instead of stepping."""
    max_norm = math.inf if max_norm is None else max_norm
    return float(torch.nn.utils.clip_grad_norm_(parameters, max_norm))


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
    stopped_early: bool = False        # ended at the first solved evaluation (stop_when_solved)
    # the current evaluation interval so far (curve.csv's train_loss and grad_norm): a
    # checkpoint inside an interval carries them, so a resumed curve equals an uninterrupted one
    window_loss: float = 0.0
    window_norm: float = 0.0
    window_n: int = 0


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
    out = check_out_dir(out, writable=False)      # writable: checked once there is work to do
    chash = cfg.hash()

    finished = _finished(out, chash, quiet)       # everything before the lock only reads
    if finished is not None:
        clean_tmp(out)                            # a kill's leftovers (none once this runner ran)
        return finished
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    task, model = prepare(cfg, data_dir)
    optimizer = make_optimizer(cfg, model.parameters())
    ckpt_path = out / "checkpoint.pt"
    state, seen = State(), _stamp(ckpt_path)
    if seen is not None:                          # refuse a bad checkpoint before writing anything
        state = _load_checkpoint(ckpt_path, chash, model, optimizer)
    _check_writable(out)
    with RunLock(out):
        finished = _finished(out, chash, quiet)   # another process may have finished it meanwhile
        if finished is not None:
            return finished
        clean_tmp(out)                            # leftovers of a write that a kill interrupted
        if _stamp(ckpt_path) != seen:             # another runner checkpointed meanwhile: its state
            state = _load_checkpoint(ckpt_path, chash, model, optimizer)
        atomic_write_json(out / "config.json", {**cfg.to_dict(), "config_hash": chash})
        return _train(cfg, chash, task, model, optimizer, state, out, quiet)


def _stamp(path: Path) -> tuple[int, int] | None:
    """(mtime_ns, size) of a file, None if absent: whether it changed since it was read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _train(cfg: RunConfig, chash: str, task, model, optimizer, state: "State", out: Path,
           quiet: bool) -> dict[str, Any]:
    train = task.splits["train"].to(cfg.device)
    n = len(train)
    per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
    eval_every = min(cfg.eval_every or per_epoch, total)
    ckpt_every = cfg.checkpoint_every or eval_every
    ckpt_path = out / "checkpoint.pt"

    log = Log(out, total, state.step, quiet)
    if state.step:
        log.line(f"| resumed at step {state.step} from {ckpt_path} |")
    else:
        log.line(f"| {cfg.task} | {cfg.arch} ({cfg.backend}) | {model.n_params:,} params | "
                 f"{total} steps of batch {cfg.batch_size} | device {cfg.device} |")

    if cfg.grad_diag_every and state.step == 0:
        _grad_diagnostics(cfg, task, model, out, 0)
    model.train()
    while state.step < total and state.status == "running" and not state.stopped_early:
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
        state.window_loss += loss_v
        state.window_norm = max(state.window_norm, norm)
        state.window_n += 1
        log.tick(loss_v)

        if state.step % eval_every == 0 or state.step == total:
            val_metrics = task.evaluate(model.eval(), "val", cfg.eval_batch_size, cfg.device)
            val = val_metrics[task.metric]
            solved = task.solved(val, val_metrics)
            model.train()
            if state.best_val is None or _better(task.direction, val, state.best_val):
                state.best_val = val
            row = {"step": state.step, "epoch": round(state.step / per_epoch, 4),
                   "train_loss": state.window_loss / state.window_n, "val_metric": _finite(val),
                   "grad_norm": state.window_norm, "lr": optimizer.param_groups[0]["lr"],
                   "seconds": round(state.seconds, 3), "solved": solved}
            state.curve.append(row)
            log.line(f"| step {state.step:>6}/{total} | epoch {row['epoch']:7.2f} | loss "
                     f"{row['train_loss']:.5g} | val {task.metric} {val:.5g} | "
                     f"grad norm {state.window_norm:.3g} | {state.seconds:7.1f} s |")
            state.window_loss, state.window_norm, state.window_n = 0.0, 0.0, 0
            if cfg.stop_when_solved and solved and state.step < total:
                state.stopped_early = True
                log.line(f"| solved at step {state.step}: stopping (stop_when_solved) |")
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


def curve_mean(curve: list[dict]) -> float | None:
    """The mean validation metric over `curve`'s evaluations (the area under the validation curve
    per evaluation); None without evaluations or where one is not finite (a diverged run)."""
    vals = [r.get("val_metric") for r in curve]
    vals = [float(v) if v not in (None, "") else math.nan for v in vals]
    return sum(vals) / len(vals) if vals and all(math.isfinite(v) for v in vals) else None


def time_to_solve(curve: list[dict]) -> tuple[int | None, float | None]:
    """(step, training seconds) of the first evaluation of `curve` (curve.csv's rows) whose
    `solved` is true; (None, None) when none is: censored at the run's last step."""
    first = next((r for r in curve if r.get("solved") in (True, "True")), None)
    return (None, None) if first is None else (int(first["step"]), float(first["seconds"]))


def _train_step_loss(task, model, batch, step: int, cfg: RunConfig) -> torch.Tensor:
    """One step's loss with gradients accumulated; truncated BPTT for per-step tasks."""
    if not cfg.tbptt or task.kind not in PER_STEP_KINDS or batch.x.shape[1] <= cfg.tbptt:
        loss = task.train_loss(model, batch, step)
        if torch.isfinite(loss):
            loss.backward()
        return loss.detach()
    # Truncated BPTT: windows of cfg.tbptt steps, the state carried but detached;
    # gradients of all windows accumulate into one optimizer step.
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
    during_training(cfg, task, model, out, step)


def _better(direction: str, a: float, b: float) -> bool:
    return a < b if direction == "min" else a > b


def _existing_hash(out: Path) -> str | None:
    import json
    p = out / "config.json"
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
    except (ValueError, OSError):
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("config_hash"), (str, type(None))):
        raise UsageError(f"out dir {out} holds an unreadable config.json: delete it or choose a new --out")
    return doc.get("config_hash")


def _finished(out: Path, chash: str, quiet: bool) -> dict | None:
    """The metrics of a finished run of this config in `out`; None if there is none to resume
    from; a UsageError if `out` holds another config's run or an unreadable metrics.json."""
    import json
    existing = _existing_hash(out)
    if existing is not None and existing != chash:
        raise UsageError(f"out dir {out} holds a run of another config (hash {existing}, this one "
                         f"{chash}): choose a new --out or delete it")
    metrics_path = out / "metrics.json"
    if existing != chash or not metrics_path.exists():
        return None
    try:
        metrics = json.loads(metrics_path.read_text())
    except (ValueError, OSError):
        metrics = None
    if not isinstance(metrics, dict):
        raise UsageError(f"out dir {out} holds an unreadable metrics.json: delete it to finish the "
                         f"run again from its checkpoint, or choose a new --out")
    metrics = RunRecord.from_dict(metrics, source=metrics_path).to_dict()   # fields added since: their defaults
    if not quiet:
        print(f"| {out} | already finished: nothing to do", file=sys.stderr)
    return metrics


class RunLock:
    """An exclusive lock on a run dir (fcntl.flock on out/.lock, released when the process
    ends, however it ends): a second `rnnbench train` on the same dir is refused, naming the
    holder (pid and host, written into the lock file)."""

    def __init__(self, out: Path):
        self.path = Path(out) / ".lock"
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        import fcntl
        import socket
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UsageError(f"cannot write to out dir {self.path.parent}: {e.strerror or e}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").split()
            os.close(fd)
            who = f"pid {holder[0]} on host {holder[1]}" if len(holder) >= 2 else "another process"
            raise UsageError(f"out dir {self.path.parent} is in use by {who} (lock {self.path}): "
                             f"wait for it or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            import fcntl
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _check_writable(out: Path) -> None:
    check_out_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write to out dir {out}: {e.strerror or e}") from None


def _save(out, path, chash, model, optimizer, state: State) -> None:
    _save_checkpoint(path, chash, model, optimizer, state)
    _save_tables(out, state)


def _save_checkpoint(path, chash, model, optimizer, state: State) -> None:
    """The checkpoint alone (atomically): model, optimizer, RNG, the run's state."""
    atomic_torch_save(path, {
        "config_hash": chash, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "state": state.__dict__,
    })


def _save_tables(out, state: State) -> None:
    """curve.csv and steps.csv as the state has them."""
    atomic_write_text(out / "curve.csv", _csv(CURVE_COLUMNS, state.curve))
    atomic_write_text(out / "steps.csv", _csv(STEP_COLUMNS, [dict(zip(STEP_COLUMNS, s)) for s in state.steps]))


def load_checkpoint(path: str | Path, map_location="cpu", hint: str = "") -> dict:
    """Read a checkpoint: tensors and plain types only (`weights_only=True`: unpickling
    anything else could run code). A truncated, foreign or unsafe file is a UsageError naming it."""
    import pickle
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise UsageError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"checkpoint {path} is a directory, not a checkpoint file") from None
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():   # not an object to construct: a damaged file
            raise UsageError(f"checkpoint {path} is corrupt or not an rnnbench checkpoint "
                             f"(UnpicklingError){hint}") from None
        what = re.search(r"GLOBAL ([\w.]+)|global ([\w.]+)", str(e))
        obj = f" ({next(g for g in what.groups() if g)})" if what else ""
        raise UsageError(f"checkpoint {path} refused: it holds objects other than tensors and plain "
                         f"values{obj}, and loading them could run code") from None
    except Exception as e:  # torch raises many types for a corrupt file
        raise UsageError(f"checkpoint {path} is corrupt or not an rnnbench checkpoint "
                         f"({type(e).__name__}){hint}") from None


def _load_checkpoint(path: Path, chash: str, model, optimizer) -> State:
    ck = load_checkpoint(path, hint=": delete it to start over")
    if not isinstance(ck, dict) or ck.get("config_hash") != chash:
        raise UsageError(f"checkpoint {path} belongs to another config: delete it to start over")
    try:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        if ck.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        return State(**ck["state"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise UsageError(f"checkpoint {path} is corrupt or not an rnnbench checkpoint ({first}): "
                         f"delete it to start over") from None


def _finish(cfg: RunConfig, chash: str, task, model, state: State, per_epoch: int, out: Path,
            group: list[int] | None = None) -> dict:
    from .provenance import collect

    value, test = None, {}
    if state.status == "ok":
        model.eval()
        test = {k: _finite(v) for k, v in task.evaluate(model, "test", cfg.eval_batch_size, cfg.device).items()}
        value = test.get(task.metric)
        task.artifacts(model, out, cfg.device)
    epochs = state.step / per_epoch
    prov = collect()
    to_solve = time_to_solve(state.curve)
    has_rule = task.solved_threshold is not None
    record = RunRecord.of(   # identity, params and the registries' facts come from cfg
        cfg, state.status, value=value, metrics=test, baseline=task.baseline(),
        solved=task.solved(value, test) if state.status == "ok" else None,
        best_val=_finite(state.best_val), epochs=round(epochs, 4), steps=state.step,
        train_seconds=round(state.seconds, 3),
        seconds_per_epoch=round(state.seconds / epochs, 4) if epochs else None,
        diverged_step=state.diverged_step, steps_to_solve=to_solve[0], seconds_to_solve=to_solve[1],
        solve_censored=to_solve[0] is None if has_rule else None, stopped_early=state.stopped_early,
        val_mean=curve_mean(state.curve), n_params=model.n_params, native_kernel=_native_kernel(cfg),
        device=cfg.device, threads=torch.get_num_threads(), hostname=prov.get("hostname"),
        slurm_job_id=prov.get("slurm_job_id"), torch_version=torch.__version__,
        rnnbench_version=__version__, git_sha=prov.get("git_sha"), config_hash=chash, group_seeds=group)
    metrics = record.to_dict()
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


def _native_kernel(cfg: RunConfig) -> bool | None:
    """Whether the run's recurrence ran the compiled scan (models/native.py): None where none
    applies (fused backend, other cells, CUDA), else True, or False for the PyTorch fallback."""
    from .models import native
    if cfg.backend != "cell" or cfg.arch not in native.ARCHS or cfg.device != "cpu":
        return None
    return native.load() is not None
