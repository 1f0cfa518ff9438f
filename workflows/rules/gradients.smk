# Gradient-flow diagnostics (`rnnbench gradients`) for the cells the config's
# `gradients.cells` selects, into results/gradients/<task>/<arch>/<cell-id>/.


rule gradients:
    output:
        f"{RESULTS}/gradients/{{task}}/{{arch}}/{{cell}}/gradients.csv",
    log:
        f"{RESULTS}/logs/gradients/{{task}}/{{arch}}/{{cell}}.log",
    params:
        rnnbench=RNNBENCH,
        config=cell_config,
        out=gradients_dir,
        at=config["gradients"]["at"],
        data=data_dir_option,
    threads: cell_threads
    resources:
        mem_mb=gradient_mem_mb,
        runtime=gradient_runtime,
        gpu=cell_gpus,
        **SLURM,
    shell:
        "mkdir -p {params.out} && printf '%s\\n' {params.config:q} > {params.out}/cell.json && "
        "{params.rnnbench} gradients --task {wildcards.task} --arch {wildcards.arch} "
        "--config {params.out}/cell.json --at {params.at} --out {params.out} {params.data} > {log} 2>&1"
