"""Atomic file writes and out-path checks.

Writes: a temp file in the same directory, fsync, then rename, so a reader (or a
resumed run, or Snakemake) never sees a half-written file. The file gets the
mode any other new file gets (0666 less the umask), not mkstemp's 0600: results
are shared on clusters and web servers. A kill mid-write can leave a
`.NAME.XXXX.tmp` beside NAME; `clean_tmp` removes such leftovers (the runner
calls it under its run-dir lock).

Checks: `check_out_dir` / `check_out_file` refuse an unusable --out (empty, the
wrong kind of thing, too long, not writable) as one UsageError, before anything
is computed or written.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from .errors import UsageError

TMP_SUFFIX = ".tmp"


def umask() -> int:
    """The process umask, read without changing it where possible."""
    try:   # read without changing it (os.umask can only set); Linux 4.7+
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _atomic(path: Path, write: Callable[[Any], None], mode: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path, text: str) -> None:
    _atomic(path, lambda f: f.write(text), "w")


def atomic_write_json(path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def atomic_torch_save(path, obj: Any) -> None:
    import torch
    _atomic(path, lambda f: torch.save(obj, f), "wb")


def clean_tmp(folder, recursive: bool = True) -> list[Path]:
    """Remove `.*.tmp` leftovers of interrupted atomic writes in `folder`; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(f".*{TMP_SUFFIX}") if recursive else folder.glob(f".*{TMP_SUFFIX}")
    removed = []
    for p in found:
        try:
            if p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
        except OSError:     # a read-only results folder: leave it be
            pass
    return removed


# ---------------------------------------------------------------------------- out paths
def _nearest_existing(p: Path) -> Path:
    p = p.absolute()
    while not os.path.lexists(p):
        p = p.parent
    return p


def _check_path(path, flag: str, kind: str, writable: bool = True) -> Path:
    """Common checks of an out path that is to hold a `kind` ("directory" or "file")."""
    if path is None or str(path).strip() == "":
        raise UsageError(f"{flag} is empty: give a {kind} path")
    if "\0" in str(path):
        raise UsageError(f"{flag} {str(path)!r} contains a NUL byte")
    p = Path(path)
    absolute = p.absolute()
    limit_path = os.pathconf("/", "PC_PATH_MAX") if hasattr(os, "pathconf") else 4096
    if len(os.fsencode(str(absolute))) >= limit_path:
        raise UsageError(f"{flag} is too long ({len(str(absolute))} characters; the limit is "
                         f"{limit_path - 1})")
    base = _nearest_existing(absolute)
    what = f"{flag}: out {'dir' if kind == 'directory' else 'file'}"
    try:
        limit_name = os.pathconf(base if base.is_dir() else base.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit_name = 255
    for part in absolute.parts:
        if len(os.fsencode(part)) > limit_name:
            raise UsageError(f"{what} {_short(path)} has a name longer than {limit_name} bytes")
    if str(path).endswith(os.sep) and kind == "file":
        raise UsageError(f"{what} {path} ends in '{os.sep}': give a file name, not a directory")
    if base == absolute:
        if kind == "directory" and not base.is_dir():
            raise UsageError(f"{what} {path} is an existing file, not a directory")
        if kind == "file" and base.is_dir():
            raise UsageError(f"{what} {path} is an existing directory: give a file name")
        if not writable:
            return p
        if not os.access(base if base.is_dir() else base.parent, os.W_OK) or \
                not _can_create_in(base if base.is_dir() else base.parent):
            raise UsageError(f"{what} {path} is not writable")
        if base.is_file() and not os.access(base, os.W_OK):
            raise UsageError(f"{what} {path} is not writable")
    else:
        if not base.is_dir():
            raise UsageError(f"{what} {path} cannot be created: {base} is a file, not a directory")
        if not writable:
            return p
        if not os.access(base, os.W_OK | os.X_OK) or _read_only_fs(base) or not _can_create_in(base):
            raise UsageError(f"{what} {path} cannot be created: {base} is not writable")
    return p


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in `folder` (an anonymous temp file, gone at once: root
    passes os.access everywhere, and some file systems refuse what their modes allow)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _read_only_fs(p: Path) -> bool:
    try:
        return bool(os.statvfs(p).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _short(path) -> str:
    s = str(path)
    return s if len(s) <= 80 else s[:40] + "..." + s[-30:]


def check_in_path(path, flag: str) -> Path:
    """An input path as a Path: a UsageError (one line) if it is empty or longer than the
    system allows (os.stat would raise ENAMETOOLONG, even inside Path.exists())."""
    if path is None or str(path).strip() == "":
        raise UsageError(f"{flag} is empty: give a path")
    if "\0" in str(path):
        raise UsageError(f"{flag} {str(path)!r} contains a NUL byte")
    absolute = Path(path).absolute()
    if len(os.fsencode(str(absolute))) >= 4096 or any(len(os.fsencode(part)) > 255 for part in absolute.parts):
        raise UsageError(f"{flag} {_short(path)} is too long (a name over 255 bytes or a path over 4095)")
    return Path(path)


def check_out_dir(path, flag: str = "--out", writable: bool = True) -> Path:
    """The out dir as a Path; a UsageError (one line) if it cannot be one. Creates nothing.
    writable=False: all but the permission checks (a finished run's dir may be read-only)."""
    return _check_path(path, flag, "directory", writable)


def check_out_file(path, flag: str = "--out") -> Path:
    """The out file as a Path; a UsageError (one line) if it cannot be written. Creates nothing."""
    return _check_path(path, flag, "file")


def os_error(e: OSError, what: str) -> UsageError:
    """A write that failed anyway (disk full, permissions changed, a race) as one line."""
    reason = e.strerror or (errno.errorcode.get(e.errno) if e.errno else None) or str(e)
    where = f" ({e.filename})" if e.filename else ""
    return UsageError(f"cannot write {what}: {reason}{where}")
