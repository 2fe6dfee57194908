"""The run-directory contract (docs/outputs.md): every file a cell's run writes, by one name each,
and how to read each one safely while a trainer may still be writing it. Torch-free.

The trainer and the scorer write through :class:`RunDir` (atomically, so a reader never sees a
half-written file under its final name); the report and the workflow read through it: a CSV only up
to its last complete line, a JSON file only if it parses, a sample PNG only if it decodes.
"""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specnorm.io import atomic_write_json, atomic_write_text
from specnorm.scores import ScoreRecord
from specnorm.vocab import METRIC_INFO

CONFIG = "config.yaml"
SUMMARY = "summary.json"
SCORES = "scores.json"
METRICS = "metrics.csv"
TRAIN_LOG = "train_log.csv"
ANALYSIS = "analysis.csv"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
"""TensorBoard event files: a view of the run CSVs and sample grids (``specnorm.train.events``)."""
LOCK = ".lock"
"""Held (``flock``) by the one process writing the run directory; holds that process's host and pid."""
BEST_GENERATORS = {m: f"best_{m}" for m in dict.fromkeys(info.kept_by for info in METRIC_INFO.values())}
"""Metric → the kept generator that is that metric's own best: ``best_is``, ``best_fid``."""
GENERATORS = (*BEST_GENERATORS.values(), "final")
"""Kept generators: ``generator_<which>.pt``: each metric's own best over the in-training
evaluations (IS highest, FID lowest) and the last one (docs/outputs.md)."""
RESCORED_ON = {name: BEST_GENERATORS[info.kept_by] for name, info in METRIC_INFO.items()}
"""Metric → the best generator ``specnorm score`` rescores it on (KID on the FID-best one; docs/outputs.md)."""

DONE_STATES = ("completed", "diverged")
"""``summary.json`` statuses of a finished run (a diverged GAN is a result, not a failure)."""

METRIC_COLUMNS = ScoreRecord.COLUMNS
"""Columns of ``metrics.csv``: one :class:`~specnorm.scores.ScoreRecord` per in-training evaluation and metric."""
ANALYSIS_LAYER_COLUMNS = ("layer", "kind", "m", "n", "grad_norm_raw", "grad_norm_eff", "var_eff", "bound_sn",
                          "bound_bsn", "sigma_w", "sigma_conv", "sigma_used")
"""Per-layer quantities of the analysis (``specnorm.analysis.layer_analysis``), in column order."""
ANALYSIS_COLUMNS = ("iteration", *ANALYSIS_LAYER_COLUMNS)
"""Columns of ``analysis.csv``."""
SLOPE_COLUMNS = tuple(f"grad_x_{w}_{s}" for w in ("real", "fake") for s in ("mean", "min", "max"))
TRAIN_LOG_FIXED = ("iteration", "wall_time", "loss_d", "loss_g", "d_real", "d_fake", "gp", *SLOPE_COLUMNS)
"""The first columns of ``train_log.csv``; per-layer σ (and γ) columns follow."""

TEXT_COLUMNS = {
    METRICS: ScoreRecord.TEXT_COLUMNS,
    ANALYSIS: {"layer", "kind"},
    TRAIN_LOG: set(),
}
"""Non-numeric columns of the run CSVs (every other column is read as a number)."""


class RunDirBusy(RuntimeError):
    """Another process holds the run directory's lock; the message names its host and pid."""


@contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing) for the ``with`` block, with this
    process's host and pid written into it; raise :class:`RunDirBusy` at once if another process holds it.

    The kernel releases the lock when its holder exits, even by SIGKILL, so a stale file never blocks:
    the next holder just overwrites the text. The file is never deleted (an unlink would let two
    processes lock two different files of the same name)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").split()
            who = (f"pid {holder[1]} on host {holder[0]}" if len(holder) >= 2
                   else "another process (it has not written its host and pid yet)")
            raise RunDirBusy(f"{what} is in use by {who} (lock {path}); wait for that process to end "
                             "or stop it, then rerun") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} {os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def live_holder(path: Path) -> str | None:
    """``"pid N on host H"`` when the process that the lock file ``path`` names holds the lock now,
    else None. Checked only on the same host: the pid is alive (``os.kill(pid, 0)``) and still holds
    the ``flock`` (a non-blocking shared lock fails), so a reused pid is no holder. A holder on another
    host cannot be checked from here: None."""
    import fcntl

    try:
        host, pid_text = path.read_text(errors="replace").split()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):  # absent, empty or garbled
        return None
    if host != socket.gethostname() or not 0 < pid < 2**31:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # only reached for a live pid: a reused one, or the holder
    except BlockingIOError:
        return f"pid {pid} on host {host}"
    finally:
        os.close(fd)  # releases the probe's lock, if it got it
    return None


