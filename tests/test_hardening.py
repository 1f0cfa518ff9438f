"""Hardening (issue 15): a checkpoint runs no code; every user mistake is one line, exit 2,
nothing written; faults (a kill mid-interval or mid-write, two runners on one dir) recover.

Each class of mistake is one test, parametrised over its members. CLI cases run in-process
through `rnnbench.cli.main` (fast); the lock, the kill and the broken pipe need real processes.
"""
from __future__ import annotations

import csv
import io
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rnnbench.config import RunConfig  # noqa: F401  (imported first: the package's import order)
from rnnbench.train import run, with_task_defaults
from runhelpers import REPO, kill_after_first_checkpoint

SMALL = ["--task", "adding", "--seq-len", "10", "--set", "n_train=64", "--set", "n_val=16",
         "--set", "n_test=16", "--hidden", "8", "--steps", "2", "--quiet"]
GRAD = ["--task", "adding", "--seq-len", "10", "--hidden", "8", "--samples", "4", "--jacobian-samples", "1"]
THRU = ["--arch", "lstm", "--backend", "fused", "--shape", "2x3x4", "--repeat", "1", "--rounds", "1",
        "--pass", "forward"]
READ_ONLY = "/sys/rnnbench-read-only"         # EPERM even for root (sysfs); see also test_io_*
LONG_NAME = "n" * 300                          # > NAME_MAX (255)
LONG_PATH = "/".join(["d" * 200] * 25)         # > PATH_MAX (4096)


@pytest.fixture(autouse=True)
def _threads(one_thread):
    yield


def snapshot(root: Path) -> list:
    """Every path under root with its size and mtime: 'nothing written' is an equal snapshot."""
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
                  for p in root.rglob("*"))


def cli(capsys, *argv) -> tuple[int, str]:
    from rnnbench.cli import main
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


def assert_one_line(rc, err, *fragments):
    lines = [l for l in err.splitlines() if l.strip()]
    assert rc == 2, (rc, err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], (f, lines[0])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, one_thread):
    """A tiny finished run dir, the flags that made it, and a results dir holding its runs.csv."""
    root = tmp_path_factory.mktemp("finished")
    from rnnbench.cli import main
    assert main(["train", *SMALL, "--out", str(root / "runs" / "r1")]) == 0
    assert main(["aggregate", str(root / "runs"), "--out", str(root / "results" / "runs.csv")]) == 0
    return root


