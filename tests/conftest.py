"""Shared fixtures: small, fast configurations (helpers live in runhelpers.py)."""
from __future__ import annotations

import pytest


@pytest.fixture
def tiny_adding() -> dict:
    """An adding run that trains in about a second."""
    return {"task": "adding", "task_params": {"seq_len": 12, "n_train": 512, "n_val": 128, "n_test": 128},
            "arch": "lstm", "hidden": 16, "epochs": 2, "batch_size": 32, "device": "cpu"}


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one torch thread is fastest, and far faster on a loaded shared machine.
    Module-scoped, so that module-scoped fixtures (a trained run) use it too."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
