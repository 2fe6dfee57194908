# One job per grid cell. The trainer resumes from its own checkpoints (results/runs/<cell>/checkpoints,
# never a declared output, so Snakemake never deletes them): a killed, preempted, timed-out or
# requeued job continues where it stopped when it runs again (retries, --rerun-incomplete).

localrules:
    cell_config,


rule cell_config:
    """results/cells/<cell>.yaml: the cell's full config, from the expanded grid."""
    output:
        "results/cells/{cell}.yaml",
    run:
        cell_config(wildcards)
        grid.write_cell(GRID, wildcards.cell, output[0])


rule train:
    """Train one cell (specnorm train); summary.json is written last, also for a diverged run."""
    input:
        cfg=lambda w: ancient(f"results/cells/{w.cell}.yaml"),
        data=data_input,
        weights=weights_input,
    output:
        run_file("{cell}", rundir.SUMMARY),
    log:
        "results/logs/train/{cell}.log",
    params:
        out=lambda w: run_dir(w.cell),
    threads: 1
    resources:
        mem_mb=job_mem,
        runtime=train_runtime,
        **SITE,
    group:
        "cell"
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "{SPECNORM} train --config {input.cfg} --out {params.out} --resources {RESOURCES} >> {log} 2>&1"
