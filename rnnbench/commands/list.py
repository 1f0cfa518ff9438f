"""`rnnbench list [--json]`: cells, backends, tasks (with parameters), datasets."""
from __future__ import annotations

import json

from .. import plugins


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
    from ..models import MODELS
    out = {"cells": cells, "backends": list(BACKENDS),
           "models": [spec.describe() for _, spec in MODELS.items()],   # not cells: models/zoo.py
           "tasks": [cls.describe() for _, cls in TASKS.items()],
           "plugins": plugins.loaded()}     # module -> where it was named (--plugin, ...)
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
    print("\nSequence models (--arch; not cells: one backend, model_params below):")
    for m in cat["models"]:
        rf = m["receptive_field"]
        fields = ", ".join(f"{k} {'all steps' if v is None else v}" for k, v in rf.items())
        opts = ", ".join(f"{k}={v}" for k, v in {"match": None, **m["options"]}.items())
        print(f"  {m['name']:<11} {m['title']:<46} hidden = {m['width']}")
        print(f"      model_params: {opts}; receptive field: {fields}")
        for line in m["structure"].splitlines():
            print(f"      | {line}")
        print(f"      {m['citation']}")
    print("\nTasks (--task):")
    for t in cat["tasks"]:
        solved = f", solved at {t['solved_rule']}" if t["solved_rule"] else ""
        print(f"  {t['name']:<16} {t['title']}  [{t['family']}; {t['kind']}; {t['metric']} "
              f"({t['direction']}){solved}]")
        if t["reference"]:
            r = t["reference"]
            print(f"      reference: {r['seconds']:g} s a run, {r['source']}: {r['setting']}")
        for p in t["params"]:
            ch = f" {{{', '.join(map(str, p['choices']))}}}" if p.get("choices") else ""
            print(f"      --{p['name'].replace('_', '-'):<18} {p['type']:<5} = {p['default']!s:<10}{ch} {p['help']}")
    for key, title in (("datasets", "Datasets"), ("seq2seq_variants", "Seq2seq variants (--model-param variant=)")):
        if key in cat:
            print(f"\n{title}:")
            for item in cat[key]:
                print(f"  {item['name']:<20} {item['description']}" if isinstance(item, dict) else f"  {item}")
    if cat["plugins"]:
        print("\nPlugins (modules whose entries are listed above):")
        for module, where in cat["plugins"].items():
            print(f"  {module:<20} from {where}")
    return 0
