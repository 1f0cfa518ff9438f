"""Metrics and trivial baselines shared by the task modules (torch only, no sklearn)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of argmax(pred, -1) equal to y (any leading shape)."""
    return float((pred.argmax(-1) == y).float().mean())


def macro_f1(pred_labels: torch.Tensor, y: torch.Tensor, n_classes: int) -> float:
    """Unweighted mean over classes of F1 = 2 TP / (2 TP + FP + FN); a class absent
    from both predictions and targets counts as F1 = 0 (as scikit-learn's default)."""
    p, t = pred_labels.reshape(-1).long(), y.reshape(-1).long()
    cm = torch.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = cm.diag().double()
    denom = cm.sum(0).double() + cm.sum(1).double()      # (TP + FP) + (TP + FN)
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.zeros_like(tp))
    return float(f1.mean())


def classification(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict[str, float]:
    """accuracy, macro_f1 and mean cross-entropy (nats) of logits pred [N, C] for y [N]."""
    return {"accuracy": accuracy(pred, y),
            "macro_f1": macro_f1(pred.argmax(-1), y, n_classes),
            "ce": float(F.cross_entropy(pred.float(), y))}


def majority_accuracy(train_y: torch.Tensor, test_y: torch.Tensor) -> float:
    """Accuracy on test of always predicting the most frequent training class."""
    majority = int(torch.bincount(train_y.reshape(-1)).argmax())
    return float((test_y == majority).float().mean())


def mse(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.mean((pred - y) ** 2))


def r2(pred: torch.Tensor, y: torch.Tensor) -> float:
    """Coefficient of determination 1 - SSE / SST (SST about the mean of y), as sklearn's r2_score."""
    y64, p64 = y.double(), pred.double()
    sst = float(((y64 - y64.mean()) ** 2).sum())
    sse = float(((y64 - p64) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else (0.0 if sse == 0 else -math.inf)
