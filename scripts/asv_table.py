#!/usr/bin/env python3
"""Print asv's kernel throughput as a markdown table: step-samples/s per backend and cell/fused.

    python scripts/asv_table.py                       # newest results file under .asv/results
    python scripts/asv_table.py --commit 1a2b3c4d     # one commit's (hash prefix)
    python scripts/asv_table.py --pass forward_backward --metric gflops

Reads asv's own results JSON (kernels.Throughput.track_*), so the numbers are the ones
`asv publish` shows. Rows: cell x direction x layers x shape; columns: fused, cell and
their ratio (cell / fused throughput: above 1 the cell backend is faster).
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

BENCH = "kernels.Throughput.track_{metric}"


def load(results_dir: Path, commit: str | None) -> tuple[Path, dict]:
    files = [p for p in results_dir.glob("*/*.json") if p.name not in ("machine.json", "benchmarks.json")]
    if commit:
        files = [p for p in files if p.name.startswith(commit[:8])]
    docs = []
    for p in files:
        doc = json.loads(p.read_text())
        if any(k.startswith("kernels.Throughput.") for k in doc.get("results", {})):
            docs.append((doc.get("date", 0), p, doc))
    if not docs:
        sys.exit(f"no kernels.Throughput results under {results_dir}" + (f" for {commit}" if commit else ""))
    _, path, doc = max(docs, key=lambda d: d[:1])
    return path, doc


def table(doc: dict, metric: str, pass_: str) -> list[dict]:
    cols = doc["result_columns"]
    entry = dict(zip(cols, doc["results"][BENCH.format(metric=metric)]))
    values = {}
    for combo, v in zip(itertools.product(*entry["params"]), entry["result"]):
        key = tuple(json.loads(c.replace("'", '"')) for c in combo)   # asv stores repr()s
        values[key] = v
    names = [p for p in entry["params"]]
    archs, backends, dirs, layers, shapes, passes = ([json.loads(c.replace("'", '"')) for c in p] for p in names)
    rows = []
    for arch, d, L, shape in itertools.product(archs, dirs, layers, shapes):
        row = {"arch": arch, "direction": d, "layers": L, "shape": shape}
        for b in backends:
            v = values.get((arch, b, d, L, shape, pass_))
            row[b] = v if isinstance(v, (int, float)) and not math.isnan(v) else None
        f, c = row.get("fused"), row.get("cell")
        row["cell/fused"] = c / f if f and c else None
        if any(row[b] is not None for b in backends):   # sized-out / skipped points: no row
            rows.append(row)
    return rows


def markdown(rows: list[dict]) -> str:
    cols = list(rows[0])
    fmt = lambda v: "" if v is None else f"{v:.2f}" if isinstance(v, float) and v < 10 else (  # noqa: E731
        f"{v:,.0f}" if isinstance(v, float) else str(v))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path(".asv/results"))
    ap.add_argument("--commit", help="commit hash (prefix); default: the newest results")
    ap.add_argument("--metric", choices=["step_samples_per_s", "gflops"], default="step_samples_per_s")
    ap.add_argument("--pass", dest="pass_", choices=["forward", "forward_backward"], default="forward")
    ap.add_argument("--arch", nargs="+", help="only these cells")
    args = ap.parse_args(argv)
    path, doc = load(args.results, args.commit)
    rows = table(doc, args.metric, args.pass_)
    if args.arch:
        rows = [r for r in rows if r["arch"] in args.arch]
    print(f"{args.metric}, pass {args.pass_}: {path} (commit {doc['commit_hash'][:8]}, "
          f"{doc['params'].get('machine', '?')}, env {doc.get('env_name', '?')})\n")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
