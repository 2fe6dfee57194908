"""Throughput figures behind ``specnorm plan``'s GPU-hours: one table, replaceable by measurements.

There are no GPU measurements yet, so every figure below is an **estimate from the performance
model** (``shared/reference/performance-model.md`` §4 and §7: one H100, eager PyTorch, the middle
of the 5–10 µs-per-kernel launch-bound range; evaluation 30 s per BSN-protocol evaluation). They
are not measurements. A YAML file with the same shape (``specnorm plan --throughput FILE``, or
``jobs.throughput`` in ``config.yaml``) replaces any entry, e.g. with figures from
``docs/performance.md`` once measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specnorm.config import CellConfig
from specnorm.io import read_yaml

ESTIMATES: dict[str, Any] = {
    "label": "estimate from the performance model (H100, eager PyTorch), not a measurement",
    # training iterations (G steps) per second for n_dis = 1 and n_dis = 5, by dataset and family
    # (sn: SN/SSN; bsn: BSN/BSSN). Other n_dis: time per iteration linear in n_dis.
    "it_per_s": {
        "cifar10": {"sn": [215.0, 56.0], "bsn": [130.0, 35.0]},
        "stl10": {"sn": [180.0, 50.0], "bsn": [130.0, 35.0]},
        "celeba": {"sn": [140.0, 40.0], "bsn": [105.0, 30.0]},
        "imagenet": {"sn": [55.0, 11.0], "bsn": [50.0, 11.0]},  # §3: ≈12.6 h per 500k run, n_dis 5
        "mnist": {"sn": [400.0, 100.0], "bsn": [300.0, 80.0]},  # assumed: MLP, launch-bound
        "digits": {"sn": [400.0, 100.0], "bsn": [300.0, 80.0]},  # assumed: tiny CNN, launch-bound
    },
    # families of modes the model does not cover
    "family": {"none": "sn", "sn": "sn", "bsn": "bsn", "sn_conv": "bsn"},  # sn_conv assumed ≈ BSN
    # slow-down factors on top of the family's figure
    "factor": {"wgan_gp": 1.75},  # §7: learned-γ runs with gradient penalty ≈ 1.5–2× SN
    # seconds per evaluation (in-training and in `specnorm score`), by dataset
    "eval_s": {"cifar10": 30.0, "stl10": 30.0, "celeba": 30.0, "imagenet": 60.0, "mnist": 30.0, "digits": 5.0},
}


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
