# One job per grid cell (jobs.pack_size 1), or one per pack of cells (jobs.pack_size n > 1: one rule
# per pack, train_pack_<digest8>, docs/pipeline.md#packs). The trainer resumes from its own
# checkpoints (results/runs/<cell>/checkpoints, never a declared output, so Snakemake never deletes
# them): a killed, preempted, timed-out or requeued job continues where it stopped when it runs
# again (retries, --rerun-incomplete). The trainer is the shell's last command (exec): SLURM's early
# SIGTERM (--signal=TERM@300) reaches it, not a bash wrapper, and it checkpoints before the limit.
# A cell's (or pack's) train job and its score jobs form one group, named after the cell (or pack):
# one SLURM job, one GPU (docs/pipeline.md#packs).

localrules:
    cell_config,


rule cell_config:
    """results/cells/<cell>.yaml: the cell's full config, from the expanded grid."""
    output:
        RESULTS.cell_config("{cell}"),
    run:
        cell_config(wildcards)
        grid.write_cell(GRID, wildcards.cell, output[0])


# `specnorm train` of one cell or of a pack (several --config and --out, one word each).
TRAIN_SHELL = (f"{THREADS} exec {{SPECNORM}} train --config {{input.cfg:q}} --out {{params.out:q}} "
               "--engine {params.engine} --resources {RESOURCES_Q} >> {log:q} 2>&1")

if not PACKS:

    rule train:
        """Train one cell (specnorm train); summary.json is written last, also for a diverged run."""
        input:
            cfg=ancient(rules.cell_config.output[0]),
            data=data_input,
            weights=weights_input,
            checked=lambda w: preflight(),
        output:
            RESULTS.run_file("{cell}", rundir.SUMMARY),
        log:
            RESULTS.log("train", "{cell}"),
        params:
            out=lambda w: RESULTS.run(w.cell),
            engine=JOBS["pack_engine"],
        threads: 1
        resources:
            mem_mb=job_mem,
            runtime=train_runtime,
            **SITE,
            **DEVICE,
        group:
            job_group
        conda:
            "../../envs/specnorm.yaml"
        shell:
            TRAIN_SHELL


def _pack_input(cells, fn):
    """The union, in order, of a per-cell input function over a pack's cells."""
    return list(dict.fromkeys(f for c in cells for f in fn(SimpleNamespace(cell=c))))


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
    _todo = [c for c in _pack.cells if not os.path.exists(RESULTS.run_file(c, rundir.SUMMARY))]
    if not _todo:
        continue

    rule:
        name:
            f"train_{_pack.name}"
        input:
            cfg=[ancient(RESULTS.cell_config(c)) for c in _todo],
            data=_pack_input(_todo, data_input),
            weights=_pack_input(_todo, weights_input),
            checked=lambda w: preflight(),
        output:
            [RESULTS.run_file(c, rundir.SUMMARY) for c in _todo],
        log:
            RESULTS.log("train", _pack.name),
        params:
            out=[RESULTS.run(c) for c in _todo],  # one word each ({params.out:q})
            engine=JOBS["pack_engine"],
        threads: TRAIN_THREADS
        resources:
            mem_mb=grid.pack_mem_mb([GRID.cells[c].config for c in _todo], JOBS),
            runtime=pack_train_runtime(_todo),
            **SITE,
            **DEVICE,
            **TRAIN_RESOURCES,
        group:
            _pack.name
        conda:
            "../../envs/specnorm.yaml"
        shell:
            TRAIN_SHELL
