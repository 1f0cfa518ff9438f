# One training run per grid cell. The cell's config travels as params (one line of JSON,
# its hash is in the id) and is written to the run dir as cell.json; `rnnbench train`
# resumes from the dir's checkpoint when the job ran before and was interrupted, and
# writes metrics.json last and atomically, so only a finished run counts as done.


rule train:
    input:
        ancient(provenance_file("cells.csv")),
    output:
        f"{RESULTS}/runs/{{task}}/{{arch}}/{{cell}}/metrics.json",
    log:
        f"{RESULTS}/logs/train/{{task}}/{{arch}}/{{cell}}.log",
    params:
        config=cell_config,
        out=run_dir,
    threads: cell_threads
    resources:
        mem_mb=cell_mem_mb,
        runtime=cell_runtime,
        gpu=cell_gpus,
        **SLURM,
    shell:
        "mkdir -p {params.out:q} && printf '%s\\n' {params.config:q} > {params.out:q}/cell.json && "
        f"{RNNBENCH} train --config {{params.out:q}}/cell.json --out {{params.out:q}} {DATA_OPTION} "
        "> {log:q} 2>&1"


# The seeds of one cell that can train in lockstep (grid.seed_groups; the config's group_seeds,
# default on): one job trains them together (`rnnbench train-group`, rnnbench/group.py), each
# into its own run dir, as `train` would; its summary marks the group done.
rule train_group:
    input:
        ancient(provenance_file("cells.csv")),
    output:
        f"{RESULTS}/groups/{{task}}/{{arch}}/{{group}}.json",
    log:
        f"{RESULTS}/logs/train/{{task}}/{{arch}}/{{group}}.log",
    params:
        configs=group_config,
        setup=group_setup,
        dirs=group_dirs,
    threads: group_threads
    resources:
        mem_mb=group_mem_mb,
        runtime=group_runtime,
        gpu=group_gpus,
        **SLURM,
    shell:
        "{params.setup} && "
        f"{RNNBENCH} train-group {{params.dirs}} --summary {{output:q}} {DATA_OPTION} > {{log:q}} 2>&1"
