"""The trainer's console (README "One training run"): progress as a tqdm bar (it/s, ETA) on a
terminal or plain periodic lines in a batch log (stderr), and on stdout one line per evaluation with
its scores, one per checkpoint, and a last line with the run's status and its best scores.

Score labels come from the score records (:attr:`specnorm.scores.ScoreRecord.label`: ``FID`` for
Inception, ``digits-FID`` for the digits stand-in), never written here. In a pack every line names
its cell (its run directory's name).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from pathlib import Path

from specnorm.config import LogCfg
from specnorm.rundir import BEST_GENERATORS
from specnorm.scores import ScoreRecord


def _num(x: float) -> str:
    return f"{x:.4g}"


def scores_text(rows: Iterable[dict]) -> str:
    """``digits-IS 3.12, digits-IS std 0.08, digits-FID 41.3 …``: one evaluation's ``metrics.csv`` rows."""
    recs = [ScoreRecord.from_row(r) for r in rows]
    return ", ".join(f"{r.label} {_num(r.value)}" for r in recs)


def best_text(best: dict, history: list[dict], evaluates: bool) -> str:
    """The run's best score of each metric whose best generator is kept (IS and FID, or their digits
    stand-ins; docs/outputs.md), labelled from its records: ``best digits-IS 3.4 (iteration 800), …``."""
    if not evaluates:
        return "no evaluations configured"
    if not history:
        return "no evaluation ran"
    parts = []
    for metric in BEST_GENERATORS:
        if metric not in best:
            continue
        row = next(r for r in history if r["metric"] == metric)
        parts.append(f"{ScoreRecord.from_row(row).label} {_num(best[metric]['value'])} "
                     f"(iteration {best[metric]['iteration']})")
    return "best " + ", ".join(parts) if parts else "no finite best score"


class Progress:
    """Never reads device values itself: losses are shown only when a logging step already synced.
    ``name``: the cell's name, shown on every line when the process trains a pack."""

    def __init__(self, log: LogCfg, total: int, start: int, stream=None, name: str = "", out=None) -> None:
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        self.prefix = f"[specnorm {name}]" if name else "[specnorm]"
        mode = log.progress
        if mode == "auto":
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode, self.total, self.start = mode, total, start
        self.every = log.progress_every or max(1, total // 100)
        self.t0 = time.perf_counter()
        self.last_note = ""
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True, file=self.stream)

    def update(self, it: int) -> None:
        if self.bar is not None:
            self.bar.update(1)
        elif self.mode == "lines" and (it % self.every == 0 or it == self.total):
            done = it - self.start
            el = time.perf_counter() - self.t0
            rate = done / el if el > 0 else 0.0
            eta = (self.total - it) / rate if rate > 0 else float("nan")
            print(f"{self.prefix} it {it}/{self.total} ({100 * it / self.total:.1f}%) {rate:.2f} it/s "
                  f"eta {eta:.0f}s {self.last_note}".rstrip(), file=self.stream, flush=True)

    def note(self, row: dict) -> None:
        keys = [k for k in ("loss_d", "loss_g", "d_real", "d_fake") if row.get(k) is not None]
        self.last_note = " ".join(f"{k}={row[k]:.4g}" for k in keys)
        if self.bar is not None:
            self.bar.set_postfix_str(self.last_note, refresh=False)

    def say(self, text: str) -> None:
        """One line on stdout (above the bar, when there is one)."""
        line = f"{self.prefix} {text}"
        if self.bar is not None:
            self.bar.write(line, file=self.out)
        else:
            print(line, file=self.out, flush=True)

    def evaluation(self, it: int, rows: list[dict]) -> None:
        self.say(f"evaluation at iteration {it}: {scores_text(rows)}")

    def checkpoint(self, it: int, path: Path) -> None:
        self.say(f"checkpoint at iteration {it}: {path}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
