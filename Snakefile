"""specnorm-bench: the paper's experiments as one Snakemake workflow.

    snakemake --profile profiles/local                      # the demo: built-in digits, CPU, minutes
    snakemake --profile profiles/slurm --config set=paper   # the paper on a SLURM GPU cluster
    snakemake plan -c1 --config set=paper                   # cells, iterations, GPU-hours

config.yaml's experiment blocks expand into grid cells (specnorm.grid); each cell is trained
(specnorm train, resuming from its own checkpoints), scored (specnorm score) and aggregated
into report/index.html (specnorm report). Rules call the specnorm CLI, except the two that print or
write what Snakemake already expanded: plan (the table of `specnorm plan`) and cell_config
(specnorm.grid.write_cell). See docs/pipeline.md.
"""

from pathlib import Path


configfile: str(Path(workflow.basedir) / "config.yaml")


include: "workflow/rules/common.smk"


wildcard_constraints:
    cell=r"[a-z0-9_]+(-[a-z0-9_.]+)*-[0-9a-f]{8}",  # specnorm.grid.cell_name
    dataset=r"[a-z0-9_]+",

include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


rule all:
    """Every selected cell trained (and scored), then the report."""
    default_target: True
    input:
        final_targets(),
