# The grid's provenance: the resolved config (grid.yaml) and its cells (cells.csv, the
# aggregation's expected runs and what a cluster job re-reading the workflow takes its cell
# from). Rerun exactly when their content changes (params: its hash; rerun-triggers: params);
# every job takes cells.csv as an ancient() input: written before any job starts, and
# rewriting it reruns no job.


rule grid:
    output:
        grid=provenance_file("grid.yaml"),
        cells=provenance_file("cells.csv"),
    log:
        f"{RESULTS}/logs/grid.log",
    params:
        digest=grid_digest(),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    localrule: True
    run:
        write_grid_files(output.grid, output.cells, log[0])
