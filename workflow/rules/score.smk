# Score the best and the final generator of a finished run (scores.json), in the same allocation
# as its training on a cluster (group "cell": one SLURM job per cell).


rule score:
    """specnorm score under the cell's evaluation protocol (eval.protocol)."""
    input:
        summary=rules.train.output[0],
        weights=lambda w: weights_input(w, scoring=True),
    output:
        run_file("{cell}", rundir.SCORES),
    log:
        "results/logs/score/{cell}.log",
    params:
        run=lambda w: run_dir(w.cell),
        protocol=lambda w: cell_config(w).eval.protocol,
    threads: 1
    resources:
        mem_mb=job_mem,
        runtime=lambda w, attempt: JOBS["min_runtime"] * attempt,
        **SITE,
    group:
        "cell"
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "{SPECNORM} score --run {params.run} --protocol {params.protocol} --resources {RESOURCES} > {log} 2>&1"
