# Shared by every rule: the config checked against the schema, the grid expanded into
# cells (rnnbench/grid.py), and the helpers the rules call (no lambdas in the rules).
# Parsing reads and checks; it writes nothing (the grid's files are the `grid` rule's).

import hashlib
import os
import shlex
import sys
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rnnbench import grid as G
from rnnbench.errors import UsageError
from rnnbench.io import atomic_write_text

# Every job runs the rnnbench installed beside the Snakemake running the workflow: its
# interpreter's (`pip install -e .` puts the checkout there).
PYTHON = shlex.quote(sys.executable)
RNNBENCH = f"{PYTHON} -m rnnbench"


validate(config, "../config/schema.yaml")
RESULTS = os.path.normpath(config["results"])
# The grid's plugins (a user's cells and tasks, rnnbench/plugins.py): G.expand loads them in
# this process, and every job's `rnnbench` is told to.
RNNBENCH += "".join(f" --plugin {shlex.quote(m)}" for m in config["plugins"])


def provenance_file(name):
    return f"{RESULTS}/provenance/{name}"


if workflow.is_main_process:
    try:
        CELLS = G.pipeline_cells(config)
        G.check_data(CELLS, config["data_dir"])
    except UsageError as e:
        raise WorkflowError(f"grid config: {e}") from None
elif os.path.isfile(provenance_file("cells.csv")):
    # A job run apart (a cluster job, or a `run:` job) re-reads the workflow: it takes the
    # grid from the `grid` rule's cells.csv (every job's input, so written before any other
    # job starts) instead of importing the registries (torch) to expand it again.
    CELLS = G.load_cells(provenance_file("cells.csv"))
else:
    CELLS = G.pipeline_cells(config)   # the `grid` job itself

BY_PATH = {c.path: c for c in CELLS}
# The seed groups (grid.seed_groups; the config's group_seeds): group path -> its cells, by seed.
GROUPS = {}
for _c in CELLS:
    if _c.group:
        GROUPS.setdefault(_c.group, []).append(_c)
GRADIENT_CELLS = [c for c in CELLS if c.gradients]


# ---------------------------------------------------------------- the throughput sweep
def throughput_sweep():
    """The kernel throughput sweep (workflows/rules/throughput.smk): the config's `throughput:`
    block merged with the sweeps the named claims declare (rnnbench.claims.grid; the config's
    scalars win, the axes are the union), the schema's defaults filled; None: no sweep."""
    own = config.get("throughput")
    theirs = None
    if config["claims"]:
        from rnnbench import claims

        theirs = claims.grid(config["claims"]).get("throughput")
    if own is None and theirs is None:
        return None
    if theirs is not None:
        from rnnbench.claims.base import merge_throughput

        own = merge_throughput(own, theirs)
    block = {"claims": [], "throughput": dict(own)}
    validate(block, "../config/schema.yaml")      # the defaults of what a claim left out
    sweep = block["throughput"]
    for k in ("arch", "backend", "hidden"):
        sweep[k] = sweep[k] if isinstance(sweep[k], list) else [sweep[k]]
    return sweep


def throughput_args(sweep):
    """`rnnbench throughput`'s options for the sweep: forward + backward, one NxTxIxH shape per H."""
    shapes = [f"{sweep['batch']}x{sweep['seq_len']}x{sweep['input']}x{h}" for h in sweep["hidden"]]
    return " ".join([
        "--arch", *map(shlex.quote, map(str, sweep["arch"])), "--backend", *map(shlex.quote, sweep["backend"]),
        "--shape", *shapes, "--pass", "forward_backward", "--rounds", str(sweep["rounds"]),
        "--repeat", str(sweep["repeat"]), "--threads", str(sweep["threads"]), "--device", sweep["device"],
        *(["--match", shlex.quote(sweep["match"])] if sweep.get("match") else [])])


