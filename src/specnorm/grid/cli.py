"""``specnorm cells`` and ``specnorm plan``: the grid of ``config.yaml`` from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specnorm.config import ConfigError
from specnorm.grid.expand import Grid, expand, load_experiments
from specnorm.grid.jobs import fit_partition, job_settings
from specnorm.grid.preflight import check_retries, check_sources, train_jobs_needed
from specnorm.grid.schema import GridError
from specnorm.grid.throughput import Throughput, long_run_warning
from specnorm.io import atomic_write_text, shown
from specnorm.layout import RESOURCES, Resources


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.yaml", help="pipeline config (default: config.yaml)")
    parser.add_argument("--set", nargs="+", metavar="NAME",
                        help="sets and/or blocks to expand (default: the config's 'set', i.e. demo)")
    parser.add_argument("--datasets", nargs="+", metavar="NAME", help="keep only cells on these datasets")


def _grid(args: argparse.Namespace) -> tuple[dict, Grid]:
    experiments = load_experiments(args.config)
    return experiments, expand(experiments, args.set, args.datasets)


def write_cell(grid: Grid, name: str, path: str | Path) -> Path:
    """Write a cell's run config (identity config + execution keys) as YAML."""
    return atomic_write_text(path, f"# grid cell {name} (blocks: {', '.join(grid.cells[name].blocks)})\n"
                             + grid.run_config(name).to_yaml())


def cells_main(argv: list[str]) -> int:
    """Expand experiment blocks into cell configs: list them, or write ``OUT/<cell>.yaml``."""
    parser = argparse.ArgumentParser(
        prog="specnorm cells",
        description="Expand the experiment blocks of config.yaml into grid cells. Prints one cell name per "
                    "line; with --out, writes OUT/<cell>.yaml for each (run one by hand with "
                    "'specnorm train --config OUT/<cell>.yaml --out results/runs/<cell>').")
    _common(parser)
    parser.add_argument("--out", help="folder to write <cell>.yaml files into")
    parser.add_argument("--cell", nargs="+", metavar="NAME", help="only these cells (names as printed)")
    args = parser.parse_args(argv)
    try:
        _, grid = _grid(args)
        names = args.cell or list(grid.cells)
        unknown = [n for n in names if n not in grid.cells]
        if unknown:
            raise GridError(f"cell {shown(unknown[0])} is not in the selected grid")
        for name in names:
            if args.out:
                write_cell(grid, name, Path(args.out) / f"{name}.yaml")
            print(name)
    except (GridError, ConfigError) as e:
        print(f"specnorm cells: {e}", file=sys.stderr)
        return 2
    return 0


def plan_main(argv: list[str]) -> int:
    """Print the grid: cells per experiment block, iterations and estimated GPU-hours."""
    parser = argparse.ArgumentParser(
        prog="specnorm plan",
        description="Print the grid of config.yaml: per experiment block the cells it lists, the new "
                    "(deduplicated) cells it adds, their G iterations and D steps, estimated GPU-hours of "
                    "training, evaluation, analysis and sample grids (from the cells' cadences), packs "
                    "(jobs.pack_size) and train jobs (a pack longer than jobs.max_runtime, or "
                    "SPECNORM_SLURM_MAX_RUNTIME or the sinfo limit of SPECNORM_SLURM_PARTITION, runs as several); "
                    "totals per official code folder. GPU-hours are performance-model estimates unless "
                    "--throughput (or jobs.throughput) gives measured figures. Stops with one line when a "
                    "selected dataset has no source (config.yaml 'sources'), as the workflow does.")
    _common(parser)
    parser.add_argument("--throughput", help="YAML file with measured throughputs (see specnorm.grid.throughput)")
    parser.add_argument("--format", choices=("table", "csv"), default="table")
    parser.add_argument("--pack-size", type=int, metavar="N",
                        help="cells per train job (default: the config's jobs.pack_size; docs/pipeline.md#packs)")
    parser.add_argument("--retries", type=int, metavar="N",
                        help="Snakemake's --retries for the run (profiles/slurm: 3): stop when a cell or pack needs "
                             "more train jobs than N + 1 under the partition's limit")
    args = parser.parse_args(argv)
    try:
        experiments, grid = _grid(args)
        from specnorm.grid.plan import format_plan

        if args.pack_size is not None:
            experiments["jobs"] = {**(experiments.get("jobs") or {}), "pack_size": args.pack_size}
            grid = expand(experiments, args.set, args.datasets)  # validates the size
        jobs = fit_partition(job_settings(experiments))  # the partition's limit, as the pipeline sizes jobs
        throughput = Throughput.load(args.throughput or jobs["throughput"])
        check_sources(grid, experiments.get("sources"), Resources(experiments.get("resources") or RESOURCES))
        if args.retries is not None:
            check_retries(train_jobs_needed(grid, jobs, throughput), args.retries, jobs)
        sys.stdout.write(format_plan(grid, throughput, args.format, jobs))
        for name, cell in grid.cells.items():
            if (warning := long_run_warning(cell.config, throughput)) is not None:
                print(f"specnorm plan: cell {name}: {warning}", file=sys.stderr)
    except (GridError, ConfigError, OSError, ValueError) as e:
        print(f"specnorm plan: {e}", file=sys.stderr)
        return 2
    return 0
