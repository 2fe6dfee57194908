"""One score and the protocol that defines it: written once, read back through the same class.

Torch-free ground floor (docs/outputs.md). :class:`ProtocolKey` is everything that defines a score's
number besides the generator (docs/design.md#metric-protocol): scores are compared or averaged only
under equal keys. :class:`ScoreRecord` is one score: a metric's value under a key, of one run seed,
at one iteration or of one kept generator. The evaluator, ``specnorm score`` and ``specnorm score
--real`` make records; ``metrics.csv``, ``scores.json``, the Real-data file and the report's tidy
tables hold their rows; the run directory and the report read them back through these classes.
A new protocol field is one line of :class:`ProtocolKey`; a new metric is one entry of
``specnorm.vocab.METRIC_INFO`` and its computation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from specnorm.vocab import METRIC_INFO, metric_label

_READERS = {"int": lambda v: int(float(v)), "float": float, "str": str}
"""How a field of each (annotated) type is read back from a CSV cell or a JSON value."""


def _missing(value: Any) -> bool:
    """An empty cell: absent, None, NaN (a CSV column some rows lack) or ""."""
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def _read(cls: type, row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The fields ``names`` of the dataclass ``cls`` from ``row``, each read as its annotated type; a
    missing field takes its default, or raises ValueError naming it when it has none."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in names:
            continue
        value = row.get(f.name)
        if _missing(value):
            if f.default is dataclasses.MISSING:
                raise ValueError(f"score row without {f.name!r}")
            continue
        out[f.name] = _READERS[str(f.type).split(" | ")[0]](value)
    return out


@dataclass(frozen=True, order=True)
class ProtocolKey:
    """What defines a score's number besides the generator: equal keys, comparable numbers.

    The run seed is not part of it: it fixes the latents and which real subset is drawn, so the
    seeds of one cell share a key (the seed is :attr:`ScoreRecord.seed`). Hashable and ordered, so
    tables group and sort by it."""

    protocol: str  # paper | standard (docs/design.md#metric-protocol)
    extractor: str  # the feature network (specnorm.catalog)
    extractor_sha256: str = field(metadata={"shown": 12})  # its weights' sha256
    n_gen: int  # images scored (generated ones; real ones for Table 1's Real-data row)
    n_real: int  # images of the real reference set (0: a metric without one, IS)
    reference: str  # the reference set in words: ``cifar10-train-subset(5000)`` (drawn by the seed)
    resize: str  # how images reach the network: ``float->tf1-bilinear(in-network)``
    precision: str = "fp32"  # the metric network's numerics (eval.precision, docs/deviations.md M10)

    NAMES: ClassVar[tuple[str, ...]]
    """The field names, in order: the protocol columns of ``metrics.csv`` and of the tidy tables."""

    def describe(self) -> str:
        """Every field by name, ``protocol paper · extractor inception-2015-12-05 · …``: the one display
        text of a key (table notes, captions); never parsed."""
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            shown = f.metadata.get("shown")
            parts.append(f"{f.name} {str(value)[:shown] if shown else value}")
        return " · ".join(parts)

    def tag(self, metric: str) -> str:
        """A column-header tag: ``paper, 10000 vs 5000`` for a metric against the reference set,
        ``paper, 50000 images`` for one without (IS)."""
        info = METRIC_INFO.get(metric)
        counts = f"{self.n_gen} vs {self.n_real}" if info is None or info.reference else f"{self.n_gen} images"
        return f"{self.protocol}, {counts}"

    def row(self) -> dict[str, Any]:
        """The fields as a flat mapping (a row's protocol columns)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProtocolKey:
        """The key of a ``metrics.csv`` row, a ``scores.json`` entry or a table row: counts read as
        floats become ints; a missing ``precision`` is fp32. ValueError names a missing field."""
        return cls(**_read(cls, row, cls.NAMES))


ProtocolKey.NAMES = tuple(f.name for f in dataclasses.fields(ProtocolKey))


@dataclass(frozen=True)
class ScoreRecord:
    """One score: ``metric``'s ``value`` under ``key``, of the run seeded ``seed`` (docs/outputs.md)."""

    metric: str  # specnorm.vocab.METRIC_INFO
    value: float  # NaN when undefined (a non-finite generator)
    key: ProtocolKey
    seed: int  # the run seed: fixes the latents and which real subset the reference is
    iteration: int | None = None  # the scored generator's iteration
    wall_time: float | None = None  # training seconds at an in-training evaluation (metrics.csv)
    which: str | None = None  # the kept generator ``specnorm score`` scored: best_is | best_fid | final

    COLUMNS: ClassVar[tuple[str, ...]]
    """Columns of ``metrics.csv``: one row per in-training evaluation and metric."""
    TEXT_COLUMNS: ClassVar[frozenset[str]]
    """Its non-numeric columns."""

    @property
    def label(self) -> str:
        """``FID``, ``digits-IS`` …: the metric's name under its extractor (:func:`specnorm.vocab.metric_label`)."""
        return metric_label(self.metric, self.key.extractor)

    def row(self) -> dict[str, Any]:
        """The record as one flat row: its fields (those set), ``label``, and the key's fields."""
        head = {k: getattr(self, k) for k in ("iteration", "wall_time", "which") if getattr(self, k) is not None}
        return {**head, "metric": self.metric, "label": self.label, "value": self.value, **self.key.row(),
                "seed": self.seed}

    def json_row(self) -> dict[str, Any]:
        """:meth:`row` for a JSON file: a non-finite value is null (JSON has no NaN)."""
        return {**self.row(), "value": self.value if math.isfinite(self.value) else None}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ScoreRecord:
        """The record of a row written by :meth:`row` (a null or empty value is NaN). ValueError names
        a missing field; TypeError/ValueError for a value of the wrong kind."""
        own = _read(cls, row, ("metric", "seed", "iteration", "wall_time", "which"))
        value = row.get("value")
        return cls(value=math.nan if _missing(value) else float(value), key=ProtocolKey.from_row(row), **own)


ScoreRecord.COLUMNS = ("iteration", "wall_time", "metric", "value", *ProtocolKey.NAMES, "seed")
ScoreRecord.TEXT_COLUMNS = frozenset(
    {"metric"} | {f.name for f in dataclasses.fields(ProtocolKey) if str(f.type) == "str"})
