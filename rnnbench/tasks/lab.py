"""The course lab's time-series tasks, on their real data, with the lab's settings as defaults.

Source: the guided laboratory on recurrent networks of the course "Deep Learning"
(Master in Artificial Intelligence, FIB-UPC; J. Bejar, github.com/bejar/DLMAI), scripts
AirQuality/AQPredictionRNN.py and Electric/ElectricClass.py. A run with a task's
defaults is the lab's experiment; where this suite must differ, the class says so.

airquality: hourly London air quality (LondonAQ.npz, station GEltham, column 0). The
    series is standardised, cut into windows of `lag` hours, and the value `ahead` hours
    after a window's last hour is predicted (regression from the final state):

        x_i = (z_i, ..., z_{i+lag-1}),   y_i = z_{i+lag+ahead-1}

    train = windows of the first 35,064 hours, test = windows of the next 8,784 (built
    inside each period, as the lab does). Metrics: test MSE (standardised units, as the
    lab reports) and R^2. Baseline: persistence, y_i = z_{i+lag-1} (the last value seen).

electricdevices: UCR ElectricDevices, 96 readings of one day -> one of 7 device classes;
    raw values as the lab (the archive's series are already z-normalised), labels 1..7 ->
    0..6. Metric: test accuracy (also macro-F1). Baseline: the majority training class.

Validation: the lab validates on its test set. A benchmark must not select on test, so
here `val` is carved out of the lab's training data (the last `val_fraction` of the
training windows for air quality, chronologically; a seeded random `val_fraction` of
the training series for electric devices): the models see 10 % less training data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import Split, Task, param, register, rng
from .metrics import classification, majority_accuracy, mse, r2
from ..errors import UsageError

# Who quotes the reference times of the lab's tasks (Task.reference).
LAB_NOTES = "DLMAI lab notes (J. Bejar, FIB-UPC; Keras, hardware unnamed)"

AQ_STATIONS = ("GEltham", "GWesthorne", "BSladeGreen", "GWoolwich")
AQ_HOURS = 43848


def _check_fraction(task: str, name: str, v: float) -> None:
    if not 0.0 < v < 1.0:
        raise UsageError(f"task {task!r} parameter {name!r} must be in (0, 1), got {v!r}")


@register("airquality")
class AirQuality(Task):
    """London air quality: predict the next hour from the previous 6 (course lab)."""
    title = "Air quality forecasting (course lab)"
    citation = "DLMAI lab AirQuality/AQPredictionRNN.py; data: London Air Quality Network"
    family = "course-lab"
    length_param = "lag"                 # hours per input window
    reference = {"seconds": 30.0, "source": LAB_NOTES,
                 "setting": "LSTM 32, 1 layer, lag 6, 30 epochs, batch 500, Adam 1e-3 (this task's defaults)"}
    kind = "many_to_one"
    metric = "mse"
    direction = "min"
    datasets = ("london-aq",)
    # The lab's config: LSTM 32, 1 layer, 30 epochs, batch 500, Adam 1e-3, no clipping.
    defaults = {"hidden": 32, "layers": 1, "epochs": 30, "batch_size": 500, "optimizer": "adam",
                "lr": 1e-3, "clip": None}

    @dataclass
    class Params:
        station: str = param("GEltham", "monitoring station", choices=AQ_STATIONS)
        column: int = param(0, "measurement column 0..4 of the station (the lab: 0)", choices=(0, 1, 2, 3, 4))
        lag: int = param(6, "hours in each input window")
        ahead: int = param(1, "predict this many hours after the window (1 = the next hour)")
        train_hours: int = param(35064, "hours of the training period (2012-2015)")
        test_hours: int = param(8784, "hours of the test period that follows (2016)")
        val_fraction: float = param(0.1, "last share of the training windows held out for validation")
        scaler: str = param("all", "standardise with the mean/std of: all = train + test hours (the "
                            "lab's script), train = the training hours only", choices=("all", "train"))

    def check(self):
        p = self.params
        for k in ("lag", "ahead", "train_hours", "test_hours"):
            if getattr(p, k) <= 0:
                raise UsageError(f"task 'airquality' parameter {k!r} must be positive, got {getattr(p, k)!r}")
        if p.train_hours + p.test_hours > AQ_HOURS:
            raise UsageError(f"task 'airquality': train_hours + test_hours must be <= {AQ_HOURS}, "
                             f"got {p.train_hours} + {p.test_hours}")
        if min(p.train_hours, p.test_hours) <= p.lag + p.ahead:
            raise UsageError(f"task 'airquality': each period must be longer than lag + ahead "
                             f"({p.lag} + {p.ahead})")
        _check_fraction(self.name, "val_fraction", p.val_fraction)

    @property
    def output_size(self) -> int:
        return 1

    def series(self) -> np.ndarray:
        """The standardised series of the chosen station and column, float64 [train + test hours]."""
        from .. import data
        p = self.params
        path = data.resolve("london-aq", data_dir=self.data_dir)["LondonAQ.npz"]
        with np.load(path) as npz:
            raw = npz[p.station][:p.train_hours + p.test_hours, p.column].astype(np.float64)
        fit = raw if p.scaler == "all" else raw[:p.train_hours]
        return (raw - fit.mean()) / fit.std()          # StandardScaler: population std

    def windows(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x [N, lag, 1], y [N, 1] of one period, as the lab's lagged_vector."""
        p = self.params
        n = len(z) - p.lag - p.ahead + 1
        x = np.lib.stride_tricks.sliding_window_view(z, p.lag)[:n]
        y = z[p.lag + p.ahead - 1:]
        return x[..., None].astype(np.float32), y[:, None].astype(np.float32)

    def make_splits(self):
        p = self.params
        z = self.series()
        x, y = self.windows(z[:p.train_hours])
        x_test, y_test = self.windows(z[p.train_hours:])
        n_val = max(1, int(round(p.val_fraction * len(x))))
        cut = len(x) - n_val
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
        return {"train": Split(t(x[:cut]), t(y[:cut])), "val": Split(t(x[cut:]), t(y[cut:])),
                "test": Split(t(x_test), t(y_test))}

    def metrics(self, pred, split):
        return {"mse": mse(pred, split.y), "r2": r2(pred, split.y)}

    def baseline(self) -> float:
        """Persistence: the last value of each window, on the test split."""
        test = self.splits["test"]
        return mse(test.x[:, -1, :], test.y)