@pytest.fixture
def work(tmp_path, monkeypatch, finished_run):
    """tmp_path as the working directory (an empty --out must not train into it), with a file."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# ---------------------------------------------------------------------------- out paths
def _out_cases():
    """(command argv before --out, kind expected, the command's name)."""
    return {
        "train": (["train", *SMALL], "directory"),
        "gradients": (["gradients", *GRAD], "directory"),
        "throughput": (["throughput", *THRU], "file"),
        "aggregate": (["aggregate", "{runs}"], "file"),
        "report": (["report", "{results}"], "directory"),
    }


OUT_MISTAKES = {
    "empty": ("", ["empty"]),
    "wrong kind": (None, []),                 # a file where a dir is expected, or the reverse
    "under a file": ("afile/sub", ["afile", "not a directory"]),
    "name too long": (LONG_NAME, ["longer than"]),
    "path too long": (LONG_PATH, ["too long"]),
    "read-only": (READ_ONLY, ["rnnbench-read-only"]),
}


@pytest.mark.parametrize("mistake", list(OUT_MISTAKES))
@pytest.mark.parametrize("command", list(_out_cases()))
def test_out_paths_one_line_nothing_written(capsys, work, finished_run, command, mistake):
    argv, kind = _out_cases()[command]
    argv = [a.format(runs=finished_run / "runs", results=finished_run / "results") for a in argv]
    out, fragments = OUT_MISTAKES[mistake]
    if mistake == "wrong kind":
        out = "afile" if kind == "directory" else "adir"
        fragments = ["existing file"] if kind == "directory" else ["existing directory"]
    if mistake == "read-only" and not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    before = snapshot(work)
    rc, err = cli(capsys, *argv, "--out", out)
    assert_one_line(rc, err, "--out" if mistake != "read-only" else "", *fragments)
    assert snapshot(work) == before


def test_out_read_only_directory_as_user(capsys, work, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into a mode-0555 directory")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    rc, err = cli(capsys, "train", *SMALL, "--out", ro / "run")
    assert_one_line(rc, err, "not writable")


IN_PATHS = {   # an input path: (argv with {p} for the path, the flag named)
    "train --config": (["train", *SMALL, "--config", "{p}", "--out", "o"], "config"),
    "train --data-dir": (["train", *SMALL, "--data-dir", "{p}", "--out", "o"], "--data-dir"),
    "gradients --checkpoint": (["gradients", "--checkpoint", "{p}", "--out", "o"], "--checkpoint"),
    "gradients --config": (["gradients", *GRAD, "--config", "{p}", "--out", "o"], "config"),
    "gradients --data-dir": (["gradients", *GRAD, "--data-dir", "{p}", "--out", "o"], "--data-dir"),
    "aggregate RUNS_DIR": (["aggregate", "{p}", "--out", "o.csv"], "RUNS_DIR"),
    "aggregate --expected": (["aggregate", "adir", "--expected", "{p}", "--out", "o.csv"], "--expected"),
    "report RESULTS_DIR": (["report", "{p}", "--out", "o"], "RESULTS_DIR"),
    "report --asv-results": (["report", "adir", "--asv-results", "{p}", "--out", "o"], "--asv-results"),
    "data list --data-dir": (["data", "list", "--data-dir", "{p}"], "--data-dir"),
    "data fetch --data-dir": (["data", "fetch", "mnist", "--data-dir", "{p}"], "--data-dir"),
}


@pytest.mark.parametrize("path", ["", LONG_NAME, LONG_PATH], ids=["empty", "name too long", "path too long"])
@pytest.mark.parametrize("case", list(IN_PATHS))
def test_input_paths_one_line_nothing_written(capsys, work, case, path):
    argv, flag = IN_PATHS[case]
    before = snapshot(work)
    rc, err = cli(capsys, *[path if a == "{p}" else a for a in argv])
    assert_one_line(rc, err, flag)
    assert snapshot(work) == before


# ---------------------------------------------------------------------------- sizes
SIZES = {
    "train hidden": (["train", *SMALL, "--hidden", "1000000"], ["hidden 1000000", "TB"]),
    "train layers": (["train", *SMALL, "--layers", "10000000"], ["layers 10000000"]),
    "train bidirectional": (["train", *SMALL, "--hidden", "300000", "--bidirectional"], ["hidden 300000"]),
    "gradients hidden": (["gradients", *GRAD, "--hidden", "1000000"], ["hidden 1000000"]),
    "throughput shape": (["throughput", *THRU[:4], "--shape", "1000000x1000000x1024"],
                         ["1000000x1000000x1024x1024"]),
    "throughput hidden": (["throughput", *THRU[:4], "--shape", "1x1x10000000"], ["1x1x10000000x10000000"]),
    "throughput layers": (["throughput", *THRU[:4], "--shape", "64x100x4096", "--layers", "5000"],
                          ["5000 layers"]),
}


@pytest.mark.parametrize("case", list(SIZES))
def test_sizes_beyond_memory_refused_up_front(capsys, work, case):
    argv, fragments = SIZES[case]
    before = snapshot(work)
    rc, err = cli(capsys, *argv, "--out", "o.csv" if argv[0] == "throughput" else "o")
    assert_one_line(rc, err, "memory", *fragments)
    assert snapshot(work) == before


def test_throughput_layer_count_capped(capsys, work):
    """A deep stack that fits in memory but would take most of an hour to build."""
    rc, err = cli(capsys, "throughput", *THRU[:4], "--shape", "2x3x4", "--layers", "1000000", "--out", "o.csv")
    assert_one_line(rc, err, "--layers 1000000 is more than 10,000")
    assert not (work / "o.csv").exists()


# ---------------------------------------------------------------------------- config files
def _bomb() -> str:
    text = "a: &a [x,x,x,x,x,x,x,x,x]\n"
    for prev, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [" + ",".join(["*" + prev] * 9) + "]\n"
    return text


CONFIGS = {   # name: (content, extra flags, fragments of the one line)
    "binary": (bytes(range(256)) * 4, [], ["binary"]),
    "not utf-8": (b"task: adding\nhidden: \xff\xfe8\n", [], ["not"]),
    "top-level list": ("- task\n- adding\n", [], ["mapping", "list"]),
    "list for a scalar": ("task: adding\nhidden: [8, 16]\n", [], ["hidden", "list"]),
    "list for the task": ("task: [adding]\n", [], ["task", "list"]),
    "mapping for a scalar": ("task: adding\narch: {lstm: 1}\n", [], ["arch", "mapping"]),
    "list for task_params": ("task: adding\ntask_params: [1, 2]\n", [], ["task_params", "list"]),
    "list for model_params": ("task: adding\nmodel_params: [1]\n", [], ["model_params", "list"]),
    "list in task_params": ("task: adding\ntask_params: {seq_len: [10]}\n", [], ["task_params.seq_len", "list"]),
    "deep nesting (lists)": ("task_params: " + "[" * 5000 + "]" * 5000 + "\n", [], ["config file"]),
    "deep nesting (mappings)": ("task_params: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", [], ["config file"]),
    "duplicate key": ("task: adding\nhidden: 8\nhidden: 16\n", [], ["duplicate key 'hidden'", "line 3"]),
    "duplicate key (JSON)": ('{"task": "adding", "lr": 0.1, "lr": 0.2}', [], ["duplicate key 'lr'"]),
    "duplicate nested key": ("task: adding\ntask_params:\n  seq_len: 10\n  seq_len: 20\n", [],
                             ["duplicate key 'seq_len'"]),
    "invalid in file, valid flag": ("task: adding\nhidden: -5\n", ["--hidden", "8"], ["hidden", "-5"]),
    "invalid task param in file, valid flag": ("task: adding\ntask_params: {seq_len: 0}\n",
                                               ["--seq-len", "10"], ["seq_len", "0"]),
    "python tag": ("task: !!python/object/apply:os.system ['echo pwned']\n", [], ["python/object"]),
    "alias bomb": (_bomb(), [], ["config file"]),
    "too large": (None, [], ["bytes"]),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_malformed_config_file_one_line_nothing_written(capsys, work, name):
    content, extra, fragments = CONFIGS[name]
    path = work / "cfgs" / "c.yaml"
    path.parent.mkdir()
    if content is None:   # two million lines, 30 MB: refused by size, not parsed for minutes
        with open(path, "w") as f:
            f.write("task: adding\ntask_params:\n" + "".join(f"  k{i}: {i}\n" for i in range(2_000_000)))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    before = snapshot(work)
    rc, err = cli(capsys, "train", "--config", path, *SMALL, *extra, "--out", "o")
    assert_one_line(rc, err, "c.yaml", *fragments)
    assert snapshot(work) == before


@pytest.mark.parametrize("what", ["a directory", "/dev/zero", "empty path"])
def test_config_path_not_a_file(capsys, work, what):
    path = {"a directory": work / "adir", "/dev/zero": "/dev/zero", "empty path": ""}[what]
    before = snapshot(work)
    for command in (["train", *SMALL], ["gradients", *GRAD]):
        rc, err = cli(capsys, *command, "--config", path, "--out", "o")
        assert_one_line(rc, err, "config")
    assert snapshot(work) == before


def test_config_file_c_loader_and_valid_files_still_load(tmp_path):
    import yaml as y
    from rnnbench.configfile import load_file, _loader
    assert issubclass(_loader(), getattr(y, "CSafeLoader", y.SafeLoader))
    p = tmp_path / "c.json"
    p.write_text('{"task": "adding", "task_params": {"seq_len": 10}, "clip": null}')
    assert load_file(p) == {"task": "adding", "task_params": {"seq_len": 10}, "clip": None}
    p.write_text("task_params: {<<: {seq_len: 10}, n_train: 64}\n")   # a merge key is not a duplicate
    assert load_file(p)["task_params"] == {"seq_len": 10, "n_train": 64}
    p.write_text("")
    assert load_file(p) == {}


# ---------------------------------------------------------------------------- existing run dirs
def _evil_reduce(marker: Path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    return Evil()


def _corrupt(kind: str, run_dir: Path, marker: Path) -> None:
    if kind == "garbage metrics.json":
        (run_dir / "metrics.json").write_text("{not json")
        return
    if kind == "metrics.json a list":
        (run_dir / "metrics.json").write_text("[1, 2]\n")
        return
    if kind == "config.json a list":
        (run_dir / "config.json").write_text("[1, 2]\n")
        return
    (run_dir / "metrics.json").unlink()
    ck = run_dir / "checkpoint.pt"
    if kind == "garbage checkpoint":
        ck.write_bytes(b"\x00garbage")
    elif kind == "truncated checkpoint":
        ck.write_bytes(ck.read_bytes()[:1000])
    elif kind == "checkpoint without a model":
        d = torch.load(ck, weights_only=True)
        del d["model"]
        torch.save(d, ck)
    elif kind == "malicious checkpoint":
        d = torch.load(ck, weights_only=True)
        d["state"]["curve"] = _evil_reduce(marker)
        torch.save(d, ck)


RUN_DIR_FAULTS = {
    "garbage metrics.json": ["metrics.json", "unreadable"],
    "metrics.json a list": ["metrics.json", "unreadable"],
    "config.json a list": ["config.json", "unreadable"],
    "garbage checkpoint": ["checkpoint.pt", "corrupt"],
    "truncated checkpoint": ["checkpoint.pt", "corrupt"],
    "checkpoint without a model": ["checkpoint.pt", "model"],
    "malicious checkpoint": ["checkpoint.pt", "refused", "system"],
}


@pytest.mark.parametrize("kind", list(RUN_DIR_FAULTS))
def test_existing_run_dir_faults_one_line_nothing_written(capsys, work, finished_run, kind):
    import shutil
    run_dir = work / "run"
    shutil.copytree(finished_run / "runs" / "r1", run_dir)
    marker = work / "PWNED"
    _corrupt(kind, run_dir, marker)
    before = snapshot(work)
    rc, err = cli(capsys, "train", *SMALL, "--out", run_dir)
    assert_one_line(rc, err, *RUN_DIR_FAULTS[kind])
    assert snapshot(work) == before              # config.json not rewritten, no lock file
    assert not marker.exists()


def test_malicious_checkpoint_runs_no_code(tmp_path, finished_run):
    """A checkpoint.pt whose unpickling would run `touch MARKER`: refused, in one line, by
    `rnnbench gradients --checkpoint` and by a resume (real processes: the code would run there)."""
    import shutil
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run / "runs" / "r1", run_dir)
    marker = tmp_path / "PWNED"
    (run_dir / "metrics.json").unlink()
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ck["extra"] = _evil_reduce(marker)
    torch.save(ck, run_dir / "checkpoint.pt")
    # the file really is an exploit: an unsafe load runs it
    pickle.loads(pickle.dumps(_evil_reduce(marker)))
    assert marker.exists()
    marker.unlink()
    before = snapshot(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for argv in (["gradients", "--checkpoint", run_dir / "checkpoint.pt", "--samples", "4",
                  "--out", tmp_path / "grads"],
                 ["gradients", "--checkpoint", run_dir, "--samples", "4", "--out", tmp_path / "grads"],
                 ["train", *SMALL, "--out", run_dir]):
        res = subprocess.run([sys.executable, "-m", "rnnbench", *map(str, argv)], capture_output=True,
                             text=True, env=env, timeout=300)
        assert_one_line(res.returncode, res.stderr, "refused", "checkpoint")
        assert not marker.exists(), argv
        assert snapshot(tmp_path) == before


def test_checkpoint_holds_tensors_and_plain_types_only(tmp_path, tiny_adding):
    run(with_task_defaults({**tiny_adding, "steps": 3}), tmp_path, quiet=True)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)   # raises if anything else
    assert set(ck) >= {"config_hash", "model", "optimizer", "torch_rng", "state"}


# ---------------------------------------------------------------------------- faults
def _curve_without_seconds(path: Path) -> str:
    rows = list(csv.reader(io.StringIO(path.read_text())))
    i = rows[0].index("seconds")
    return "\n".join(",".join(r[:i] + r[i + 1:]) for r in rows)


@pytest.mark.parametrize("stop_after", [6, 9, 15])
def test_resume_inside_an_eval_interval_gives_the_uninterrupted_curve(tmp_path, tiny_adding, monkeypatch,
                                                                      stop_after):
    """checkpoint_every 3 < eval_every 8: an interruption after the checkpoint at step 6, 9 or
    15 falls inside an interval; the resumed curve.csv (train_loss, grad_norm: every column but
    the wall-clock seconds) is byte for byte the uninterrupted run's, and so is steps.csv."""
    import rnnbench.train as train_mod
    cfg = {**tiny_adding, "steps": 24, "eval_every": 8, "checkpoint_every": 3}
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run(with_task_defaults(cfg), whole, quiet=True)

    real_save = train_mod._save

    def save_then_die(out, path, chash, model, optimizer, state):
        real_save(out, path, chash, model, optimizer, state)
        if state.step == stop_after:
            raise KeyboardInterrupt   # the process dies right after this checkpoint
    monkeypatch.setattr(train_mod, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(with_task_defaults(cfg), cut, quiet=True)
    monkeypatch.setattr(train_mod, "_save", real_save)
    assert not (cut / "metrics.json").exists()
    run(with_task_defaults(cfg), cut, quiet=True)
    assert f"resumed at step {stop_after}" in (cut / "run.log").read_text()
    assert _curve_without_seconds(cut / "curve.csv") == _curve_without_seconds(whole / "curve.csv")
    assert (cut / "steps.csv").read_bytes() == (whole / "steps.csv").read_bytes()


def test_sigkill_inside_an_eval_interval_gives_the_uninterrupted_curve(tmp_path, tiny_adding):
    cfg = {**tiny_adding, "steps": 3000, "checkpoint_every": 7, "eval_every": 500,
           "task_params": {**tiny_adding["task_params"], "n_train": 2048}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "rnnbench", "train", "--config", str(tmp_path / "cfg.yaml"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    kill_after_first_checkpoint(cmd, killed, settle=0.5, env=env)
    step = torch.load(killed / "checkpoint.pt", weights_only=True)["state"]["step"]
    assert not (killed / "metrics.json").exists(), "run finished before the kill: make it longer"
    assert subprocess.run(cmd + ["--out", str(killed)], env=env).returncode == 0
    assert subprocess.run(cmd + ["--out", str(whole)], env=env).returncode == 0
    assert step % 500 != 0 or step == 0
    assert _curve_without_seconds(killed / "curve.csv") == _curve_without_seconds(whole / "curve.csv")


def test_tmp_leftovers_of_a_killed_write_are_cleaned(tmp_path, tiny_adding):
    cfg = with_task_defaults({**tiny_adding, "steps": 6, "checkpoint_every": 2})
    run(cfg, tmp_path, quiet=True)
    (tmp_path / "metrics.json").unlink()          # as if killed before the end
    left = [tmp_path / ".checkpoint.pt.k3j2_1.tmp", tmp_path / ".curve.csv.x8e2.tmp",
            tmp_path / "grad_checkpoints" / ".step4.csv.abc.tmp"]
    left[-1].parent.mkdir()
    for p in left:
        p.write_bytes(b"half")
    run(cfg, tmp_path, quiet=True)
    assert not [p for p in left if p.exists()]
    assert not list(tmp_path.rglob(".*.tmp"))
    # a finished run dir: leftovers go too, the results stay
    left[0].write_bytes(b"half")
    run(cfg, tmp_path, quiet=True)
    assert not left[0].exists() and (tmp_path / "metrics.json").exists()


def test_second_runner_on_the_same_out_dir_is_refused(tmp_path, tiny_adding):
    """Two real processes: the second names the first (pid, host) and exits 2, writing nothing."""
    import socket
    cfg = {**tiny_adding, "steps": 100000, "task_params": {**tiny_adding["task_params"], "n_train": 2048}}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "rnnbench", "train", "--config", str(tmp_path / "cfg.yaml"), "--quiet",
           "--out", str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (tmp_path / "run" / "run.log").exists():
            time.sleep(0.05)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert_one_line(second.returncode, second.stderr, "in use", f"pid {first.pid}", socket.gethostname())
        assert first.poll() is None, "the first run ended: make it longer"
        headers = [l for l in (tmp_path / "run" / "run.log").read_text().splitlines() if "params |" in l]
        assert len(headers) == 1           # the second never started training into it
    finally:
        first.kill()
        first.wait()
    assert subprocess.run(cmd[:-2] + ["--steps", "2", "--out", str(tmp_path / "run2")], env=env).returncode == 0


def test_lock_is_released_in_process(tmp_path, tiny_adding):
    from rnnbench.errors import UsageError
    from rnnbench.train import RunLock
    with RunLock(tmp_path):
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
            with RunLock(tmp_path):
                pass
    with RunLock(tmp_path):   # released: free again
        pass


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_honour_the_umask(tmp_path, umask):
    from rnnbench.io import atomic_torch_save, atomic_write_json, atomic_write_text
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_json(tmp_path / "b.json", {"a": 1})
        atomic_torch_save(tmp_path / "c.pt", {"a": torch.zeros(1)})
        (tmp_path / "plain").write_text("x")           # what any other file gets
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert (tmp_path / "plain").stat().st_mode & 0o777 == want
    for name in ("a.txt", "b.json", "c.pt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == want, name


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"]])
def test_closed_pipe_exits_quietly(argv):
    """`rnnbench list | head -1`: the reader is gone before the output; no BrokenPipeError."""
    proc = subprocess.Popen([sys.executable, "-m", "rnnbench", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert err == "", err
    assert proc.returncode == 141


def test_finished_run_in_a_read_only_place_is_still_read(tmp_path, tiny_adding, monkeypatch):
    """Re-running a finished run writes nothing, so a read-only results folder is fine; a new
    run there is refused in one line before anything is built."""
    import rnnbench.io as rio
    from rnnbench.errors import UsageError
    cfg = with_task_defaults({**tiny_adding, "steps": 2})
    m = run(cfg, tmp_path / "done", quiet=True)
    monkeypatch.setattr(rio, "_can_create_in", lambda folder: False)   # as a read-only mount
    assert run(cfg, tmp_path / "done", quiet=True) == m
    with pytest.raises(UsageError, match="not writable"):
        run(cfg, tmp_path / "new", quiet=True)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("value", ["-3", "0", "1e20", "many", "99999"])
def test_check_cell_threads_out_of_range_one_line(capsys, value):
    with pytest.raises(SystemExit) as e:
        cli(capsys, "check-cell", "rnn", "--threads", value)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert_one_line(2, err, f"invalid threads {value!r}")
