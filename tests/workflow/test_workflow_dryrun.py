"""`snakemake -n` on the demo and on the paper set (seconds): the DAG, the deduplicated job counts,
the SLURM profile's GPU requests and site settings, reruns after a changed theory mode, the
documented `snakemake plan` command, and config errors that name the key."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from pipeline_helpers import REPO, SNAKEMAKE, fake_sinfo, manual_sources, run_snakemake


def job_stats(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake run: rule → job count."""
    table = output.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_demo_dry_run(tmp_path):
    res = run_snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode == 0, res.stdout
    stats = job_stats(res.stdout)
    assert stats["train"] == stats["score"] == stats["cell_config"] == 21
    assert stats["report"] == stats["theory"] == 1 and "prepare" not in stats  # digits is built in
    assert "fetch_inception" not in stats  # the demo scores with the built-in digits classifier
    assert "specnorm grid, set 'demo': 21 cells" in res.stdout
    assert not (tmp_path / "results").exists()


def test_paper_dry_run_on_slurm_shows_the_official_counts(tmp_path):
    res = run_snakemake(tmp_path, "-n", "--config", "set=paper", manual_sources(tmp_path), timeout=300,
                        profile="slurm")
    assert res.returncode == 0, res.stdout[-3000:]
    assert ("735 cells (no_gamma-CNN 450, same_gamma-CNN 75, diff_gamma-CNN 75, no_gamma-ResNet 24, new 111)"
            in res.stdout)
    stats = job_stats(res.stdout)
    assert stats["train"] == stats["score"] == 735 == 450 + 75 + 75 + 24 + 111
    assert stats["prepare"] == stats["download"] == 5 and stats["fetch_inception"] == 1  # cifar10 stl10 celeba imagenet mnist
    train = res.stdout.split("rule train:", 1)[1].split("Shell command", 1)[0]
    assert re.search(r"resources: .*gpu=1", train) and "cpus_per_gpu=4" in train


def test_a_config_error_names_the_key(tmp_path):
    res = run_snakemake(tmp_path, "-n", "--config", "set=demo,nonexistent_block", timeout=120)
    assert res.returncode != 0
    assert "config key 'set': 'nonexistent_block' is neither a set nor a block" in res.stdout


def test_the_workflow_looks_for_inception_where_fetch_inception_puts_it():
    from specnorm import catalog
    from specnorm.layout import Resources
    from specnorm.metrics.inception import default_path

    weights = catalog.get_extractor("inception").weights_file  # both read the catalogue's entry
    assert default_path("res") == Path("res") / weights == Resources("res").weights(weights)
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert 'INCEPTION = RES.weights(catalog.get_extractor("inception").weights_file)' in common


def local_rules() -> set[str]:
    """Every rule the workflow's ``localrules:`` directives name, plus ``all`` (no job of its own)."""
    names = {"all"}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?[ \t]*\n)+)", smk.read_text(), re.M):
            names |= set(re.findall(r"\w+", block))
    return names


def dry_run_jobs(output: str) -> list[tuple[str, str]]:
    """(rule, resources line) of every job a dry run lists (grouped jobs included)."""
    jobs = re.split(r"^\s*(?:local)?rule (\w+):\n", output, flags=re.M)
    return [(rule, (re.search(r"^\s*resources: (.*)$", body, re.M) or [None, ""])[1])
            for rule, body in zip(jobs[1::2], jobs[2::2])]


GPU_RULES = ("train", "score", "score_real")  # where `specnorm train` / `specnorm score` run


@pytest.mark.parametrize("cpu_partition", [None, "cpupart"])
def test_site_settings_reach_every_slurm_job(tmp_path, cpu_partition):
    """Partition and account on every compute job; the GPU-less ones (prepare, theory) in the CPU
    partition where SPECNORM_SLURM_CPU_PARTITION names one, else where the others go."""
    env = {"SPECNORM_SLURM_PARTITION": "gpupart", "SPECNORM_SLURM_ACCOUNT": "myacct",
           "SPECNORM_SLURM_CPU_PARTITION": cpu_partition or ""}
    res = run_snakemake(tmp_path, "-n", "--config", "set=paper", manual_sources(tmp_path), timeout=300,
                        profile="slurm", env=env)
    assert res.returncode == 0, res.stdout[-3000:]
    local = local_rules()
    assert {"download", "fetch_inception", "cell_config", "report", "report_now", "plan"} <= local
    assert "prepare" not in local  # decoding is a compute job; downloads stay on the login node
    remote = [(rule, resources) for rule, resources in dry_run_jobs(res.stdout) if rule not in local]
    assert {rule for rule, _ in remote} >= {"train", "score", "score_real", "theory", "prepare"}
    for rule, resources in remote:
        gpu = rule in GPU_RULES
        partition = "gpupart" if gpu or not cpu_partition else cpu_partition
        assert f"slurm_partition={partition}" in resources and "slurm_account=myacct" in resources, (rule, resources)
        assert ("gpu=1" in resources) == gpu, (rule, resources)  # prepare, theory: CPU only
    prepare = res.stdout.split("rule prepare:", 1)[1].split("\n\n", 1)[0]
    assert "--no-download" in prepare and "raw/source.json" in prepare
    assert "--download-only" in res.stdout.split("rule download:", 1)[1].split("\n\n", 1)[0]


