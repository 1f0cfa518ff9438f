# results/report/index.html from runs.csv, the gradient diagnostics, the throughput sweep
# (results/throughput/*.csv) and the provenance.


rule report:
    input:
        runs=f"{RESULTS}/runs.csv",
        gradients=gradient_files,
        throughput=throughput_files,
        environment=provenance_file("environment.json"),
    output:
        f"{RESULTS}/report/index.html",
    log:
        f"{RESULTS}/logs/report.log",
    params:
        results=results_root,
        out=output_dir,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    localrule: True
    shell:
        f"{RNNBENCH} report {{params.results:q}} --out {{params.out:q}} > {{log:q}} 2>&1"
