"""glibc's allocator, set for training small models: freed buffers stay in the process.

A training step of a small recurrent model allocates and frees the same few buffers of 1-40 MB
every step (the scans' [S, T, B, G] gate buffers, their gradients, the loss's). With glibc's
defaults a freed buffer above the trim threshold goes back to the kernel, so the next step
page-faults it in again: in `scripts/bench_groups.py`, where the cases run interleaved in one
process, that was a third of a grouped step's time, and it made the same step vary 2x between
runs. `tune()` keeps them: the heap is no longer trimmed below 1 GiB of free memory, and
buffers up to 32 MiB (glibc's ceiling for the setting) come from the heap rather than from mmap.
It is the M_TRIM_THRESHOLD / M_MMAP_THRESHOLD / M_TOP_PAD of `man mallopt`, the same settings as
the MALLOC_*_ environment variables, set from inside the process.

Called by the `rnnbench` command and the throughput harness (so asv and the benchmark scripts
time what training runs); importing rnnbench changes nothing. The cost is memory a process keeps
after freeing it, at most what it has already used. Off: RNNBENCH_MALLOC=0; a MALLOC_*_
variable set by the user is left to glibc (the user's setting wins). Not glibc (macOS, musl):
nothing to do. Numbers are unaffected: only where the buffers live changes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

ENV = "RNNBENCH_MALLOC"
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3      # malloc.h
SETTINGS = {M_TRIM_THRESHOLD: 1 << 30, M_TOP_PAD: 64 << 20, M_MMAP_THRESHOLD: 32 << 20}
USER_VARS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_")


@functools.cache
def tune() -> str:
    """Set glibc's allocator as above, once per process; returns what happened (nothing records
    it yet): "set", or why not ("off: RNNBENCH_MALLOC=0", "left to MALLOC_TRIM_THRESHOLD_",
    "not glibc", "refused by mallopt")."""
    if os.environ.get(ENV, "1") == "0":
        return f"off: {ENV}=0"
    for var in USER_VARS:
        if var in os.environ:
            return f"left to {var}"
    libc = _glibc()
    if libc is None:
        return "not glibc"
    ok = all(libc.mallopt(param, value) == 1 for param, value in SETTINGS.items())
    return "set" if ok else "refused by mallopt"


def _glibc():
    try:
        name = ctypes.util.find_library("c") or "libc.so.6"
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version            # glibc only
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        return libc
    except (OSError, AttributeError):
        return None
