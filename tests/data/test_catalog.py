"""The dataset registry: complete entries, consistent with the tasks and the reference data."""
from __future__ import annotations

import gzip
import hashlib
import re

import pytest

from rnnbench import tasks
from rnnbench.data import DATASETS, status
from datahelpers import SHARED, needs_data

HEX64 = re.compile(r"^[0-9a-f]{64}$")


@pytest.mark.parametrize("name", DATASETS.names())
def test_entry_is_complete(name):
    ds = DATASETS.get(name)
    assert ds.name == name and ds.title and ds.description and ds.citation and ds.licence
    assert "\n" not in ds.description
    assert ds.files and len({f.path for f in ds.files}) == len(ds.files)
    for f in ds.files:
        assert f.path.split("/")[0] in ("course", "ucr", "mnist", "fashion-mnist")
        assert any(HEX64.match(h or "") for h in (f.sha256, f.content_sha256)), f.path
        assert f.urls and all(u.startswith(("http://", "https://")) for u in f.urls), f.path
        assert bool(f.member) == bool(f.archive_sha256)
        if f.content_sha256:
            assert f.path.endswith(".gz")
    for t in ds.used_by:
        assert name in tasks.TASKS.get(t).datasets


def test_every_task_dataset_is_registered():
    for _, cls in tasks.TASKS.items():
        for d in cls.datasets:
            assert d in DATASETS, (cls.name, d)


def test_course_files_come_from_the_course_repository():
    for name in ("london-aq", "airline-tweets", "poetry"):
        for f in DATASETS.get(name).files:
            assert f.urls[0].startswith("https://raw.githubusercontent.com/bejar/DLMAI/")


@needs_data
def test_reference_data_verifies():
    for name in ("london-aq", "airline-tweets", "poetry", "ucr-electricdevices"):
        for st in status(name, SHARED, verify=True):
            assert st.status == "ok", st


@needs_data
def test_ucr_content_checksums_match_the_reference_archives():
    for f in DATASETS.get("ucr-electricdevices").files:
        data = gzip.decompress((SHARED / f.path).read_bytes())
        assert hashlib.sha256(data).hexdigest() == f.content_sha256
