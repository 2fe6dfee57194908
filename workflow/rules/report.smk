# Aggregate every finished run under results/ into tables and the self-contained HTML report.

localrules:
    report,
    report_now,


def report_command(log, theory=(), failed=None, unfinished=None):
    """The one `specnorm report` command of the workflow (rules report and report_now, the onerror
    report), every value pre-quoted; ``log``: a path, or "{log:q}" inside a rule's shell."""
    words = [SPECNORM, "report", "--results", shell_quote(str(RESULTS.root)), "--out", shell_quote(layout.REPORT)]
    words += [f"--theory {shell_quote(str(path))}" for path in theory]
    words += [f"--failed {shell_quote(str(failed))}"] if failed else []
    words += [f"--unfinished {shell_quote(str(unfinished))}"] if unfinished else []
    return " ".join(words) + f" > {log} 2>&1"


rule report:
    """specnorm report: results/runs/*, results/cells/*, results/theory/theory-<mode>.csv →
    results/tables/*.csv and report/index.html (+ report/figures/)."""
    input:
        runs=run_targets(),
        theory=theory_target(),
        real=real_targets(),  # rule score_real: Table 1's Real-data row
    output:
        report(REPORT_INDEX, caption="../report/index.rst", category="Report"),
    log:
        RESULTS.log("report"),
    conda:
        "../../envs/specnorm.yaml"
    shell:
        report_command("{log:q}", theory_target())


rule report_now:
    """The report from whatever has finished, at any time, also while the pipeline runs (no output:
    it always runs): `snakemake report_now -c1 --nolock`, or `specnorm report` (docs/pipeline.md#partial-reports)."""
    log:
        RESULTS.log("report_now"),
    conda:
        "../../envs/specnorm.yaml"
    shell:
        report_command("{log:q}")


def report_targeted():
    """Whether this run was to build the report (`rule all` or `report` among its targets)."""
    targets = {job.rule.name for job in getattr(getattr(workflow, "dag", None), "targetjobs", ())}
    return bool(config.get("report", True) and targets & {"all", "report"})


def failed_jobs():
    """The jobs that ended in error (retries spent) and every job downstream of them: these will not
    run in this run. Snakemake's scheduler keeps the failed ones (a group: its member jobs)."""
    dag = workflow.dag
    failed = [j for job in getattr(getattr(workflow, "scheduler", None), "failed", ())
              for j in (job.jobs if job.is_group() else [job])]
    return set(dag.bfs(dag.depending, *failed)) if failed else set()


def cells_left():
    """(failed, unfinished): the selected cells without summary.json whose job, or a job they need
    (a dataset's preparation), ended in error; and the others: never started or interrupted (Ctrl-C)."""
    outputs = {str(f) for job in failed_jobs() for f in job.output}
    left = [c for c in CELLS if not os.path.exists(RESULTS.run_file(c, rundir.SUMMARY))]
    failed = [c for c in left if {str(RESULTS.run_file(c, rundir.SUMMARY)), str(RESULTS.run_file(c, rundir.SCORES))}
              & outputs]
    return failed, [c for c in left if c not in failed]


def report_after_failures():
    """The run ended early (a job failed and keep-going ran everything else, or it was stopped):
    list the selected cells left without summary.json as failed or not finished, and build the
    report with them, if it was a target (docs/pipeline.md#partial-reports)."""
    if not report_targeted():
        return
    failed, unfinished = cells_left()
    for path, cells in ((RESULTS.failed_cells, failed), (RESULTS.unfinished_cells, unfinished)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{c}\n" for c in cells))
    theory = [t for t in theory_target() if t.exists()]
    logger.warning(f"{len(failed)} cell(s) failed ({RESULTS.failed_cells}), {len(unfinished)} not finished "
                   f"({RESULTS.unfinished_cells}); building {REPORT_INDEX} from what finished")
    try:
        shell(report_command(shell_quote(str(RESULTS.log("report"))), theory, RESULTS.failed_cells,
                             RESULTS.unfinished_cells))
    except Exception as e:  # the report's own failure must not hide the jobs' errors
        logger.error(f"specnorm report failed ({e}); see {RESULTS.log('report')}")


onerror:
    report_after_failures()


onsuccess:
    if report_targeted():  # an earlier run's lists; all finished since
        for path in (RESULTS.failed_cells, RESULTS.unfinished_cells):
            path.unlink(missing_ok=True)
