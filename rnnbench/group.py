"""Seed-parallel training: the seeds of one config trained in lockstep, in one process.

    seeds s_1 .. s_S of one RunConfig
      ─► S solo setups, exactly as `train.run` builds them: task data, model init, optimizer
      ─► stacked: every parameter and optimizer moment [S, ...]; one optimizer over the stacks
         (Adam, RMSprop and SGD are elementwise: each seed's slice steps as its solo tensor would)
      ─► each step: each seed's batch (its own epoch order) stacked [S, B, ...]; the task's loss
         under torch.func.vmap over the seed dimension, so that the recurrence runs the cell
         backend's grouped scans (S seeds' products in one pass per time step); backward once
      ─► per seed, as its solo run: gradient clipping (its own norm), divergence (that seed is
         finished as diverged and leaves the group, the others go on), evaluation, stop_when_solved,
         checkpoints, curve.csv, steps.csv, metrics.json: in its own run dir, same files and format
         (a solo `rnnbench train` resumes a group's checkpoint, a group resumes solo checkpoints)
      ─► checkpoints committed as a set (`_commit`, `_settle`): after a kill anywhere the seeds
         resume together, and end bit-identical to the uninterrupted group

What a group changes, and what not (README "Seeds in a group"): a seed's initialisation, data
order and optimizer state are its solo run's; its arithmetic differs from the solo run's only in
float32 rounding (grouped kernels, batched products: first-step loss and gradients agree within
1e-5, tested), and its results do not depend on which other seeds share its group, nor on how
many are left (tested: a group down to one seed runs beside a twin of it, `_vmapped_loss`). A
group whose runs are on the fused backend computes their recurrence with the cell backend's
kernels (the same equations; the record keeps the run's backend and says `group_seeds`).
Evaluation runs each seed's own solo model. metrics.json's `group_seeds` lists the job's seeds
(those a rerun found finished included); `train_seconds` is the group's training time (the seeds
shared it). In a job of several seeds, a seed left to train alone trains in lockstep too.

Seeds train one after another instead (`why_solo` says why, in each run.log) when the task's
batches have no single shape (lengths given: seq2seq, text; `Task.lockstep`), the run draws
random numbers while training (dropout between layers, a teacher-forcing ratio strictly between
0 and 1), truncates BPTT, or records gradient diagnostics during training.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .config import RunConfig, resolve
from .errors import UsageError
from .tasks.base import PER_STEP_KINDS, Split
from .io import check_out_dir, clean_tmp, atomic_write_json
from . import train as T


# ---------------------------------------------------------------------------- which runs group
def why_solo(cfg: RunConfig | dict[str, Any]) -> str | None:
    """Why the seeds of this config cannot train in lockstep (None: they can). Static: reads the
    config and the task's class only (the pipeline asks it for every cell)."""
    from .tasks import TASKS

    c = cfg.to_dict() if isinstance(cfg, RunConfig) else dict(cfg)
    task_cls = TASKS.get(c["task"])
    if not task_cls.lockstep:
        return f"task {c['task']!r} batches sequences of different lengths"
    if c.get("grad_diag_every"):
        return "gradient diagnostics during training (grad_diag_every)"
    if (c.get("dropout") or 0) > 0 and (c.get("layers") or 1) > 1:
        return "dropout between layers draws random masks"
    if c.get("tbptt") and task_cls.kind in PER_STEP_KINDS:
        return "truncated BPTT (tbptt)"
    tf = (c.get("model_params") or {}).get("teacher_forcing")
    if tf is not None and 0 < float(tf) < 1:
        return "teacher forcing at a ratio between 0 and 1 draws random numbers"
    return None


def parse_seeds(text: str | int | list) -> list[int]:
    """`0-4`, `0,2,5`, `3`, or a list of ints -> sorted unique seeds (UsageError otherwise)."""
    if isinstance(text, bool):
        raise UsageError(f"seeds must be integers, got {text!r}")
    if isinstance(text, int):
        return [text]
    if isinstance(text, (list, tuple)):
        if not text or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in text):
            raise UsageError(f"seed list must be non-negative integers, got {list(text)!r}")
        return sorted(set(text))
    seeds: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        lo, sep, hi = part.partition("-")
        try:
            a, b = (int(lo), int(hi)) if sep else (int(part), int(part))
        except ValueError:
            raise UsageError(f"--seeds {text!r}: expected A-B, A,B,C or N (non-negative integers)") from None
        if a < 0 or b < a:
            raise UsageError(f"--seeds {text!r}: a range A-B needs 0 <= A <= B")
        seeds.update(range(a, b + 1))
    return sorted(seeds)


