"""`rnnbench data list|verify|fetch`: the real datasets, where they are, whether they are intact.

    rnnbench data list   [--data-dir DIR] [--json]       each dataset and whether it is available
    rnnbench data verify [NAME ...] [--data-dir DIR] [--json]
                                                         sha256 of every present file; exit 2 on a
                                                         mismatch, naming the file
    rnnbench data fetch  NAME ... [--data-dir DIR]      download from the original sources (verified)
"""
from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="list, verify or fetch the real datasets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(p))
    dsub.required = True
    for name, help_ in (("list", "each dataset and whether it is available"),
                        ("verify", "check the sha256 of every present file (exit 2 on a mismatch)"),
                        ("fetch", "download datasets from their original sources, verified")):
        q = dsub.add_parser(name, help=help_)
        q.add_argument("--data-dir", help="data directory (default: $RNNBENCH_DATA or the user cache)")
        if name == "fetch":
            q.add_argument("names", nargs="+", metavar="NAME", help="dataset names (see `data list`)")
        else:
            q.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "verify":
            q.add_argument("names", nargs="*", metavar="NAME", help="datasets to verify (default: all)")
        q.set_defaults(func=run)


def run(args) -> int:
    if args.data_dir is not None:
        from ..io import check_in_path
        check_in_path(args.data_dir, "--data-dir")
    return {"list": _list, "verify": _verify, "fetch": _fetch}[args.data_command](args)


def _names(given) -> list[str]:
    from ..data import DATASETS
    for n in given or ():
        DATASETS.get(n)            # UsageError listing the valid names
    return list(given) if given else DATASETS.names()


def _list(args) -> int:
    from ..data import DATASETS, data_root, status

    root = data_root(args.data_dir)
    rows = []
    for name, ds in DATASETS.items():
        files = status(ds, args.data_dir)
        found = [f for f in files if f.status != "missing"]
        state = "available" if len(found) == len(files) else ("partial" if found else "missing")
        rows.append({"name": name, "title": ds.title, "description": ds.description, "status": state,
                     "files": [f.__dict__ for f in files], "citation": ds.citation,
                     "licence": ds.licence, "homepage": ds.homepage, "used_by": list(ds.used_by)})
    if args.json:
        print(json.dumps({"data_dir": str(root), "datasets": rows}, indent=2))
        return 0
    print(f"data dir: {root}")
    for r in rows:
        where = sorted({f["source"] for f in r["files"] if f["source"]})
        print(f"  {r['name']:<20} {r['status']:<9} {'/'.join(where) or '-':<13} {r['description']}")
    return 0


def _verify(args) -> int:
    from ..data import DATASETS, data_root, status
    from ..errors import UsageError

    root = data_root(args.data_dir)
    results = [f for n in _names(args.names) for f in status(DATASETS.get(n), args.data_dir, verify=True)]
    if args.json:
        print(json.dumps({"data_dir": str(root), "files": [f.__dict__ for f in results]}, indent=2))
    else:
        print(f"data dir: {root}")
        for f in results:
            mark = {"ok": "ok", "missing": "missing", "mismatch": "MISMATCH"}[f.status]
            print(f"  {mark:<8} {f.dataset:<20} {f.path or f.file}" + (f"  ({f.detail})" if f.detail else ""))
    bad = [f for f in results if f.status == "mismatch"]
    if bad:
        raise UsageError(f"checksum mismatch: {bad[0].path} (dataset {bad[0].dataset!r}, {bad[0].detail})"
                         + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""))
    return 0


def _fetch(args) -> int:
    from ..data import resolve

    for name in _names(args.names):
        for fname, path in resolve(name, data_dir=args.data_dir, download=True).items():
            print(f"  ok  {name:<20} {path}")
    return 0
