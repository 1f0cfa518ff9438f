"""Course-lab time-series tasks: the lab's preprocessing on fake files, then on the real data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnbench import tasks
from rnnbench.errors import UsageError
from taskhelpers import SHARED, fake_dataset, london_aq_bytes, needs_data, row_set, ucr_bytes


# ------------------------------------------------------------------------------ airquality
@pytest.fixture
def aq(tmp_path, monkeypatch):
    blob, arrays = london_aq_bytes(hours=400)
    fake_dataset(monkeypatch, tmp_path, "london-aq", {"course/LondonAQ.npz": blob})
    return tmp_path, arrays


@pytest.mark.parametrize("lag, ahead, scaler", [(6, 1, "all"), (4, 3, "train")])
def test_airquality_windows_follow_the_lab(aq, lag, ahead, scaler):
    root, arrays = aq
    p = {"train_hours": 300, "test_hours": 100, "lag": lag, "ahead": ahead, "scaler": scaler}
    t = tasks.build("airquality", p, data_dir=root)
    raw = arrays["GEltham"][:400, 0]
    fit = raw if scaler == "all" else raw[:300]
    z = (raw - fit.mean()) / fit.std()
    train_z, test_z = z[:300], z[300:]
    n = 300 - lag - ahead + 1
    s = t.splits
    assert len(s["train"]) + len(s["val"]) == n and len(s["val"]) == round(0.1 * n)
    x = torch.cat([s["train"].x, s["val"].x])[..., 0].double().numpy()
    y = torch.cat([s["train"].y, s["val"].y])[:, 0].double().numpy()
    for i in (0, 1, n // 2, n - 1):                                  # x_i = z_i..z_{i+lag-1}
        assert np.allclose(x[i], train_z[i:i + lag], atol=1e-6)
        assert np.isclose(y[i], train_z[i + lag + ahead - 1], atol=1e-6)
    m = 100 - lag - ahead + 1                                         # test windows inside the test period
    assert len(s["test"]) == m
    assert np.allclose(s["test"].x[-1, :, 0].numpy(), test_z[m - 1:m - 1 + lag], atol=1e-6)
    assert np.isclose(float(s["test"].y[-1, 0]), test_z[-1], atol=1e-6)
    # val is the chronological end of the training windows
    assert torch.equal(s["val"].x, torch.from_numpy(x[-len(s["val"]):, :, None]).float())


def test_airquality_baseline_and_metrics(aq):
    root, _ = aq
    t = tasks.build("airquality", {"train_hours": 300, "test_hours": 100}, data_dir=root)
    test = t.splits["test"]
    last, y = test.x[:, -1, 0].double().numpy(), test.y[:, 0].double().numpy()
    assert t.baseline() == pytest.approx(np.mean((last - y) ** 2), rel=1e-6)
    # the lab's persistence, mean((y[1:] - y[:-1])^2), is the same predictor less its first sample
    assert np.allclose(last[1:], y[:-1], atol=1e-6)
    m = t.metrics(test.x[:, -1, :], test)
    assert m["mse"] == pytest.approx(t.baseline(), rel=1e-6)
    assert m["r2"] == pytest.approx(1 - np.sum((y - last) ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-6)
    assert t.metrics(test.y, test) == {"mse": 0.0, "r2": 1.0}


@pytest.mark.parametrize("params, word", [
    ({"station": "Camden"}, "'Camden'"), ({"column": 7}, "7"), ({"lag": 0}, "'lag'"),
    ({"train_hours": 40000, "test_hours": 8784}, "40000"), ({"val_fraction": 0.0}, "0.0"),
    ({"scaler": "minmax"}, "'minmax'"),
])
def test_airquality_bad_parameters(params, word):
    with pytest.raises(UsageError, match=word):
        tasks.build("airquality", params)


@needs_data
def test_airquality_real_data_lab_setting():
    t = tasks.build("airquality", {}, data_dir=SHARED)
    s = t.splits
    assert len(s["train"]) + len(s["val"]) == 35064 - 6 and len(s["test"]) == 8784 - 6
    assert s["train"].x.shape[1:] == (6, 1)
    z = torch.cat([s["train"].x[:, 0, 0], s["val"].x[:, 0, 0], s["test"].x[:, 0, 0]])
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05
    assert 0.05 < t.baseline() < 0.5                                   # persistence: hourly data is smooth
    assert t.metrics(s["test"].x[:, -1, :], s["test"])["r2"] > 0.7


# ------------------------------------------------------------------------------ electricdevices
def test_electricdevices_reads_the_ucr_format(tmp_path, monkeypatch):
    train_b, train_a = ucr_bytes(50, seed=1)
    test_b, test_a = ucr_bytes(20, seed=2)
    fake_dataset(monkeypatch, tmp_path, "ucr-electricdevices",
                 {"ucr/ElectricDevices_TRAIN.tsv.gz": train_b, "ucr/ElectricDevices_TEST.tsv.gz": test_b})
    t = tasks.build("electricdevices", {"val_fraction": 0.2}, seed=0, data_dir=tmp_path)
    s = t.splits
    assert len(s["train"]) == 40 and len(s["val"]) == 10 and s["train"].x.shape[1:] == (12, 1)
    assert torch.equal(s["test"].y, torch.from_numpy(test_a[:, 0].astype(np.int64) - 1))   # labels 1..7 -> 0..6
    assert torch.allclose(s["test"].x[..., 0], torch.from_numpy(test_a[:, 1:]).float(), atol=1e-5)
    # train + val is a partition of the training file; the holdout follows the seed
    assert row_set(torch.cat([s["train"].x, s["val"].x])) == row_set(torch.from_numpy(train_a[:, 1:]).float())
    assert not row_set(s["train"].x) & row_set(s["val"].x)
    other = tasks.build("electricdevices", {"val_fraction": 0.2}, seed=1, data_dir=tmp_path).splits
    assert not torch.equal(other["val"].x, s["val"].x)
    majority = torch.bincount(s["train"].y).argmax()
    assert t.baseline() == pytest.approx(float((s["test"].y == majority).float().mean()))


@needs_data
def test_electricdevices_real_data():
    t = tasks.build("electricdevices", {}, data_dir=SHARED)
    s = t.splits
    assert len(s["train"]) + len(s["val"]) == 8926 and len(s["test"]) == 7711
    assert s["test"].x.shape[1:] == (96, 1) and t.output_size == 7
    assert set(s["test"].y.unique().tolist()) == set(range(7))
    assert 0.14 < t.baseline() < 0.4
