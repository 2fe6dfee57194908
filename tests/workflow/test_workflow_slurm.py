"""The demo pipeline on a real single-node SLURM cluster (Debian's Slurm, brought up by
scripts/slurm-ci.sh and torn down afterwards) with profiles/slurm plus the CI overrides. One cell's
job is requeued mid-training (as on preemption) and another is cancelled (as on a time limit):
both continue from their checkpoints, and the pipeline still runs to the report. A second run
sends one cell's job SIGTERM as `--signal=TERM@300` does before the time limit: the trainer
checkpoints the iteration it is at and the retried job resumes from there. Every job carries the
partition and account given by the environment."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_helpers import REPO, merged_grid, read_json, snakemake_cmd, write_config

pytestmark = pytest.mark.pipeline

# the test cluster's partition (scripts/slurm-ci.sh: SLURM_CI_PARTITION) and its account root
SLURM_ENV = {"SPECNORM_SLURM_PARTITION": os.environ.get("SLURM_CI_PARTITION", "debug"),
             "SPECNORM_SLURM_ACCOUNT": "root"}
# CI overrides of profiles/slurm: a 2-CPU node without GPUs, and fast status polling
CI_ARGS = [
    "--slurm-init-seconds-before-status-checks", "1",
    "--set-threads", "train=1", "score=1", "score_real=1", "theory=1",
    "--set-resources", "train:gpu=0", "score:gpu=0", "score_real:gpu=0", "train:mem_mb=1500", "score:mem_mb=1500",
    "score_real:mem_mb=1500", "theory:mem_mb=1500",
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


def submitted_jobs(log: str) -> dict[str, str]:
    """SLURM job id → what it ran (the plugin's log folder: group_<cell>_score_train, rule_theory ...)."""
    return dict(re.findall(r"submitted with SLURM jobid (\d+) \(log: .*?/slurm_logs/([^/\s]+)/", log))


def assert_site_on_every_job(jobs: dict[str, str]) -> None:
    """Accounting recorded every submitted job in the partition and account from the environment."""
    rows = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,Partition,Account", "-j", ",".join(jobs)],
                          text=True, stdout=subprocess.PIPE, check=True).stdout.splitlines()
    seen = {row.split("|")[0]: tuple(row.split("|")[1:]) for row in rows}
    assert set(seen) >= set(jobs), (seen, jobs)
    expected = (SLURM_ENV["SPECNORM_SLURM_PARTITION"], SLURM_ENV["SPECNORM_SLURM_ACCOUNT"])
    for job, kind in jobs.items():
        assert seen[job] == expected, (job, kind, seen[job])


# The demo's SN_Conv block with two of its seeds (4 cells: both scales), 600 iterations, a checkpoint
# every 150: SLURM's side of the pipeline (a job per cell, requeue, cancel, resume), within CI's time
# budget; docs/performance.md#the-demo measures the real demo.
ITERATIONS = 600
DEMO_PART = {"set": "demo_snconv",
             "blocks": {"demo_snconv": {"grid": {"train.seed": [0, 1]}}},
             "presets": {"demo": {"train.iterations": ITERATIONS, "checkpoint.every": 150, "log.analysis_every": 150,
                                  "log.sample_every": 300, "eval.every": 300}}}


def test_demo_pipeline_on_slurm_survives_requeue_and_cancel(slurm_cluster, tmp_path):
    grid = merged_grid(DEMO_PART).cells
    cells = list(grid)
    assert len(cells) == 4 and {c.config.norm.scale for c in grid.values()} == {1.0, 1.75}
    cfg = write_config(tmp_path / "demo-part.yaml", **DEMO_PART)
    out = (tmp_path / "snakemake.log").open("w")
    cmd = snakemake_cmd(tmp_path, *CI_ARGS, "--configfile", str(cfg), timeout=1500, profile="slurm")
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
        assert summary["iterations_done"] == summary["iterations"] == ITERATIONS, cell
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
    assert {tuple(row.split("|")[2:]) for row in rows} == {tuple(SLURM_ENV.values())}
    jobs = submitted_jobs(log)
    kinds = set(jobs.values())
    assert set(jobs) == set(submitted), (jobs, submitted)
    # the cells' train + score (one job per cell, named after it: its group), theory, Table 1's real-data scores
    for cell in cells:
        assert f"group_{cell}_score_train" in kinds, (cell, kinds)
    assert {"rule_theory", "rule_score_real"} <= kinds, kinds
    assert_site_on_every_job(jobs)


