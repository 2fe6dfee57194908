"""`snakemake -n` on the demo lists one ``score_real`` job (Table 1's Real-data row) feeding the report."""

from test_workflow_dryrun import job_stats
from pipeline_helpers import run_snakemake

from specnorm.catalog import DEFAULT_DATASET


def test_demo_dry_run_scores_the_real_data_once_for_the_report(tmp_path):
    res = run_snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    assert job_stats(res.stdout)["score_real"] == 1
    assert f"results/real/{DEFAULT_DATASET}-paper.json" in res.stdout
