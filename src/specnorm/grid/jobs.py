"""Job sizes for the pipeline's train/score jobs, from ``config.yaml``'s ``jobs`` section.

The requested runtime follows the plan's estimate (so SLURM requests track the cell's size) and
grows with each attempt; it is capped at the partition limit, since a cut run resumes from its
checkpoint in the next attempt (issue 5, point 4).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

from specnorm.config import CellConfig
from specnorm.grid.throughput import SCORE_EVALUATIONS, Throughput

DEFAULTS: dict[str, Any] = {
    "mem_mb": {"default": 8000},
    "runtime_factor": 1.5,
    "min_runtime": 10,
    "max_runtime": 2880,
    "throughput": None,
    "pack_size": 1,  # cells per train job (docs/pipeline.md#packs)
    "pack_by": ["train.seed", "norm.scale"],  # keys that may differ inside a pack
    "pack_mem_mb": 2000,  # memory per further cell of a pack
    "pack_engine": "auto",  # how a pack's cells train: vocab.PACK_ENGINES (docs/design.md#packs)
}


def job_settings(experiments: dict[str, Any]) -> dict[str, Any]:
    """The ``jobs`` section with defaults filled in."""
    return {**DEFAULTS, **(experiments.get("jobs") or {})}


def runtime_minutes(cfg: CellConfig, jobs: dict[str, Any], throughput: Throughput, attempt: int = 1) -> int:
    """Minutes to request for a cell's train job on attempt ``attempt`` (1-based)."""
    return request_minutes(throughput.gpu_hours(cfg), jobs, attempt)


def request_minutes(hours: float, jobs: dict[str, Any], attempt: int = 1) -> int:
    """A job's request for an estimated ``hours``: × ``runtime_factor`` × attempt, within
    [``min_runtime``, ``max_runtime``] minutes."""
    estimate = hours * 60.0 * jobs["runtime_factor"] * attempt
    return int(min(jobs["max_runtime"], max(jobs["min_runtime"], math.ceil(estimate))))


def score_minutes(cfg: CellConfig, jobs: dict[str, Any], throughput: Throughput, attempt: int = 1) -> int:
    """Minutes to request for a cell's ``specnorm score`` job: its evaluations × the dataset's
    seconds per evaluation (the performance model), as :func:`request_minutes`."""
    return request_minutes(SCORE_EVALUATIONS * throughput.eval_seconds(cfg) / 3600.0, jobs, attempt)


REAL_EVALUATIONS = 2
"""Evaluations of ``specnorm score --real``: the real images scored, and the protocol's reference
statistics (built once, then cached under ``resources/fid_stats/``)."""


def real_score_minutes(cfg: CellConfig, jobs: dict[str, Any], throughput: Throughput, attempt: int = 1) -> int:
    """Minutes to request for Table 1's Real-data scores of ``cfg``'s dataset and protocol
    (``specnorm score --real``), as :func:`score_minutes`."""
    return request_minutes(REAL_EVALUATIONS * throughput.eval_seconds(cfg) / 3600.0, jobs, attempt)


MAX_RUNTIME_ENV = "SPECNORM_SLURM_MAX_RUNTIME"  # minutes: the partition's time limit
PARTITION_ENV = "SPECNORM_SLURM_PARTITION"
CPU_PARTITION_ENV = "SPECNORM_SLURM_CPU_PARTITION"  # GPU-less jobs (prepare, theory); unset: PARTITION_ENV's
ACCOUNT_ENV = "SPECNORM_SLURM_ACCOUNT"

_SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_slurm_time(text: str) -> int | None:
    """Whole minutes of a SLURM time limit as ``sinfo -o %l`` prints it (``D-HH:MM:SS``, ``D-HH[:MM]``,
    ``HH:MM:SS``, ``MM:SS``, ``MM``); None for ``infinite``/``UNLIMITED``. Seconds round down, so a
    job sized to the result fits. ValueError for anything else."""
    t = text.strip()
    if t.lower() in ("infinite", "unlimited"):
        return None
    m = _SLURM_TIME.match(t)
    if not m:
        raise ValueError(f"not a SLURM time limit: {text!r}")
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        return days * 1440 + a * 60 + (b or 0)
    if c is not None:  # HH:MM:SS
        return a * 60 + b
    return a  # MM or MM:SS


