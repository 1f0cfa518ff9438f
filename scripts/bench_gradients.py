"""How long gradient-flow diagnostics take: a 100-step batch of `adding`, 128 units.

    python scripts/bench_gradients.py                  # rnn, lstm, gru; the target is < 2 s each
    python scripts/bench_gradients.py --archs lstm --threads 2 --repeat 5

Times `rnnbench.gradients.diagnose` (the whole measurement: the cell-backend float64 copy,
dL/dh_t for every t and state on the default batch, the Jacobian products, W_hh's spectrum)
after one warm-up call, best of --repeat; also without the Jacobian products (--jacobian-samples
0) to show the split. The machine is shared: the load average is printed with the result.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from rnnbench import gradients as gr
from rnnbench.train import prepare, resolve, with_task_defaults


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["rnn", "lstm", "gru"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--samples", type=int, default=gr.DEFAULT_SAMPLES)
    p.add_argument("--jacobian-samples", type=int, default=gr.DEFAULT_JACOBIAN_SAMPLES)
    p.add_argument("--threads", type=int, default=1, help="torch threads while measuring")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--target", type=float, default=2.0, help="seconds")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"| torch {torch.__version__} | threads {torch.get_num_threads()} | load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())} | T {args.seq_len} | hidden {args.hidden} | "
          f"batch {args.samples} | jacobian samples {args.jacobian_samples} |")
    worst = 0.0
    for arch in args.archs:
        cfg = resolve(with_task_defaults({"task": "adding", "arch": arch, "hidden": args.hidden, "device": "cpu",
                                          "task_params": {"seq_len": args.seq_len, "n_train": 100,
                                                          "n_val": max(args.samples, 100), "n_test": 100}}))
        task, model = prepare(cfg)
        times = {}
        for js in (0, args.jacobian_samples):
            run = dict(samples=args.samples, jacobian_samples=js, threads=args.threads)
            gr.diagnose(cfg, task, model, **run)                     # warm-up
            best = float("inf")
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                gr.diagnose(cfg, task, model, **run)
                best = min(best, time.perf_counter() - t0)
            times[js] = best
        full = times[args.jacobian_samples]
        worst = max(worst, full)
        print(f"| {arch:<5} | {full:6.3f} s | of which dL/dh_t + spectrum {times[0]:6.3f} s | "
              f"{'ok' if full < args.target else 'OVER'} (target {args.target} s) |", flush=True)
    return 0 if worst < args.target else 1


if __name__ == "__main__":
    sys.exit(main())
