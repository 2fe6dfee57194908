"""Job sizes that fit the partition (docs/pipeline.md#profiles): SLURM time limits parsed, the limit
from SPECNORM_SLURM_MAX_RUNTIME or sinfo, and cells longer than it planned as several jobs."""

from __future__ import annotations

import csv
import io
import os

import pytest

import specnorm.grid as grid
from specnorm.grid import jobs as gj

from pipeline_helpers import REPO, fake_sinfo


@pytest.mark.parametrize("text, minutes", [
    ("2-00:00:00", 2880), ("1-12:30:59", 2190), ("1-12", 2160), ("1-12:30", 2190), ("12:00:00", 720),
    ("0:30:45", 30), ("30:00", 30), ("45", 45), (" infinite\n", None), ("UNLIMITED", None)])
def test_slurm_time_limits_parse_to_whole_minutes(text, minutes):
    assert grid.parse_slurm_time(text) == minutes


@pytest.mark.parametrize("text", ["", "n/a", "1:2:3:4", "2 days", "-1"])
def test_unknown_time_limits_are_errors(text):
    with pytest.raises(ValueError, match="not a SLURM time limit"):
        grid.parse_slurm_time(text)


def test_the_partition_limit_comes_from_sinfo(tmp_path, monkeypatch):
    fake_sinfo(tmp_path, "gpu* 2:00:00\nlong 7-00:00:00\nfree infinite")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert gj.partition_limit("long") == 7 * 1440
    assert gj.partition_limit(None) == 120  # the default partition, marked *
    assert gj.partition_limit("free") is None
    jobs = gj.job_settings({})
    assert gj.fit_partition(jobs, env={"SPECNORM_SLURM_PARTITION": "gpu"})["max_runtime"] == 120
    assert gj.fit_partition(jobs, env={"SPECNORM_SLURM_PARTITION": "long"})["max_runtime"] == 2880  # config wins
    assert gj.fit_partition(jobs, env={"SPECNORM_SLURM_PARTITION": "gpu"}, sinfo=False) == jobs
    # the GPU-less jobs' partition (SPECNORM_SLURM_CPU_PARTITION) has its own limit
    both = {"SPECNORM_SLURM_PARTITION": "long", "SPECNORM_SLURM_CPU_PARTITION": "gpu"}
    assert gj.fit_partition(jobs, env=both)["max_runtime"] == 2880
    assert gj.fit_partition(jobs, env=both, cpu=True)["max_runtime"] == 120
    assert gj.fit_partition(jobs, env={"SPECNORM_SLURM_PARTITION": "gpu"}, cpu=True)["max_runtime"] == 120


def test_no_sinfo_no_limit(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gj.partition_limit("gpu") is None
    assert gj.fit_partition(gj.job_settings({}), env={}) == gj.job_settings({})


def test_the_environment_limit_wins_and_keeps_min_below_max():
    jobs = gj.job_settings({"jobs": {"min_runtime": 30}})
    fitted = gj.fit_partition(jobs, env={"SPECNORM_SLURM_MAX_RUNTIME": "20", "SPECNORM_SLURM_PARTITION": "x"})
    assert (fitted["max_runtime"], fitted["min_runtime"]) == (20, 20)
    for bad in ("2h", "0"):
        with pytest.raises(ValueError, match="SPECNORM_SLURM_MAX_RUNTIME"):
            gj.fit_partition(jobs, env={"SPECNORM_SLURM_MAX_RUNTIME": bad})


def test_the_plan_shows_how_many_jobs_long_cells_take(monkeypatch, capsys):
    experiments = grid.load_experiments(REPO / "config.yaml")
    g = grid.expand(experiments, "cifar10_nosn")  # 5 cells, ~1 GPU-hour each (estimate)
    est = grid.Throughput.load()
    jobs = gj.job_settings(experiments)
    cfg = next(iter(g.cells.values())).config
    need = est.gpu_hours(cfg) * 60 * jobs["runtime_factor"]  # minutes one cell requests
    assert gj.pieces(cfg, jobs, est) == 1  # fits in max_runtime 2880
    short = {**jobs, "max_runtime": int(need // 3)}  # a partition a third as long (rounded down)
    assert gj.pieces(cfg, short, est) == 4
    row = next(r for r in csv.DictReader(io.StringIO(grid.format_plan(g, est, "csv", short)))
               if r["experiment"] == "cifar10_nosn")
    assert (int(row["new"]), int(row["jobs"])) == (5, 20)
    assert int(next(r for r in csv.DictReader(io.StringIO(grid.format_plan(g, est, "csv")))
                    if r["experiment"] == "total")["jobs"]) == 5
    # specnorm plan takes the partition's limit from the environment, as the pipeline does
    monkeypatch.setenv("SPECNORM_SLURM_MAX_RUNTIME", str(int(need // 3)))
    assert grid.plan_main(["--config", str(REPO / "config.yaml"), "--set", "cifar10_nosn"]) == 0
    out = capsys.readouterr().out
    assert f"max_runtime {int(need // 3)} min" in out and "  20\n" in out
    monkeypatch.setenv("SPECNORM_SLURM_MAX_RUNTIME", "soon")
    assert grid.plan_main(["--config", str(REPO / "config.yaml"), "--set", "cifar10_nosn"]) == 2
