"""Throughput figures behind ``specnorm plan``'s GPU-hours: one table, replaceable by measurements.

There are no GPU measurements yet, so every figure of the shipped table
(``specnorm/resources/throughput-estimates.yaml``) is an **estimate from the performance model**
(one H100, eager PyTorch, the middle of the 5–10 µs-per-kernel launch-bound range; evaluation 30 s
per paper-protocol evaluation), not a measurement. A YAML file with the same shape (``specnorm plan --throughput FILE``, or
``jobs.throughput`` in ``config.yaml``) replaces any entry, e.g. with figures from
``docs/performance.md`` once measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from specnorm.config import CellConfig
from specnorm.io import read_yaml

ESTIMATE_FILE = Path(str(resources.files("specnorm").joinpath("resources", "throughput-estimates.yaml")))
ESTIMATES: dict[str, Any] = read_yaml(ESTIMATE_FILE, "throughput table")
"""The performance-model estimates (a data file in the package, the same shape as a user's file)."""


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass(frozen=True)
class Throughput:
    """GPU-time model of one cell: training iterations plus evaluations."""

    table: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Throughput":
        """The estimates, with the entries of the YAML file at ``path`` (if any) replacing them."""
        table = ESTIMATES
        if path:
            table = _merge(ESTIMATES, read_yaml(path, "throughput file") or {})
        return cls(table)

    @property
    def label(self) -> str:
        return str(self.table["label"])

    def train_seconds(self, cfg: CellConfig) -> float:
        """Seconds of GPU time for the cell's training iterations."""
        rates = self.table["it_per_s"].get(cfg.dataset.name, self.table["it_per_s"]["cifar10"])
        family = self.table["family"].get(cfg.norm.mode, "sn")
        it1, it5 = rates[family]
        t1, t5 = 1.0 / it1, 1.0 / it5
        per_it = t1 + (t5 - t1) * (cfg.train.n_dis - 1) / 4.0
        per_it *= self.table["factor"].get(cfg.loss.name, 1.0)
        return cfg.train.iterations * per_it

    def evaluations(self, cfg: CellConfig) -> int:
        """In-training evaluations plus the two of ``specnorm score`` (best and final generator)."""
        during = cfg.train.iterations // cfg.eval.every if cfg.eval.every else 0
        return during + 2

    def gpu_hours(self, cfg: CellConfig) -> float:
        """Estimated GPU-hours of one cell (training + evaluation)."""
        eval_s = self.table["eval_s"].get(cfg.dataset.name, 30.0)
        return (self.train_seconds(cfg) + self.evaluations(cfg) * eval_s) / 3600.0
