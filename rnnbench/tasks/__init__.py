"""The task suite: a registry of tasks, each a module of this package.

    tasks.build("adding", {"seq_len": 200}, seed=0) -> Task with .splits, .metrics, ...
"""
from __future__ import annotations

from typing import Any

from .base import TASKS, Split, Task, register  # noqa: F401

# Import task modules so they register themselves (order = `rnnbench list` order).
from . import longdep, sine, lab, text, seq2seq, agreement  # noqa: E402,F401
from . import ntm  # noqa: E402,F401  (seqcopy, repeat-copy: the NTM paper's copy tasks)


def build(name: str, params: dict[str, Any] | None = None, seed: int = 0, data_dir=None) -> Task:
    cls = TASKS.get(name)
    return cls(cls.parse_params(params or {}), seed=seed, data_dir=data_dir)
