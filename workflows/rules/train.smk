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
