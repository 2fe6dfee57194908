"""Read run directories (docs/outputs.md) and planned cells without ever failing on a half-written file.

Cells may still be training while the report is regenerated (issue 6, item 4), so every reader is
defensive: a CSV is read only up to its last complete line, a JSON file only if it parses, a sample
PNG only if it decodes, and a run without ``summary.json`` is ``running`` (not done); one whose lock a
live process holds says so. A run is counted once however many directories hold it (a ``cp -a``
backup): runs are told apart by their identity (docs/design.md#grid-dedup).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from specnorm.config import ConfigError, load
from specnorm.report.variants import family, group_key, setting_key, setting_label
from specnorm.rundir import ANALYSIS, CONFIG, DONE_STATES, METRICS, SUMMARY, TRAIN_LOG, RunDir

__all__ = ["DONE_STATES", "Run", "Unreadable", "collect", "read_cell", "read_run"]


@dataclass
class Run:
    """One grid cell: a run directory, or a planned cell (``path`` None) that has not started."""

    name: str
    config: dict[str, Any]
    digest: str
    state: str  # planned | running | completed | diverged
    identity: str = ""  # the config's identity digest: equal for two directories of one run
    path: Path | None = None
    summary: dict[str, Any] | None = None
    scores: dict[str, Any] | None = None
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_log: pd.DataFrame = field(default_factory=pd.DataFrame)
    analysis: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    held_by: str | None = None  # "pid N on host H": a live process holds the unfinished run's lock

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def dataset(self) -> str:
        return self.config["dataset.name"]

    @property
    def family(self) -> str:
        return family(self.config)

    @property
    def scale(self) -> float:
        return float(self.config["norm.scale"])

    @property
    def seed(self) -> int:
        return int(self.config["train.seed"])

    @property
    def group(self) -> str:
        return group_key(self.config)

    @property
    def setting(self) -> str:
        return setting_key(self.config)

    @property
    def setting_label(self) -> str:
        return setting_label(self.config)

    @property
    def iterations_done(self) -> int:
        """Completed G steps: from ``summary.json``, else the last logged iteration."""
        if self.summary and isinstance(self.summary.get("iterations_done"), int):
            return self.summary["iterations_done"]
        last = [int(df["iteration"].max()) for df in (self.train_log, self.metrics)
                if "iteration" in df and len(df) and math.isfinite(df["iteration"].max())]
        return max(last, default=0)

    def latest_sample(self) -> Path | None:
        """The newest sample grid that decodes (a grid being written is skipped)."""
        for path in reversed(self.samples):
            try:
                with Image.open(path) as im:
                    im.verify()
                return path
            except (OSError, SyntaxError, ValueError):
                continue
        return None


@dataclass
class Unreadable:
    """A directory that looks like a run but whose config cannot be read, or a copy of another run
    directory (reported, not aggregated)."""

    path: Path
    reason: str


def read_run(path: Path) -> Run | Unreadable:
    """Read one run directory (``config.yaml`` required; every other file optional)."""
    rd = RunDir(path)
    try:
        cfg = load(rd.config)
    except ConfigError as e:
        return Unreadable(path, str(e))
    run = Run(name=path.name, config=cfg.flat(), digest=cfg.digest(), state="running",
              identity=cfg.identity_digest(), path=path)
    for fname, attr in ((METRICS, "metrics"), (TRAIN_LOG, "train_log"), (ANALYSIS, "analysis")):
        df, note = rd.read_csv(fname)
        setattr(run, attr, df)
        run.notes += [note] if note else []
    for read, attr in ((rd.read_summary, "summary"), (rd.read_scores, "scores")):
        obj, note = read()
        setattr(run, attr, obj)
        run.notes += [note] if note else []
    if run.summary is not None:
        status = run.summary.get("status")
        run.state = status if status in DONE_STATES else "completed"
        if status not in DONE_STATES:
            run.notes.append(f"{SUMMARY}: unknown status {status!r}, counted as completed")
    else:  # after a killed pipeline its trainer may live on: still training, not failed (docs/pipeline.md)
        run.held_by = rd.live_holder()
        run.notes += [f"held by a live process ({run.held_by}): still training"] if run.held_by else []
    run.samples = rd.sample_grids()
    return run


def read_cell(path: Path) -> Run | Unreadable:
    """A planned cell from the pipeline's expanded grid (``results/cells/<cell>.yaml``)."""
    try:
        cfg = load(path)
    except ConfigError as e:
        return Unreadable(path, str(e))
    return Run(name=path.stem, config=cfg.flat(), digest=cfg.digest(), state="planned",
               identity=cfg.identity_digest())


def count_once(runs: list[Run]) -> tuple[list[Run], list[Unreadable]]:
    """``(runs, copies)``: one run per identity, the directory that got furthest (finished first, then
    more iterations, then the first path); every other directory of that run is a copy, reported
    with a warning naming both directories and left out (a ``cp -a`` backup is no second seed)."""
    by_identity: dict[str, list[Run]] = {}
    for r in runs:
        by_identity.setdefault(r.identity, []).append(r)
    kept: list[Run] = []
    copies: list[Unreadable] = []
    for same in by_identity.values():
        first, *rest = sorted(same, key=lambda r: (not r.done, -r.iterations_done, str(r.path)))
        kept.append(first)
        for r in rest:
            why = (f"holds the same run as {first.path} (identity digest {r.identity}): a copy, counted once, "
                   f"from {first.path}")
            print(f"warning: {r.path} {why}", file=sys.stderr)
            copies.append(Unreadable(r.path, why))  # type: ignore[arg-type]  (a run directory has a path)
            first.notes.append(f"also in {r.path} (a copy, not counted)")
    return kept, copies


def collect(runs_dir: Path, cells_dir: Path | None = None) -> tuple[list[Run], list[Unreadable]]:
    """Every run under ``runs_dir`` (any depth; a folder with ``config.yaml``), each counted once
    (:func:`count_once`), plus every planned cell in ``cells_dir`` that has no run yet (matched by
    identity). Sorted by name; copies are reported with the unreadable directories."""
    runs: list[Run] = []
    bad: list[Unreadable] = []
    if runs_dir.is_dir():
        for cfg in sorted(runs_dir.rglob(CONFIG)):
            r = read_run(cfg.parent)
            (runs if isinstance(r, Run) else bad).append(r)
    runs, copies = count_once(runs)
    bad += copies
    started = {r.identity for r in runs}
    if cells_dir is not None and cells_dir.is_dir():
        for path in sorted(cells_dir.glob("*.yaml")):
            c = read_cell(path)
            if isinstance(c, Unreadable):
                bad.append(c)
            elif c.identity not in started:
                runs.append(c)
                started.add(c.identity)
    return sorted(runs, key=lambda r: r.name), bad