THROUGHPUT = throughput_sweep()
if THROUGHPUT is not None and workflow.is_main_process:
    from rnnbench.models import ARCHS, CELLS as _CELL_REGISTRY    # CELLS is the grid's cells

    for _arch in THROUGHPUT["arch"]:
        if _arch not in ARCHS:
            raise WorkflowError(f"grid config: unknown cell {_arch!r} in throughput.arch "
                                f"(valid: {', '.join(ARCHS.names())})")
    if THROUGHPUT.get("match") is not None and THROUGHPUT["match"] not in _CELL_REGISTRY:
        raise WorkflowError(f"grid config: unknown cell {THROUGHPUT['match']!r} in throughput.match "
                            f"(valid: {', '.join(_CELL_REGISTRY.names())})")


# The `throughput` rule's settings: it runs alone (every core here), with the sweep's resources.
def sweep_threads(wildcards):
    """Every core of this machine (the sweep runs alone); where jobs go to a cluster (no
    --cores here), its own threads."""
    if workflow.local_exec:
        try:
            return workflow.cores
        except WorkflowError:
            pass
    return THROUGHPUT["threads"]


def sweep_resource(name, default):
    def get(wildcards):
        return int(THROUGHPUT.get("resources", {}).get(name, default))

    return get


def sweep_gpus(wildcards):
    return 1 if THROUGHPUT["device"] == "cuda" else 0


def sweep_slurm():
    """The sbatch settings of the config's `slurm:` section (common.smk: SLURM), gpu_model for a
    cuda sweep."""
    out = {k: v for k, v in SLURM.items() if k != "gpu_model"}
    if config["slurm"].get("gpu_model") and THROUGHPUT["device"] == "cuda":
        out["gpu_model"] = config["slurm"]["gpu_model"]
    return out


wildcard_constraints:
    task="[^/]+",
    arch="[^/]+",
    cell="[^/]+",
    group="[^/]+",


def grid_files(cells=None):
    """{name: text} of the grid's provenance files: the resolved config and its cells (CELLS)."""
    return {"grid.yaml": yaml.safe_dump(dict(config), sort_keys=False),
            "cells.csv": G.cells_csv(CELLS if cells is None else cells)}


def write_grid_files(grid_yaml, cells_csv, log):
    """The `grid` rule's job: atomic writes (rnnbench.io). It expands the config afresh: run
    apart from the main process, this module took CELLS from the cells.csv being replaced."""
    cells = G.pipeline_cells(config)
    files = grid_files(cells)
    atomic_write_text(grid_yaml, files["grid.yaml"])
    atomic_write_text(cells_csv, files["cells.csv"])
    Path(log).write_text(f"{len(cells)} cells, {sum(c.gradients for c in cells)} with gradient diagnostics\n")


def grid_digest():
    """The `grid` rule's params: the hash of what it writes, so that it reruns exactly when
    the grid changed (rerun-triggers: params)."""
    texts = grid_files()
    return hashlib.sha256("\0".join(f"{k}\0{v}" for k, v in sorted(texts.items())).encode()).hexdigest()


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


def group_of(wildcards):
    path = f"{wildcards.task}/{wildcards.arch}/{wildcards.group}"
    try:
        return GROUPS[path]
    except KeyError:
        raise WorkflowError(f"{path} is not a seed group of this grid (see {provenance_file('cells.csv')})")


def group_setup(wildcards):
    """The group job's first command: each member's run dir and its cell.json (as `train` writes it)."""
    return " && ".join(f"mkdir -p {shlex.quote(d)} && printf '%s\\n' {shlex.quote(c.config_json())} "
                       f"> {shlex.quote(d)}/cell.json"
                       for c in group_of(wildcards) for d in [f"{RESULTS}/runs/{c.path}"])


def group_dirs(wildcards):
    return " ".join(shlex.quote(f"{RESULTS}/runs/{c.path}") for c in group_of(wildcards))


def group_config(wildcards):
    """The members' configs (params: a changed member reruns the group)."""
    return [c.config_json() for c in group_of(wildcards)]


