"""The cell backend's compiled kernels (`scans.cpp`): the forward and backward scans through time
of rnn (tanh, sigmoid, relu; irnn is rnn relu), lstm and gru, each over a group of S seeds
(torch.ops.rnnbench.<cell>_scan and <cell>_scan_backward; `scan_functions.py` calls them).

Built on first use by torch's JIT extension builder (a C++ compiler, and ninja from the
`ninja` package), cached per source, flags and torch version under the user cache
(~/.cache/rnnbench/native on Linux); later processes load the cached library in milliseconds.
Concurrent first uses (a pipeline's parallel jobs) wait on torch's build lock.

    RNNBENCH_NATIVE=auto   (default) build it; if that fails, warn once and run the PyTorch scan
    RNNBENCH_NATIVE=1      it must build: a failure is an error
    RNNBENCH_NATIVE=0      never; the PyTorch scan (the reference the kernel is tested against)

Only CPU float32 tensors use them; everything else (CUDA, float64) runs the PyTorch twins in
`scan_functions.py`.
"""
from __future__ import annotations

import functools
import hashlib
import os
import warnings
from pathlib import Path
from typing import Callable

import torch

from ..errors import UsageError, unknown

SOURCE = Path(__file__).with_name("scans.cpp")
ARCHS = ("rnn", "irnn", "lstm", "gru")   # the cells whose fast path runs the compiled scans in SOURCE
OPS = tuple(f"{cell}_scan{part}" for cell in ("rnn", "lstm", "gru") for part in ("", "_backward"))
MODES = ("auto", "0", "1")


def mode() -> str:
    value = os.environ.get("RNNBENCH_NATIVE", "auto")
    if value not in MODES:
        raise unknown("RNNBENCH_NATIVE value", value, MODES)
    return value


def cflags() -> list[str]:
    """-O3; AVX2 + FMA where torch itself runs its AVX2 (or AVX-512) kernels here; -fopenmp
    where ATen's parallel backend is OpenMP, because at::parallel_for is a header template
    that is serial without it (the GOMP symbols then resolve to torch's own libgomp)."""
    flags = ["-O3"]
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma"]
    if "parallel backend: OpenMP" in torch.__config__.parallel_info():
        flags += ["-fopenmp"]
    return flags


def cache_dir() -> Path:
    import platformdirs
    return platformdirs.user_cache_path("rnnbench") / "native"


@functools.cache
def _load(flags: tuple[str, ...]):
    from torch.utils.cpp_extension import load
    key = hashlib.sha256(SOURCE.read_bytes() + repr((flags, torch.__version__)).encode()).hexdigest()[:12]
    name = f"rnnbench_native_{key}"
    build = cache_dir() / name     # the name pins source, flags and torch: torch only loads
    build.mkdir(parents=True, exist_ok=True)
    path = os.environ.get("PATH", "")
    try:
        import ninja                                # the pip package: its binary, venv or not
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + path
    except ImportError:
        pass
    try:
        load(name=name, sources=[str(SOURCE)], extra_cflags=list(flags), build_directory=str(build),
             is_python_module=False, verbose=False)
    finally:
        os.environ["PATH"] = path
    return torch.ops.rnnbench


def op(name: str, like: torch.Tensor) -> Callable | None:
    """The compiled op `name` (one of OPS: "lstm_scan", "lstm_scan_backward", ...) for tensors
    like `like`, or None: not CPU float32, or no kernels (`load`)."""
    if name not in OPS:
        raise unknown("native op", name, OPS)
    if like.device.type != "cpu" or like.dtype != torch.float32:
        return None
    ops = load()
    return None if ops is None else getattr(ops, name)


@functools.cache
def load():
    """The compiled kernels (the torch.ops.rnnbench namespace), or None: RNNBENCH_NATIVE=0,
    or the build failed under `auto` (one warning per process says why)."""
    required = mode()
    if required == "0":
        return None
    flags = cflags()
    attempts = [flags] + ([[f for f in flags if f != "-fopenmp"]] if "-fopenmp" in flags else [])
    error = None
    for attempt in attempts:                        # a compiler without OpenMP: build it serial
        try:
            return _load(tuple(attempt))
        except Exception as e:                      # no compiler, no ninja, a failed build
            error = e
    lines = [s for s in str(error).strip().splitlines() if s.strip()] or [type(error).__name__]
    reason = lines[0][:200]
    if required == "1":
        raise UsageError(f"RNNBENCH_NATIVE=1 but the native kernels did not build: {reason}") from error
    warnings.warn(f"rnnbench: the native kernels did not build ({reason}); the cell backend's "
                  f"rnn, lstm and gru run their PyTorch scans (set RNNBENCH_NATIVE=0 to silence)",
                  RuntimeWarning, stacklevel=2)
    return None
