# Score the best and the final generator of a finished run (scores.json), in the same allocation
# as its training on a cluster (group "cell": one SLURM job per cell).


rule score:
    """specnorm score under the cell's evaluation protocol (eval.protocol)."""
    input:
        summary=run_file("{cell}", rundir.SUMMARY),  # rule train, or the cell's pack rule (train.smk)
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
        runtime=score_runtime,
        **SITE,
    group:
        "cell"
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "{SPECNORM} score --run {params.run:q} --protocol {params.protocol:q} --resources {RESOURCES_Q} > {log:q} 2>&1"


def _real_cells():
    """(dataset, protocol) → the config of one selected cell using them (its extractor choice)."""
    out = {}
    for c in GRID.cells.values():
        out.setdefault((c.config.dataset.name, c.config.eval.protocol), c.config)
    return out


def real_targets():
    """Table 1's Real-data scores, one per dataset (and protocol) of the selected cells; none when
    scoring is off."""
    if not config.get("score", True):
        return []
    return [f"results/real/{d}-{p}.json" for d, p in sorted(_real_cells())]


def _real_extractor(w):
    return _real_cells()[(w.dataset, w.protocol)].eval.extractor


def real_input(w):
    """The prepared dataset (none if built in) and the extractor's weights file, if it has one."""
    info = catalog.get_extractor(catalog.resolve_extractor(_real_extractor(w), w.dataset))
    data = [] if catalog.is_builtin(w.dataset) else [ancient(f"{RESOURCES}/data/{w.dataset}/manifest.json")]
    weights = [ancient(f"{RESOURCES}/{info.weights_file}")] \
        if info.weights_file is not None and not GRID.execution.get("eval.inception_path") else []
    return data + weights


rule score_real:
    """specnorm score --real: real training images scored under the protocol, Table 1's Real-data
    row (docs/deviations.md P5)."""
    input:
        real_input,
    output:
        "results/real/{dataset}-{protocol}.json",
    log:
        "results/logs/score_real/{dataset}-{protocol}.log",
    wildcard_constraints:
        protocol="paper|standard",
    params:
        extractor=_real_extractor,
        inception=lambda w: (f"--inception {shell_quote(GRID.execution['eval.inception_path'])}"
                             if GRID.execution.get("eval.inception_path") else ""),
    threads: 1
    resources:
        mem_mb=4000,
        **SITE,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "SPECNORM_THREADS={threads} OMP_NUM_THREADS={threads} "
        "{SPECNORM} score --real --dataset {wildcards.dataset:q} --protocol {wildcards.protocol:q} "
        "--extractor {params.extractor:q} {params.inception} --root {RESOURCES_Q}/data --resources {RESOURCES_Q} "
        "--out {output:q} > {log:q} 2>&1"
