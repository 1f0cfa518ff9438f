"""Helpers for the task tests: split digests, the reference data, fake datasets."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


from runhelpers import SHARED, needs_data, shared_data  # noqa: F401 (re-exported)


def digest(splits: dict) -> str:
    """sha256 over every split's x, y and lengths (dtype, shape and bytes)."""
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        s = splits[name]
        for t in (s.x, s.y, s.lengths):
            if t is None:
                h.update(b"none")
                continue
            t = t.contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


def row_set(x: torch.Tensor) -> set[bytes]:
    return {r.numpy().tobytes() for r in x.reshape(len(x), -1)}


def fake_dataset(monkeypatch, root: Path, name: str, files: dict[str, bytes]):
    """Write `files` (registry path -> bytes) under root and make dataset `name` expect them."""
    from rnnbench.data import DATASETS
    from rnnbench.data.registry import DataFile

    ds = DATASETS.get(name)
    specs = []
    for f in ds.files:
        if f.path in files:
            p = root / f.path
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(files[f.path])
            specs.append(DataFile(path=f.path, sha256=hashlib.sha256(files[f.path]).hexdigest()))
        else:
            specs.append(f)
    monkeypatch.setitem(DATASETS._entries, name, dataclasses.replace(ds, files=tuple(specs), system_dirs=()))
    return root


# ---------------------------------------------------------------------------- small fake lab data
def london_aq_bytes(hours: int = 400, seed: int = 0) -> tuple[bytes, dict]:
    import io
    import numpy as np
    g = np.random.default_rng(seed)
    arrays = {}
    for k, station in enumerate(("GEltham", "GWesthorne", "BSladeGreen", "GWoolwich")):
        a = g.normal(size=(hours, 9))
        a[:, 0] = 30 + 10 * np.sin(np.arange(hours) / 7.0 + k) + g.normal(size=hours)
        arrays[station] = a
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue(), arrays


def ucr_bytes(n: int, length: int = 12, seed: int = 0) -> tuple[bytes, "np.ndarray"]:
    import gzip
    import numpy as np
    g = np.random.default_rng(seed)
    labels = g.integers(1, 8, n)
    a = np.concatenate([labels[:, None], np.round(g.normal(size=(n, length)) + labels[:, None], 6)], 1)
    text = "\n".join("\t".join([str(int(r[0]))] + [f"{v:.6f}" for v in r[1:]]) for r in a) + "\n"
    return gzip.compress(text.encode(), mtime=0), a


TWEETS = [
    ("negative", "@united worst flight EVER!!! delayed 3 hours"),
    ("positive", "@VirginAmerica thanks, great crew :) #happy"),
    ("neutral", "@united what time is the flight to Boston?"),
    ("negative", "@USAirways delayed again. worst service"),
    ("neutral", "@JetBlue 1234 !!! @someone"),                  # empty after cleaning: dropped
    ("positive", "@united great flight, thanks"),
    ("negative", "@AmericanAir lost my bag, worst"),
    ("neutral", "@SouthwestAir is the flight on time"),
    ("positive", "@JetBlue thanks for the great service"),
    ("negative", "@united the flight was delayed"),
    ("neutral", "@delta time of flight to Denver"),
]


def airlines_bytes(rows=TWEETS) -> bytes:
    import csv
    import io
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["tweet_id", "twsentiment", "airline", "text"])
    for i, (label, text) in enumerate(rows):
        w.writerow([i, label, "x", text])
    return buf.getvalue().encode()


POEM = ("\ufeffThe Sea\nThe sea is calm tonight.\nThe tide is full, the moon lies fair\n"
        "Upon the straits; on the French coast the light\nGleams and is gone; the cliffs of England stand,\n") * 12


def poetry_bytes(text: str = POEM) -> bytes:
    import gzip
    return gzip.compress(text.encode("utf-8"), mtime=0)


def lab_data(monkeypatch, root: Path) -> Path:
    """A data dir of small fake lab files, with the registry expecting exactly them."""
    fake_dataset(monkeypatch, root, "london-aq", {"course/LondonAQ.npz": london_aq_bytes()[0]})
    fake_dataset(monkeypatch, root, "ucr-electricdevices", {
        "ucr/ElectricDevices_TRAIN.tsv.gz": ucr_bytes(60, seed=1)[0],
        "ucr/ElectricDevices_TEST.tsv.gz": ucr_bytes(30, seed=2)[0]})
    fake_dataset(monkeypatch, root, "airline-tweets", {"course/Airlines.csv": airlines_bytes()})
    fake_dataset(monkeypatch, root, "poetry", {"course/poetry1.txt.gz": poetry_bytes()})
    return root


# task parameters that fit the fake lab data
LAB_SMALL = {"airquality": {"train_hours": 300, "test_hours": 100},
             "electricdevices": {}, "sentiment": {"vocab_words": 20, "train_fraction": 0.6},
             "textgen": {"window": 10, "step": 3, "val_fraction": 0.1, "test_fraction": 0.1,
                         "sample_chars": 20}}
