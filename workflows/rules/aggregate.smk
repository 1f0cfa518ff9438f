# results/runs.csv: one tidy row per expected cell (provenance/cells.csv), every
# metrics.json field flattened; and the grid's environment (versions, git sha).


rule aggregate:
    input:
        cells=provenance_file("cells.csv"),
        metrics=metrics_files,
    output:
        f"{RESULTS}/runs.csv",
    log:
        f"{RESULTS}/logs/aggregate.log",
    params:
        runs=sibling("runs"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    localrule: True
    shell:
        f"{RNNBENCH} aggregate {{params.runs:q}} --expected {{input.cells:q}} "
        "--out {output:q} > {log:q} 2>&1"


rule provenance:
    input:
        provenance_file("grid.yaml"),
    output:
        provenance_file("environment.json"),
    log:
        f"{RESULTS}/logs/provenance.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    localrule: True
    shell:
        f"{PYTHON} -m rnnbench.provenance --out {{output:q}} > {{log:q}} 2>&1"


# A failed cell leaves no metrics.json and so blocks `aggregate`; aggregate what is
# there (failed / missing cells marked) and rebuild the report anyway, in this process.
onerror:
    aggregate_after_failure()
