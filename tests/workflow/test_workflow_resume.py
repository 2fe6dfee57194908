"""Kill a running train job through its process group and re-run snakemake: the cell resumes from
its checkpoint (checkpoints are not declared outputs, so Snakemake never deletes them)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pipeline_helpers import REPO, merged_grid, read_json, run_snakemake, snakemake_cmd, write_config

pytestmark = pytest.mark.pipeline

# one demo cell, long enough to be caught between its first checkpoint and its end
OVERRIDES = {
    "set": "demo_nosn",
    "score": False,
    "report": False,
    "theory": "off",
    "blocks": {"demo_nosn": {"grid": {"train.seed": [0]}}},
    "presets": {"demo": {"train.iterations": 1500, "checkpoint.every": 100, "eval.every": 0,
                         "log.analysis_every": 0, "log.sample_every": 500}},
}


def trainer_pid(run_dir: Path) -> int | None:
    """The pid of the `specnorm train ... --out <run_dir>` process, if it is running."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"train" in argv and str(run_dir).encode() in argv and b"specnorm.cli" in argv:
            return int(proc.name)
    return None


def wait_for(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_killed_train_job_resumes_from_its_checkpoint(tmp_path):
    cfgfile = write_config(tmp_path / "override.yaml", **OVERRIDES)
    cell = next(name for name, c in merged_grid(OVERRIDES).cells.items() if c.config.norm.init == "official")
    rel = f"results/runs/{cell}"
    run = tmp_path / rel
    target = f"{rel}/summary.json"
    proc = subprocess.Popen(snakemake_cmd(tmp_path, "--configfile", str(cfgfile), "--cores", "1", target, timeout=600),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(lambda: list((run / "checkpoints").glob("ckpt_*.pt")), 300, "the first checkpoint")
        pid = wait_for(lambda: trainer_pid(Path(rel)), 30, "the trainer process")
        os.killpg(os.getpgid(pid), signal.SIGKILL)  # the job's process group: trainer, shell, snakemake
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (run / "summary.json").exists(), "the job finished before it could be killed"
    assert list((run / "checkpoints").glob("ckpt_*.pt"))

    # a crashed snakemake leaves its lock behind: unlock, then run again
    assert run_snakemake(tmp_path, "--configfile", str(cfgfile), "--unlock", timeout=120).returncode == 0
    res = run_snakemake(tmp_path, "--configfile", str(cfgfile), "--cores", "1", target, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:]

    log = (tmp_path / "results" / "logs" / "train" / f"{cell}.log").read_text()
    resumed = [line for line in log.splitlines() if line.startswith("resuming from")]
    assert len(resumed) == 1, log[-2000:]
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed"
    assert summary["iterations_done"] == summary["iterations"] == 1500
    with open(run / "train_log.csv") as f:
        iterations = [int(row["iteration"]) for row in csv.DictReader(f)]
    assert iterations == sorted(set(iterations)) and iterations[-1] == 1500  # no row lost or repeated