def read_complete_csv(path: Path) -> tuple[Any, str | None]:
    """``(frame, note)``: the rows of ``path`` up to its last newline (a trailing partial line is being
    written and is dropped); the run files' numeric columns coerced (other CSVs: columns that are
    entirely numeric), rows without an iteration dropped. Imports pandas."""
    import pandas as pd

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
    text = TEXT_COLUMNS.get(path.name)
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


def _file(name: str, doc: str) -> property:
    return property(lambda self: self.path / name, doc=f"``{name}``: {doc}.")


@dataclass(frozen=True)
class RunDir:
    """One run directory; owns the name of every file in it (docs/outputs.md)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    # -- where things are ------------------------------------------------------------------------
    config = _file(CONFIG, "the run's resolved cell config (written first, read to resume or score)")
    summary = _file(SUMMARY, "written last: status completed/diverged, best per metric, provenance")
    scores = _file(SCORES, "``specnorm score``'s rescoring of the kept generators")
    metrics = _file(METRICS, "in-training evaluations, one row per metric")
    train_log = _file(TRAIN_LOG, "losses, D outputs, σ's at the logging cadence")
    analysis = _file(ANALYSIS, "per-layer analysis quantities")
    samples = _file(SAMPLES, "folder of sample grids")
    checkpoints = _file(CHECKPOINTS, "folder of atomic checkpoints")
    tensorboard = _file(TENSORBOARD, "folder of TensorBoard event files, rebuilt from the CSVs on every (re)start")
    lock = _file(LOCK, "locked by the one process writing the run (train, score); its host and pid")

    def exclusive(self) -> Any:
        """Context manager: be the one writer of this (existing) run directory; :class:`RunDirBusy`
        names the holder otherwise. Held by ``specnorm train`` and ``specnorm score`` for their run."""
        return exclusive_lock(self.lock, f"run directory {self.path}")

    def live_holder(self) -> str | None:
        """``"pid N on host H"`` while a live process on this host holds the run directory (:func:`live_holder`)."""
        return live_holder(self.lock)

    def generator(self, which: str) -> Path:
        """``generator_best_is.pt`` / ``generator_best_fid.pt`` / ``generator_final.pt``."""
        if which not in GENERATORS:
            raise ValueError(f"unknown generator {which!r}; one of {GENERATORS}")
        return self.path / f"generator_{which}.pt"

    def sample(self, iteration: int) -> Path:
        """The sample grid of ``iteration``."""
        return self.samples / f"iter_{iteration:07d}.png"

    @staticmethod
    def sample_iteration(path: Path) -> int:
        """The iteration of a sample grid named by :meth:`sample`."""
        return int(Path(path).stem.removeprefix("iter_"))

    def sample_grids(self) -> list[Path]:
        """Every sample grid, oldest first (a grid being written has a temp name and is not listed)."""
        return sorted(self.samples.glob("iter_*.png"))

    # -- reading (never fails on a half-written file) -------------------------------------------
    def read_summary(self) -> tuple[dict[str, Any] | None, str | None]:
        return read_json(self.summary)

    def read_scores(self) -> tuple[dict[str, Any] | None, str | None]:
        return read_json(self.scores)

    def read_csv(self, name: str) -> tuple[Any, str | None]:
        """One of the run CSVs (``METRICS``, ``TRAIN_LOG``, ``ANALYSIS``), complete rows only."""
        if name not in TEXT_COLUMNS:
            raise ValueError(f"{name!r} is not a run CSV; one of {sorted(TEXT_COLUMNS)}")
        return read_complete_csv(self.path / name)

    def finished(self) -> dict[str, Any] | None:
        """The summary of a finished run (completed or diverged), else None."""
        summary, _ = self.read_summary()
        return summary if summary is not None and summary.get("status") in DONE_STATES else None

    # -- writing (atomic) ----------------------------------------------------------------------------
    def write_config(self, text: str) -> Path:
        return atomic_write_text(self.config, text)

    def write_summary(self, summary: dict[str, Any]) -> Path:
        return atomic_write_json(self.summary, summary)

    def write_scores(self, scores: dict[str, Any], path: str | Path | None = None) -> Path:
        return atomic_write_json(path or self.scores, scores)
