#!/usr/bin/env python
"""Measure training budgets: steps (and seconds) to solve, per cell and setting, over seeds.

    python scripts/measure_budgets.py --group adding            # one probe group
    python scripts/measure_budgets.py --group all --jobs 2      # every group (tens of minutes)
    python scripts/measure_budgets.py --list                    # the groups and their probes

Every probe is an ordinary `rnnbench train` run (scripts/probe_run.py: a subprocess, --threads 1, so that two
jobs side by side on a 2-core machine do not stall each other at OpenMP barriers) into
--out/<group>/<probe>/seed<k>/, with `stop_when_solved` and validation every
`eval_every` steps: its curve.csv gives the step and the training seconds at which the
validation metric first met the task's solved threshold (censored at the budget when it
never did). Per probe the script prints: the runs that solved, the median and maximum
steps to solve, the mean final metric against the task's trivial baseline, and the
training seconds per optimizer step. Probes already finished are read back, not rerun
(the runner resumes), so an interrupted measurement continues where it stopped.

The groups hold the settings the default run's claims were chosen from (see
workflows/config/BUDGETS.md for what was measured and what was chosen). Rows go to
--out/measurements.csv (one per run) and --out/summary.md (one per probe).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import probe_run      # scripts/probe_run.py: one probe run

ADD = {"task": "adding", "batch_size": 50, "hidden": 32, "lr": 0.01,
       "task_params": {"n_train": 5000, "n_val": 500, "n_test": 1000}}
COPY = {"task": "copy", "batch_size": 50, "hidden": 32, "lr": 0.01,
        "task_params": {"copy_len": 5, "n_train": 5000, "n_val": 500, "n_test": 1000}}
DIGITS = {"task": "seqdigits", "batch_size": 32, "hidden": 32, "lr": 0.01}
ADDITION = {"task": "addition"}     # the task's defaults: attention, LSTM 128, batch 256, Adam 0.01
REVERSE = {"task": "reverse", "batch_size": 64, "hidden": 64, "lr": 0.003,
           "task_params": {"n_train": 5000}}


def probe(name, base, steps, eval_every, **over):
    cfg = json.loads(json.dumps(base))
    for k, v in over.items():
        if k in ("task_params", "model_params"):
            cfg.setdefault(k, {}).update(v)
        else:
            cfg[k] = v
    cfg.update(steps=steps, eval_every=eval_every)
    return name, cfg


def _tp(**kw):
    return {"task_params": kw}


GROUPS = {
    # the adding problem: the gated cells vs tanh and IRNN, and LSTM's forget bias, per T
    "adding": [probe(f"{a}-T{T}", ADD, steps, 100, arch=a, **_tp(seq_len=T))
               for T, steps in ((50, 2000), (100, 3000), (200, 3000))
               for a in ("rnn", "irnn", "lstm", "gru")],
    "forget_bias": [probe(f"lstm-fb{fb}-T{T}", ADD, 3000, 100, arch="lstm", forget_bias=fb, **_tp(seq_len=T))
                    for T in (100, 200) for fb in (0.0, 1.0)],
    "irnn_lr": [probe(f"irnn-lr{lr}-T{T}", ADD, 3000, 100, arch="irnn", **_tp(seq_len=T), lr=lr)
                for T in (50, 100) for lr in (0.001, 0.0003)],
    # copy memory (delay T, 5 symbols of 8): lengths, a cheaper copy, a wider model, and truncated
    # BPTT shorter than the delay
    "copy": [probe(f"{a}-T{T}", COPY, 3000, 100, arch=a, **_tp(seq_len=T))
             for T in (10, 20, 40) for a in ("lstm", "gru")],
    "copy_size": [probe(f"lstm-T10-L{L}-h{h}-lr{lr}", COPY, 2000, 100, arch="lstm", hidden=h, lr=lr,
                        **_tp(seq_len=10, copy_len=L))
                  for L, h, lr in ((2, 32, 0.01), (3, 32, 0.01), (5, 64, 0.01), (5, 64, 0.003))],
    "tbptt": [probe(f"lstm-T{T}-k5", COPY, 3000, 100, arch="lstm", tbptt=5, **_tp(seq_len=T)) for T in (10, 20)],
    # sequential 8x8 digits: uni and bidirectional
    "digits": [probe(f"{a}-{'bi' if bi else 'uni'}-h{h}", DIGITS, 1500, 100, arch=a, bidirectional=bi, hidden=h)
               for a in ("lstm", "gru") for bi in (False, True) for h in (32, 64)],
    "stack": [probe(f"lstm-L{L}{'-res' if r else ''}", DIGITS, 1500, 100, arch="lstm", layers=L, residual=r)
              for L, r in ((1, False), (2, False), (4, False), (2, True), (4, True))],
    # seq2seq: learning to add (teacher forcing, the default encoder-decoder) and reversal
    "addition": [probe(f"lstm-attention-tf{tf}", ADDITION, 3500, 176, arch="lstm",
                       model_params={"teacher_forcing": tf, "beam": 3})
                 for tf in (1.0, 0.0)],
    "reverse": [probe(f"lstm-{v}-L{L}", REVERSE, 3000, 250, arch="lstm",
                      model_params={"variant": v}, **_tp(max_len=L))
                for L in (10, 20) for v in ("plain", "attention")],
    # the exploding setting: an IRNN (ReLU) whose recurrent matrix has spectral radius 1.2
    # (1.2^50 ~ 9,100: the gradient of 50 steps explodes), SGD, clipped or not
    "clipping": [probe(f"irnn-r{r}-lr{lr}-clip{c}", ADD, 300, 50, arch="irnn", clip=c, lr=lr, optimizer="sgd",
                       model_params={"recurrent_radius": r}, **_tp(seq_len=50))
                 for r, lr in ((1.1, 0.01), (1.2, 0.01)) for c in (None, 1.0)],
}


def run_one(group: str, name: str, cfg: dict, seed: int, out: Path, rnnbench: str) -> dict:
    conf = {**cfg, "seed": seed, "threads": 1, "device": "cpu", "stop_when_solved": True}
    run, m = probe_run.train(conf, out / group / name / f"seed{seed}", rnnbench)
    row = {"group": group, "probe": name, "seed": seed, **run}
    if m is not None:
        row.update(value=m.get("value"), baseline=m.get("baseline"), metric=m.get("metric"),
                   seconds_to_solve=m.get("seconds_to_solve"), train_seconds=m.get("train_seconds"),
                   **{f"m.{k}": v for k, v in (m.get("metrics") or {}).items() if isinstance(v, (int, float))})
    return row


def summarise(rows: list[dict]) -> str:
    import pandas as pd

    df = pd.DataFrame(rows)
    out = ["| group | probe | runs | solved | steps to solve (median / max) | value (mean) | baseline | "
           "ms/step |", "|---|---|---|---|---|---|---|---|"]
    for (g, p), d in df.groupby(["group", "probe"], sort=False):
        ok = d[d["rc"] == 0]
        solved = ok["steps_to_solve"].dropna() if "steps_to_solve" in ok else []
        med = f"{int(solved.median())} / {int(solved.max())}" if len(solved) else "-"
        out.append(f"| {g} | {p} | {len(d)} | {len(solved)}/{len(ok)} | {med} | {ok['value'].mean():.4g} | "
                   f"{ok['baseline'].mean():.4g} | {ok['ms_per_step'].median():.3g} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--group", nargs="+", default=["all"], help=f"groups: all or {', '.join(GROUPS)}")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side (each at 1 thread)")
    ap.add_argument("--out", type=Path, default=Path("budgets"))
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    names = list(GROUPS) if "all" in a.group else a.group
    bad = [g for g in names if g not in GROUPS]
    if bad:
        print(f"measure_budgets: unknown group {bad[0]!r} (valid: all, {', '.join(GROUPS)})", file=sys.stderr)
        return 2
    if a.list:
        for g in names:
            for n, c in GROUPS[g]:
                print(g, n, json.dumps(c))
        return 0
    rnnbench = str(Path(sys.executable).with_name("rnnbench"))
    work = [(g, n, c, s) for g in names for (n, c), s in itertools.product(GROUPS[g], range(a.seeds))]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(a.jobs) as ex:
        rows = list(ex.map(lambda w: run_one(*w, a.out, rnnbench), work))
    a.out.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    mcsv = a.out / "measurements.csv"
    old = pd.read_csv(mcsv) if mcsv.exists() else pd.DataFrame()
    new = pd.DataFrame(rows)
    if len(old):
        old = old[~old.set_index(["group", "probe", "seed"]).index.isin(new.set_index(["group", "probe", "seed"]).index)]
    allrows = pd.concat([old, new], ignore_index=True)
    allrows.to_csv(mcsv, index=False)
    text = summarise(allrows.to_dict("records"))
    (a.out / "summary.md").write_text(text + "\n")
    print(text)
    print(f"\n{len(work)} runs in {time.perf_counter() - t0:.0f} s wall ({a.jobs} side by side, 1 thread each); "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
