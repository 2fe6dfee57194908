"""Job sizes for the pipeline's train/score jobs, from ``config.yaml``'s ``jobs`` section.

The requested runtime follows the plan's estimate (so SLURM requests track the cell's size) and
grows with each attempt; it is capped at the partition limit, since a cut run resumes from its
checkpoint in the next attempt (issue 5, point 4).
"""

from __future__ import annotations

import math
from typing import Any

from specnorm.config import CellConfig
from specnorm.grid.throughput import Throughput

DEFAULTS: dict[str, Any] = {
    "mem_mb": {"default": 8000},
    "runtime_factor": 1.5,
    "min_runtime": 10,
    "max_runtime": 2880,
    "throughput": None,
}


def job_settings(experiments: dict[str, Any]) -> dict[str, Any]:
    """The ``jobs`` section with defaults filled in."""
    return {**DEFAULTS, **(experiments.get("jobs") or {})}


def runtime_minutes(cfg: CellConfig, jobs: dict[str, Any], throughput: Throughput, attempt: int = 1) -> int:
    """Minutes to request for a cell's train job on attempt ``attempt`` (1-based)."""
    estimate = throughput.gpu_hours(cfg) * 60.0 * jobs["runtime_factor"] * attempt
    return int(min(jobs["max_runtime"], max(jobs["min_runtime"], math.ceil(estimate))))


def mem_mb(cfg: CellConfig, jobs: dict[str, Any]) -> int:
    """Memory (MB) for a cell's jobs: its dataset's entry, else the default."""
    table = jobs["mem_mb"]
    return int(table.get(cfg.dataset.name, table["default"]))