@register("electricdevices")
class ElectricDevices(Task):
    """UCR ElectricDevices: classify a day of 15-minute readings into 7 devices (course lab)."""
    title = "Electric devices classification (course lab)"
    citation = "DLMAI lab Electric/ElectricClass.py; data: UCR archive 2018 (Dau et al. 2019)"
    family = "course-lab"                # 96 readings per series, fixed: no length_param
    reference = {"seconds": 60.0, "source": LAB_NOTES,
                 "setting": "LSTM 64, 2 layers, SGD 0.01 momentum 0.95, batch 1000 (this task's defaults)"}
    kind = "many_to_one"
    metric = "accuracy"
    direction = "max"
    datasets = ("ucr-electricdevices",)
    # The lab: LSTM 64, 2 layers, SGD lr 0.01 momentum 0.95, batch 1000, no clipping; 30 epochs
    # (the lab's text; its script runs 50).
    defaults = {"hidden": 64, "layers": 2, "epochs": 30, "batch_size": 1000, "optimizer": "sgd",
                "lr": 0.01, "momentum": 0.95, "clip": None}
    n_classes = 7

    @dataclass
    class Params:
        val_fraction: float = param(0.1, "share of the training series held out for validation (seeded)")

    def check(self):
        _check_fraction(self.name, "val_fraction", self.params.val_fraction)

    @property
    def output_size(self) -> int:
        return self.n_classes

    def _read(self, path) -> tuple[np.ndarray, np.ndarray]:
        import pandas as pd
        a = pd.read_csv(path, sep="\t", header=None, dtype=np.float64).to_numpy()
        labels = a[:, 0].astype(np.int64) - 1
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise UsageError(f"{path}: labels outside 1..{self.n_classes}")
        return a[:, 1:, None].astype(np.float32), labels

    def make_splits(self):
        from .. import data
        files = data.resolve("ucr-electricdevices", data_dir=self.data_dir)
        x, y = self._read(files["ElectricDevices_TRAIN.tsv.gz"])
        x_test, y_test = self._read(files["ElectricDevices_TEST.tsv.gz"])
        perm = rng(self.seed, "val").permutation(len(x))
        n_val = max(1, int(round(self.params.val_fraction * len(x))))
        val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        t = torch.from_numpy
        return {"train": Split(t(x[train_idx]), t(y[train_idx])),
                "val": Split(t(x[val_idx]), t(y[val_idx])),
                "test": Split(t(x_test), t(y_test))}

    def metrics(self, pred, split):
        return classification(pred, split.y, self.n_classes)

    def baseline(self) -> float:
        return majority_accuracy(self.splits["train"].y, self.splits["test"].y)
