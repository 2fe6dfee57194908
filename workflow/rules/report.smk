# Aggregate every finished run under results/ into tables and the self-contained HTML report.

localrules:
    report,


rule report:
    """specnorm report: results/runs/*, results/cells/*, results/theory/theory.csv →
    results/tables/*.csv and report/index.html (+ report/figures/)."""
    input:
        runs=run_targets(),
        theory=theory_target(),
    output:
        report("report/index.html", caption="../report/index.rst", category="Report"),
    log:
        "results/logs/report.log",
    conda:
        "../../envs/specnorm.yaml"
    shell:
        "{SPECNORM} report --results results --out report > {log} 2>&1"
