"""``specnorm report``: aggregate every run into tidy tables and a self-contained HTML report (issue 6).

Reads ``<results>/runs/*/`` (docs/outputs.md), the pipeline's planned cells ``<results>/cells/*.yaml``
and ``specnorm theory``'s CSV; writes ``<results>/tables/*.csv``, ``<out>/index.html`` and
``<out>/figures/*.png|svg``. Safe to run while cells are still training.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specnorm.io import describe_os_error
from specnorm.report.build import Built, Paths, build

__all__ = ["Built", "Paths", "build", "default_theory", "main", "read_failed"]


def default_theory(results: Path) -> Path:
    """The theory CSV the pipeline wrote (``theory-full.csv`` over ``theory-quick.csv``,
    docs/pipeline.md#the-dag), else ``specnorm theory``'s own default ``theory.csv``."""
    folder = results / "theory"
    return next((p for p in (folder / "theory-full.csv", folder / "theory-quick.csv") if p.is_file()),
                folder / "theory.csv")


def read_failed(path: str | None) -> frozenset[str]:
    """The cell names of a ``--failed`` file (blank lines and ``#`` comments skipped; none if absent)."""
    if not path or not Path(path).is_file():
        return frozenset()
    lines = (ln.split("#", 1)[0].strip() for ln in Path(path).read_text().splitlines())
    return frozenset(ln for ln in lines if ln)


def main(argv: list[str] | None = None) -> int:
    """``specnorm report [--results DIR] [--out DIR] [--runs DIR] [--cells DIR] [--theory CSV] [--tables DIR]``."""
    p = argparse.ArgumentParser(
        prog="specnorm report",
        description="Aggregate every run into results/tables/*.csv and render the self-contained HTML report "
                    "(Table 1 beside the paper's, scale sweeps, training curves, analysis figures, claims "
                    "checklist, samples, provenance). Runs still in progress are counted but not aggregated.")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", default="report", help="report folder for index.html and figures/ (default: report)")
    p.add_argument("--runs", help="folder of run directories (default: RESULTS/runs)")
    p.add_argument("--cells", help="folder of planned cell configs *.yaml (default: RESULTS/cells)")
    p.add_argument("--theory", help="specnorm theory CSV (default: RESULTS/theory/theory-full.csv, else "
                                    "theory-quick.csv, else theory.csv)")
    p.add_argument("--tables", help="where the tidy CSV tables go (default: RESULTS/tables)")
    p.add_argument("--failed", help="a file of cell names (one per line) whose jobs failed: listed as failed, "
                                    "not running (the pipeline writes results/logs/failed-cells.txt)")
    args = p.parse_args(argv)
    results = Path(args.results)
    paths = Paths(runs=Path(args.runs) if args.runs else results / "runs",
                  cells=Path(args.cells) if args.cells else results / "cells",
                  theory=Path(args.theory) if args.theory else default_theory(results),
                  tables=Path(args.tables) if args.tables else results / "tables",
                  out=Path(args.out), failed=read_failed(args.failed))
    try:
        built = build(paths)
    except OSError as e:  # disk full, file-size limit (specnorm.io.WriteError)
        print(f"specnorm report: {describe_os_error(e)}", file=sys.stderr)
        return 5
    c = built.counts
    print(f"report: {built.index} ({c['completed']} completed, {c['diverged']} diverged, {c['running']} running, "
          f"{c['planned']} planned, {c['failed']} failed, {c['unreadable']} unreadable; {len(built.figures)} figures; "
          f"{len(built.tables)} tables in {paths.tables})")
    return 0
