# Shared by every rule: the config checked against the schema, the grid expanded into
# cells (rnnbench/grid.py), and the helpers the rules call (no lambdas in the rules).
# Nothing here runs a job; the grid's provenance files are written at parse time.

import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# rnnbench is imported from the checkout that holds this Snakefile (installed or not),
# and every job runs this checkout's rnnbench with the interpreter that runs Snakemake.
REPO = workflow.basedir
if REPO not in sys.path:
    sys.path.insert(0, REPO)
PYTHON = f"PYTHONPATH={shlex.quote(REPO)}${{PYTHONPATH:+:$PYTHONPATH}} {shlex.quote(sys.executable)}"
RNNBENCH = f"{PYTHON} -m rnnbench"

from rnnbench import grid as G
from rnnbench.errors import UsageError


validate(config, "../config/schema.yaml")
RESULTS = os.path.normpath(config["results"])


def provenance_file(name):
    return f"{RESULTS}/provenance/{name}"


if workflow.is_main_process:
    try:
        CELLS = G.expand(config)
        G.check_data(CELLS, config["data_dir"])
    except UsageError as e:
        raise WorkflowError(f"grid config: {e}") from None
else:
    # A job of a cluster executor re-reads the workflow: take the grid the main process
    # expanded (and wrote, below) instead of importing the registries (torch) again.
    CELLS = G.load_cells(provenance_file("cells.csv"))

BY_PATH = {c.path: c for c in CELLS}
GRADIENT_CELLS = [c for c in CELLS if c.gradients]


wildcard_constraints:
    task="[^/]+",
    arch="[^/]+",
    cell="[^/]+",


def write_grid_files():
    """The resolved grid config and its cells, rewritten only when their content changes
    (their mtime then triggers the aggregation; an unchanged grid reruns nothing)."""
    import csv
    import io

    import yaml

    G.write_if_changed(provenance_file("grid.yaml"), yaml.safe_dump(dict(config), sort_keys=False))
    rows = G.cells_table(CELLS)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    G.write_if_changed(provenance_file("cells.csv"), buf.getvalue())


