"""`rnnbench throughput`: forward / forward+backward speed of cells x backends, side by side."""
from __future__ import annotations

import argparse

from ..errors import UsageError, choices, unknown


def _shape(s: str) -> tuple[int, int, int, int]:
    """NxTxIxH (batch x seq_len x input x hidden), or NxTxH with input = hidden."""
    try:
        parts = [int(v) for v in s.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 3:
        parts = [parts[0], parts[1], parts[2], parts[2]]
    if len(parts) != 4 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"invalid shape {s!r} (want NxTxIxH or NxTxH, positive)")
    return tuple(parts)


def add_parser(sub) -> None:
    p = sub.add_parser("throughput", help="time cells x backends side by side (ratios in one run)")
    p.add_argument("--arch", nargs="+", default=["lstm", "gru"], help="cells")
    p.add_argument("--backend", nargs="+", default=["torch.nn", "fused", "cell"],
                   help="backends; torch.nn = a bare torch.nn module, the reference")
    p.add_argument("--shape", nargs="+", type=_shape, default=[(64, 100, 256, 256)],
                   help="NxTxIxH shapes (default 64x100x256x256)")
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--pass", dest="passes", nargs="+", default=["forward", "forward_backward"],
                   choices=["forward", "forward_backward"])
    p.add_argument("--repeat", type=int, default=5, help="timed calls per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (noise control)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads while timing (default: torch's default; 1 = per-core timings)")
    p.add_argument("--match", metavar="CELL", default=None,
                   help="time every arch at the width with as many parameters as CELL's stack at each shape's "
                        "I and H (e.g. --match lstm: mingru, tcn against LSTM at the same count); the rows "
                        "give hidden and n_params")
    p.add_argument("--seeds", nargs="+", type=int, default=[1], metavar="S",
                   help="group sizes: S > 1 times S stacks trained in lockstep (rnnbench train --seeds), "
                        "backend cell; step-samples and FLOPs count every seed (default 1)")
    p.add_argument("--out", metavar="CSV", help="also write the tidy rows here")
    p.set_defaults(func=run)


MAX_LAYERS = 10_000
MATCHED_FROM: dict = {}     # case -> the H of its shape (with --match: the matched cell's hidden)


def cases_from_args(args):
    import torch

    from ..models import ARCHS, BACKENDS, CELLS, MODELS, backends_for
    from ..throughput import BARE, Case, matched

    if args.layers <= 0 or args.repeat <= 0 or args.rounds <= 0:
        raise UsageError("--layers, --repeat and --rounds must be positive")
    seeds = getattr(args, "seeds", [1])
    if any(s <= 0 for s in seeds):
        raise UsageError(f"--seeds must be positive group sizes, got {seeds}")
    if args.threads is not None and args.threads <= 0:
        raise UsageError(f"--threads must be positive, got {args.threads}")
    if args.layers > MAX_LAYERS:
        raise UsageError(f"--layers {args.layers} is more than {MAX_LAYERS:,}: a stack is built layer by "
                         f"layer in Python (10^6 layers take about 45 minutes before the first timing)")
    match = getattr(args, "match", None)
    if match is not None and match not in CELLS:
        raise unknown("cell for --match", match, CELLS.names())
    if args.device not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {args.device!r} (valid: cpu, cuda)")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' requested but CUDA is not available here (valid: cpu)")
    cases = []
    for arch in args.arch:
        ARCHS.get(arch)                       # a cell, or a sequence model (tcn, transformer, window-mlp)
        if arch in MODELS and args.bidirectional:
            raise UsageError(f"--bidirectional: {arch} is a sequence model, not a recurrent stack")
        for backend in args.backend:
            if backend not in (*BACKENDS, BARE):
                raise UsageError(f"unknown backend {backend!r} (valid: {choices((*BACKENDS, BARE))})")
            if backend == BARE and arch not in ("lstm", "gru", "rnn"):
                continue
            if backend != BARE and backend not in backends_for(arch):
                continue
            for n, t, i, h in args.shape:
                for s in seeds:
                    if s > 1 and (backend != "cell" or arch in MODELS):
                        continue                  # a group runs the cell backend's grouped scans
                    case = Case(arch, backend, args.bidirectional, args.layers, n, t, i, h, args.device, s)
                    cases.append(matched(case, match) if match is not None else case)
                    MATCHED_FROM[cases[-1]] = h
    if not cases:
        raise UsageError("no (cell, backend) combination exists for the given --arch/--backend")
    return cases


