"""What the workflow really submits to SLURM (docs/pipeline.md#packs, #profiles): the SLURM profile
run against fake `sbatch`/`squeue`/`sinfo`/`sacct`/`scancel` on PATH (tests/workflow/fake_slurm.py),
with placeholder prepared datasets and Inception weights, so nothing trains. Every `sbatch` call is
captured and checked: one GPU per pack job with the CPUs and memory of one process and the pack's
runtime (train, then its score jobs one after another), a GPU for Table 1's Real-data scores with a
runtime that grows with the attempt, the GPU-less theory checks on the CPU partition, the account
everywhere, and the pack's name in the job's comment and log path. The fake jobs fail, so Snakemake
retries each once and the run ends with every cell listed as failed; a run stopped with Ctrl-C
lists them as not finished instead (docs/pipeline.md#partial-reports). A minute or two each."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import specnorm.grid as grid
from fake_slurm import install, submissions
from pipeline_helpers import REPO, merged_config, merged_grid, snakemake_cmd
from specnorm import catalog
from specnorm.layout import Resources, Results

pytestmark = pytest.mark.pipeline

# A week-long GPU partition and jobs.max_runtime to match: a 4-cell ImageNet pack (about 200 GPU-hours,
# its cells share one GPU) then needs two jobs, the first cut at the limit, so one retry completes it.
LIMIT = 7 * 24 * 60  # minutes
SELECTION = {"set": "imagenet_resnet,mnist_gradients", "theory": "full",
             "jobs": {"pack_size": 4, "min_runtime": 1, "max_runtime": LIMIT}}
CONFIG = ["--config", f"set={SELECTION['set']}", "theory=full", f"jobs={{pack_size: 4, min_runtime: 1, max_runtime: {LIMIT}}}"]
SITE = {"SPECNORM_SLURM_PARTITION": "gpu", "SPECNORM_SLURM_ACCOUNT": "myacct", "SPECNORM_SLURM_CPU_PARTITION": "cpu"}


def placeholders(workdir: Path) -> None:
    """Prepared datasets and Inception weights as the workflow sees them (their files exist), so no
    download or prepare job is needed: only the cells, the Real-data scores and the theory run."""
    res = Resources(workdir / "resources")
    for path in (res.manifest("imagenet"), res.manifest("mnist"), res.weights(catalog.get_extractor("inception").weights_file)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def start(workdir: Path, state: str, *args: str) -> tuple[subprocess.Popen, Path]:
    placeholders(workdir)
    record = install(workdir / "bin", [("gpu*", "7-00:00:00"), ("cpu", "14-00:00:00")], "myacct", state=state)
    env = {**os.environ, **SITE, "PATH": f"{workdir / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    cmd = snakemake_cmd(workdir, "--slurm-init-seconds-before-status-checks", "1", *CONFIG, *args,
                        timeout=900, profile="slurm")
    log = (workdir / "snakemake.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return proc, record


def finish(proc: subprocess.Popen, timeout: float = 960) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def child_of(pid: int) -> int:
    """The one child process of ``pid`` (snakemake, under `timeout`)."""
    children = (Path("/proc") / str(pid) / "task" / str(pid) / "children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def minutes(text: str) -> int:
    assert text.isdigit(), text
    return int(text)


def test_a_pack_selection_asks_for_one_gpu_per_pack_and_a_gpu_for_the_real_scores(tmp_path):
    proc, record = start(tmp_path, "FAILED", "--retries", "1")
    rc = finish(proc)
    log = (tmp_path / "snakemake.log").read_text()
    assert rc != 0, log[-3000:]  # every fake job failed
    g = merged_grid(SELECTION)
    packs = grid.pack_cells(g, 4)
    jobs = grid.fit_partition(grid.job_settings(merged_config(SELECTION)), env={"SPECNORM_SLURM_MAX_RUNTIME": str(LIMIT)})
    est = grid.Throughput.load()
    calls = submissions(record)
    assert calls, log[-3000:]
    print("\n".join(c.line for c in calls))  # the captured requests (pytest -s shows them)

    # every job: the account, the site's partitions, the fake run's job name (the plugin's status checks)
    assert {c.get("-A") for c in calls} == {"myacct"}
    assert len({c.get("--job-name") for c in calls}) == 1
    by_kind: dict[str, list] = {}
    for c in calls:
        by_kind.setdefault(c.get("--comment"), []).append(c)

    # one job per pack (and its retry): 1 GPU, the CPUs of one process, memory for its cells, the
    # pack's train estimate plus its score jobs one after another, within the partition's limit
    for pack in packs:
        cfgs = [g.cells[c].config for c in pack.cells]
        mine = [c for c in calls if pack.name in (c.get("--comment") or "")]
        assert len(mine) == 2, [c.line for c in mine]  # attempt 1 and the retry
        for attempt, c in enumerate(mine, start=1):
            assert c.get("--gpus") == "1" and c.get("--cpus-per-gpu") == "4" and c.get("-p") == "gpu", c.line
            assert "--cpus-per-task" not in c.options and "--gres" not in c.options, c.line
            assert minutes(c.get("--mem")) == grid.pack_mem_mb(cfgs, jobs), c.line
            expected = grid.train_minutes(cfgs, jobs, est, attempt) + sum(
                grid.score_minutes(cfg, jobs, est, attempt) for cfg in cfgs)
            assert minutes(c.get("-t")) == expected <= LIMIT, (c.line, expected)
            assert pack.name in c.get("--output"), c.line  # the log path names the pack
    imagenet = next(p for p in packs if g.cells[p.cells[0]].config.dataset.name == "imagenet")
    first = next(c for c in calls if imagenet.name in c.get("--comment"))
    assert minutes(first.get("--mem")) == 32000 + 3 * 2000 and minutes(first.get("-t")) == LIMIT  # not 4 GPUs, 128 GB

    # Table 1's Real-data scores: a GPU, the dataset's memory, a runtime from the performance model
    # that grows with the attempt
    for dataset in ("imagenet", "mnist"):
        real = by_kind[f"rule_score_real_wildcards_{dataset}_paper"]
        assert [c.get("--gpus") for c in real] == ["1", "1"] and {c.get("-p") for c in real} == {"gpu"}
        cfg = next(c.config for c in g.cells.values() if c.config.dataset.name == dataset)
        assert [minutes(c.get("-t")) for c in real] == [grid.real_score_minutes(cfg, jobs, est, a) for a in (1, 2)]
        assert minutes(real[1].get("-t")) > minutes(real[0].get("-t")) > 0
        assert minutes(real[0].get("--mem")) == grid.dataset_mem_mb(dataset, jobs)

    # the theory checks: no GPU, on the CPU partition
    theory = by_kind["rule_theory_wildcards_full"]
    assert len(theory) == 2 and all(c.get("-p") == "cpu" and "--gpus" not in c.options for c in theory)
    assert set(by_kind) == {f"rule_{p.name}_score_train_{p.name}" for p in packs} | {
        "rule_score_real_wildcards_imagenet_paper", "rule_score_real_wildcards_mnist_paper", "rule_theory_wildcards_full"}

    # jobs that ended in error: every cell failed, none merely unfinished
    results = Results(tmp_path / "results")
    assert sorted(results.failed_cells.read_text().split()) == sorted(g.cells)
    assert results.unfinished_cells.read_text().split() == []
    assert f"{len(g.cells)} failed, 0 not finished" in results.log("report").read_text()


def test_a_run_stopped_with_ctrl_c_reports_its_cells_as_not_finished(tmp_path):
    proc, record = start(tmp_path, "RUNNING")
    try:
        deadline = time.monotonic() + 600
        expected = len(grid.pack_cells(merged_grid(SELECTION), 4)) + 3  # the packs, two Real-data scores, theory
        while len(submissions(record)) < expected and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert len(submissions(record)) == expected, (tmp_path / "snakemake.log").read_text()[-3000:]
        # Ctrl-C: SIGINT to snakemake alone. (`timeout` would pass it to its whole process group, also
        # to an `scancel` or `scontrol` snakemake runs at that moment; a terminal signals at the key press.)
        os.kill(child_of(proc.pid), signal.SIGINT)
    finally:
        rc = finish(proc)
    log = (tmp_path / "snakemake.log").read_text()
    assert rc != 0, log[-3000:]
    cancelled = (record / "scancel.log").read_text().split()
    assert sorted(cancelled) == sorted(c.job for c in submissions(record))  # every submitted job cancelled
    results = Results(tmp_path / "results")
    g = merged_grid(SELECTION)
    assert results.failed_cells.read_text().split() == []
    assert sorted(results.unfinished_cells.read_text().split()) == sorted(g.cells)
    assert f"0 failed, {len(g.cells)} not finished" in results.log("report").read_text()
