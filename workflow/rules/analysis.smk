# Grid-level analyses that need no training: the plan (cells, iterations, GPU-hours) and the
# Monte-Carlo checks of Thms. 2-3 and Prop. 1 that the report shows beside the runs.

localrules:
    plan,


rule plan:
    """`snakemake plan -c1` prints the selected grid — the same table as `specnorm plan`. Like any
    local job it needs --cores (-c1), except with a profile that sets cores or an executor."""
    run:
        print(grid.format_plan(GRID, THROUGHPUT, jobs=site_jobs()), end="")


rule theory:
    """specnorm theory: seeded checks of the variance bounds (Thms. 2, 3) and the gradient bound
    (Prop. 1) on the discriminators' layer shapes; config `theory: quick` runs the small shapes. CPU
    only (a CPU partition where SPECNORM_SLURM_CPU_PARTITION names one).
    The mode is part of the file name, so `--config theory=full` after a quick run runs it."""
    output:
        RESULTS.theory("{mode}"),
    log:
        RESULTS.log("theory", "{mode}"),
    wildcard_constraints:
        mode="quick|full",
    params:
        quick=lambda w: "--quick" if w.mode == "quick" else "",
    threads: 1
    resources:
        runtime=short_runtime,
        **CPU_SITE,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        f"{THREADS} "
        "{SPECNORM} theory --out {output:q} {params.quick:q} > {log:q} 2>&1"
