"""`snakemake -n` on the demo and on the paper set (seconds): the DAG, the deduplicated job counts,
the SLURM profile's GPU requests, and config errors that name the key."""

from __future__ import annotations

import re

from pipeline_helpers import REPO, run_snakemake


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run: rule → job count."""
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_demo_dry_run(tmp_path):
    res = run_snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode == 0, res.stdout
    stats = job_stats(res.stdout)
    assert stats["train"] == stats["score"] == stats["cell_config"] == 13
    assert stats["report"] == stats["theory"] == 1 and "prepare" not in stats  # digits is built in
    assert "fetch_inception" not in stats  # the demo scores with the built-in digits classifier
    assert "specnorm grid, set 'demo': 13 cells" in res.stdout
    assert not (tmp_path / "results").exists()


def test_paper_dry_run_on_slurm_shows_the_official_counts(tmp_path):
    res = run_snakemake(tmp_path, "-n", "--config", "set=paper", timeout=300, profile="slurm")
    assert res.returncode == 0, res.stdout[-3000:]
    assert ("735 cells (no_gamma-CNN 450, same_gamma-CNN 75, diff_gamma-CNN 75, no_gamma-ResNet 24, new 111)"
            in res.stdout)
    stats = job_stats(res.stdout)
    assert stats["train"] == stats["score"] == 735 == 450 + 75 + 75 + 24 + 111
    assert stats["prepare"] == 5 and stats["fetch_inception"] == 1  # cifar10 stl10 celeba imagenet mnist
    train = res.stdout.split("rule train:", 1)[1].split("Shell command", 1)[0]
    assert re.search(r"resources: .*gpu=1", train) and "cpus_per_gpu=4" in train


def test_a_config_error_names_the_key(tmp_path):
    res = run_snakemake(tmp_path, "-n", "--config", "set=demo,nonexistent_block", timeout=120)
    assert res.returncode != 0
    assert "config key 'set': 'nonexistent_block' is neither a set nor a block" in res.stdout


def test_the_workflow_looks_for_inception_where_fetch_inception_puts_it():
    from specnorm.metrics.inception import default_path

    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert f'INCEPTION = f"{{RESOURCES}}/{default_path("").as_posix()}"' in common
