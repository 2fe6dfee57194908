# Aggregate every finished run under results/ into tables and the self-contained HTML report.

localrules:
    report,
    report_now,


rule report:
    """specnorm report: results/runs/*, results/cells/*, results/theory/theory-<mode>.csv →
    results/tables/*.csv and report/index.html (+ report/figures/)."""
    input:
        runs=run_targets(),
        theory=theory_target(),
        real=real_targets(),  # rule score_real: Table 1's Real-data row
    output:
        report("report/index.html", caption="../report/index.rst", category="Report"),
    log:
        "results/logs/report.log",
    params:
        theory=" ".join(f"--theory {shell_quote(path)}" for path in theory_target()),  # pre-quoted
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} report --results results --out report {params.theory} > {log:q} 2>&1"


rule report_now:
    """The report from whatever has finished, at any time, also while the pipeline runs (no output:
    it always runs): `snakemake report_now -c1 --nolock`, or `specnorm report` (docs/pipeline.md#partial-reports)."""
    log:
        "results/logs/report_now.log",
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} report --results results --out report > {log:q} 2>&1"


FAILED_CELLS = "results/logs/failed-cells.txt"


def report_targeted():
    """Whether this run was to build the report (`rule all` or `report` among its targets)."""
    targets = {job.rule.name for job in getattr(getattr(workflow, "dag", None), "targetjobs", ())}
    return bool(config.get("report", True) and targets & {"all", "report"})


def report_after_failures():
    """After jobs failed (keep-going ran everything else): list the selected cells left without
    summary.json in FAILED_CELLS and build the report with them marked failed, if it was a target."""
    if not report_targeted():
        return
    failed = [c for c in CELLS if not os.path.exists(run_file(c, rundir.SUMMARY))]
    os.makedirs(os.path.dirname(FAILED_CELLS), exist_ok=True)
    with open(FAILED_CELLS, "w") as f:
        f.writelines(f"{c}\n" for c in failed)
    theory = " ".join(f"--theory {shell_quote(t)}" for t in theory_target() if os.path.exists(t))
    logger.warning(f"{len(failed)} cell(s) not trained ({FAILED_CELLS}); building report/index.html "
                   "from what finished")
    try:
        shell(f"{SPECNORM} report --results results --out report {theory} --failed {shell_quote(FAILED_CELLS)} "
              "> results/logs/report.log 2>&1")
    except Exception as e:  # the report's own failure must not hide the jobs' errors
        logger.error(f"specnorm report failed ({e}); see results/logs/report.log")


onerror:
    report_after_failures()


onsuccess:
    if report_targeted() and os.path.exists(FAILED_CELLS):  # an earlier run's list; all finished since
        os.remove(FAILED_CELLS)