def fake_finished_demo(workdir: Path) -> None:
    """The files a finished demo run leaves, oldest to newest (cell files, runs, theory, report)."""
    from pipeline_helpers import merged_grid

    files = [workdir / "results" / "cells" / f"{c}.yaml" for c in merged_grid({}).cells]
    files += [workdir / "results" / "runs" / c / name for c in merged_grid({}).cells
              for name in ("summary.json", "scores.json")]
    files += [workdir / "results" / "theory" / "theory-quick.csv", workdir / "report" / "index.html"]
    for i, path in enumerate(files):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))


def test_a_changed_theory_mode_reruns_the_theory_checks(tmp_path):
    fake_finished_demo(tmp_path)
    same = run_snakemake(tmp_path, "-n", timeout=120)
    assert same.returncode == 0 and "Nothing to be done" in same.stdout, same.stdout[-3000:]
    full = run_snakemake(tmp_path, "-n", "--config", "theory=full", timeout=120)
    assert full.returncode == 0, full.stdout[-3000:]
    stats = job_stats(full.stdout)
    assert stats.get("theory") == 1 and stats.get("report") == 1 and "train" not in stats and "score" not in stats
    assert "results/theory/theory-full.csv" in full.stdout and "--quick" not in full.stdout
    assert "--theory results/theory/theory-full.csv" in full.stdout  # the report shows the full checks


def test_the_documented_snakemake_plan_command_runs_without_a_profile(tmp_path):
    doc = (REPO / "Snakefile").read_text()
    line = next(ln for ln in doc.splitlines() if ln.strip().startswith("snakemake plan"))
    args = shlex.split(line.split("#", 1)[0])[1:]
    args = [a if a != "set=paper" else "set=demo" for a in args]  # the same command, a smaller set
    res = subprocess.run(["timeout", "-s", "INT", "120", SNAKEMAKE, "-s", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), *args], cwd=REPO, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "demo_bsn" in res.stdout and "demo_snconv" in res.stdout


def test_slurm_runtimes_fit_the_partition_limit_from_sinfo(tmp_path):
    """A 50-minute partition (sinfo): every train + score allocation (group "cell") asks for at most 50."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_sinfo(bin_dir, "short 50:00\ngpu* 2-00:00:00")
    (bin_dir / "squeue").write_text("#!/bin/sh\nexit 0\n")  # the plugin wants a status command beside sinfo
    (bin_dir / "squeue").chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SPECNORM_SLURM_PARTITION": "short"}
    res = run_snakemake(tmp_path / "wd", "-n", "--config", "set=cifar10_nosn", timeout=300, profile="slurm", env=env)
    assert res.returncode == 0, res.stdout[-3000:]
    runtimes: dict[str, list[int]] = {}
    for rule, resources in dry_run_jobs(res.stdout):
        if rule not in local_rules():
            runtimes.setdefault(rule, []).append(int(re.search(r"\bruntime=(\d+)", resources)[1]))
    assert len(runtimes["train"]) == len(runtimes["score"]) == 5 and runtimes["theory"] == runtimes["prepare"] == [50]
    assert all(t + s <= 50 for t, s in zip(runtimes["train"], runtimes["score"])) and max(runtimes["train"]) == 40


def test_a_dataset_without_a_source_stops_the_workflow_with_one_line(tmp_path):
    """ILSVRC2012 is never downloaded: without `sources` (or a prepared copy) nothing is planned
    (docs/pipeline.md#before-anything-runs)."""
    res = run_snakemake(tmp_path, "-n", "--config", "set=imagenet_resnet", timeout=120, profile="slurm")
    assert res.returncode != 0
    line = "config key 'sources': dataset 'imagenet' (ILSVRC2012) has no source and is never downloaded automatically"
    assert sum(line in ln for ln in res.stdout.splitlines()) == 1, res.stdout[-3000:]
    assert "Job stats" not in res.stdout and "rule train" not in res.stdout


def test_too_few_retries_for_a_short_partition_stop_the_workflow_with_one_line(tmp_path):
    """A 30-minute partition cuts every cifar10_nosn cell into several train jobs: with --retries 1
    the run stops while the DAG is built, before any job, on one line."""
    env = {"SPECNORM_SLURM_MAX_RUNTIME": "30"}
    res = run_snakemake(tmp_path, "-n", "--config", "set=cifar10_nosn", "--retries", "1", timeout=120,
                        profile="slurm", env=env)
    assert res.returncode != 0
    errors = [ln for ln in res.stdout.splitlines() if ln.startswith("specnorm: retries=1 allows 2 train job(s)")]
    assert len(errors) == 1 and "of at most 30 min" in errors[0] and "--retries" in errors[0], res.stdout[-3000:]
    assert "Traceback" not in res.stdout and "Job stats" not in res.stdout
    assert not (tmp_path / ".snakemake" / "locks").exists() or not any((tmp_path / ".snakemake" / "locks").iterdir())
    ok = run_snakemake(tmp_path, "-n", "--config", "set=cifar10_nosn", timeout=120, profile="slurm", env=env)
    assert ok.returncode == 0 and "Job stats" in ok.stdout, ok.stdout[-3000:]  # the profile's retries: 3
