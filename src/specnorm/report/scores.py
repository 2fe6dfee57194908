"""Per-run best and final scores, each with the protocol it was measured under.

"Best" is each metric's own best over the in-training evaluations (max IS, min FID, min KID), from
two sources (docs/outputs.md): ``scores.json`` (each metric's best generator rescored for that
metric by ``specnorm score``, and the final generator) and ``metrics.csv`` (best = the metric's best
evaluation, final = the last evaluation; docs/design.md#table1-scale-rule). A score's *signature* is
its protocol (protocol, extractor and weights' sha256, n_gen, n_real, reference set, resize):
numbers are only compared or averaged within one signature. Within a signature, ``scores.json`` is
preferred.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from specnorm.report.runs import Run
from specnorm.rundir import RESCORED_ON, SCORES
from specnorm.rundir import METRICS as METRICS_CSV
from specnorm.vocab import HIGHER_IS_BETTER, METRICS, metric_label
PROTOCOL_FIELDS = ("protocol", "extractor", "extractor_sha256", "n_gen", "n_real", "reference", "resize", "precision")
RUN_COLUMNS = ("run", "dataset", "setting", "setting_label", "group", "family", "scale", "seed", "state")


def _int(v: Any) -> Any:
    """Counts read from CSV come back as floats: print 1000.0 as 1000."""
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return int(v)
    return v


def signature(fields: dict[str, Any]) -> str:
    """The protocol identity of a score row. The run seed, which only fixes the latents and which
    real subset is drawn (e.g. ``cifar10-train-subset(5000,seed=3)``), is left out so seeds group.
    The metric network's precision shows only when it is not fp32 (a row without one, written before
    ``eval.precision``, is fp32), so fp32 signatures are unchanged."""
    sha = str(fields.get("extractor_sha256") or "")[:12]
    reference = re.sub(r",\s*seed=\d+", "", str(fields.get("reference")))
    precision = fields.get("precision")
    fp32 = precision is None or precision != precision or precision in ("", "fp32")  # NaN: a CSV without it
    fast = [] if fp32 else [f"precision {precision}"]
    return " · ".join([
        f"protocol {fields.get('protocol')}", f"extractor {fields.get('extractor')} ({sha or 'no sha256'})",
        f"n_gen {_int(fields.get('n_gen'))}", f"n_real {_int(fields.get('n_real'))}",
        f"reference {reference}", f"resize {fields.get('resize')}", *fast,
    ])


def _per_row(df: pd.DataFrame, fn: Callable[[dict[str, Any]], Any], cols: list[str]) -> list[Any]:
    """``fn(row_dict)`` for every row of ``df[cols]``, computed once per distinct row (few protocols, many rows)."""
    cache: dict[tuple, Any] = {}
    return [cache[k] if k in cache else cache.setdefault(k, fn(dict(zip(cols, k))))
            for k in df[cols].itertuples(index=False, name=None)]


def annotate(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``signature``, ``label`` and ``proto`` to metric rows carrying the protocol fields."""
    df = df.copy()
    for k in PROTOCOL_FIELDS:
        if k not in df:
            df[k] = None
    cols = ["metric", *PROTOCOL_FIELDS]
    df["signature"] = _per_row(df, signature, cols)
    df["label"] = _per_row(df, lambda r: metric_label(r["metric"], r["extractor"]), cols)
    df["proto"] = _per_row(df, lambda r: short_protocol(r["metric"], r), cols)
    return df


def short_protocol(metric: str, fields: dict[str, Any]) -> str:
    """A column-header tag of a protocol: ``paper, 10000 vs 5000`` (FID/KID) or ``paper, 50000 images`` (IS)."""
    n_gen, n_real = _int(fields.get("n_gen")), _int(fields.get("n_real"))
    return f"{fields.get('protocol')}, " + (f"{n_gen} images" if metric == "is" else f"{n_gen} vs {n_real}")


def _run_info(run: Run) -> dict[str, Any]:
    return {"run": run.name, "dataset": run.dataset, "setting": run.setting, "setting_label": run.setting_label,
            "group": run.group, "family": run.family, "scale": run.scale, "seed": run.seed, "state": run.state}


