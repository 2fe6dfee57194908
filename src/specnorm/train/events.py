"""TensorBoard event files of a run (``RUN/tensorboard/``, docs/outputs.md): live curves
of what the run already writes, never a second source of numbers.

Every event is made from a row the trainer has already logged (``train_log.csv``, ``analysis.csv``,
``metrics.csv``) or a sample grid it has already encoded, so writing events adds no device sync to
the training step; protobuf serialization happens at the logging cadence and the file writes in
TensorBoard's own writer thread. Tags:

- ``train/<column>`` for the loss, D-output and input-gradient columns of ``train_log.csv``; the
  per-layer columns keep their names (``sigma/<layer>``, ``gamma/<layer>``, the normalizations'
  own ``<key>/<layer>``);
- ``analysis/<quantity>/<layer>``: the per-layer gradient norms, variances, bounds and σ's of
  ``analysis.csv`` (its shape columns m, n are not curves);
- ``eval/<label>``: each score record of an evaluation by its label (``FID``, ``digits-IS`` …,
  :attr:`specnorm.scores.ScoreRecord.label`), whatever metrics the evaluator returns, with the
  record's protocol (:meth:`~specnorm.scores.ProtocolKey.describe`) as the tag's description;
- ``samples``: the sample grids at their cadence (the PNG the run directory holds).

Scalars are float32 tensors of TensorBoard's scalars plugin (the form ``tf.summary.scalar`` writes). An event's wall time is the run's start (the
mtime of its ``config.yaml``) plus the training seconds of the row, so TensorBoard's *relative*
axis is training time without the pauses between jobs.

Resume: the CSVs are the truth. Every (re)start removes the folder and rewrites one event file from
the CSVs, already rolled back to the checkpoint's iteration k (``specnorm.train.logs``), and the
sample grids up to k; then it appends. So on disk each step of each tag is written once, whatever
reader is used (TensorBoard's ``purge_step`` only hides older events from readers that honour it),
and a resumed file also carries a ``SessionLog.START`` at k + 1 for a TensorBoard that had loaded the
old file. :meth:`EventLog.flush` runs before each checkpoint.

Optional: without the ``tensorboard`` package (``pip install -e '.[tensorboard]'``; scripts/setup.sh
installs it) a run prints one note, removes stale event files and trains as before.
"""

from __future__ import annotations

import bisect
import csv
import io
import shutil
from pathlib import Path
from typing import Any

from specnorm.rundir import ANALYSIS_LAYER_COLUMNS, RunDir
from specnorm.scores import ScoreRecord

ANALYSIS_CURVES = tuple(c for c in ANALYSIS_LAYER_COLUMNS if c not in ("layer", "kind", "m", "n"))
"""The ``analysis.csv`` quantities written as curves (per layer)."""
SAMPLES_TAG = "samples"
MISSING_NOTE = ("note: the tensorboard package is not installed, so this run writes no TensorBoard events "
                "(pip install -e '.[tensorboard]', or scripts/setup.sh); training is unaffected")
_noted = False  # the note is printed once per process (a pack opens one EventLog per cell)
_ORDER = {"train": 0, "analysis": 1, "eval": 2, "image": 3}
"""The trainer's order of work within one iteration (specnorm.train.trainer): kept by the rebuild."""


def _tensorboard() -> Any | None:
    """TensorBoard's writer and protos, or None when the package is not importable."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        return None
    return event_pb2, summary_pb2, EventFileWriter, tensor_pb2, types_pb2


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# -- rows → (tag, value): the one mapping, used live and by the rebuild ---------------------------
def train_scalars(row: dict) -> dict[str, float]:
    """The curves of one ``train_log.csv`` row (an empty cell, e.g. ``gp`` without a penalty, is none)."""
    out = {}
    for col, value in row.items():
        if col in ("iteration", "wall_time") or (x := _number(value)) is None:
            continue
        out[col if "/" in col else f"train/{col}"] = x
    return out


def analysis_scalars(rows: list[dict]) -> dict[str, float]:
    """The curves of one analysis iteration's per-layer rows."""
    out = {}
    for r in rows:
        for col in ANALYSIS_CURVES:
            if (x := _number(r.get(col))) is not None:
                out[f"analysis/{col}/{r['layer']}"] = x
    return out


def score_scalars(rows: list[dict]) -> dict[str, tuple[float, str]]:
    """``eval/<label>`` → (value, protocol description) for one evaluation's ``metrics.csv`` rows."""
    out = {}
    for r in rows:
        rec = ScoreRecord.from_row(r)
        out[f"eval/{rec.label}"] = (rec.value, rec.key.describe())
    return out


