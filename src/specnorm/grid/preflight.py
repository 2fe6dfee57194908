"""Checks made before anything is submitted (docs/pipeline.md#before-anything-runs): every selected
dataset has a source, and ``retries`` allow the train jobs a cell or pack needs under the partition's
time limit. ``specnorm plan`` and the workflow's start stop with the :class:`GridError`'s one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from specnorm import catalog
from specnorm.grid.expand import Grid
from specnorm.grid.packs import pack_cells, pack_pieces
from specnorm.grid.schema import GridError
from specnorm.grid.throughput import Throughput
from specnorm.layout import Resources


def check_sources(grid: Grid, sources: Mapping[str, Any] | None, resources: Resources) -> None:
    """GridError naming the first selected dataset that is never downloaded automatically (CelebA,
    ImageNet: ``DatasetInfo.source_kind`` ``manual``) and has no source: no ``sources`` entry and
    nothing under ``resources/data/<name>/`` (neither prepared, nor its raw copy or source record)."""
    for name in sorted({cell.config.dataset.name for cell in grid.cells.values()}):
        info = catalog.get_info(name)
        if info.source_kind != "manual" or (sources or {}).get(name):
            continue
        raw = resources.raw(name)
        found = [resources.manifest(name), resources.source_record(name)]
        found += [raw / n for n in (info.source_file, info.source_dir) if n]
        if not any(path.exists() for path in found):
            raise GridError(f"config key 'sources': dataset {name!r} ({info.label}) has no source and is never "
                            f"downloaded automatically: give 'sources: {{{name}: PATH}}' (a local copy) or put it "
                            f"in {raw}/ (specnorm prepare --dataset {name} --help)")


def train_jobs_needed(grid: Grid, jobs: dict[str, Any], throughput: Throughput) -> int:
    """The most consecutive train jobs any pack (or cell, ``jobs.pack_size`` 1) of ``grid`` takes
    under ``jobs.max_runtime`` (each resumes from the checkpoint the one before left)."""
    packs = pack_cells(grid, jobs["pack_size"], jobs["pack_by"])
    return max((pack_pieces([grid.cells[c].config for c in p.cells], jobs, throughput) for p in packs), default=1)


def check_retries(needed: int, retries: int, jobs: dict[str, Any]) -> None:
    """GridError when ``retries`` (Snakemake's ``--retries``) allow fewer train jobs than ``needed``."""
    if needed > retries + 1:
        raise GridError(f"retries={retries} allows {retries + 1} train job(s) per cell or pack, but one needs {needed} "
                        f"of at most {jobs['max_runtime']} min (the partition's time limit, or jobs.max_runtime): "
                        f"run with --retries {needed - 1} or more (docs/pipeline.md#profiles)")