def group_threads(wildcards):
    return group_of(wildcards)[0].threads


def group_mem_mb(wildcards):
    return max(int(c.resources.get("mem_mb", 1000)) for c in group_of(wildcards))


def group_runtime(wildcards):
    """The members' runtimes added: the bound of training them one after another."""
    return sum(int(c.resources.get("runtime", 30)) for c in group_of(wildcards))


def group_gpus(wildcards):
    return 1 if group_of(wildcards)[0].config.get("device") == "cuda" else 0


def gradients_dir(wildcards):
    return f"{RESULTS}/gradients/{cell_of(wildcards).path}"


def cell_threads(wildcards):
    return cell_of(wildcards).threads


def cell_mem_mb(wildcards):
    return int(cell_of(wildcards).resources.get("mem_mb", 1000))


def cell_runtime(wildcards):
    return int(cell_of(wildcards).resources.get("runtime", 30))


def cell_gpus(wildcards):
    """1 for a cuda cell (or seed group): `--resources gpu=N` locally, `--gpus=1` through SLURM."""
    if "group" in wildcards.keys():
        return group_gpus(wildcards)
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


# The data directory, as an option of the jobs' command lines (not a params: moving the
# data does not change a result, so it must not rerun a job).
DATA_OPTION = (f"--data-dir {shlex.quote(str(Path(config['data_dir']).expanduser().resolve()))}"
               if config["data_dir"] else "")


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
    """What says a run finished: its metrics.json; for a seed group, the group job's summary."""
    return ([f"{RESULTS}/runs/{c.path}/metrics.json" for c in CELLS if not c.group]
            + [f"{RESULTS}/groups/{g}.json" for g in GROUPS])


def gradient_files(wildcards=None):
    return [f"{RESULTS}/gradients/{c.path}/gradients.csv" for c in GRADIENT_CELLS]


def throughput_files(wildcards=None):
    """The sweep's table, where the config (or a named claim) asks for one."""
    return [f"{RESULTS}/throughput/sweep.csv"] if THROUGHPUT is not None else []


def final_targets():
    """The report, the table and the provenance; and every run and gradient file, so
    that a cell that failed is retried even when a table written after the failure
    (onerror below) already exists; and the throughput sweep's table, if any."""
    return [f"{RESULTS}/runs.csv", f"{RESULTS}/report/index.html",
            provenance_file("environment.json"), *metrics_files(), *gradient_files(), *throughput_files()]


# ---------------------------------------------------------------- after a failure
def aggregate_after_failure():
    """`onerror`: a failed job blocks the aggregation rule (its input is missing), so
    aggregate what exists now, with the failed and missing cells marked, and rebuild the
    report, here in the Snakemake process (no subprocess); rerunning the same command
    retries the failed cells."""
    from rnnbench.aggregate import aggregate_runs

    cells = provenance_file("cells.csv")
    if not os.path.isfile(cells):
        return   # no grid yet (its job failed), so no job ran
    try:
        df = aggregate_runs(f"{RESULTS}/runs", f"{RESULTS}/runs.csv", expected=cells)
    except Exception as e:  # noqa: BLE001 - best effort; the job's error is the news
        print(f"rnnbench: could not aggregate after the failure: {e}", file=sys.stderr)
        return
    bad = int(df["status"].isin(["failed", "missing"]).sum())
    print(f"rnnbench: wrote {RESULTS}/runs.csv: {bad} of {len(df)} runs failed or missing "
          f"(rerun the same command to retry what failed)", file=sys.stderr)
    try:
        from rnnbench.report import build

        build(RESULTS, f"{RESULTS}/report")
    except Exception as e:  # noqa: BLE001 - as above
        print(f"rnnbench: the report failed too: {e}", file=sys.stderr)
        return
    print(f"rnnbench: report with the failures: {RESULTS}/report/index.html", file=sys.stderr)
