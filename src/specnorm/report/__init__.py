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
from specnorm.layout import REPORT, RESULTS
from specnorm.report.build import Built, Paths, build

__all__ = ["Built", "Paths", "build", "main", "read_failed"]


def read_failed(path: str | None) -> frozenset[str]:
    """The cell names of a ``--failed`` (or ``--unfinished``) file (blank lines and ``#`` comments
    skipped; none if absent)."""
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
    p.add_argument("--results", default=RESULTS, help=f"results folder (default: {RESULTS})")
    p.add_argument("--out", default=REPORT, help=f"report folder for index.html and figures/ (default: {REPORT})")
    p.add_argument("--runs", help="folder of run directories (default: RESULTS/runs)")
    p.add_argument("--cells", help="folder of planned cell configs *.yaml (default: RESULTS/cells)")
    p.add_argument("--theory", help="specnorm theory CSV (default: RESULTS/theory/theory-full.csv, else "
                                    "theory-quick.csv, else theory.csv)")
    p.add_argument("--tables", help="where the tidy CSV tables go (default: RESULTS/tables)")
    p.add_argument("--failed", help="a file of cell names (one per line) whose jobs ended in error: listed as "
                                    "failed, not running (the pipeline writes results/logs/failed-cells.txt)")
    p.add_argument("--unfinished", help="a file of cell names a stopped run left unfinished (never started or "
                                        "interrupted): counted as not finished, not running (the pipeline writes "
                                        "results/logs/unfinished-cells.txt)")
    args = p.parse_args(argv)
    given = {key: Path(value) for key in ("runs", "cells", "theory", "tables") if (value := getattr(args, key))}
    paths = Paths.under(args.results, args.out, failed=read_failed(args.failed),
                        unfinished=read_failed(args.unfinished), **given)
    try:
        built = build(paths)
    except OSError as e:  # disk full, file-size limit (specnorm.io.WriteError)
        print(f"specnorm report: {describe_os_error(e)}", file=sys.stderr)
        return 5
    c = built.counts
    print(f"report: {built.index} ({c['completed']} completed, {c['diverged']} diverged, {c['running']} running, "
          f"{c['planned']} planned, {c['failed']} failed, {c['unfinished']} not finished, "
          f"{c['unreadable']} unreadable; {len(built.figures)} figures; {len(built.tables)} tables in {paths.tables})")
    return 0
