"""Per-run best and final scores, each with the protocol key it was measured under.

"Best" is each metric's own best over the in-training evaluations (max IS, min FID, min KID), from
two sources (docs/outputs.md): ``scores.json`` (each metric's best generator rescored for that
metric by ``specnorm score``, and the final generator) and ``metrics.csv`` (best = the metric's best
evaluation, final = the last evaluation; docs/design.md#table1-scale-rule). Both are read through
:class:`specnorm.scores.ScoreRecord`; a score's :class:`~specnorm.scores.ProtocolKey` (protocol,
extractor and weights' sha256, n_gen, n_real, reference set, resize, precision; not the run seed)
is the ``key`` column of every score table: numbers are only compared or averaged under one key.
Under one key, ``scores.json`` is preferred.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from specnorm.report.runs import Run
from specnorm.rundir import RESCORED_ON, SCORES
from specnorm.rundir import METRICS as METRICS_CSV
from specnorm.scores import ProtocolKey, ScoreRecord
from specnorm.vocab import HIGHER_IS_BETTER, METRICS, metric_label

RUN_COLUMNS = ("run", "dataset", "setting", "setting_label", "group", "family", "scale", "seed", "state")
SCORE_COLUMNS = (*RUN_COLUMNS, "which", "metric", "value", "iteration", "source", "generator", "key", "label")
"""Columns of the tidy score table (:func:`run_scores`, before ``preferred``)."""


def keyed(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``metrics.csv`` with their protocol fields replaced by one ``key`` column of
    :class:`ProtocolKey` (read once per distinct set of field values) and the metric's ``label``;
    a row whose key cannot be read (a missing field) is dropped."""
    fields = [f for f in ProtocolKey.NAMES if f in rows]
    cache: dict[tuple, ProtocolKey | None] = {}

    def key_of(values: tuple) -> ProtocolKey | None:
        if values not in cache:
            try:
                cache[values] = ProtocolKey.from_row(dict(zip(fields, values)))
            except (ValueError, TypeError):
                cache[values] = None
        return cache[values]

    keys = [key_of(v) for v in rows[fields].itertuples(index=False, name=None)]
    out = rows.drop(columns=fields).assign(key=keys)
    out = out[out["key"].notna()]
    return out.assign(label=[metric_label(m, k.extractor) for m, k in zip(out["metric"], out["key"])])


def with_key(rows: pd.DataFrame, key: ProtocolKey | None) -> np.ndarray:
    """Which of ``rows`` were measured under ``key`` (a boolean mask; None: the rows without a key)."""
    return np.fromiter((k == key for k in rows["key"]), dtype=bool, count=len(rows))


def flat(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``key`` column of protocol keys (missing where a cell has no score yet) spread
    into the key's fields (one column each), for a CSV file; a ``key`` column of anything else (the
    claims' names) stays as it is."""
    if "key" not in table or any(k is not None and not isinstance(k, ProtocolKey) and k == k for k in table["key"]):
        return table
    fields = pd.DataFrame([k.row() if isinstance(k, ProtocolKey) else {} for k in table["key"]],
                          columns=list(ProtocolKey.NAMES), index=table.index)
    at = list(table.columns).index("key")
    return pd.concat([table.iloc[:, :at], fields, table.iloc[:, at + 1:]], axis=1)


def _run_info(run: Run) -> dict[str, Any]:
    return {"run": run.name, "dataset": run.dataset, "setting": run.setting, "setting_label": run.setting_label,
            "group": run.group, "family": run.family, "scale": run.scale, "seed": run.seed, "state": run.state}


def _row(run: Run, which: str, metric: str, value: float, iteration: Any, source: str, key: ProtocolKey,
         generator: str | None = None) -> dict:
    return {**_run_info(run), "which": which, "metric": metric, "value": float(value),
            "iteration": None if iteration is None else int(iteration), "source": source, "generator": generator,
            "key": key, "label": metric_label(metric, key.extractor)}


def from_metrics_csv(run: Run) -> list[dict]:
    """Best (the metric's own best evaluation) and final (last evaluation) per metric and key
    from ``metrics.csv``."""
    df = run.metrics
    if df.empty or not {"metric", "value", "iteration"} <= set(df.columns):
        return []
    df = keyed(df[df["metric"].isin(METRICS) & df["value"].notna()])
    rows = []
    for (metric, key), sub in df.groupby(["metric", "key"], sort=True):
        sub = sub.sort_values("iteration", kind="stable")
        best = sub.loc[sub["value"].idxmax() if HIGHER_IS_BETTER[metric] else sub["value"].idxmin()]
        final = sub.iloc[-1]
        for which, r in (("best", best), ("final", final)):
            rows.append(_row(run, which, metric, r["value"], r["iteration"], METRICS_CSV, key))
    return rows


def _variant(record: ScoreRecord) -> str | None:
    """The report variant (best/final) of a ``scores.json`` record, None if it is not one: a best
    generator counts only for the metric it is the best of (``generator_best_is.pt`` for IS,
    ``generator_best_fid.pt`` for FID and KID; docs/outputs.md)."""
    if record.which == "final":
        return "final"
    return "best" if record.which is not None and RESCORED_ON.get(record.metric) == record.which else None


def from_scores_json(run: Run) -> list[dict]:
    """The ``scores`` entries of ``scores.json`` as best/final × metric rows (:func:`_variant`);
    an entry that is not a readable score record is skipped."""
    entries = (run.scores or {}).get("scores")
    rows = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            record = ScoreRecord.from_row(entry)
        except (AttributeError, TypeError, ValueError):
            continue
        variant = _variant(record)
        if record.metric in METRICS and variant is not None and math.isfinite(record.value):
            rows.append(_row(run, variant, record.metric, record.value, record.iteration, SCORES, record.key,
                             record.which))
    return rows


def run_scores(runs: list[Run]) -> pd.DataFrame:
    """Tidy score table of every finished run, both sources, with ``preferred`` marking the rows the
    report uses: ``scores.json`` when it has the (which, metric, key), else ``metrics.csv``."""
    rows = [r for run in runs if run.done for r in from_metrics_csv(run) + from_scores_json(run)]
    df = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    if df.empty:
        return df.assign(preferred=pd.Series(dtype=bool))
    ident = list(zip(df["run"], df["which"], df["metric"], df["key"]))
    rescored = {k for k, source in zip(ident, df["source"]) if source == SCORES}
    df["preferred"] = [source == SCORES or k not in rescored for k, source in zip(ident, df["source"])]
    return df


def protocol_text(rows: pd.DataFrame) -> str:
    """How the numbers of one key were obtained, for a Table 1 column or a figure caption."""
    first = rows.iloc[0]
    sources = rows.drop_duplicates("run")["source"].value_counts().to_dict()
    parts = []
    if sources.get(SCORES):
        parts.append(f"{sources[SCORES]} run(s) from {SCORES} (best = the generator of this metric's own best "
                     "in-training evaluation, rescored under the protocol; final = the last generator)")
    if sources.get(METRICS_CSV):
        parts.append(f"{sources[METRICS_CSV]} run(s) from {METRICS_CSV} (best = this metric's own best over the "
                     "in-training evaluations; final = the last evaluation)")
    return f"{first['label']}: {first['key'].describe()}. Sources: " + "; ".join(parts) + "."
