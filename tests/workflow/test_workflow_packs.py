"""Packs in the pipeline (docs/pipeline.md#packs): the dry run's jobs per pack and per cell, the
trainer exec'd as the shell's last command (SLURM's early SIGTERM reaches it), and a real local
run of a tiny digits grid in packs of two, then a rerun after one cell's run directory is deleted
that retrains only that cell. Two tiny cells of 30 iterations each on 2 CPU cores: a minute or two."""

from __future__ import annotations

import re
import shutil

import pytest

import specnorm.grid as grid
from pipeline_helpers import merged_grid, read_json, run_snakemake, write_config
from test_workflow_dryrun import job_stats


def shell_commands(output: str, rule: str) -> list[str]:
    """The shell command of every job of rules whose name starts with ``rule`` in a dry run."""
    jobs = re.split(r"^\s*(?:local)?rule (\w+):\n", output, flags=re.M)
    return [re.search(r"^Shell command: (.*)$", body, re.M)[1]
            for name, body in zip(jobs[1::2], jobs[2::2]) if name.startswith(rule)]


def assert_execs_the_trainer(command: str) -> None:
    """The trainer is the last command of the shell, started by exec (no bash wrapper left)."""
    last = re.split(r";|&&|\|\||\n", command)[-1]
    assert re.match(r"^\s*(\w+=\S+\s+)*exec \S+ -m specnorm\.cli train ", last), command


def test_the_train_shell_execs_the_trainer(tmp_path):
    res = run_snakemake(tmp_path, "-n", timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    commands = shell_commands(res.stdout, "train")
    assert len(commands) == 21
    for command in commands:
        assert_execs_the_trainer(command)


def test_a_dry_run_with_packs_shows_one_train_job_per_pack_and_one_score_job_per_cell(tmp_path):
    res = run_snakemake(tmp_path, "-n", "--config", "jobs={pack_size: 4}", timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    packs = grid.pack_cells(merged_grid({}), 4)
    stats = job_stats(res.stdout)
    assert "train" not in stats and stats["score"] == stats["cell_config"] == 21
    assert {k: v for k, v in stats.items() if k.startswith("train_")} == {f"train_{p.name}": 1 for p in packs}
    commands = shell_commands(res.stdout, "train_pack_")
    assert len(commands) == len(packs) == 7
    for pack in packs:
        command = next(c for c in commands if f"results/logs/train/{pack.name}.log" in c)
        assert_execs_the_trainer(command)
        configs = re.search(r"--config (.*?) --out", command)[1].split()
        outs = re.search(r"--out (.*?) --engine", command)[1].split()
        assert configs == [f"results/cells/{c}.yaml" for c in pack.cells]
        assert outs == [f"results/runs/{c}" for c in pack.cells]
        assert re.search(r"--engine (\S+) ", command)[1] == "auto"  # jobs.pack_engine's default: fused for a pack


def tiny(tmp_path) -> dict:
    """Two digits cells of one block (seeds 0 and 1), 30 iterations, scoring on 200 samples."""
    return {
        "set": "tiny_pack",
        "theory": "off",
        "report": False,
        "jobs": {"pack_size": 2},
        "presets": {"demo": {"train.iterations": 30, "checkpoint.every": 10, "eval.every": 0, "log.every": 10,
                             "log.analysis_every": 0, "log.sample_every": 0,
                             "eval.n_gen": 200, "eval.n_real": 200, "eval.n_is": 200}},
        "blocks": {"tiny_pack": {"about": "two cells in one pack", "source": "new", "base": ["demo"],
                                 "grid": {"train.seed": [0, 1]}}},
    }


@pytest.mark.pipeline
def test_packs_train_every_cell_and_a_rerun_trains_only_the_missing_one(tmp_path):
    over = tiny(tmp_path)
    cfg = write_config(tmp_path / "tiny.yaml", **over)
    cells = sorted(merged_grid(over).cells)
    assert len(cells) == 2 and len(grid.pack_cells(merged_grid(over), 2)) == 1
    res = run_snakemake(tmp_path / "wd", "--configfile", str(cfg), timeout=900)
    assert res.returncode == 0, res.stdout[-5000:]
    assert res.stdout.count("rule train_pack_") == 1 and "rule train:" not in res.stdout
    runs = tmp_path / "wd" / "results" / "runs"
    for cell in cells:
        summary = read_json(runs / cell / "summary.json")
        assert summary["status"] in ("completed", "diverged") and summary["iterations"] == 30
        assert summary["engine"] == "fused"  # jobs.pack_engine auto: the pack trained as one computation
        assert read_json(runs / cell / "scores.json")["status"] == summary["status"]

    kept, gone = cells
    before = {name: (runs / kept / name).stat().st_mtime_ns for name in ("summary.json", "scores.json")}
    shutil.rmtree(runs / gone)
    dry = run_snakemake(tmp_path / "wd", "--configfile", str(cfg), "-n", timeout=300)
    assert dry.returncode == 0, dry.stdout[-3000:]
    command = shell_commands(dry.stdout, "train_pack_")
    assert len(command) == 1 and kept not in command[0] and gone in command[0]  # only the missing cell
    again = run_snakemake(tmp_path / "wd", "--configfile", str(cfg), timeout=900)
    assert again.returncode == 0, again.stdout[-5000:]
    assert read_json(runs / gone / "summary.json")["iterations"] == 30 and (runs / gone / "scores.json").is_file()
    assert read_json(runs / gone / "summary.json")["engine"] == "serial"  # auto: a pack of one cell is a lone run
    after = {name: (runs / kept / name).stat().st_mtime_ns for name in ("summary.json", "scores.json")}
    assert after == before  # the finished cell was neither deleted, touched, retrained nor rescored
    final = run_snakemake(tmp_path / "wd", "--configfile", str(cfg), "-n", timeout=300)
    assert final.returncode == 0 and "Nothing to be done" in final.stdout, final.stdout[-3000:]


def test_pack_jobs_on_slurm_ask_for_one_gpu_the_pack_memory_and_a_runtime_within_the_limit(tmp_path):
    from pipeline_helpers import fake_sinfo
    from test_workflow_dryrun import dry_run_jobs

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_sinfo(bin_dir, "gpu* 2-00:00:00")
    (bin_dir / "squeue").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "squeue").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{__import__('os').environ['PATH']}"}
    res = run_snakemake(tmp_path / "wd", "-n", "--config", "set=cifar10_nosn", "jobs={pack_size: 4}",
                        timeout=300, profile="slurm", env=env)
    assert res.returncode == 0, res.stdout[-3000:]
    packs = grid.pack_cells(merged_grid({"set": "cifar10_nosn"}), 4)
    assert sorted(len(p.cells) for p in packs) == [1, 4]
    jobs = [(rule, resources) for rule, resources in dry_run_jobs(res.stdout) if rule.startswith("train_pack_")]
    assert sorted(rule for rule, _ in jobs) == sorted(f"train_{p.name}" for p in packs)
    for rule, resources in jobs:
        size = len(next(p for p in packs if rule == f"train_{p.name}").cells)
        assert "gpu=1" in resources and "cpus_per_gpu=4" in resources, resources
        assert f"mem_mb={8000 + 2000 * (size - 1)}," in resources, resources
        assert int(re.search(r"\bruntime=(\d+)", resources)[1]) <= 2880
    assert job_stats(res.stdout)["score"] == 5