class EventLog:
    """The event file of one run directory; every method is a no-op without tensorboard."""

    def __init__(self, run_dir: RunDir, tb: Any | None, origin: float) -> None:
        self.run_dir, self._tb, self.origin = run_dir, tb, origin
        self._writer = None
        self._last_image = -1
        if tb is not None:
            self._writer = tb[2](str(run_dir.tensorboard), max_queue_size=100, flush_secs=30)

    @classmethod
    def open(cls, run_dir: RunDir, resumed_at: int | None) -> EventLog:
        """Remove the run's event files and, with tensorboard, rewrite them from the run's CSVs and
        sample grids (already rolled back to ``resumed_at``; None: a fresh run, nothing to replay)."""
        global _noted
        shutil.rmtree(run_dir.tensorboard, ignore_errors=True)
        tb = _tensorboard()
        if tb is None and not _noted:
            print(MISSING_NOTE, flush=True)  # stdout: information, like "resuming from", not an error
            _noted = True
        origin = run_dir.config.stat().st_mtime if run_dir.config.exists() else 0.0
        log = cls(run_dir, tb, origin)
        if tb is not None and resumed_at is not None:
            log._replay(resumed_at)
        return log

    # -- live -----------------------------------------------------------------------------------
    def train_row(self, row: dict) -> None:
        self._scalars(row["iteration"], row["wall_time"], train_scalars(row))

    def analysis(self, iteration: int, wall_time: float, rows: list[dict]) -> None:
        self._scalars(iteration, wall_time, analysis_scalars(rows))

    def scores(self, iteration: int, wall_time: float, rows: list[dict]) -> None:
        scored = score_scalars(rows)
        self._scalars(iteration, wall_time, {t: v for t, (v, _) in scored.items()},
                      {t: d for t, (_, d) in scored.items()})

    def image(self, iteration: int, wall_time: float, png: bytes) -> None:
        """A sample grid (PNG bytes), once per iteration (the final grid may repeat the cadence's)."""
        if self._writer is None or iteration == self._last_image:
            return
        from PIL import Image

        with Image.open(io.BytesIO(png)) as im:
            w, h, channels = im.width, im.height, len(im.getbands())
        summary_pb2 = self._tb[1]
        img = summary_pb2.Summary.Image(height=h, width=w, colorspace=channels, encoded_image_string=png)
        self._add(iteration, wall_time, summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=SAMPLES_TAG,
                                                                                           image=img)]))
        self._last_image = iteration

    def flush(self) -> None:
        """Everything added so far is in the file (before a checkpoint; blocks on the writer thread)."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- writing ----------------------------------------------------------------------------------
    def _scalars(self, iteration: int, wall_time: float, values: dict[str, float],
                 descriptions: dict[str, str] | None = None) -> None:
        if self._writer is None or not values:
            return
        _, summary_pb2, _, tensor_pb2, types_pb2 = self._tb
        descriptions = descriptions or {}
        summary = summary_pb2.Summary(value=[  # the scalars plugin's own form (what tf.summary.scalar writes)
            summary_pb2.Summary.Value(
                tag=tag, tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[value]),
                metadata=summary_pb2.SummaryMetadata(
                    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
                    summary_description=descriptions.get(tag, ""), data_class=summary_pb2.DATA_CLASS_SCALAR))
            for tag, value in values.items()])
        self._add(iteration, wall_time, summary)

    def _add(self, iteration: int, wall_time: float, summary: Any = None, session_log: Any = None) -> None:
        event_pb2 = self._tb[0]
        self._writer.add_event(event_pb2.Event(step=int(iteration), wall_time=self.origin + float(wall_time or 0.0),
                                               summary=summary, session_log=session_log))

    # -- rebuild -------------------------------------------------------------------------------
    def _replay(self, last: int) -> None:
        """Write the events of every row ≤ ``last`` in the trainer's order, then a session start at
        ``last + 1`` (readers that purge drop whatever an old file of theirs holds beyond it)."""
        rd = self.run_dir
        train, analysis, metrics = (_read_rows(p, last) for p in (rd.train_log, rd.analysis, rd.metrics))
        walls = sorted({int(float(r["iteration"])): float(r["wall_time"]) for r in train + metrics
                        if _number(r.get("wall_time")) is not None}.items())
        steps, times = [s for s, _ in walls], [t for _, t in walls]

        def wall_at(it: int) -> float:  # analysis rows and grids: the training time logged at or before it
            i = bisect.bisect_right(steps, it)
            return times[i - 1] if i else 0.0

        work: list[tuple[int, int, Any]] = [(int(float(r["iteration"])), _ORDER["train"], r) for r in train]
        for kind, rows in (("analysis", analysis), ("eval", metrics)):
            by_it: dict[int, list[dict]] = {}
            for r in rows:
                by_it.setdefault(int(float(r["iteration"])), []).append(r)
            work += [(it, _ORDER[kind], group) for it, group in by_it.items()]
        work += [(it, _ORDER["image"], p) for p in rd.sample_grids() if (it := rd.sample_iteration(p)) <= last]
        for it, order, item in sorted(work, key=lambda w: w[:2]):
            if order == _ORDER["train"]:
                self.train_row(item)
            elif order == _ORDER["analysis"]:
                self.analysis(it, wall_at(it), item)
            elif order == _ORDER["eval"]:
                self.scores(it, _number(item[0].get("wall_time")) or wall_at(it), item)
            else:
                try:
                    self.image(it, wall_at(it), item.read_bytes())
                except OSError:  # a grid removed meanwhile: cheap to lose, as on disk
                    pass
        event_pb2 = self._tb[0]
        self._add(last + 1, wall_at(last), session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START))
        self.flush()


def _read_rows(path: Path, last: int) -> list[dict]:
    """The rows of a run CSV with ``iteration <= last`` (complete lines only, as rolled back)."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r for r in rows if (it := _number(r.get("iteration"))) is not None and it <= last]

