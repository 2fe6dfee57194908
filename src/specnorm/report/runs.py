"""Read run directories (docs/outputs.md) and planned cells without ever failing on a half-written file.

Cells may still be training while the report is regenerated (issue 6, item 4), so every reader is
defensive: a CSV is read only up to its last complete line, a JSON file only if it parses, a sample
PNG only if it decodes, and a run without ``summary.json`` is ``running`` (not done).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from specnorm.config import ConfigError, load
from specnorm.report.variants import family, group_key, setting_key, setting_label

DONE_STATES = ("completed", "diverged")

_TEXT_COLUMNS = {
    "metrics.csv": {"metric", "protocol", "extractor", "extractor_sha256", "reference", "resize"},
    "analysis.csv": {"layer", "kind"},
    "train_log.csv": set(),
}


@dataclass
class Run:
    """One grid cell: a run directory, or a planned cell (``path`` None) that has not started."""

    name: str
    config: dict[str, Any]
    digest: str
    state: str  # planned | running | completed | diverged
    path: Path | None = None
    summary: dict[str, Any] | None = None
    scores: dict[str, Any] | None = None
    metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    train_log: pd.DataFrame = field(default_factory=pd.DataFrame)
    analysis: pd.DataFrame = field(default_factory=pd.DataFrame)
    samples: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    """A directory that looks like a run but whose config cannot be read (reported, not aggregated)."""

    path: Path
    reason: str


def read_complete_csv(path: Path) -> tuple[pd.DataFrame, str | None]:
    """The rows of ``path`` up to its last newline (a trailing partial line is being written and is
    dropped); the run files' numeric columns coerced (other CSVs: columns that are entirely numeric),
    rows without an iteration dropped. Returns ``(frame, note)``."""
    if not path.exists():
        return pd.DataFrame(), None
    try:
        data = path.read_bytes()
    except OSError as e:
        return pd.DataFrame(), f"{path.name}: unreadable ({e})"
    end = data.rfind(b"\n")
    complete = data[: end + 1]
    note = f"{path.name}: dropped a partial last line" if end + 1 < len(data) else None
    if not complete.strip():
        return pd.DataFrame(), note
    try:
        df = pd.read_csv(io.BytesIO(complete), on_bad_lines="skip")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        return pd.DataFrame(), f"{path.name}: not parseable ({e})"
    text = _TEXT_COLUMNS.get(path.name)
    for col in df.columns:
        num = pd.to_numeric(df[col], errors="coerce")
        if text is None:  # a CSV of unknown layout: convert only columns that are entirely numeric
            if num.notna().sum() == df[col].notna().sum():
                df[col] = num
        elif col not in text:
            df[col] = num
    if "iteration" in df:
        df = df[df["iteration"].notna()].reset_index(drop=True)
    return df, note


def read_json(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, note)``: the JSON mapping in ``path``, or None when absent or not (yet) parseable."""
    if not path.exists():
        return None, None
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path.name}: not parseable ({e.__class__.__name__}); ignored"
    if not isinstance(obj, dict):
        return None, f"{path.name}: not a JSON object; ignored"
    return obj, None


def read_run(path: Path) -> Run | Unreadable:
    """Read one run directory (``config.yaml`` required; every other file optional)."""
    try:
        cfg = load(path / "config.yaml")
    except ConfigError as e:
        return Unreadable(path, str(e))
    run = Run(name=path.name, config=cfg.flat(), digest=cfg.digest(), state="running", path=path)
    for fname, attr in (("metrics.csv", "metrics"), ("train_log.csv", "train_log"), ("analysis.csv", "analysis")):
        df, note = read_complete_csv(path / fname)
        setattr(run, attr, df)
        run.notes += [note] if note else []
    for fname, attr in (("summary.json", "summary"), ("scores.json", "scores")):
        obj, note = read_json(path / fname)
        setattr(run, attr, obj)
        run.notes += [note] if note else []
    if run.summary is not None:
        status = run.summary.get("status")
        run.state = status if status in DONE_STATES else "completed"
        if status not in DONE_STATES:
            run.notes.append(f"summary.json: unknown status {status!r}, counted as completed")
    run.samples = sorted((path / "samples").glob("iter_*.png"))
    return run


def read_cell(path: Path) -> Run | Unreadable:
    """A planned cell from the pipeline's expanded grid (``results/cells/<cell>.yaml``)."""
    try:
        cfg = load(path)
    except ConfigError as e:
        return Unreadable(path, str(e))
    return Run(name=path.stem, config=cfg.flat(), digest=cfg.digest(), state="planned")


def collect(runs_dir: Path, cells_dir: Path | None = None) -> tuple[list[Run], list[Unreadable]]:
    """Every run under ``runs_dir`` (any depth; a folder with ``config.yaml``) plus every planned cell
    in ``cells_dir`` that has no run yet (matched by config digest). Sorted by name."""
    runs: list[Run] = []
    bad: list[Unreadable] = []
    if runs_dir.is_dir():
        for cfg in sorted(runs_dir.rglob("config.yaml")):
            r = read_run(cfg.parent)
            (runs if isinstance(r, Run) else bad).append(r)
    started = {r.digest for r in runs}
    if cells_dir is not None and cells_dir.is_dir():
        for path in sorted(cells_dir.glob("*.yaml")):
            c = read_cell(path)
            if isinstance(c, Unreadable):
                bad.append(c)
            elif c.digest not in started:
                runs.append(c)
                started.add(c.digest)
    return sorted(runs, key=lambda r: r.name), bad
