"""Append-only CSV logs that stay consistent across kill and resume.

Rows are keyed by ``iteration``. On resume from the checkpoint of iteration k, :meth:`CsvLog.rollback`
keeps only complete rows with ``iteration <= k`` (rows written after that checkpoint, and a line cut
short by a kill, are dropped), so the resumed run rewrites exactly the rows it lost: no duplicate or
missing rows.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from specnorm.io import atomic_write_text


class CsvMismatch(RuntimeError):
    """A run CSV's header is not the one this run writes (the directory holds another configuration)."""


def header_difference(found: list[str], expected: list[str]) -> str:
    """What differs between two CSV headers: missing and extra columns, or else the first reordering."""
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
    if not parts:
        i = next(i for i, (a, b) in enumerate(zip(found, expected)) if a != b)
        parts.append(f"column {i + 1} is {found[i]!r}, expected {expected[i]!r}")
    return "; ".join(parts)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "nan" if math.isnan(v) else repr(v)
    return str(v)


class CsvLog:
    """A CSV file with a fixed header; each ``append`` writes complete lines (no fsync: the trainer
    calls :meth:`sync` before each checkpoint, and a resume rolls back whatever came after it)."""

    def __init__(self, path: str | Path, columns: list[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)

    def rollback(self, last_iteration: int) -> None:
        """Keep the header and the complete rows with ``iteration <= last_iteration`` (-1: none)."""
        if not self.path.exists():
            return
        text = self.path.read_text()
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines = lines[:-1]  # a row cut short by a kill
        if not lines:
            self.path.unlink()
            return
        header = next(csv.reader([lines[0]]))
        if header != self.columns:
            raise CsvMismatch(
                f"{self.path} has other columns than this run writes ({header_difference(header, self.columns)}); "
                "the run directory belongs to a different configuration: use another --out"
            )
        col = header.index("iteration")
        kept = [lines[0]] + [ln for ln in lines[1:] if int(next(csv.reader([ln]))[col]) <= last_iteration]
        atomic_write_text(self.path, "".join(kept))

    def append(self, rows: list[dict]) -> None:
        if not rows:
            return
        new = not self.path.exists()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if new:
            w.writerow(self.columns)
        for r in rows:
            extra = set(r) - set(self.columns)
            if extra:
                raise KeyError(f"{self.path.name}: unexpected columns {sorted(extra)}")
            w.writerow([_fmt(r.get(c)) for c in self.columns])
        with open(self.path, "a") as f:
            f.write(buf.getvalue())

    def sync(self) -> None:
        """Make every row written so far durable (before a checkpoint that vouches for them)."""
        if self.path.exists():
            with open(self.path, "rb+") as f:
                os.fsync(f.fileno())