def _row(run: Run, which: str, metric: str, value: Any, iteration: Any, source: str, fields: dict,
         generator: str | None = None) -> dict:
    prot = {k: _int(fields.get(k)) for k in PROTOCOL_FIELDS}
    return {**_run_info(run), "which": which, "metric": metric, "value": float(value),
            "iteration": _int(iteration), "source": source, "generator": generator, **prot,
            "signature": signature(prot),
            "label": metric_label(metric, prot["extractor"]), "proto": short_protocol(metric, prot)}


def from_metrics_csv(run: Run) -> list[dict]:
    """Best (the metric's own best evaluation) and final (last evaluation) per metric and signature
    from ``metrics.csv``."""
    df = run.metrics
    if df.empty or not {"metric", "value", "iteration"} <= set(df.columns):
        return []
    df = annotate(df[df["metric"].isin(METRICS) & df["value"].notna()])
    rows = []
    for (metric, _), sub in df.groupby(["metric", "signature"], sort=True):
        sub = sub.sort_values("iteration", kind="stable")
        best = sub.loc[sub["value"].idxmax() if HIGHER_IS_BETTER[metric] else sub["value"].idxmin()]
        final = sub.iloc[-1]
        for which, r in (("best", best), ("final", final)):
            rows.append(_row(run, which, metric, r["value"], r["iteration"], METRICS_CSV, r.to_dict()))
    return rows


def _variant(which: Any, metric: str) -> str | None:
    """The report variant (best/final) of a ``scores.json`` entry, None if it is not one: a best
    generator counts only for the metric it is the best of (``generator_best_is.pt`` for IS,
    ``generator_best_fid.pt`` for FID and KID; docs/outputs.md)."""
    if which == "final":
        return "final"
    return "best" if which is not None and RESCORED_ON.get(metric) == which else None


def from_scores_json(run: Run) -> list[dict]:
    """The ``scores`` entries of ``scores.json`` as best/final × metric rows (:func:`_variant`)."""
    data = run.scores or {}
    entries = data.get("scores")
    if not isinstance(entries, list):
        return []
    rows = []
    for e in entries:
        if not isinstance(e, dict) or e.get("metric") not in METRICS:
            continue
        variant = _variant(e.get("which"), e["metric"])
        if variant is None:
            continue
        try:
            value = float(e["value"])
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(value):
            rows.append(_row(run, variant, e["metric"], value, e.get("iteration"), SCORES, e, str(e["which"])))
    return rows


def run_scores(runs: list[Run]) -> pd.DataFrame:
    """Tidy score table of every finished run, both sources, with ``preferred`` marking the rows the
    report uses: ``scores.json`` when it has the (which, metric, signature), else ``metrics.csv``."""
    rows = [r for run in runs if run.done for r in from_metrics_csv(run) + from_scores_json(run)]
    cols = [*RUN_COLUMNS, "which", "metric", "value", "iteration", "source", "generator", *PROTOCOL_FIELDS,
            "signature", "label", "proto"]
    df = pd.DataFrame(rows, columns=cols)
    if df.empty:
        return df.assign(preferred=pd.Series(dtype=bool))
    has_json = df[df["source"] == SCORES].groupby(["run", "which", "metric", "signature"]).size()
    key = list(zip(df["run"], df["which"], df["metric"], df["signature"]))
    df["preferred"] = [(s == SCORES) or (k not in has_json.index) for s, k in zip(df["source"], key)]
    return df


def protocol_text(sig_rows: pd.DataFrame) -> str:
    """How the numbers of one signature were obtained, for a Table 1 column or a figure caption."""
    first = sig_rows.iloc[0]
    sources = sig_rows.drop_duplicates("run")["source"].value_counts().to_dict()
    parts = []
    if sources.get(SCORES):
        parts.append(f"{sources[SCORES]} run(s) from {SCORES} (best = the generator of this metric's own best "
                     "in-training evaluation, rescored under the protocol; final = the last generator)")
    if sources.get(METRICS_CSV):
        parts.append(f"{sources[METRICS_CSV]} run(s) from {METRICS_CSV} (best = this metric's own best over the "
                     "in-training evaluations; final = the last evaluation)")
    return f"{first['label']}: {first['signature']}. Sources: " + "; ".join(parts) + "."
