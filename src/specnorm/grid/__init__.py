"""The experiment grid: ``config.yaml`` blocks → deduplicated cells, their plan and job sizes.

``expand`` turns the selected blocks into :class:`Cell` s named
``<dataset>-<mode>-s<scale>-seed<seed>-<digest8>``; ``format_plan`` prints cells, iterations and
estimated GPU-hours per block; ``cells_main`` / ``plan_main`` are the ``specnorm cells`` /
``specnorm plan`` commands. The Snakefile uses the same functions (docs/design.md#grid-dedup).
"""

from specnorm.grid.cli import cells_main, plan_main, write_cell
from specnorm.grid.expand import Block, BlockCount, Cell, Grid, cell_name, expand, identity_config, load_experiments
from specnorm.grid.jobs import (dataset_mem_mb, fit_partition, job_settings, mem_mb, parse_slurm_time, pieces,
                                real_score_minutes, runtime_minutes, score_minutes, site_resources)
from specnorm.grid.packs import (DEFAULT_PACK_BY, Pack, pack_cells, pack_hours, pack_mem_mb, pack_name, pack_pieces,
                                 pack_runtime_minutes, train_minutes)
from specnorm.grid.plan import PlanRow, format_plan, plan_rows, summary
from specnorm.grid.preflight import check_retries, check_sources, train_jobs_needed
from specnorm.grid.schema import SCHEMA, GridError, validate_experiments
from specnorm.grid.throughput import Throughput

__all__ = [
    "DEFAULT_PACK_BY", "Pack", "pack_cells", "pack_hours", "pack_mem_mb", "pack_name", "pack_pieces",
    "pack_runtime_minutes", "real_score_minutes", "score_minutes", "site_resources", "train_minutes",
    "check_retries", "check_sources", "dataset_mem_mb", "train_jobs_needed",
    "Block", "BlockCount", "Cell", "Grid", "GridError", "PlanRow", "SCHEMA", "Throughput", "cell_name", "cells_main",
    "expand", "fit_partition", "format_plan", "identity_config", "job_settings", "load_experiments", "mem_mb",
    "parse_slurm_time", "pieces", "plan_main", "plan_rows", "runtime_minutes", "summary", "validate_experiments",
    "write_cell",
]