def max_iteration(train_log: Path) -> int:
    """The last iteration the trainer's progress lines reported ("[specnorm] it N/total")."""
    its = re.findall(r"\bit (\d+)/\d+", train_log.read_text()) if train_log.exists() else []
    return max(map(int, its), default=0)


def test_a_train_job_signalled_before_its_time_limit_resumes_from_the_signal_checkpoint(slurm_cluster, tmp_path):
    """`scancel --signal=TERM JOB` sends SIGTERM to the job's steps, as `--signal=TERM@300` does
    (profiles/slurm): the step's snakemake waits for its job, the trainer (exec'd by the train rule's
    shell) checkpoints the iteration it is at — past the last cadence checkpoint — and exits 75; the
    job fails, Snakemake retries it and the retry resumes from that iteration (docs/pipeline.md)."""
    every, total = 400, 1000
    over = {"set": "signal", "theory": "off", "report": False, "score": False,
            "presets": {"demo": {"train.iterations": total, "checkpoint.every": every, "eval.every": 0,
                                 "log.every": 10, "log.analysis_every": 0, "log.sample_every": 0}},
            "blocks": {"signal": {"about": "one cell signalled mid-training", "source": "new", "base": ["demo"],
                                  "grid": {"train.seed": [0]}}}}
    cfg = write_config(tmp_path / "signal.yaml", **over)
    (cell,) = merged_grid(over).cells
    rel = f"results/runs/{cell}"
    ckpts, train_log = tmp_path / rel / "checkpoints", tmp_path / "results" / "logs" / "train" / f"{cell}.log"
    out = (tmp_path / "snakemake.log").open("w")
    cmd = snakemake_cmd(tmp_path, *CI_ARGS, "--configfile", str(cfg), timeout=900, profile="slurm")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **SLURM_ENV})
    try:
        # wait until the job trains past its first cadence checkpoint, then signal it
        deadline, job = time.monotonic() + 600, None
        while time.monotonic() < deadline and proc.poll() is None:
            job = trainer_job_id(rel)
            if job and (ckpts / f"ckpt_{every:07d}.pt").exists() and max_iteration(train_log) > every + 20:
                break
            time.sleep(0.2)
        assert job and proc.poll() is None, "the cell never trained past its first checkpoint under SLURM"
        cadence = sorted(p.name for p in ckpts.glob("ckpt_*.pt"))
        subprocess.run(["scancel", "--signal=TERM", job], check=True, timeout=30)
        rc = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
        out.close()
    log = (tmp_path / "snakemake.log").read_text()
    assert rc == 0, log[-5000:]
    text = train_log.read_text()  # the retry's: Snakemake removes a failed job's log before retrying it

    # the trainer got the signal, finished its iteration N and checkpointed it, past the cadence's
    # (its message is in the failed attempt's log, which Snakemake shows: show-failed-logs)
    stopped = re.search(r"^stopped by SIGTERM at iteration (\d+); checkpoint written", log, re.M)
    assert stopped, log[-5000:]
    n = int(stopped[1])
    assert cadence == [f"ckpt_{every:07d}.pt"] and every < n < total and n % every, (cadence, n)
    # the job failed (exit 75), Snakemake retried it, and the retry resumed from iteration N
    assert re.search(rf"^resuming from .*ckpt_0*{n}\.pt at iteration {n}$", text, re.M), text[-3000:]
    summary = read_json(tmp_path / rel / "summary.json")
    assert summary["iterations_done"] == summary["iterations"] == total
    jobs = submitted_jobs(log)
    assert len(jobs) == 2, jobs  # the signalled job and its retry
    states = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,ExitCode", "-j", ",".join(jobs)],
                            text=True, stdout=subprocess.PIPE, check=True).stdout
    assert re.search(rf"^{job}\|FAILED\|", states, re.M), states
    assert_site_on_every_job(jobs)
