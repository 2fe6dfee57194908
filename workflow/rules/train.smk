# One job per grid cell (jobs.pack_size 1), or one per pack of cells (jobs.pack_size n > 1: one rule
# per pack, train_pack_<digest8>, docs/pipeline.md#packs). The trainer resumes from its own
# checkpoints (results/runs/<cell>/checkpoints, never a declared output, so Snakemake never deletes
# them): a killed, preempted, timed-out or requeued job continues where it stopped when it runs
# again (retries, --rerun-incomplete). The trainer is the shell's last command (exec): SLURM's early
# SIGTERM (--signal=TERM@300) reaches it, not a bash wrapper, and it checkpoints before the limit.

localrules:
    cell_config,


rule cell_config:
    """results/cells/<cell>.yaml: the cell's full config, from the expanded grid."""
    output:
        "results/cells/{cell}.yaml",
    run:
        cell_config(wildcards)
        grid.write_cell(GRID, wildcards.cell, output[0])


if not PACKS:

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
            "exec {SPECNORM} train --config {input.cfg:q} --out {params.out:q} --resources {RESOURCES_Q} "
            ">> {log:q} 2>&1"


def _pack_input(cells, fn):
    """The union, in order, of a per-cell input function over a pack's cells."""
    return list(dict.fromkeys(f for c in cells for f in fn(SimpleNamespace(cell=c))))


def _pack_runtime(cells):
    cfgs = [GRID.cells[c].config for c in cells]

    def runtime(wildcards, attempt):
        """Minutes for the pack's train job: longest cell × the pack's slowdown (specnorm.grid.packs),
        leaving one score job's room under max_runtime, as train_runtime."""
        jobs = site_jobs()
        minutes = grid.pack_runtime_minutes(cfgs, jobs, THROUGHPUT, attempt)
        if config.get("score", True):
            minutes = min(minutes, max(1, jobs["max_runtime"] - score_runtime(wildcards, attempt)))
        return minutes

    return runtime


def _train_settings():
    """The profile's set-threads and set-resources of `train` (GPU, CPUs per GPU), which every pack
    rule shares: a pack is one train job."""
    rs = workflow.resource_settings
    threads = rs.overwrite_threads.get("train", 1)
    threads = getattr(threads, "value", threads)
    resources = {k: getattr(v, "value", v) for k, v in dict(rs.overwrite_resources.get("train", {})).items()
                 if not k.startswith("_")}
    return threads, resources


# Each pack rule's outputs are the summary.json files of its cells that are not finished when the
# workflow is parsed; a finished cell's summary.json is an existing file no rule produces, so
# Snakemake never deletes it (before a job, it removes that job's existing outputs), never touches
# its mtime and never reruns its score. The packs themselves depend only on the selected cells, so
# the names are stable; deleting a cell's run directory makes it the only output of its pack's rule
# (docs/pipeline.md#packs).
TRAIN_THREADS, TRAIN_RESOURCES = _train_settings()
for _pack in PACKS:
    _todo = [c for c in _pack.cells if not os.path.exists(run_file(c, rundir.SUMMARY))]
    if not _todo:
        continue

    rule:
        name:
            f"train_{_pack.name}"
        input:
            cfg=[ancient(f"results/cells/{c}.yaml") for c in _todo],
            data=_pack_input(_todo, data_input),
            weights=_pack_input(_todo, weights_input),
        output:
            [run_file(c, rundir.SUMMARY) for c in _todo],
        log:
            f"results/logs/train/{_pack.name}.log",
        params:
            out=[run_dir(c) for c in _todo],  # one word each ({params.out:q})
        threads: TRAIN_THREADS
        resources:
            mem_mb=grid.pack_mem_mb([GRID.cells[c].config for c in _todo], JOBS),
            runtime=_pack_runtime(_todo),
            **SITE,
            **TRAIN_RESOURCES,
        group:
            "cell"
        conda:
            "../../envs/specnorm.yaml"
        shell:
            "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
            "exec {SPECNORM} train --config {input.cfg:q} --out {params.out:q} --resources {RESOURCES_Q} "
            ">> {log:q} 2>&1"
