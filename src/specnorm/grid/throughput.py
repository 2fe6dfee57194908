"""Throughput figures behind ``specnorm plan``'s GPU-hours: one table, replaceable by measurements.

There are no GPU measurements yet, so every figure of the shipped table
(``specnorm/resources/throughput-estimates.yaml``) is an **estimate from the performance model**
(one H100, eager PyTorch: launch-bound, capped by half the float32 peak for the iteration's FLOPs;
evaluation 30 s per paper-protocol evaluation), not a measurement. A YAML file with the same shape
(``specnorm plan --throughput FILE``, or ``jobs.throughput`` in ``config.yaml``) replaces any entry,
e.g. with figures from ``docs/performance.md`` once measured.

Packs (docs/pipeline.md#packs) are modelled by the mechanism the engine has (docs/design.md#packs):
a serial pack runs its cells one after another (no speed-up); a fused pack runs one batched iteration
for its K active cells, which takes max(a lone iteration, K × the iteration's FLOPs at ``efficiency``
of the precision's peak): it saves launches, never FLOPs. Evaluations, analysis calls and sample grids
are per cell in both engines, so they add up.
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
``specnorm plan``): the paper's longest cell, ImageNet's ResNet, is estimated at ~36."""
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

    def _by_ndis(self, key: str, cfg: CellConfig, per_unit) -> float:
        """An ``[n_dis 1, n_dis 5]`` entry of table ``key`` for the cell's dataset and family, mapped
        by ``per_unit``, linear in n_dis, times the loss factor."""
        rows = self.table[key]
        one, five = (per_unit(v) for v in rows.get(cfg.dataset.name, rows["cifar10"])[self.table["family"].get(
            cfg.norm.mode, "sn")])
        return (one + (five - one) * (cfg.train.n_dis - 1) / 4.0) * self.table["factor"].get(cfg.loss.name, 1.0)

    def iteration_seconds(self, cfg: CellConfig) -> float:
        """Seconds of one training iteration of a lone cell (``it_per_s``)."""
        return self._by_ndis("it_per_s", cfg, lambda rate: 1.0 / rate)

    def compute_seconds(self, cfg: CellConfig) -> float:
        """Seconds of the iteration's FLOPs (``gflop_per_it``) at ``efficiency`` of the device's peak
        at the cell's ``train.precision`` (``peak_tflops``): the part a fused pack cannot share."""
        rate = float(self.table["efficiency"]) * float(self.table["peak_tflops"][cfg.train.precision]) * 1e12
        return self._by_ndis("gflop_per_it", cfg, lambda gflop: gflop * 1e9) / rate

    def train_seconds(self, cfg: CellConfig) -> float:
        """Seconds of GPU time for a lone cell's training iterations."""
        return cfg.train.iterations * self.iteration_seconds(cfg)

    def pack_train_seconds(self, cfgs: list[CellConfig], engine: str) -> float:
        """Seconds of a pack's training: a serial pack's cells one after another; a fused pack's
        batched iterations, each max(a lone iteration, K × the iteration's FLOP time) for the K cells
        still training (cells may differ in length; they agree on everything that shapes the cost)."""
        if engine == "serial" or len(cfgs) == 1:
            return sum(self.train_seconds(c) for c in cfgs)
        lone = self.iteration_seconds(cfgs[0])
        compute = min(self.compute_seconds(cfgs[0]), lone)  # a measured lone rate may beat the model's efficiency
        lengths = sorted(c.train.iterations for c in cfgs)
        total, done = 0.0, 0
        for k, length in enumerate(lengths):
            total += (length - done) * max(lone, (len(lengths) - k) * compute)
            done = length
        return total

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

    def pack_hours(self, cfgs: list[CellConfig], engine: str) -> float:
        """Estimated GPU-hours of a pack's allocation: its training (:meth:`pack_train_seconds`) plus
        every cell's evaluations, analysis calls and sample grids (per cell in both engines)."""
        rest = sum(sum(v for k, v in self.costs(c).items() if k != "train") for c in cfgs)
        return self.pack_train_seconds(cfgs, engine) / 3600.0 + rest


def long_run_warning(cfg: CellConfig, throughput: Throughput | None = None) -> str | None:
    """One line when ``cfg`` is estimated above :data:`LONG_RUN_GPU_HOURS` GPU-hours (its duration from
    :meth:`Throughput.gpu_hours`), else None: a config within every bound may still run for months."""
    t = throughput or Throughput.load()
    hours = t.gpu_hours(cfg)
    if hours <= LONG_RUN_GPU_HOURS:
        return None
    return (f"warning: estimated {hours:,.0f} GPU-hours ({hours / 24:,.0f} days), above {LONG_RUN_GPU_HOURS:g} "
            f"({t.label}); check train.iterations: {cfg.train.iterations:,}, train.n_dis and the cadences")
