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

LONG_RUN_GPU_HOURS = 100.0
"""A cell estimated above this many GPU-hours is warned about before it runs (``specnorm train``,
``specnorm plan``): the paper's longest cell, ImageNet's ResNet, is estimated at ~14."""
ESTIMATE_FILE = Path(str(resources.files("specnorm").joinpath("resources", "throughput-estimates.yaml")))
ESTIMATES: dict[str, Any] = read_yaml(ESTIMATE_FILE, "throughput table")
"""The performance-model estimates (a data file in the package, the same shape as a user's file)."""
SCORE_EVALUATIONS = 2
"""Evaluations of one ``specnorm score`` job (its best and final generators)."""


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass(frozen=True)
class Throughput:
    """GPU-time model of one cell (training, evaluations, analysis calls, sample grids) and of a pack."""

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
        return during + SCORE_EVALUATIONS

    @staticmethod
    def analyses(cfg: CellConfig) -> int:
        """Analysis calls (``analysis.csv`` rows): one at iteration 0, then every ``log.analysis_every``."""
        every = cfg.log.analysis_every
        return 1 + cfg.train.iterations // every if every else 0

    @staticmethod
    def sample_grids(cfg: CellConfig) -> int:
        """Sample grids written during training (every ``log.sample_every``)."""
        return cfg.train.iterations // cfg.log.sample_every if cfg.log.sample_every else 0

    def _per_dataset(self, key: str, cfg: CellConfig, default: float) -> float:
        return float((self.table.get(key) or {}).get(cfg.dataset.name, default))

    def eval_seconds(self, cfg: CellConfig) -> float:
        """Seconds of one evaluation on the cell's dataset (``eval_s``)."""
        return self._per_dataset("eval_s", cfg, 30.0)

    def costs(self, cfg: CellConfig) -> dict[str, float]:
        """Estimated GPU-hours of one cell by cadence: ``train`` (iterations), ``eval`` (in-training
        and scoring evaluations × ``eval_s``), ``analysis`` (calls × ``analysis_s``) and ``samples``
        (grids × ``sample_s``), each checkable against a measurement (docs/pipeline.md#packs)."""
        return {
            "train": self.train_seconds(cfg) / 3600.0,
            "eval": self.evaluations(cfg) * self.eval_seconds(cfg) / 3600.0,
            "analysis": self.analyses(cfg) * self._per_dataset("analysis_s", cfg, 0.0) / 3600.0,
            "samples": self.sample_grids(cfg) * self._per_dataset("sample_s", cfg, 0.0) / 3600.0,
        }

    def gpu_hours(self, cfg: CellConfig) -> float:
        """Estimated GPU-hours of one cell: the sum of :meth:`costs`."""
        return sum(self.costs(cfg).values())

    def pack_speedup(self, n: int) -> float:
        """Aggregate throughput of a pack of ``n`` cells relative to one cell (table ``pack.speedup``,
        linear between listed sizes, flat beyond the largest)."""
        table = {int(k): float(v) for k, v in ((self.table.get("pack") or {}).get("speedup") or {1: 1.0}).items()}
        table.setdefault(1, 1.0)
        sizes = sorted(table)
        if n <= sizes[0]:
            return table[sizes[0]]
        for lo, hi in zip(sizes, sizes[1:]):
            if n <= hi:
                return table[lo] + (table[hi] - table[lo]) * (n - lo) / (hi - lo)
        return table[sizes[-1]]

    def pack_slowdown(self, n: int) -> float:
        """How much longer a pack of ``n`` cells takes than its longest cell alone: n / speed-up."""
        return n / self.pack_speedup(n)


def long_run_warning(cfg: CellConfig, throughput: Throughput | None = None) -> str | None:
    """One line when ``cfg`` is estimated above :data:`LONG_RUN_GPU_HOURS` GPU-hours (its duration from
    :meth:`Throughput.gpu_hours`), else None: a config within every bound may still run for months."""
    t = throughput or Throughput.load()
    hours = t.gpu_hours(cfg)
    if hours <= LONG_RUN_GPU_HOURS:
        return None
    return (f"warning: estimated {hours:,.0f} GPU-hours ({hours / 24:,.0f} days), above {LONG_RUN_GPU_HOURS:g} "
            f"({t.label}); check train.iterations: {cfg.train.iterations:,}, train.n_dis and the cadences")
