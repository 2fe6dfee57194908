# Grid-level analyses that need no training: the plan (cells, iterations, GPU-hours) and the
# Monte-Carlo checks of Thms. 2-3 and Prop. 1 that the report shows beside the runs.

localrules:
    plan,


rule plan:
    """`snakemake plan` prints the selected grid — the same table as `specnorm plan`."""
    run:
        print(grid.format_plan(GRID, THROUGHPUT), end="")


rule theory:
    """specnorm theory: seeded checks of the variance bounds (Thms. 2, 3) and the gradient bound
    (Prop. 1) on the discriminators' layer shapes; config `theory: quick` runs the small shapes."""
    output:
        "results/theory/theory.csv",
    log:
        "results/logs/theory.log",
    params:
        quick="--quick" if config.get("theory", "quick") == "quick" else "",
    threads: 1
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "{SPECNORM} theory --out {output} {params.quick} > {log} 2>&1"
