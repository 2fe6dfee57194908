"""The demo pipeline on a real single-node SLURM cluster (Debian's Slurm, brought up by
scripts/slurm-ci.sh and torn down afterwards) with profiles/slurm plus the CI overrides. One cell's
job is requeued mid-training (as on preemption) and another is cancelled (as on a time limit):
both continue from their checkpoints, and the pipeline still runs to the report."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_helpers import REPO, merged_grid, read_json, snakemake_cmd

pytestmark = pytest.mark.pipeline

SLURM_ENV = {"SPECNORM_SLURM_PARTITION": "debug", "SPECNORM_SLURM_ACCOUNT": "root"}
# CI overrides of profiles/slurm: a 2-CPU node without GPUs, and fast status polling
CI_ARGS = [
    "--slurm-init-seconds-before-status-checks", "1",
    "--set-threads", "train=1", "score=1", "theory=1",
    "--set-resources", "train:gpu=0", "score:gpu=0", "train:mem_mb=1500", "score:mem_mb=1500",
    "theory:mem_mb=1500",
]


def _can_bring_up() -> str | None:
    """Why a cluster cannot be brought up here, or None."""
    if os.geteuid() != 0:
        return "bringing up SLURM needs root"
    if not Path("/etc/debian_version").is_file():
        return "bringing up SLURM needs Debian's slurm packages"
    if not (shutil.which("apt-get") or shutil.which("slurmctld")):
        return "neither apt-get nor an installed slurmctld"
    return None


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _can_bring_up()
    if reason:
        pytest.skip(f"no SLURM cluster: {reason}")
    script = ["bash", str(REPO / "scripts" / "slurm-ci.sh")]
    logs = tmp_path_factory.mktemp("slurm-logs")
    up = subprocess.run([*script, "up"], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                        timeout=600)
    try:
        assert up.returncode == 0, up.stdout
        yield
    finally:
        subprocess.run([*script, "down"], cwd=REPO, timeout=120, env={**os.environ, "SLURM_CI_KEEP_LOGS": str(logs)})


def trainer_job_id(run_dir: str) -> str | None:
    """SLURM_JOB_ID of the running `specnorm train ... --out <run_dir>` process, if any."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"specnorm.cli" not in argv or b"train" not in argv or run_dir.encode() not in argv:
                continue
            env = dict(kv.split(b"=", 1) for kv in (proc / "environ").read_bytes().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        if b"SLURM_JOB_ID" in env:
            return env[b"SLURM_JOB_ID"].decode()
    return None


def interrupt_one(workdir: Path, cells: list[str], action: list[str], taken: set[str], deadline: float) -> str:
    """Wait until some cell not in ``taken`` has a checkpoint and runs in a SLURM job, then apply
    ``action + [jobid]`` (scontrol requeue / scancel); return the cell."""
    while time.monotonic() < deadline:
        for cell in cells:
            rel = f"results/runs/{cell}"
            if cell in taken or not list((workdir / rel / "checkpoints").glob("ckpt_*.pt")):
                continue
            if (workdir / rel / "summary.json").exists():
                continue
            job = trainer_job_id(rel)
            if job:
                subprocess.run([*action, job], check=True, timeout=30)
                return cell
        time.sleep(0.5)
    raise AssertionError(f"no running cell with a checkpoint to {action[-1]}")


def test_demo_pipeline_on_slurm_survives_requeue_and_cancel(slurm_cluster, tmp_path):
    cells = list(merged_grid({}).cells)
    out = (tmp_path / "snakemake.log").open("w")
    cmd = snakemake_cmd(tmp_path, *CI_ARGS, timeout=1500, profile="slurm")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **SLURM_ENV})
    try:
        deadline = time.monotonic() + 900
        requeued = interrupt_one(tmp_path, cells, ["scontrol", "requeue"], set(), deadline)
        cancelled = interrupt_one(tmp_path, cells, ["scancel"], {requeued}, deadline)
        rc = proc.wait(timeout=1600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
        out.close()
    log = (tmp_path / "snakemake.log").read_text()
    assert rc == 0, log[-5000:]

    # every cell ran as a SLURM job (one per cell: train and score grouped) and finished
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(submitted) >= len(cells) + 2  # + theory, + the cancelled job's retry
    for cell in cells:
        run = tmp_path / "results" / "runs" / cell
        summary = read_json(run / "summary.json")
        assert summary["iterations_done"] == summary["iterations"] == 1000, cell
        assert read_json(run / "scores.json")["status"] == summary["status"]
    assert (tmp_path / "report" / "index.html").stat().st_size > 1000

    # the interrupted cells continued from their checkpoints instead of starting over
    for cell in (requeued, cancelled):
        train_log = (tmp_path / "results" / "logs" / "train" / f"{cell}.log").read_text()
        assert re.search(r"^resuming from .*ckpt_\d+\.pt at iteration [1-9]\d*", train_log, re.M), train_log[-2000:]
    # accounting saw them, in the partition and account given by the environment
    rows = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,Partition,Account", "-j", ",".join(submitted)],
                          text=True, stdout=subprocess.PIPE, check=True).stdout.splitlines()
    states = {row.split("|")[1].split()[0] for row in rows}
    assert {"COMPLETED", "CANCELLED"} <= states
    assert {tuple(row.split("|")[2:]) for row in rows} == {("debug", "root")}
