"""`rnnbench data list|verify|fetch` (in process: the CLI's main with arguments)."""
from __future__ import annotations

import hashlib
import json

from rnnbench.cli import main
from rnnbench.data import DATASETS
from rnnbench.data.registry import DataFile, Dataset
from datahelpers import SHARED, http_server, needs_data


def run(capsys, *args):
    rc = main(["data", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_list_empty_dir(tmp_path, capsys):
    rc, out, _ = run(capsys, "list", "--data-dir", tmp_path, "--json")
    doc = json.loads(out)
    assert rc == 0 and doc["data_dir"] == str(tmp_path)
    assert [d["name"] for d in doc["datasets"]] == DATASETS.names()
    by = {d["name"]: d for d in doc["datasets"]}
    assert by["london-aq"]["status"] == "missing" and by["london-aq"]["licence"]
    rc, out, _ = run(capsys, "list", "--data-dir", tmp_path)
    assert rc == 0 and "london-aq" in out and "missing" in out


@needs_data
def test_list_and_verify_the_reference_data(capsys):
    rc, out, _ = run(capsys, "list", "--data-dir", SHARED, "--json")
    by = {d["name"]: d["status"] for d in json.loads(out)["datasets"]}
    assert all(by[n] == "available" for n in ("london-aq", "airline-tweets", "poetry", "ucr-electricdevices"))
    rc, out, err = run(capsys, "verify", "london-aq", "poetry", "ucr-electricdevices", "--data-dir", SHARED)
    assert rc == 0 and out.count(" ok ") == 7 and not err


def test_verify_names_a_corrupt_file_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "course" / "LondonAQ.npz"
    bad.parent.mkdir()
    bad.write_bytes(b"not the file")
    rc, out, err = run(capsys, "verify", "--data-dir", tmp_path)
    assert rc == 2 and "MISMATCH" in out
    assert err.startswith("rnnbench data: error: checksum mismatch: ") and str(bad) in err
    assert err.count("\n") == 1
    rc, _, err = run(capsys, "verify", "nosuch", "--data-dir", tmp_path)
    assert rc == 2 and "unknown dataset 'nosuch'" in err


def test_fetch_downloads_a_dataset(tmp_path, capsys, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "f.txt").write_bytes(b"payload\n")
    with http_server(site) as url:
        ds = Dataset(name="demo", title="demo", description="fixture", citation="-", licence="-",
                     files=(DataFile("demo/f.txt", sha256=hashlib.sha256(b"payload\n").hexdigest(),
                                     urls=(url + "f.txt",)),))
        monkeypatch.setitem(DATASETS._entries, "demo", ds)
        rc, out, _ = run(capsys, "fetch", "demo", "--data-dir", tmp_path / "cache")
    assert rc == 0 and (tmp_path / "cache" / "demo" / "f.txt").read_bytes() == b"payload\n"
    rc, out, _ = run(capsys, "verify", "demo", "--data-dir", tmp_path / "cache", "--json")
    assert rc == 0 and json.loads(out)["files"][0]["status"] == "ok"
