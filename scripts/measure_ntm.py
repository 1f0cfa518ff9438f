"""Measure the NTM against the LSTM on the NTM paper's copy task (seqcopy): time per training step,
and the steps (and seconds) to a low bit error. Run it at one thread:

    OMP_NUM_THREADS=1 python scripts/measure_ntm.py speed                      # seconds per step
    OMP_NUM_THREADS=1 python scripts/measure_ntm.py learn --arch ntm --max-len 20 --max-seconds 900

speed: ntm and lstm (and any --archs) at the task's defaults (hidden 100, batch 32, lengths
    1..max_len), the runner's training step (task.train_loss, backward, clipping, Adam), interleaved
    round-robin after a warm-up; prints the median seconds per step and its range per arch, as wall
    time and as the process's CPU time (at one thread, what the step costs on an idle core: on a
    shared, overloaded machine the wall time is the CPU time times the contention).
learn: the runner's loop (train.prepare, the same batches, clipping and optimizer as
    `rnnbench train`, so the step counts are those a run with this seed would record) with a
    validation pass every --eval-every steps; stops at the first evaluation with bits_err <=
    --target (default: the task's solved threshold) or after --max-seconds of training. Prints one
    line per evaluation and a last line: steps and training seconds (wall and CPU) to the target, or
    "not reached".
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

from rnnbench import train
from rnnbench.config import RunConfig, resolve


def config(arch: str, args, seed: int = 0) -> RunConfig:
    task_params = {"min_len": args.min_len, "max_len": args.max_len, "n_train": args.n_train,
                   "n_val": args.n_val, "n_test": 100, "test_lengths": ""}
    d = {"task": "seqcopy", "arch": arch, "seed": seed, "threads": 1, "device": "cpu",
         "task_params": task_params, "model_params": dict(args.model_param) if arch == "ntm" else {}}
    for k in ("hidden", "batch_size", "lr"):
        if getattr(args, k) is not None:
            d[k] = getattr(args, k)
    return resolve(train.with_task_defaults(d))


def step_fn(cfg: RunConfig):
    """(one training step of cfg's run, its task): the runner's step on random batches."""
    task, model = train.prepare(cfg)
    opt = train.make_optimizer(cfg, model.parameters())
    data = task.splits["train"]
    g = torch.Generator().manual_seed(cfg.seed)
    model.train()

    def step():
        batch = data.take(torch.randint(0, len(data), (cfg.batch_size,), generator=g))
        opt.zero_grad(set_to_none=True)
        loss = task.train_loss(model, batch, 0)
        loss.backward()
        train.clip_grad_norm(model.parameters(), cfg.clip)
        opt.step()
    return step, task


def speed(args) -> None:
    steps = {a: step_fn(config(a, args))[0] for a in args.archs}
    for fn in steps.values():                      # warm-up
        for _ in range(3):
            fn()
    wall, cpu = {a: [] for a in args.archs}, {a: [] for a in args.archs}
    for _ in range(args.rounds):
        for a, fn in steps.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                fn()
            wall[a].append((time.perf_counter() - t0) / args.steps)
            cpu[a].append((time.process_time() - c0) / args.steps)
    print(f"| seqcopy lengths {args.min_len}..{args.max_len} | batch {config(args.archs[0], args).batch_size} | "
          f"threads {torch.get_num_threads()} | {args.rounds} rounds of {args.steps} steps | load average "
          f"{os.getloadavg()[0]:.1f} |")
    for a in args.archs:
        print(f"| {a:<6} | wall {statistics.median(wall[a]):.4f} s/step (median; {min(wall[a]):.4f}-"
              f"{max(wall[a]):.4f}) | cpu {statistics.median(cpu[a]):.4f} s/step ({min(cpu[a]):.4f}-"
              f"{max(cpu[a]):.4f}) |")


def learn(args) -> None:
    cfg = config(args.arch, args, args.seed)
    task, model = train.prepare(cfg)
    target = task.solved_threshold if args.target is None else args.target
    opt = train.make_optimizer(cfg, model.parameters())
    data = task.splits["train"]
    per_epoch = math.ceil(len(data) / cfg.batch_size)
    print(f"| seqcopy {args.min_len}..{args.max_len} | {cfg.arch} | {model.n_params:,} params | "
          f"hidden {cfg.hidden} | batch {cfg.batch_size} | lr {cfg.lr} | clip {cfg.clip} | seed {cfg.seed} | "
          f"baseline {task.baseline():.3f} bits | target bits_err <= {target} |", flush=True)
    seconds, cpu, step = 0.0, 0.0, 0
    model.train()
    while seconds < args.max_seconds:
        epoch, pos = divmod(step, per_epoch)
        idx = train.epoch_order(cfg.seed, epoch, len(data))[pos * cfg.batch_size:(pos + 1) * cfg.batch_size]
        batch = data.take(idx)
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = train._train_step_loss(task, model, batch, step, cfg)
        norm = train.clip_grad_norm(model.parameters(), cfg.clip)
        if not (math.isfinite(float(loss)) and math.isfinite(norm)):
            print(f"| diverged at step {step + 1} |")
            return
        opt.step()
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
        step += 1
        if step % args.eval_every == 0:
            val = task.evaluate(model.eval(), "val")
            model.train()
            print(f"| step {step:>6} | {seconds:7.1f} s | cpu {cpu:7.1f} s | loss {float(loss):.4f} | val bits_err "
                  f"{val['bits_err']:.3f} | seq_exact {val['seq_exact']:.3f} |", flush=True)
            if val["bits_err"] <= target:
                print(f"| reached bits_err <= {target} at step {step}, {seconds:.1f} s of training "
                      f"({seconds / step:.4f} s/step), cpu {cpu:.1f} s ({cpu / step:.4f} s/step) |")
                return
    print(f"| not reached in {step} steps, {seconds:.1f} s of training ({seconds / max(step, 1):.4f} s/step), "
          f"cpu {cpu:.1f} s ({cpu / max(step, 1):.4f} s/step) |")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=("speed", "learn"))
    p.add_argument("--min-len", type=int, default=1)
    p.add_argument("--max-len", type=int, default=20)
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-val", type=int, default=500)
    p.add_argument("--hidden", type=int, default=None, help="default: the task's (100)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the task's (32)")
    p.add_argument("--lr", type=float, default=None, help="default: the task's (1e-3)")
    p.add_argument("--model-param", type=lambda s: (s.split("=")[0], int(s.split("=")[1])), action="append",
                   default=[], metavar="KEY=INT", help="an ntm option (memory_slots=128, ...)")
    p.add_argument("--archs", nargs="+", default=["ntm", "lstm"], help="speed: the archs to time")
    p.add_argument("--rounds", type=int, default=5, help="speed: interleaved rounds")
    p.add_argument("--steps", type=int, default=10, help="speed: steps per round and arch")
    p.add_argument("--arch", default="ntm", help="learn: the arch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", type=float, default=None, help="learn: bits_err to reach (default: solved)")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--max-seconds", type=float, default=900.0, help="learn: training seconds at most")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    speed(args) if args.mode == "speed" else learn(args)


if __name__ == "__main__":
    main()
