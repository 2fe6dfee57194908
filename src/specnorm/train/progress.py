"""Progress display: a tqdm bar (it/s, ETA) on a terminal, plain periodic lines in a batch log."""

from __future__ import annotations

import sys
import time

from specnorm.config import LogCfg


class Progress:
    """Never reads device values itself: losses are shown only when a logging step already synced."""

    def __init__(self, log: LogCfg, total: int, start: int, stream=None) -> None:
        self.stream = stream or sys.stderr
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
            print(f"[specnorm] it {it}/{self.total} ({100 * it / self.total:.1f}%) {rate:.2f} it/s "
                  f"eta {eta:.0f}s {self.last_note}".rstrip(), file=self.stream, flush=True)

    def note(self, row: dict) -> None:
        keys = [k for k in ("loss_d", "loss_g", "d_real", "d_fake") if row.get(k) is not None]
        self.last_note = " ".join(f"{k}={row[k]:.4g}" for k in keys)
        if self.bar is not None:
            self.bar.set_postfix_str(self.last_note, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
