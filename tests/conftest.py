"""Shared fixtures: small, fast configurations (helpers live in runhelpers.py)."""
from __future__ import annotations

import pytest


@pytest.fixture
def tiny_adding() -> dict:
    """An adding run that trains in about a second."""
    return {"task": "adding", "task_params": {"seq_len": 12, "n_train": 512, "n_val": 128, "n_test": 128},
            "arch": "lstm", "hidden": 16, "epochs": 2, "batch_size": 32, "device": "cpu"}
