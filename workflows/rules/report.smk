# results/report/index.html from runs.csv, the gradient diagnostics and the provenance.


rule report:
    input:
        runs=f"{RESULTS}/runs.csv",
        gradients=gradient_files,
        environment=provenance_file("environment.json"),
    output:
        f"{RESULTS}/report/index.html",
    log:
        f"{RESULTS}/logs/report.log",
    params:
        rnnbench=RNNBENCH,
        results=results_root,
        out=output_dir,
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    localrule: True
    shell:
        "{params.rnnbench} report {params.results} --out {params.out} > {log} 2>&1"
