"""Where a dataset's files come from, tried in order, each file checked by sha256.

1. the data directory: `data_dir` given (`--data-dir`), else $RNNBENCH_DATA, else the
   user cache (platformdirs: ~/.cache/rnnbench/data on Linux), laid out as
   course/..., ucr/..., mnist/..., fashion-mnist/...; then any read-only system
   install of the dataset (a distro package's directory);
2. a download from the dataset's original public source, only when downloads are
   allowed (`download=True`, `rnnbench data fetch`, or RNNBENCH_DOWNLOAD=1): streamed
   to a temporary file beside its destination, verified, then renamed into the data
   directory - a failed or corrupt download leaves nothing behind;
3. otherwise a `UsageError` of one line: which dataset, where it looked, how to get it.

A file that is present but fails its checksum is an error naming the file (never
silently replaced): results computed from other data would not be comparable.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import UsageError
from ..io import umask
from .registry import DATASETS, DataFile, Dataset

ENV_DIR = "RNNBENCH_DATA"
ENV_DOWNLOAD = "RNNBENCH_DOWNLOAD"
TIMEOUT_S = 30.0
_CHUNK = 1 << 20


# ---------------------------------------------------------------------------- settings
def default_data_dir() -> Path:
    import platformdirs
    return platformdirs.user_cache_path("rnnbench") / "data"


def data_root(given: str | Path | None = None) -> Path:
    """The data directory: the given one, else $RNNBENCH_DATA, else the user cache."""
    if given:
        return Path(given).expanduser()
    env = os.environ.get(ENV_DIR)
    return Path(env).expanduser() if env else default_data_dir()


def downloads_allowed(given: bool | None = None) -> bool:
    if given is not None:
        return bool(given)
    return os.environ.get(ENV_DOWNLOAD, "").strip().lower() in ("1", "true", "yes", "on")


def _dataset(ds: str | Dataset) -> Dataset:
    return ds if isinstance(ds, Dataset) else DATASETS.get(ds)


# ---------------------------------------------------------------------------- checksums
def sha256_file(path: Path, gunzip: bool = False) -> str:
    h = hashlib.sha256()
    with (gzip.open if gunzip else open)(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


_verified: dict[tuple, str | None] = {}   # (path, size, mtime_ns) -> problem or None


def problem(path: Path, spec: DataFile) -> str | None:
    """None when `path` is a valid copy of `spec`, else what is wrong (one phrase)."""
    st = path.stat()
    key = (str(path.resolve()), spec.path, st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = _problem(path, spec)
    return _verified[key]


def _problem(path: Path, spec: DataFile) -> str | None:
    got = sha256_file(path)
    if spec.sha256 and got == spec.sha256:
        return None
    if spec.content_sha256 and spec.path.endswith(".gz"):
        try:
            content = sha256_file(path, gunzip=True)
        except (OSError, EOFError, gzip.BadGzipFile):
            content = "not a gzip file"
        if content == spec.content_sha256:
            return None
        return f"decompressed sha256 {content[:16]}... expected {spec.content_sha256[:16]}..."
    return f"sha256 {got[:16]}... expected {(spec.sha256 or '?')[:16]}..."


# ---------------------------------------------------------------------------- providers
class DataDirProvider:
    """Files under one data directory, at their registry path."""
    label = "data dir"

    def __init__(self, root: Path):
        self.root = Path(root)

    def candidates(self, f: DataFile) -> list[Path]:
        return [self.root / f.path]


class SystemDirProvider:
    """A read-only install (e.g. a Debian data package): the file's name in any of its dirs."""
    label = "system"

    def __init__(self, dirs: Iterable[str | Path]):
        self.dirs = [Path(d) for d in dirs]

    def candidates(self, f: DataFile) -> list[Path]:
        return [d / f.name for d in self.dirs]


class DownloadProvider:
    """The file's original public sources, verified, written atomically under `root`."""
    label = "download"

    def __init__(self, root: Path, timeout: float = TIMEOUT_S, quiet: bool = False):
        self.root = Path(root)
        self.timeout = timeout
        self.quiet = quiet
        self._archives: dict[str, Path] = {}   # url -> verified archive, shared by its members

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for tmp in self._archives.values():
            tmp.unlink(missing_ok=True)
        self._archives.clear()

    def fetch(self, ds: Dataset, f: DataFile) -> Path:
        if not f.urls:
            raise UsageError(f"dataset {ds.name!r}: {f.path} has no download source")
        dest = self.root / f.path
        created = _mkdirs(dest.parent)
        errors = []
        for url in f.urls:
            if not self.quiet and url not in self._archives:
                print(f"rnnbench: downloading {url} -> {dest}", file=sys.stderr, flush=True)
            try:
                self._fetch_one(url, f, dest)
                return dest
            except _Rejected as e:
                errors.append(f"{url}: {e}")
            except OSError as e:   # URLError, HTTPError, timeouts, refused connections
                errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        _rmdirs(created)
        raise UsageError(f"dataset {ds.name!r}: could not download {f.path} ({'; '.join(errors)}); "
                         f"nothing was written")

    def _fetch_one(self, url: str, f: DataFile, dest: Path) -> None:
        if f.member:
            data = _read_member(self._archive(url, f, dest.parent), f.member)
            if dest.name.endswith(".gz") and not f.member.endswith(".gz"):
                data = gzip.compress(data, compresslevel=9, mtime=0)
            tmp = _write_temp(dest.parent, data)
        else:
            tmp = _download(url, dest.parent, self.timeout)
        try:
            bad = _problem(tmp, f)
            if bad:
                raise _Rejected(f"checksum mismatch, {bad}")
            os.chmod(tmp, 0o666 & ~umask())   # mkstemp's 0600 would hide a shared cache from other users
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


    def _archive(self, url: str, f: DataFile, folder: Path) -> Path:
        """The archive at `url`, downloaded once per provider and checked against archive_sha256."""
        if url not in self._archives:
            tmp = _download(url, folder, self.timeout)
            got = sha256_file(tmp)
            if f.archive_sha256 and got != f.archive_sha256:
                tmp.unlink()
                raise _Rejected(f"archive sha256 {got[:16]}... expected {f.archive_sha256[:16]}...")
            self._archives[url] = tmp
        return self._archives[url]


