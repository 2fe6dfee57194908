"""The experiment grid: ``config.yaml`` blocks → deduplicated cells, their plan and job sizes.

``expand`` turns the selected blocks into :class:`Cell` s named
``<dataset>-<mode>-s<scale>-seed<seed>-<digest8>``; ``format_plan`` prints cells, iterations and
estimated GPU-hours per block; ``cells_main`` / ``plan_main`` are the ``specnorm cells`` /
``specnorm plan`` commands. The Snakefile uses the same functions (docs/design.md#grid-dedup).
"""

from specnorm.grid.cli import cells_main, plan_main, write_cell
from specnorm.grid.expand import Block, BlockCount, Cell, Grid, cell_name, expand, identity_config, load_experiments
from specnorm.grid.jobs import job_settings, mem_mb, runtime_minutes
from specnorm.grid.plan import PlanRow, format_plan, plan_rows, summary
from specnorm.grid.schema import SCHEMA, GridError, validate_experiments
from specnorm.grid.throughput import Throughput

__all__ = [
    "Block", "BlockCount", "Cell", "Grid", "GridError", "PlanRow", "SCHEMA", "Throughput", "cell_name", "cells_main",
    "expand", "format_plan", "identity_config", "job_settings", "load_experiments", "mem_mb", "plan_main",
    "plan_rows", "runtime_minutes", "summary", "validate_experiments", "write_cell",
]
