"""seqdigits: pixel order, permutation, splits and the MNIST-format sources (fixtures)."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import struct
from collections import Counter

import numpy as np
import pytest
import torch

from rnnbench import tasks
from rnnbench.data import DATASETS, read_idx
from rnnbench.data.registry import DataFile
from rnnbench.errors import UsageError
from rnnbench.tasks.longdep import sklearn_digits
from taskhelpers import fake_dataset

IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_bytes(a: np.ndarray) -> bytes:
    code = {np.uint8: 0x08}[a.dtype.type]
    header = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    return gzip.compress(header + a.tobytes(), mtime=0)


def mnist_fixture(n_train=40, n_test=20):
    """Images whose pixel (r, c) is (r * 28 + c + i) % 256 for image i; label i % 10."""
    def images(n, off):
        i = np.arange(n)[:, None, None] + off
        rc = np.arange(28)[:, None] * 28 + np.arange(28)[None, :]
        return ((rc[None] + i) % 256).astype(np.uint8)
    labels = lambda n, off: ((np.arange(n) + off) % 10).astype(np.uint8)  # noqa: E731
    arrays = [images(n_train, 0), labels(n_train, 0), images(n_test, 1000), labels(n_test, 1000)]
    return arrays, {name: idx_bytes(a) for name, a in zip(IDX, arrays)}


def test_digits_rows_are_the_sklearn_images_row_major():
    t = tasks.build("seqdigits", {}, seed=0)
    pixels, labels = sklearn_digits()
    assert t.input_size == 1 and t.output_size == 10
    s = t.splits
    assert {k: v.x.shape[1:] for k, v in s.items()} == {k: (64, 1) for k in s}
    assert sum(len(v) for v in s.values()) == len(pixels) == 1797
    assert len(s["test"]) == round(0.2 * 1797)
    got = torch.cat([v.x[..., 0] for v in s.values()]).double().numpy()
    got_y = torch.cat([v.y for v in s.values()]).numpy()
    # the three splits together are exactly the dataset (a partition), pixels / 16, labels kept
    rows = lambda x, y: Counter(r.tobytes() for r in np.concatenate([x, y[:, None]], 1))  # noqa: E731
    assert rows(got, got_y) == rows((pixels / 16.0).astype(np.float32).astype(np.float64), labels)


def test_digits_baseline_is_majority_class():
    t = tasks.build("seqdigits", {}, seed=1)
    train_y, test_y = t.splits["train"].y, t.splits["test"].y
    majority = torch.bincount(train_y).argmax()
    assert t.baseline() == pytest.approx(float((test_y == majority).float().mean()))
    assert t.baseline() < 0.2


def test_permutation_is_fixed_and_shared():
    plain = tasks.build("seqdigits", {}, seed=0).splits
    perm0 = tasks.build("seqdigits", {"permuted": True}, seed=0)
    order = perm0.permutation(64)
    assert sorted(order.tolist()) == list(range(64)) and (order != np.arange(64)).any()
    for name in ("train", "test"):
        assert torch.equal(perm0.splits[name].x, plain[name].x[:, torch.from_numpy(order)])
    # the same permutation for another run seed, another one for another permutation_seed
    assert np.array_equal(tasks.build("seqdigits", {"permuted": True}, seed=5).permutation(64), order)
    other = tasks.build("seqdigits", {"permuted": True, "permutation_seed": 1}, seed=0).permutation(64)
    assert not np.array_equal(other, order)


def test_n_train_subsamples_training_only():
    full = tasks.build("seqdigits", {}, seed=0).splits
    sub = tasks.build("seqdigits", {"n_train": 100}, seed=0).splits
    assert len(sub["train"]) == 100
    assert torch.equal(sub["test"].x, full["test"].x) and torch.equal(sub["val"].x, full["val"].x)


def test_read_idx_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = tmp_path / "a-idx3-ubyte.gz"
    p.write_bytes(idx_bytes(a))
    assert np.array_equal(read_idx(p), a)
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x01\x02\x03\x04"))
    with pytest.raises(UsageError, match="not an IDX file"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + struct.pack(">I", 9) + b"abc"))
    with pytest.raises(UsageError, match="truncated"):
        read_idx(tmp_path / "short.gz")


def test_mnist_source_from_data_dir(tmp_path, monkeypatch):
    arrays, files = mnist_fixture()
    fake_dataset(monkeypatch, tmp_path, "mnist", {f"mnist/{k}": v for k, v in files.items()})
    t = tasks.build("seqdigits", {"source": "mnist", "val_fraction": 0.25}, seed=0, data_dir=tmp_path)
    s = t.splits
    assert s["train"].x.shape[1:] == (784, 1)
    assert len(s["train"]) == 30 and len(s["val"]) == 10 and len(s["test"]) == 20
    # the official test set, in file order; pixels row-major, scaled to [0, 1]
    assert torch.allclose(s["test"].x[..., 0], torch.from_numpy(arrays[2].reshape(20, -1) / 255.0).float())
    assert torch.equal(s["test"].y, torch.from_numpy(arrays[3].astype(np.int64)))
    step = (s["test"].x[0, 1:, 0] - s["test"].x[0, :-1, 0]) * 255    # pixel t+1 = pixel t + 1 (mod 256)
    assert torch.allclose(step[step > 0], torch.ones(1))
    tr = torch.cat([s["train"].y, s["val"].y]).sort().values
    assert torch.equal(tr, torch.from_numpy(arrays[1].astype(np.int64)).sort().values)


def test_fashion_mnist_from_a_system_dir(tmp_path, monkeypatch):
    arrays, files = mnist_fixture(20, 10)
    sysdir = tmp_path / "usr-share-datasets-fashion-mnist"
    sysdir.mkdir()
    specs = []
    for name, blob in files.items():
        (sysdir / name).write_bytes(blob)
        content = hashlib.sha256(gzip.decompress(blob)).hexdigest()
        specs.append(DataFile(path=f"fashion-mnist/{name}", content_sha256=content))
    ds = DATASETS.get("fashion-mnist")
    monkeypatch.setitem(DATASETS._entries, "fashion-mnist",
                        dataclasses.replace(ds, files=tuple(specs), system_dirs=(str(sysdir),)))
    t = tasks.build("seqdigits", {"source": "fashion-mnist"}, seed=0, data_dir=tmp_path / "empty")
    assert len(t.splits["test"]) == 10 and t.splits["test"].x.shape[1] == 784


def test_missing_mnist_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("RNNBENCH_DOWNLOAD", raising=False)
    t = tasks.build("seqdigits", {"source": "mnist"}, data_dir=tmp_path)
    with pytest.raises(UsageError) as e:
        t.splits
    msg = str(e.value)
    assert "\n" not in msg and "'mnist'" in msg and str(tmp_path) in msg and "RNNBENCH_DOWNLOAD" in msg


@pytest.mark.parametrize("params, word", [
    ({"source": "cifar"}, "'cifar'"),
    ({"val_fraction": 1.5}, "1.5"),
    ({"val_fraction": 0.5, "test_fraction": 0.6}, "0.6"),
    ({"n_train": -3}, "-3"),
    ({"permuted": "maybe"}, "'maybe'"),
])
def test_bad_parameters(params, word):
    with pytest.raises(UsageError, match=word):
        tasks.build("seqdigits", params)
