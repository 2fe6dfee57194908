"""Packs: the selected cells grouped into the pipeline's train jobs (docs/pipeline.md#packs).

With ``jobs.pack_size`` n > 1, cells that may share one process and device (``specnorm train``
with several ``--config``, docs/design.md#packs) run as one job: the cells first listed by the same
block whose identity configs agree on every key except those of ``jobs.pack_by`` (default
``train.seed`` and ``norm.scale``) and on every ``vocab.PACK_KEYS`` key are taken in name order and
cut into packs of at most n. The grouping depends only on the selected cells, so every parse of
the workflow (login node, job, rerun) finds the same packs.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from specnorm.config import CellConfig, ConfigError, check_packable
from specnorm.grid.expand import Grid
from specnorm.grid.jobs import mem_mb, request_minutes, score_minutes
from specnorm.grid.schema import GridError
from specnorm.grid.throughput import Throughput
from specnorm.io import shown
from specnorm.vocab import PACK_KEYS, pack_engine

DEFAULT_PACK_BY = ("train.seed", "norm.scale")


@dataclass(frozen=True)
class Pack:
    """One train job's cells (names in order) and its stable name ``pack_<digest8>``."""

    name: str
    cells: tuple[str, ...]


def pack_name(cells: tuple[str, ...] | list[str]) -> str:
    """``pack_<digest8>``: the digest of the member cells' names (a valid Snakemake rule-name part)."""
    return "pack_" + hashlib.sha256("\n".join(cells).encode()).hexdigest()[:8]


def pack_cells(grid: Grid, pack_size: int = 1, pack_by: list[str] | tuple[str, ...] = DEFAULT_PACK_BY) -> list[Pack]:
    """The selected cells in packs of at most ``pack_size`` (see the module docstring); packs in
    the order of their first cell's name. GridError for a bad size or an unknown ``pack_by`` key."""
    if int(pack_size) < 1:
        raise GridError(f"config key 'jobs.pack_size': must be >= 1, got {shown(pack_size)}")
    pack_by = set(pack_by)
    if grid.cells:
        known = set(next(iter(grid.cells.values())).config.flat())
        unknown = sorted(pack_by - known)
        if unknown:
            raise GridError(f"config key 'jobs.pack_by': {shown(unknown[0])} is not a cell-config key")
    free = pack_by - set(PACK_KEYS)  # keys that may differ inside a pack
    groups: dict[tuple, list[str]] = {}
    for name in sorted(grid.cells):
        cell = grid.cells[name]
        fixed = tuple(sorted((k, repr(v)) for k, v in cell.config.flat().items() if k not in free))
        groups.setdefault((cell.blocks[0], fixed), []).append(name)
    packs = []
    for names in groups.values():
        for i in range(0, len(names), int(pack_size)):
            members = tuple(names[i:i + int(pack_size)])
            try:
                check_packable([grid.cells[n].config for n in members])
            except ConfigError as e:  # cannot happen for free ⊆ non-PACK_KEYS; kept as a guard
                raise GridError(f"config key 'jobs.pack_by': {e}") from None
            packs.append(Pack(pack_name(members), members))
    return packs


def pack_hours(cfgs: list[CellConfig], throughput: Throughput, jobs: dict[str, Any] | None = None) -> float:
    """Estimated hours of one pack's allocation on the engine ``jobs.pack_engine`` runs it on
    (:meth:`Throughput.pack_hours`: a fused pack saves launches, never FLOPs or evaluations)."""
    kind = (jobs or {}).get("pack_engine", "auto")
    return throughput.pack_hours(cfgs, pack_engine(kind, len(cfgs)))


def pack_runtime_minutes(cfgs: list[CellConfig], jobs: dict[str, Any], throughput: Throughput, attempt: int = 1) -> int:
    """Minutes to request for a pack's train job on attempt ``attempt`` (as ``runtime_minutes``)."""
    return request_minutes(pack_hours(cfgs, throughput, jobs), jobs, attempt)


def train_minutes(cfgs: list[CellConfig], jobs: dict[str, Any], throughput: Throughput, attempt: int = 1,
                  scoring: bool = True) -> int:
    """Minutes for the train job of one cell or a pack (``cfgs``): as :func:`pack_runtime_minutes`,
    less the minutes of the cells' score jobs when ``scoring``: they run after it in the same SLURM
    job, which must fit ``max_runtime`` (docs/pipeline.md#profiles)."""
    minutes = pack_runtime_minutes(cfgs, jobs, throughput, attempt)
    if scoring:
        room = jobs["max_runtime"] - sum(score_minutes(c, jobs, throughput, attempt) for c in cfgs)
        minutes = min(minutes, max(1, room))
    return minutes


def pack_pieces(cfgs: list[CellConfig], jobs: dict[str, Any], throughput: Throughput) -> int:
    """How many consecutive jobs a pack takes (as ``pieces`` for a cell)."""
    need = pack_hours(cfgs, throughput, jobs) * 60.0 * jobs["runtime_factor"]
    return max(1, math.ceil(need / jobs["max_runtime"] - 1e-9))


def pack_mem_mb(cfgs: list[CellConfig], jobs: dict[str, Any]) -> int:
    """Memory (MB) of a pack's train job: its largest cell's entry plus ``jobs.pack_mem_mb`` per
    further cell."""
    return max(mem_mb(c, jobs) for c in cfgs) + int(jobs["pack_mem_mb"]) * (len(cfgs) - 1)
