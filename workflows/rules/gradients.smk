# Gradient-flow diagnostics (`rnnbench gradients`) for the cells the config's
# `gradients.cells` selects, into results/gradients/<task>/<arch>/<cell-id>/.
# The grid selects only cells the command can measure (rnnbench.gradients.unsupported): a
# selected encoder-decoder or sequence-model cell is left out, its reason in
# provenance/cells.csv's gradients_skipped and said once here, in the Snakemake log.

if workflow.is_main_process:
    from rnnbench.gradients import skipped_note

    for _line in skipped_note(CELLS):
        print(_line, file=sys.stderr)


rule gradients:
    input:
        ancient(provenance_file("cells.csv")),
    output:
        f"{RESULTS}/gradients/{{task}}/{{arch}}/{{cell}}/gradients.csv",
    log:
        f"{RESULTS}/logs/gradients/{{task}}/{{arch}}/{{cell}}.log",
    params:
        config=cell_config,
        out=gradients_dir,
        at=config["gradients"]["at"],
    threads: cell_threads
    resources:
        mem_mb=gradient_mem_mb,
        runtime=gradient_runtime,
        gpu=cell_gpus,
        **SLURM,
    shell:
        "mkdir -p {params.out:q} && printf '%s\\n' {params.config:q} > {params.out:q}/cell.json && "
        f"{RNNBENCH} gradients --task {{wildcards.task:q}} --arch {{wildcards.arch:q}} "
        f"--config {{params.out:q}}/cell.json --at {{params.at:q}} --out {{params.out:q}} {DATA_OPTION} "
        "> {log:q} 2>&1"
