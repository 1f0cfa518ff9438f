"""Small file-format readers shared by tasks."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import UsageError

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format; gzipped when the name ends in .gz) as an array.

    Header: two zero bytes, a type code, the number of dimensions, then each
    dimension as a big-endian uint32; the data follow in C order.
    """
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UsageError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    start = 4 + 4 * ndim
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - start != count * dtype.itemsize:
        raise UsageError(f"{path} is truncated or malformed: header says {dims}, "
                         f"{len(raw) - start} data bytes")
    return np.frombuffer(raw, dtype, count, start).reshape(dims)