def cases_of(rows):
    """The Case of each throughput row."""
    from dataclasses import fields

    from ..throughput import Case
    return [Case(**{f.name: r[f.name] for f in fields(Case)}) for r in rows]


def check_memory(cases, backward: bool) -> None:
    """Refuse, up front and in one line, a shape whose tensors cannot fit: input, the layers'
    gates and states (kept for backward when timed), weights and their gradients, float32."""
    import torch

    from ..models import CELLS
    from ..train import LAYER_OVERHEAD, available_memory, format_bytes, gate_blocks

    avail = available_memory(cases[0].device)
    for c in cases:
        dirs = 2 if c.bidirectional else 1
        per_step = (gate_blocks(c.arch) + 2) * c.hidden * dirs * (c.layers if backward else 1)
        weights = (CELLS.get(c.arch).n_params(c.input_size, c.hidden, c.layers, c.bidirectional)
                   if c.arch in CELLS else c.hidden * (c.input_size + c.hidden) * c.layers)  # a lower bound
        need = c.seeds * (4 * (c.batch * c.seq_len * (c.input_size + per_step) + weights * (2 if backward else 1))
                          + LAYER_OVERHEAD * c.layers * dirs)
        if need > avail or max(c.batch, c.seq_len, c.input_size, c.hidden) > torch.iinfo(torch.int64).max:
            layers = f"{c.layers} layer{'s' if c.layers != 1 else ''}"
            raise UsageError(f"shape {c.batch}x{c.seq_len}x{c.input_size}x{c.hidden} ({c.arch}, {layers}) "
                             f"needs at least {format_bytes(need)}, more than the {format_bytes(avail)} of "
                             f"{c.device} memory available")


def run(args) -> int:
    import pandas as pd

    from ..io import atomic_write_text
    from ..throughput import BARE, compare

    from ..io import check_out_file, os_error

    if args.out is not None:
        check_out_file(args.out)
    cases = cases_from_args(args)
    check_memory(cases, "forward_backward" in args.passes)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)   # recorded in each row's `threads`
    rows = compare(cases, args.passes, repeat=args.repeat, rounds=args.rounds)
    df = pd.DataFrame(rows)
    if args.match is not None:       # which count each row was sized to: `match` at `match_hidden`
        df["match"] = args.match
        df["match_hidden"] = [MATCHED_FROM.get(c, h) for c, h in zip(cases_of(rows), df["hidden"])]
    # ratios of step-samples/s against one seed of the fused (or bare torch.nn) backend: for a
    # group of S seeds, its speed against S solo fused runs one after another
    key = ["arch", "bidirectional", "layers", "batch", "seq_len", "input_size", "hidden", "pass"]
    solo = df[df.seeds == 1]
    ref = solo[solo.backend == "fused"].set_index(key)["step_samples_per_s"]
    df["vs_fused"] = [r["step_samples_per_s"] / ref.get(tuple(r[k] for k in key), float("nan")) for _, r in df.iterrows()]
    bare = solo[solo.backend == BARE].set_index(key)["step_samples_per_s"]
    df["vs_torch_nn"] = [r["step_samples_per_s"] / bare.get(tuple(r[k] for k in key), float("nan"))
                         for _, r in df.iterrows()]
    show = df[["arch", "backend", "seeds", "batch", "seq_len", "hidden", "n_params", "pass", "seconds",
               "step_samples_per_s", "gflops", "vs_fused", "vs_torch_nn"]].copy()
    show["seconds"] = (show["seconds"] * 1e3).round(2)
    show = show.rename(columns={"seconds": "ms"})
    print(show.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print("vs_fused = this step-samples/s / one fused run's (>= 0.8 target for cell); vs_torch_nn = the "
          "same against torch.nn (>= 0.97 target for fused); a group of S seeds against S solo runs")
    if args.out:
        try:
            atomic_write_text(args.out, df.to_csv(index=False))
        except OSError as e:
            raise os_error(e, args.out) from None
    return 0