# ---------------------------------------------------------------------------- one seed
@dataclass(eq=False)
class Member:
    """One seed of a group: its solo setup and its run dir's state."""
    cfg: RunConfig
    chash: str
    out: Path
    task: Any
    model: torch.nn.Module           # its solo model (evaluation, checkpoints)
    optimizer: torch.optim.Optimizer  # its solo optimizer (only to hold state for checkpoints)
    state: T.State
    rng: torch.Tensor                # the torch RNG state its solo run has while training
    log: T.Log | None = None         # its run.log (opened once its out dir is locked)

    @property
    def seed(self) -> int:
        return self.cfg.seed


def run_group(cfg: RunConfig, outs: list[str | Path], *, data_dir=None, quiet: bool = False,
              seeds: list[int] | None = None) -> list[dict[str, Any]]:
    """Train cfg at each seed of `seeds` (default: cfg.seed) into the matching out dir of `outs`,
    in lockstep where the config allows (`why_solo`), else one after another. Returns each
    seed's metrics (metrics.json), in the order given."""
    seeds = [cfg.seed] if seeds is None else list(seeds)
    if len(seeds) != len(outs):
        raise UsageError(f"{len(seeds)} seeds but {len(outs)} out dirs")
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"seeds must be distinct, got {seeds}")
    cfgs = [resolve(cfg.updated({"seed": s})) for s in seeds]
    outs = [check_out_dir(o, writable=False) for o in outs]
    if len({str(o.resolve()) for o in outs}) != len(outs):
        raise UsageError("each seed needs its own out dir")
    results: dict[int, dict] = {}
    pending = []
    for c, o in zip(cfgs, outs):
        done = T._finished(o, c.hash(), quiet)
        if done is not None:
            clean_tmp(o)
            results[c.seed] = done
        else:
            pending.append((c, o))
    grouped = len(seeds) > 1 and bool(pending)      # one seed left of several: in lockstep too
    reason = why_solo(cfgs[0]) if grouped else None
    if grouped and reason is None:
        results.update(_Group(pending, data_dir, quiet, seeds).run())
    else:
        for c, o in pending:
            if reason:
                _note(o, f"| group of seeds {_seed_text(seeds)}: this seed trains alone ({reason}) |", quiet)
            results[c.seed] = T.run(c, o, data_dir=data_dir, quiet=quiet)
    return [results[s] for s in seeds]


def _seed_text(seeds: list[int]) -> str:
    return ",".join(map(str, seeds))


def _note(out: Path, text: str, quiet: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "run.log", "a") as f:
        f.write(text + "\n")
    if not quiet:
        print(text, file=sys.stderr, flush=True)


NEXT = "checkpoint.next.pt"     # a seed's checkpoint written, not yet committed (_Group._commit)


class _Fallback(Exception):
    """The group cannot run in lockstep after all (found while setting up): train one by one."""


