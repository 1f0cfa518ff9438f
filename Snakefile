# rnnbench pipeline: the grid of workflows/config/<name>.yaml -> one `rnnbench train` job
# per cell -> results/runs.csv -> results/report/index.html. See workflows/README.md.
#
#   snakemake --workflow-profile workflows/profiles/default --cores 2        # the quick grid
#   snakemake ... --configfile workflows/config/longdep.yaml                 # another grid
#   snakemake --profile workflows/profiles/slurm                             # on a SLURM cluster

import os

from snakemake.utils import min_version

min_version("9.0")


# The quick grid, unless --configfile names another (Snakemake would deep-merge the two).
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "workflows/config/quick.yaml")


include: "workflows/rules/common.smk"
include: "workflows/rules/grid.smk"
include: "workflows/rules/train.smk"
include: "workflows/rules/gradients.smk"
include: "workflows/rules/throughput.smk"
include: "workflows/rules/aggregate.smk"
include: "workflows/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
