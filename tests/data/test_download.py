"""The data providers: data dir, checksums, and downloads from a local HTTP server."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import socket
import zipfile
from pathlib import Path

import pytest

from rnnbench.data import data_root, default_data_dir, resolve
from rnnbench.data.registry import DataFile, Dataset
from rnnbench.errors import UsageError
from datahelpers import http_server

GOOD = b"hour,value\n0,1.5\n1,2.5\n" * 100


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def demo(*files: DataFile) -> Dataset:
    return Dataset(name="demo", title="demo", description="a fixture", citation="-", licence="-",
                   files=files)


def files_under(p: Path) -> list[Path]:
    return sorted(p.rglob("*")) if p.exists() else []


@pytest.fixture
def served(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "good.csv").write_bytes(GOOD)
    with http_server(site) as url:
        yield site, url


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("RNNBENCH_DOWNLOAD", raising=False)
    monkeypatch.delenv("RNNBENCH_DATA", raising=False)


def test_download_with_a_good_checksum(served, tmp_path):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(url + "good.csv",)))
    cache = tmp_path / "cache"
    paths = resolve(ds, data_dir=cache, download=True, quiet=True)
    assert paths == {"good.csv": cache / "demo" / "good.csv"}
    assert paths["good.csv"].read_bytes() == GOOD
    assert [p.name for p in files_under(cache)] == ["demo", "good.csv"]   # no temporary file left
    # found locally from now on, with downloads off
    assert resolve(ds, data_dir=cache, download=False) == paths


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_a_download_honours_the_umask(served, tmp_path, mask):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(url + "good.csv",)))
    old = os.umask(mask)
    try:
        paths = resolve(ds, data_dir=tmp_path / "cache", download=True, quiet=True)
    finally:
        os.umask(old)
    assert paths["good.csv"].stat().st_mode & 0o777 == 0o666 & ~mask


def test_bad_checksum_is_rejected_and_nothing_is_kept(served, tmp_path):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(b"something else"), urls=(url + "good.csv",)))
    cache = tmp_path / "cache"
    with pytest.raises(UsageError) as e:
        resolve(ds, data_dir=cache, download=True, quiet=True)
    msg = str(e.value)
    assert "checksum mismatch" in msg and "good.csv" in msg and "\n" not in msg
    assert files_under(cache) == []


def test_unreachable_server_is_a_clear_error(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                          # nothing listens there now
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(f"http://127.0.0.1:{port}/good.csv",)))
    cache = tmp_path / "cache"
    with pytest.raises(UsageError) as e:
        resolve(ds, data_dir=cache, download=True, quiet=True)
    msg = str(e.value)
    assert msg.startswith("dataset 'demo': could not download demo/good.csv") and f":{port}/" in msg
    assert "refused" in msg.lower() and "\n" not in msg
    assert files_under(cache) == []


def test_next_mirror_after_a_404(served, tmp_path):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(url + "missing.csv", url + "good.csv")))
    assert resolve(ds, data_dir=tmp_path, download=True, quiet=True)["good.csv"].read_bytes() == GOOD


def test_archive_members_are_extracted_gzipped_and_fetched_once(served, tmp_path, capsys):
    site, url = served
    members = {"pkg/data/A_TRAIN.tsv": b"1\t0.5\t0.25\n" * 50, "pkg/data/A_TEST.tsv": b"2\t1.0\t2.0\n" * 30}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, blob in members.items():
            z.writestr(name, blob)
    (site / "pkg.whl").write_bytes(buf.getvalue())
    ds = demo(*(DataFile(f"ucr/{Path(m).name}.gz", content_sha256=sha(blob), urls=(url + "pkg.whl",),
                         archive_sha256=sha(buf.getvalue()), member=m) for m, blob in members.items()))
    paths = resolve(ds, data_dir=tmp_path / "cache", download=True)
    for m, blob in members.items():
        assert gzip.decompress(paths[f"{Path(m).name}.gz"].read_bytes()) == blob
    assert capsys.readouterr().err.count("downloading") == 1     # one archive, two members
    assert [p.name for p in files_under(tmp_path / "cache" / "ucr")] == ["A_TEST.tsv.gz", "A_TRAIN.tsv.gz"]


def test_archive_with_a_bad_checksum_is_rejected(served, tmp_path):
    site, url = served
    (site / "pkg.whl").write_bytes(b"not the archive")
    ds = demo(DataFile("ucr/A.tsv.gz", content_sha256=sha(b"x"), urls=(url + "pkg.whl",),
                       archive_sha256=sha(b"the archive"), member="A.tsv"))
    with pytest.raises(UsageError, match="archive sha256"):
        resolve(ds, data_dir=tmp_path / "cache", download=True, quiet=True)
    assert files_under(tmp_path / "cache") == []


def test_downloads_are_off_by_default(served, tmp_path, monkeypatch):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(url + "good.csv",)))
    with pytest.raises(UsageError) as e:
        resolve(ds, data_dir=tmp_path / "cache")
    msg = str(e.value)
    assert msg.startswith("dataset 'demo' not found: looked for ") and "\n" not in msg
    assert str(tmp_path / "cache" / "demo" / "good.csv") in msg and "RNNBENCH_DOWNLOAD=1" in msg
    assert url + "good.csv" in msg
    monkeypatch.setenv("RNNBENCH_DOWNLOAD", "1")                 # the environment switch
    assert resolve(ds, data_dir=tmp_path / "cache", quiet=True)["good.csv"].read_bytes() == GOOD


def test_a_corrupt_local_file_is_named_not_replaced(served, tmp_path):
    _, url = served
    ds = demo(DataFile("demo/good.csv", sha256=sha(GOOD), urls=(url + "good.csv",)))
    bad = tmp_path / "demo" / "good.csv"
    bad.parent.mkdir()
    bad.write_bytes(GOOD[:-1])
    with pytest.raises(UsageError, match=f"checksum mismatch for {bad}"):
        resolve(ds, data_dir=tmp_path, download=True, quiet=True)
    assert bad.read_bytes() == GOOD[:-1]


def test_a_recompressed_gz_is_accepted_by_content(tmp_path):
    content = b"0\t1\t2\n" * 100
    f = DataFile("x/a.tsv.gz", sha256=sha(gzip.compress(content, mtime=0)), content_sha256=sha(content))
    p = tmp_path / "x" / "a.tsv.gz"
    p.parent.mkdir()
    p.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))   # other bytes, same content
    assert resolve(demo(f), data_dir=tmp_path)["a.tsv.gz"] == p
    p.write_bytes(gzip.compress(content + b"!", mtime=0))
    with pytest.raises(UsageError, match="decompressed sha256"):
        resolve(demo(f), data_dir=tmp_path)


def test_data_dir_precedence(tmp_path, monkeypatch):
    assert data_root(None) == default_data_dir()
    assert "rnnbench" in str(default_data_dir())
    monkeypatch.setenv("RNNBENCH_DATA", str(tmp_path / "env"))
    assert data_root(None) == tmp_path / "env"
    assert data_root(tmp_path / "given") == tmp_path / "given"