class _Group:
    def __init__(self, pending, data_dir, quiet: bool, seeds: list[int]):
        self.pending, self.data_dir, self.quiet, self.seeds = pending, data_dir, quiet, seeds

    # ---- the whole job
    def run(self) -> dict[int, dict]:
        cfg0 = self.pending[0][0]
        if cfg0.threads:
            torch.set_num_threads(cfg0.threads)
        members = [self._member(c, o) for c, o in self.pending]
        with contextlib.ExitStack() as locks:
            for m in members:
                T._check_writable(m.out)
                locks.enter_context(T.RunLock(m.out))
                m.log = T.Log(m.out, 0, m.state.step, quiet=True)
            done = {}
            for m in members:     # another process may have finished or advanced one meanwhile
                finished = T._finished(m.out, m.chash, self.quiet)
                if finished is not None:
                    done[m.seed] = finished
                else:
                    clean_tmp(m.out)
                    atomic_write_json(m.out / "config.json", {**m.cfg.to_dict(), "config_hash": m.chash})
            members = self._settle([m for m in members if m.seed not in done])
            for m in [m for m in members if m.state.status != "running" or m.state.stopped_early]:
                torch.set_rng_state(m.rng)      # ended before its metrics were written: finish it
                done[m.seed] = T._train(m.cfg, m.chash, m.task, m.model, m.optimizer, m.state, m.out, self.quiet)
            members = [m for m in members if m.seed not in done]
            try:
                steps = {m.state.step for m in members}
                if len(steps) > 1:
                    raise _Fallback(f"their checkpoints are at different steps ({sorted(steps)})")
                if members:
                    done.update(self._lockstep(members))
            except _Fallback as e:
                for m in members:
                    m.log.line(f"| group of seeds {_seed_text(self.seeds)}: this seed trains alone ({e}) |")
                    torch.set_rng_state(m.rng)
                    done[m.seed] = T._train(m.cfg, m.chash, m.task, m.model, m.optimizer, m.state,
                                            m.out, self.quiet)
        return done

    def _member(self, cfg: RunConfig, out: Path) -> Member:
        """A seed's solo setup, its checkpoint loaded (refused before anything is written)."""
        task, model = T.prepare(cfg, self.data_dir)
        rng = torch.get_rng_state()      # what its solo run's RNG holds from here on
        optimizer = T.make_optimizer(cfg, model.parameters())
        state = T.State()
        ckpt = out / "checkpoint.pt"
        if ckpt.exists():
            state = T._load_checkpoint(ckpt, cfg.hash(), model, optimizer)
            rng = torch.get_rng_state()
        return Member(cfg, cfg.hash(), out, task, model, optimizer, state, rng)

    def _settle(self, members: list[Member]) -> list[Member]:
        """Finish or undo a checkpoint commit that a kill interrupted (`_commit`): if every seed
        has its new checkpoint (beside the current one, or in place), put them all in place;
        else remove them: the seeds resume together from the commit before."""
        nexts = [m for m in members if (m.out / NEXT).exists()]
        if not nexts:
            return members
        steps = set()
        for m in nexts:
            ck = T.load_checkpoint(m.out / NEXT, hint=": delete it to resume from checkpoint.pt")
            steps.add(ck.get("state", {}).get("step") if isinstance(ck, dict) else None)
        forward = len(steps) == 1 and all(m.state.step in steps for m in members if m not in nexts)
        for m in nexts:
            if not forward:
                (m.out / NEXT).unlink()
                continue
            os.replace(m.out / NEXT, m.out / "checkpoint.pt")
            m.state = T._load_checkpoint(m.out / "checkpoint.pt", m.chash, m.model, m.optimizer)
            m.rng = torch.get_rng_state()
        return members

    # ---- lockstep
    def _lockstep(self, members: list[Member]) -> dict[int, dict]:
        cfg = members[0].cfg
        splits = [m.task.splits["train"].to(cfg.device) for m in members]
        if any(s.lengths is not None for s in splits):
            raise _Fallback("the training split has lengths")
        n = len(splits[0])
        if any(len(s) != n or s.x.shape != splits[0].x.shape for s in splits):
            raise _Fallback("the seeds' training splits differ in shape")
        per_epoch = math.ceil(n / cfg.batch_size)
        total = cfg.steps if cfg.steps is not None else cfg.epochs * per_epoch
        eval_every = min(cfg.eval_every or per_epoch, total)
        ckpt_every = cfg.checkpoint_every or eval_every
        base = self._base_model(members)
        stack = _Stack(members, cfg)
        group = self.seeds           # the job's seeds (metrics.json's group_seeds), trained or not
        training = [m.seed for m in members]
        also = f" ({_seed_text(training)} left to train)" if training != group else ""
        for m in members:
            m.log = T.Log(m.out, total, m.state.step, quiet=True)
            m.log.line(f"| resumed at step {m.state.step} in a group of seeds {_seed_text(group)}{also} |" if m.state.step
                       else f"| {cfg.task} | {cfg.arch} ({cfg.backend}) | {m.model.n_params:,} params | "
                            f"{total} steps of batch {cfg.batch_size} | device {cfg.device} | "
                            f"group of seeds {_seed_text(group)}{also} |")
        say = (lambda text: None) if self.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
        base.train()
        loss_of = _vmapped_loss(base, members[0].task)
        results: dict[int, dict] = {}
        active = list(members)
        first = True
        while active:
            step = active[0].state.step
            if step >= total:
                break
            epoch, pos = divmod(step, per_epoch)
            batches = []
            for m, split in zip(members, splits):
                if m in active:
                    idx = T.epoch_order(m.seed, epoch, n)[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
                    batches.append(split.take(idx.to(split.x.device)))
            x = torch.stack([b.x for b in batches])
            y = torch.stack([b.y for b in batches])
            T.sync(cfg.device)
            t0 = time.perf_counter()
            stack.zero_grad()
            try:
                losses = loss_of(stack.params, stack.buffers, x, y, step)
            except Exception as e:            # noqa: BLE001 - vmap cannot run this model
                if not first:
                    raise
                raise _Fallback(f"the model does not run under torch.func.vmap: "
                                f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}") from None
            if first:
                say(f"| {cfg.task} | {cfg.arch} | seeds {_seed_text(training)} in lockstep | "
                    f"{total} steps |")
            first = False
            finite = torch.isfinite(losses.detach())
            if bool(finite.any()):
                losses[finite].sum().backward()
            norms = stack.clip(cfg.clip)
            loss_v, norm_v = losses.detach().tolist(), norms.tolist()
            bad = [i for i, (lv, nv) in enumerate(zip(loss_v, norm_v)) if not (math.isfinite(lv) and math.isfinite(nv))]
            for i in bad:
                m = active[i]
                m.state.status, m.state.diverged_step = "diverged", m.state.step
                m.state.steps.append((m.state.step + 1, T._finite(loss_v[i]), T._finite(norm_v[i])))
                m.log.line(f"| diverged at step {m.state.step + 1}: loss {loss_v[i]}, gradient norm {norm_v[i]} |")
            if bad:
                for i in bad:
                    results[active[i].seed] = self._finish(active[i], per_epoch, group, stack, i)
                keep = [i for i in range(len(active)) if i not in bad]
                active = [active[i] for i in keep]
                if not active:            # every seed diverged
                    break
                stack.keep(keep, active)
                loss_v = [loss_v[i] for i in keep]
                norm_v = [norm_v[i] for i in keep]
            stack.optimizer.step()
            T.sync(cfg.device)
            seconds = time.perf_counter() - t0
            for m, lv, nv in zip(active, loss_v, norm_v):
                s = m.state
                s.seconds += seconds
                s.step += 1
                s.steps.append((s.step, lv, nv))
                s.window_loss += lv
                s.window_norm = max(s.window_norm, nv)
                s.window_n += 1
            step = active[0].state.step
            stopped = []
            if step % eval_every == 0 or step == total:
                for i, m in enumerate(active):
                    stack.sync_member(m, i)
                    if self._evaluate(m, total, per_epoch) and cfg.stop_when_solved and step < total:
                        m.state.stopped_early = True
                        m.log.line(f"| solved at step {step}: stopping (stop_when_solved) |")
                        stopped.append(i)
                say(f"| step {step:>6}/{total} | seeds {_seed_text([m.seed for m in active])} | "
                    f"val {members[0].task.metric} "
                    + " ".join(f"{m.state.curve[-1]['val_metric']:.4g}" if m.state.curve[-1]['val_metric'] is not None
                               else "nan" for m in active) + f" | {active[0].state.seconds:7.1f} s |")
            if step % ckpt_every == 0 and step < total:
                self._commit(active, stack)
            if stopped:
                for i in stopped:
                    results[active[i].seed] = self._finish(active[i], per_epoch, group, stack, i)
                keep = [i for i in range(len(active)) if i not in stopped]
                active = [active[i] for i in keep]
                if active:
                    stack.keep(keep, active)
        for i, m in enumerate(active):
            stack.sync_member(m, i)
            results[m.seed] = self._finish(m, per_epoch, group, stack, i)
        return results

    def _base_model(self, members: list[Member]) -> torch.nn.Module:
        """The module the vmapped loss calls with each seed's parameters swapped in: the task's
        model on the cell backend (built on the meta device: nothing allocated, no RNG drawn)."""
        m = members[0]
        cfg = m.cfg
        if cfg.backend == "fused":
            cfg = cfg.updated({"backend": "cell"})
        with torch.random.fork_rng(devices=[]):
            base = m.task.build_model(cfg).to(cfg.device)
        names = {k for k, _ in base.named_parameters()} | {k for k, _ in base.named_buffers()}
        solo = {k for k, _ in m.model.named_parameters()} | {k for k, _ in m.model.named_buffers()}
        if names != solo:
            raise _Fallback("the cell backend's model names its parameters differently")
        return base

    def _evaluate(self, m: Member, total: int, per_epoch: int) -> bool:
        """One evaluation on the validation split (train._train's), its curve row; whether solved."""
        s, task = m.state, m.task
        torch.set_rng_state(m.rng)
        val_metrics = task.evaluate(m.model.eval(), "val", m.cfg.eval_batch_size, m.cfg.device)
        m.rng = torch.get_rng_state()
        val = val_metrics[task.metric]
        solved = task.solved(val, val_metrics)
        if s.best_val is None or T._better(task.direction, val, s.best_val):
            s.best_val = val
        row = {"step": s.step, "epoch": round(s.step / per_epoch, 4),
               "train_loss": s.window_loss / s.window_n, "val_metric": T._finite(val),
               "grad_norm": s.window_norm, "lr": m.cfg.lr, "seconds": round(s.seconds, 3), "solved": solved}
        s.curve.append(row)
        m.log.line(f"| step {s.step:>6}/{total} | epoch {row['epoch']:7.2f} | loss {row['train_loss']:.5g} | "
                   f"val {task.metric} {val:.5g} | grad norm {s.window_norm:.3g} | {s.seconds:7.1f} s |")
        s.window_loss, s.window_norm, s.window_n = 0.0, 0.0, 0
        return bool(solved)

    def _save(self, m: Member, stack: "_Stack", i: int, path: str = "checkpoint.pt") -> None:
        """Seed i's checkpoint, as its solo run writes it."""
        stack.sync_member(m, i)
        torch.set_rng_state(m.rng)
        T._save_checkpoint(m.out / path, m.chash, m.model, stack.solo_optimizer(m, i), m.state)

    def _commit(self, active: list[Member], stack: "_Stack") -> None:
        """The seeds' checkpoints as one set, so that the group always resumes in lockstep
        (`_settle`): each seed's new checkpoint beside its current one (checkpoint.next.pt), and
        only once all are written, each in place, with its curve.csv and steps.csv."""
        for i, m in enumerate(active):
            self._save(m, stack, i, NEXT)
        for m in active:
            os.replace(m.out / NEXT, m.out / "checkpoint.pt")
            T._save_tables(m.out, m.state)

    def _finish(self, m: Member, per_epoch: int, group: list[int], stack: "_Stack", i: int) -> dict:
        s = m.state
        if s.status == "running":
            s.status = "ok"
        self._save(m, stack, i)
        T._save_tables(m.out, s)
        torch.set_rng_state(m.rng)
        metrics = T._finish(m.cfg, m.chash, m.task, m.model, s, per_epoch, m.out, group=group)
        m.log.line(f"| done | test {m.task.metric} {metrics['value']} | baseline {metrics['baseline']:.5g} | "
                   f"solved {metrics['solved']} | status {metrics['status']} |")
        m.log.close()
        return metrics


def _vmapped_loss(base: torch.nn.Module, task):
    """(params, buffers, x [S, B, ...], y [S, B, ...], step) -> each seed's loss [S]: the task's
    train_loss of `base` with the seed's parameters swapped in, vmapped over the seeds.

    A seed's numbers do not depend on S >= 2 (the scans and PyTorch's batched kernels compute
    each seed alone), but PyTorch's vmapped kernels at S = 1 round differently (a Linear's
    backward there: ~1e-7). A group down to one seed (the others stopped, diverged or finished
    before a resume) therefore runs beside a twin of itself: its numbers stay the group's."""
    from torch.func import vmap
    from torch.nn.utils.stateless import _reparametrize_module

    def one(params, buffers, x, y, step):
        with _reparametrize_module(base, {**params, **buffers}):
            return task.train_loss(base, Split(x, y), step)

    def loss(params, buffers, x, y, step):
        if x.shape[0] == 1:     # a group of one computes as one of two (see the docstring): pad with a twin
            losses = loss(*(_twin(d) for d in (params, buffers, x, y)), step)
            return losses[:1]
        return vmap(lambda p, b, xx, yy: one(p, b, xx, yy, step), randomness="error")(params, buffers, x, y)
    return loss


def _twin(t):
    """[1, ...] -> [2, ...]: the seed and a copy of it; the gradient is row 0's alone."""
    if isinstance(t, dict):
        return {k: _twin(v) for k, v in t.items()}
    return _Twin.apply(t) if t.requires_grad else torch.cat([t, t])


class _Twin(torch.autograd.Function):
    """cat([t, t]) whose backward keeps row 0's gradient, as a tensor of its own: cat's backward
    gives views of one gradient, so that the two addends of bias_ih + bias_hh would share a
    gradient's storage and in-place clipping would scale it twice."""

    @staticmethod
    def forward(t):
        return torch.cat([t, t])

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad[:1].clone()


class _Stack:
    """The group's parameters [S, ...] and one optimizer over them; per-seed views out."""

    def __init__(self, members: list[Member], cfg: RunConfig):
        self.cfg = cfg
        self.names = [k for k, _ in members[0].model.named_parameters()]
        self.buffer_names = [k for k, _ in members[0].model.named_buffers()]
        self.params = {k: torch.stack([dict(m.model.named_parameters())[k].detach() for m in members])
                       .requires_grad_() for k in self.names}
        self.buffers = {k: torch.stack([dict(m.model.named_buffers())[k] for m in members])
                        for k in self.buffer_names}
        self.optimizer = T.make_optimizer(cfg, list(self.params.values()))
        self.optimizer.load_state_dict(self._stacked_state([m.optimizer.state_dict() for m in members]))

    def _stacked_state(self, dicts: list[dict]) -> dict:
        out = copy.deepcopy(dicts[0])
        for j, st in out["state"].items():
            for k, v in st.items():
                if torch.is_tensor(v) and v.dim() > 0:
                    st[k] = torch.stack([d["state"][j][k] for d in dicts])
                elif torch.is_tensor(v) and any(not torch.equal(d["state"][j][k], v) for d in dicts):
                    raise _Fallback(f"the seeds' optimizer states differ in {k!r}")
        return out

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def clip(self, max_norm: float | None) -> torch.Tensor:
        """Each seed's pre-clip gradient norm [S] (torch.nn.utils.clip_grad_norm_'s: the norm
        of the per-tensor norms); each seed's gradients scaled as its solo run's would be."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        S = next(iter(self.params.values())).shape[0]
        if not grads:
            return torch.zeros(S)
        per = torch.stack([g.flatten(1).norm(dim=1) for g in grads], 1)        # [S, tensors]
        norms = per.norm(dim=1)
        if max_norm is not None:
            coef = (max_norm / (norms + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))
        return norms.detach().cpu()

    def keep(self, index: list[int], members: list[Member]) -> None:
        """Drop the seeds not in `index` (finished): parameters, gradients, optimizer state."""
        idx = torch.tensor(index, dtype=torch.long)
        state = self.optimizer.state_dict()
        new = {}
        for k, p in self.params.items():
            q = p.detach()[idx].clone().requires_grad_()
            if p.grad is not None:
                q.grad = p.grad[idx].clone()
            new[k] = q
        self.params = new
        self.buffers = {k: v[idx] for k, v in self.buffers.items()}
        for st in state["state"].values():
            for k, v in st.items():
                if torch.is_tensor(v) and v.dim() > 0:
                    st[k] = v[idx].clone()
        self.optimizer = T.make_optimizer(self.cfg, list(self.params.values()))
        self.optimizer.load_state_dict(state)

    def sync_member(self, m: Member, i: int) -> None:
        """Seed i's parameters into its solo model (for evaluation and checkpoints)."""
        with torch.no_grad():
            for k, p in m.model.named_parameters():
                p.copy_(self.params[k][i])

    def solo_optimizer(self, m: Member, i: int):
        """Seed i's optimizer as its solo run would hold it (for its checkpoint)."""
        state = self.optimizer.state_dict()
        solo = {"state": {j: {k: (v[i].clone() if torch.is_tensor(v) and v.dim() > 0 else v)
                              for k, v in st.items()} for j, st in state["state"].items()},
                "param_groups": state["param_groups"]}
        m.optimizer.load_state_dict(solo)
        return m.optimizer
