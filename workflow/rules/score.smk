# Score the best and the final generator of a finished run (scores.json), in the same SLURM job as
# its training (the cell's or pack's group: one job, one GPU, the score jobs one after another), and
# real training images for Table 1's Real-data row (score_real, a GPU job of its own).


rule score:
    """specnorm score under the cell's evaluation protocol (eval.protocol)."""
    input:
        summary=RESULTS.run_file("{cell}", rundir.SUMMARY),  # rule train, or the cell's pack rule (train.smk)
        weights=lambda w: weights_input(w, scoring=True),
    output:
        RESULTS.run_file("{cell}", rundir.SCORES),
    log:
        RESULTS.log("score", "{cell}"),
    params:
        run=lambda w: RESULTS.run(w.cell),
        protocol=lambda w: cell_config(w).eval.protocol,
    threads: 1
    resources:
        mem_mb=job_mem,
        runtime=score_runtime,
        **SITE,
        **DEVICE,
    group:
        job_group
    conda:
        "../../envs/specnorm.yaml"
    shell:
        f"{THREADS} "
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
    return [RESULTS.real(d, p) for d, p in sorted(_real_cells())]


def _real_config(w):
    return _real_cells()[(w.dataset, w.protocol)]


def _real_columns(w):
    """``--also-counts`` of every distinct in-training count set (eval.n_gen, n_real, n_is, is_splits) of
    the selected cells of this dataset and protocol: their Real-data columns (docs/deviations.md P5)."""
    sets = set()
    for c in GRID.cells.values():
        ev = c.config.eval
        counts = (ev.n_gen, ev.n_real, ev.n_is, ev.is_splits)
        if (c.config.dataset.name, ev.protocol) == (w.dataset, w.protocol) and counts != (None,) * 4:
            sets.add(",".join("" if n is None else str(n) for n in counts))  # empty: the protocol's count
    return " ".join(f"--also-counts {counts}" for counts in sorted(sets))


def real_input(w):
    """The prepared dataset (none if built in) and the extractor's weights file, if it has one."""
    return dataset_input(w.dataset) + extractor_weights(_real_config(w).eval.extractor, w.dataset)


rule score_real:
    """specnorm score --real: real training images scored under the protocol, Table 1's Real-data
    row (docs/deviations.md P5), on a GPU like `specnorm score` (profiles/slurm), for a runtime from
    the performance model (specnorm.grid.real_score_minutes) growing with the attempt."""
    input:
        real_input,
    output:
        RESULTS.real("{dataset}", "{protocol}"),
    log:
        RESULTS.log("score_real", "{dataset}-{protocol}"),
    wildcard_constraints:
        protocol="paper|standard",
    params:
        extractor=lambda w: _real_config(w).eval.extractor,
        columns=_real_columns,
        inception=lambda w: (f"--inception {shell_quote(GRID.execution['eval.inception_path'])}"
                             if GRID.execution.get("eval.inception_path") else ""),
    threads: 1
    resources:
        mem_mb=lambda w: grid.dataset_mem_mb(w.dataset, JOBS),
        runtime=lambda w, attempt: grid.real_score_minutes(_real_config(w), site_jobs(), THROUGHPUT, attempt),
        **SITE,
    conda:
        "../../envs/specnorm.yaml"
    shell:
        f"{THREADS} "
        "{SPECNORM} score --real --dataset {wildcards.dataset:q} --protocol {wildcards.protocol:q} "
        "--extractor {params.extractor:q} {params.inception} {params.columns} --root {DATA_Q} --resources {RESOURCES_Q} "
        "--out {output:q} > {log:q} 2>&1"
