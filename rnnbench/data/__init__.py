"""Real datasets: a registry (description, citation, licence, files + sha256, sources)
and providers that find, verify or download them.

    from rnnbench import data
    paths = data.resolve("london-aq", data_dir=None)     # {"LondonAQ.npz": Path(...)}
    data.DATASETS.names()                                 # for `rnnbench data list`

A task names the datasets it reads in `Task.datasets` and calls `resolve` with
its `data_dir` (None: $RNNBENCH_DATA, else the user cache). See providers.py for
the search order and `rnnbench data list|verify|fetch` for the command line.
"""
from __future__ import annotations

from . import catalog  # noqa: F401  (registers the datasets)
from .providers import (ENV_DIR, ENV_DOWNLOAD, FileStatus, data_root, default_data_dir,  # noqa: F401
                        downloads_allowed, resolve, sha256_file, status)
from .readers import read_idx  # noqa: F401
from .registry import DATASETS, DataFile, Dataset  # noqa: F401