def partition_limit(partition: str | None = None, timeout: float = 10.0) -> int | None:
    """The time limit (minutes) of ``partition`` (the cluster's default partition, marked ``*``, if
    None) from ``sinfo``; None where sinfo is missing, fails, or the limit is infinite."""
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return None
    cmd = [sinfo, "-h", "-o", "%P %l"] + (["-p", partition] if partition else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    limits = []
    for line in out.splitlines():
        name, _, limit = line.strip().partition(" ")
        if name and (partition or name.endswith("*")):
            try:
                limits.append(parse_slurm_time(limit))
            except ValueError:
                continue
    known = [x for x in limits if x is not None]
    return min(known) if known else None


def site_partition(env: Mapping[str, str] = os.environ, cpu: bool = False) -> str | None:
    """The SLURM partition of a compute job: ``SPECNORM_SLURM_PARTITION``; ``cpu`` (a job without a
    GPU): ``SPECNORM_SLURM_CPU_PARTITION`` where it is set; None (the cluster's default) where unset."""
    return (env.get(CPU_PARTITION_ENV) if cpu else None) or env.get(PARTITION_ENV) or None


def site_resources(env: Mapping[str, str] = os.environ, cpu: bool = False) -> dict[str, str]:
    """The SLURM partition (:func:`site_partition`) and account (``SPECNORM_SLURM_ACCOUNT``) of a
    compute job, from the environment: the rules' ``slurm_partition``/``slurm_account`` resources,
    none where unset (docs/pipeline.md#profiles)."""
    site = {"slurm_partition": site_partition(env, cpu), "slurm_account": env.get(ACCOUNT_ENV)}
    return {key: value for key, value in site.items() if value}


def fit_partition(jobs: dict[str, Any], env: Mapping[str, str] = os.environ, sinfo: bool = True,
                  cpu: bool = False) -> dict[str, Any]:
    """``jobs`` with ``max_runtime`` at most the partition's time limit: ``SPECNORM_SLURM_MAX_RUNTIME``
    (minutes) if set, else ``sinfo`` for ``SPECNORM_SLURM_PARTITION`` (or the default partition) when
    ``sinfo`` is true and available; ``min_runtime`` never exceeds it (docs/pipeline.md#profiles).
    ``cpu``: the partition of GPU-less jobs, ``SPECNORM_SLURM_CPU_PARTITION`` where it is set."""
    if env.get(MAX_RUNTIME_ENV):
        try:
            limit = int(env[MAX_RUNTIME_ENV])
        except ValueError:
            raise ValueError(f"{MAX_RUNTIME_ENV}={env[MAX_RUNTIME_ENV]!r}: give whole minutes") from None
        if limit < 1:
            raise ValueError(f"{MAX_RUNTIME_ENV}={limit}: give at least 1 minute")
    else:
        limit = partition_limit(site_partition(env, cpu)) if sinfo else None
    if limit is None:
        return dict(jobs)
    cap = min(int(jobs["max_runtime"]), limit)
    return {**jobs, "max_runtime": cap, "min_runtime": min(int(jobs["min_runtime"]), cap)}


def pieces(cfg: CellConfig, jobs: dict[str, Any], throughput: Throughput) -> int:
    """How many consecutive jobs a cell's training takes: its requested time (estimate ×
    ``runtime_factor``) in slices of ``max_runtime``, each resuming from the checkpoint the one
    before left (the pipeline's retries rerun it)."""
    need = throughput.gpu_hours(cfg) * 60.0 * jobs["runtime_factor"]
    return max(1, math.ceil(need / jobs["max_runtime"] - 1e-9))


def mem_mb(cfg: CellConfig, jobs: dict[str, Any]) -> int:
    """Memory (MB) for a cell's jobs: its dataset's entry, else the default."""
    return dataset_mem_mb(cfg.dataset.name, jobs)


def dataset_mem_mb(dataset: str, jobs: dict[str, Any]) -> int:
    """Memory (MB) for a job on ``dataset`` (preparing or scoring it): ``jobs.mem_mb``'s entry, else the default."""
    table = jobs["mem_mb"]
    return int(table.get(dataset, table["default"]))