def clear_stale_locks():
    """A Snakemake killed with SIGKILL leaves its locks, and the same command would then
    refuse to run. Remove them when nothing of that run is alive: no other snakemake and
    no `rnnbench` job works in this directory (Linux /proc; elsewhere, or while such a
    process lives, the locks stay: Snakemake then says so, and `--unlock` clears them)."""
    proc_root = Path(os.sep) / "proc"
    locks = list(Path(".snakemake/locks").glob("*.lock"))
    if not locks or not (proc_root / "self" / "cwd").exists():
        return
    here, mine = os.getcwd(), set()
    pid = os.getpid()
    while pid > 1:  # this process and its ancestors (a wrapper shell, pytest)
        mine.add(pid)
        try:
            pid = int((proc_root / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    for proc in proc_root.iterdir():
        if not proc.name.isdigit() or int(proc.name) in mine:
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == here and "-m rnnbench" in cmd and "snakemake" not in cmd:
            print(f"rnnbench: a job of an earlier run is still working here (pid {proc.name}: "
                  f"{cmd.strip()[:100]}); its locks stay until it ends", file=sys.stderr)
            return
        if cwd == here and "snakemake" in cmd:
            return  # a live run: its locks are real
    for f in locks:
        f.unlink(missing_ok=True)
    print("rnnbench: removed the locks of an earlier, killed Snakemake run", file=sys.stderr)


if workflow.is_main_process:
    clear_stale_locks()
    write_grid_files()


# ---------------------------------------------------------------- per-cell helpers
def cell_of(wildcards):
    path = f"{wildcards.task}/{wildcards.arch}/{wildcards.cell}"
    try:
        return BY_PATH[path]
    except KeyError:
        raise WorkflowError(f"{path} is not a cell of this grid (see {provenance_file('cells.csv')})")


def cell_config(wildcards):
    """The cell's RunConfig as one line of JSON (written to cell.json by the job)."""
    return cell_of(wildcards).config_json()


def run_dir(wildcards):
    return f"{RESULTS}/runs/{cell_of(wildcards).path}"


def gradients_dir(wildcards):
    return f"{RESULTS}/gradients/{cell_of(wildcards).path}"


def cell_threads(wildcards):
    return cell_of(wildcards).threads


def cell_mem_mb(wildcards):
    return int(cell_of(wildcards).resources.get("mem_mb", 1000))


def cell_runtime(wildcards):
    return int(cell_of(wildcards).resources.get("runtime", 30))


def cell_gpus(wildcards):
    """1 for a cuda cell: `--resources gpu=N` locally, `--gpus=1` through SLURM."""
    return 1 if cell_of(wildcards).config.get("device") == "cuda" else 0


def gradient_mem_mb(wildcards):
    return int(config["gradients"].get("resources", {}).get("mem_mb", cell_mem_mb(wildcards)))


def gradient_runtime(wildcards):
    return int(config["gradients"].get("resources", {}).get("runtime", cell_runtime(wildcards)))


def sibling(name):
    """A params function: the path `name` beside the rule's first output."""

    def params_path(wildcards, output):
        return os.path.join(os.path.dirname(output[0]), name)

    return params_path


def output_dir(wildcards, output):
    return os.path.dirname(output[0])


def results_root(wildcards, input):
    """The folder of runs.csv: what `rnnbench report` reads."""
    return os.path.dirname(input.runs)


def data_dir_option(wildcards):
    d = config["data_dir"]
    return f"--data-dir {shlex.quote(str(Path(d).expanduser().resolve()))}" if d else ""


def cell_gpu_model(wildcards):
    """`slurm.gpu_model` for a cuda cell (-> --gpus=MODEL:1), nothing for a cpu cell."""
    return config["slurm"]["gpu_model"] if cell_gpus(wildcards) else ""


def slurm_resources():
    """sbatch settings from the config's `slurm:` section, only those set (the slurm
    executor reads them; local runs ignore them)."""
    s = config["slurm"]
    names = {"partition": "slurm_partition", "account": "slurm_account", "extra": "slurm_extra"}
    out = {names[k]: v for k, v in s.items() if k in names and v}
    if s.get("gpu_model"):
        out["gpu_model"] = cell_gpu_model
    return out


SLURM = slurm_resources()


# ---------------------------------------------------------------- targets
def metrics_files(wildcards=None):
    return [f"{RESULTS}/runs/{c.path}/metrics.json" for c in CELLS]


def gradient_files(wildcards=None):
    return [f"{RESULTS}/gradients/{c.path}/gradients.csv" for c in GRADIENT_CELLS]


def final_targets():
    """The report, the table and the provenance; and every run and gradient file, so
    that a cell that failed is retried even when a table written after the failure
    (onerror below) already exists."""
    return [f"{RESULTS}/runs.csv", f"{RESULTS}/report/index.html",
            provenance_file("environment.json"), *metrics_files(), *gradient_files()]


# ---------------------------------------------------------------- after a failure
def aggregate_after_failure():
    """`onerror`: a failed job blocks the aggregation rule (its input is missing), so
    aggregate what exists now, with the failed and missing cells marked, and rebuild
    the report; rerunning the same command retries the failed cells."""
    import subprocess

    from rnnbench.aggregate import aggregate_runs

    try:
        df = aggregate_runs(f"{RESULTS}/runs", f"{RESULTS}/runs.csv",
                            expected=provenance_file("cells.csv"))
    except Exception as e:  # noqa: BLE001 - best effort; the job's error is the news
        print(f"rnnbench: could not aggregate after the failure: {e}", file=sys.stderr)
        return
    bad = int(df["status"].isin(["failed", "missing"]).sum())
    print(f"rnnbench: wrote {RESULTS}/runs.csv: {bad} of {len(df)} runs failed or missing "
          f"(rerun the same command to retry what failed)", file=sys.stderr)
    log = Path(f"{RESULTS}/logs/report.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        r = subprocess.run(f"{RNNBENCH} report {shlex.quote(RESULTS)} --out {shlex.quote(RESULTS)}/report",
                           shell=True, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode == 0:
        print(f"rnnbench: report with the failures: {RESULTS}/report/index.html", file=sys.stderr)
    else:
        print(f"rnnbench: the report failed too, see {log}", file=sys.stderr)