class _Rejected(Exception):
    """A download that arrived but is not the expected file."""


def _download(url: str, folder: Path, timeout: float) -> Path:
    import urllib.request

    fd, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".tmp")
    tmp = Path(name)
    try:
        req = urllib.request.Request(url, headers={"User-Agent": "rnnbench"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _read_member(archive: Path, member: str) -> bytes:
    try:
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    except (zipfile.BadZipFile, KeyError) as e:
        raise _Rejected(f"archive has no readable member {member!r} ({e})") from None


def _write_temp(folder: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return Path(name)


def _mkdirs(folder: Path) -> list[Path]:
    """Create `folder` and missing parents; return those created (deepest first)."""
    created = []
    p = folder
    while not p.exists():
        created.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create data directory {folder}: {e.strerror or e}") from None
    return created


def _rmdirs(created: list[Path]) -> None:
    for d in created:
        try:
            d.rmdir()
        except OSError:
            return


# ---------------------------------------------------------------------------- resolving
@dataclass
class FileStatus:
    dataset: str
    file: str                 # registry path, e.g. "course/LondonAQ.npz"
    status: str               # ok | missing | mismatch | present (not hashed)
    path: str | None = None   # where it was found
    source: str | None = None  # data dir | system
    detail: str = ""


def providers(ds: Dataset, root: Path) -> list:
    out = [DataDirProvider(root)]
    if ds.system_dirs:
        out.append(SystemDirProvider(ds.system_dirs))
    return out


def find(ds: str | Dataset, f: DataFile, root: Path, verify: bool = True) -> FileStatus:
    """Look for one file in the local providers (no download)."""
    ds = _dataset(ds)
    for prov in providers(ds, root):
        for cand in prov.candidates(f):
            if cand.is_file():
                bad = problem(cand, f) if verify else None
                return FileStatus(ds.name, f.path, "mismatch" if bad else ("ok" if verify else "present"),
                                  str(cand), prov.label, bad or "")
    return FileStatus(ds.name, f.path, "missing")


def resolve(ds: str | Dataset, files: Iterable[str] | None = None, data_dir: str | Path | None = None,
            download: bool | None = None, quiet: bool = False) -> dict[str, Path]:
    """Paths of a dataset's files (all, or the named ones), verified; downloads if allowed.

    Returns {file name: path}; raises UsageError when a file is corrupt or cannot be had.
    """
    ds = _dataset(ds)
    root = data_root(data_dir)
    wanted = [ds.file(n) for n in files] if files is not None else list(ds.files)
    out: dict[str, Path] = {}
    with DownloadProvider(root, quiet=quiet) as downloader:
        for f in wanted:
            st = find(ds, f, root)
            if st.status == "mismatch":
                raise UsageError(f"dataset {ds.name!r}: checksum mismatch for {st.path} ({st.detail}): "
                                 f"delete or replace it")
            if st.status == "ok":
                out[f.name] = Path(st.path)
                continue
            if not downloads_allowed(download):
                raise UsageError(_not_found(ds, f, root))
            out[f.name] = downloader.fetch(ds, f)
    return out


def _not_found(ds: Dataset, f: DataFile, root: Path) -> str:
    looked = [str(root / f.path) + f" (data dir: --data-dir or ${ENV_DIR})"]
    looked += [str(Path(d) / f.name) for d in ds.system_dirs]
    how = (f"copy the files there, or allow downloads (`rnnbench data fetch {ds.name}` or "
           f"{ENV_DOWNLOAD}=1) to fetch {f.urls[0]}" if f.urls else "copy the files there")
    if ds.obtain:
        how += f", {ds.obtain}"
    return f"dataset {ds.name!r} not found: looked for {', '.join(looked)}; {how}"


def status(ds: str | Dataset, data_dir: str | Path | None = None, verify: bool = False) -> list[FileStatus]:
    """Every file of a dataset: found where, and (verify=True) whether its checksum holds."""
    ds = _dataset(ds)
    root = data_root(data_dir)
    return [find(ds, f, root, verify=verify) for f in ds.files]
