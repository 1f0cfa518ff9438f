"""`rnnbench list [--json]`: cells, backends, tasks (with parameters), datasets."""
from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list cells, backends, tasks and their parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def catalogue() -> dict:
    from ..models import BACKENDS, CELLS, backends_for
    from ..tasks import TASKS

    cells = [{"name": name, "title": spec.title, "equations": spec.equations,
              "backends": list(backends_for(name)), "citation": spec.citation}
             for name, spec in CELLS.items()]
    out = {"cells": cells, "backends": list(BACKENDS),
           "tasks": [cls.describe() for _, cls in TASKS.items()]}
    try:
        from ..data import DATASETS
        out["datasets"] = [{"name": n, "description": d.description} for n, d in DATASETS.items()]
    except ImportError:
        pass
    try:
        from ..models.seq2seq import VARIANTS
        out["seq2seq_variants"] = list(VARIANTS)
    except ImportError:
        pass
    return out


def run(args) -> int:
    cat = catalogue()
    if args.json:
        print(json.dumps(cat, indent=2, default=str))
        return 0
    print("Cells (--arch):")
    for c in cat["cells"]:
        print(f"  {c['name']:<9} {c['title']:<40} backends: {', '.join(c['backends'])}")
    print("\nTasks (--task):")
    for t in cat["tasks"]:
        solved = f", solved at {t['solved_rule']}" if t["solved_rule"] else ""
        print(f"  {t['name']:<16} {t['title']}  [{t['kind']}; {t['metric']} ({t['direction']}){solved}]")
        for p in t["params"]:
            ch = f" {{{', '.join(map(str, p['choices']))}}}" if p.get("choices") else ""
            print(f"      --{p['name'].replace('_', '-'):<18} {p['type']:<5} = {p['default']!s:<10}{ch} {p['help']}")
    for key, title in (("datasets", "Datasets"), ("seq2seq_variants", "Seq2seq variants (--model-param variant=)")):
        if key in cat:
            print(f"\n{title}:")
            for item in cat[key]:
                print(f"  {item['name']:<20} {item['description']}" if isinstance(item, dict) else f"  {item}")
    return 0
