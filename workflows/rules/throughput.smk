# The kernel throughput sweep (`rnnbench throughput`) of the config's `throughput:` block and
# the named claims' (common.smk: throughput_sweep), into results/throughput/sweep.csv, which
# the report reads (its throughput section, and the gru_smaller_faster claim: GRU vs LSTM per H).
# A timing is only worth something on a quiet machine: the job takes every core, so that no
# other job runs beside it, and times with `threads` torch threads (1: per-core timings).
# Rerun when the sweep changes (params).


if THROUGHPUT is not None:

    rule throughput:
        output:
            f"{RESULTS}/throughput/sweep.csv",
        log:
            f"{RESULTS}/logs/throughput.log",
        params:
            sweep=throughput_args(THROUGHPUT),
        threads: sweep_threads
        resources:
            mem_mb=sweep_resource("mem_mb", 2000),
            runtime=sweep_resource("runtime", 30),
            gpu=sweep_gpus,
            **sweep_slurm(),
        shell:
            f"{RNNBENCH} throughput {{params.sweep}} --out {{output:q}} > {{log:q}} 2>&1"
