"""Formatting of the aggregated tables into what the HTML template shows (strings only; no science)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from specnorm.report import paper
from specnorm.report.aggregate import Column, dataset_rank, progress
from specnorm.report.runs import Run
from specnorm.report.paper import dataset_label
from specnorm.report.scores import with_key
from specnorm.report.stats import ALPHA, significant, welch_p_from_stats
from specnorm.report.variants import family_rank
from specnorm.vocab import BSN, GAMMA_FAMILIES, HIGHER_IS_BETTER, METRICS, REAL_DATA, SCALED, SN, variant_label

WHICH_TITLE = {"best": "best during training", "final": "final (end of training)"}
GAMMA_COLUMNS = ((SN, "hinge"), (BSN, "hinge"), *((family, "WGAN-GP") for family in GAMMA_FAMILIES))
"""The learned-γ table's columns: family and loss (the official learned-γ runs use WGAN-GP)."""


def num(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; "—" for missing values."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, float)):
        return f"{value:.{digits}g}"
    return str(value)


def pm(mean: float, sem: float) -> str:
    """``mean ± s.e.m.`` (s.e.m. omitted when undefined, e.g. one seed)."""
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.4g} ± {sem:.2g}" if math.isfinite(sem) else f"{mean:.4g}"


def pvalue(p_value: float) -> str:
    return "—" if not math.isfinite(p_value) else ("< 0.001" if p_value < 0.001 else f"{p_value:.3f}")


def arrow(metric: str) -> str:
    return "↑" if HIGHER_IS_BETTER.get(metric, True) else "↓"


# -- Table 1 -----------------------------------------------------------------------------------------
PAPER_DATASETS = frozenset(dataset for dataset, _ in paper.TABLE1)
"""The datasets of the paper's Table 1: only these are columns of our Table 1; the others get a table of
their own (:func:`table1_views`)."""


def table1_views(table1_rows: pd.DataFrame, columns: list[Column]) -> list[dict]:
    """One view per part and variant (best / final): Table 1 of the paper's datasets, then a table of
    the other datasets (``id`` ``others-<which>``); each with dataset header groups, columns, rows of
    cells, p-values and the numbered protocol notes."""
    views = []
    for part, prefix in ((True, "table1"), (False, "others")):
        cols = [c for c in columns if (c.dataset in PAPER_DATASETS) == part]
        if cols:
            views += [{**view, "id": f"{prefix}-{view['which']}", "paper_datasets": part}
                      for view in _table1_part(table1_rows, cols)]
    return views


def _table1_part(table1_rows: pd.DataFrame, columns: list[Column]) -> list[dict]:
    views = []
    for which in ("best", "final"):
        groups: list[dict] = []
        for col in columns:
            if groups and groups[-1]["dataset"] == col.dataset:
                groups[-1]["span"] += 1
            else:
                groups.append({"dataset": col.dataset, "label": dataset_label(col.dataset), "span": 1})
        cols = [{"label": f"{c.label} {arrow(c.metric)}", "tag": c.header, "note": i + 1}
                for i, c in enumerate(columns)]
        in_column = [_column_rows(table1_rows, c, which) for c in columns]
        rows = []
        for name in paper.TABLE1_ROWS:
            cells = []
            for c, same in zip(columns, in_column):
                r = same[same["row"] == name]
                cells.append(_t1_cell(r.iloc[0], c, table1_rows, which) if len(r) else {"ours": "—"})
            rows.append({"name": name, "real": name == REAL_DATA, "cells": cells})
        pvals = []
        for same in in_column:
            r = same[same["row"] == BSN]
            pvals.append(pvalue(r["welch_p_bsn_vs_sn"].iloc[0]) if len(r) else "—")
        views.append({"which": which, "title": WHICH_TITLE[which], "groups": groups, "columns": cols, "rows": rows,
                      "pvalues": pvals, "notes": [c.note for c in columns], "alpha": f"{ALPHA:g}"})
    return views


def best_final_note(scores: pd.DataFrame) -> str:
    """Whether "best during training" and "final" coincide: how many (run, metric) pairs had their best
    evaluation at the last one (then the two tables agree there); "" without scores."""
    if scores.empty or not {"which", "iteration", "preferred"} <= set(scores.columns):
        return ""
    s = scores[scores["preferred"] & scores["metric"].isin(list(HIGHER_IS_BETTER))]
    at = s.pivot_table(index=["run", "metric"], columns="which", values="iteration", aggfunc="first")
    if not {"best", "final"} <= set(at.columns):
        return ""
    at = at.dropna(subset=["best", "final"])
    same, total = int((at["best"] == at["final"]).sum()), len(at)
    if total == 0:
        return ""
    if same == total:
        return (f"Best and final coincide: every run was at its best at its last evaluation ({total} of {total} "
                "run × metric pairs), so the \"best during training\" and \"final\" tables are the same numbers.")
    return (f"Best and final coincide in {same} of {total} run × metric pairs (best at the last evaluation); "
            "the two tables differ only where they do not.")


def _column_rows(table1_rows: pd.DataFrame, col: Column, which: str) -> pd.DataFrame:
    """The rows of Table 1's column ``col`` in variant ``which`` (best / final)."""
    return table1_rows[(table1_rows["dataset"] == col.dataset) & (table1_rows["metric"] == col.metric)
                       & with_key(table1_rows, col.key) & (table1_rows["which"] == which)]


def _t1_cell(r: pd.Series, col: Column, table1_rows: pd.DataFrame, which: str) -> dict:
    cell: dict[str, Any] = {"ours": pm(r["mean"], r["sem"]), "n": int(r["n"]), "best": False}
    if r["row"] == REAL_DATA and not math.isfinite(r["mean"]):
        cell["ours"] = "not computed"  # no results/real/<dataset>-<protocol>.json (specnorm score --real)
    elif r["row"] == REAL_DATA:
        cell["real"] = str(r.get("real_protocol") or "")  # what was compared: never a set against itself
    elif r["row"] in SCALED and math.isfinite(r["scale"]):
        k = int(r["n_scales"])
        cell["scale"] = f"s = {r['scale']:g} (best of {k} scale{'s' if k != 1 else ''})"
    if r["row"] != REAL_DATA:
        unit = "runs of the sweep" if r["row"] in SCALED else "seeds"
        cell["progress"] = f"{int(r['done'])}/{int(r['total'])} {unit} done" if r["done"] < r["total"] else ""
        if r["diverged"]:
            cell["progress"] += f"{'; ' if cell['progress'] else ''}{int(r['diverged'])} diverged"
        cell["best"] = r["row"] in significant_best(_column_rows(table1_rows, col, which), col.metric)
    if math.isfinite(r["paper_mean"]):
        cell["paper"] = "paper " + pm(r["paper_mean"], r["paper_sem"])
        if math.isfinite(r["diff"]):
            cell["diff"] = f"Δ {r['diff']:+.3g}"
    return cell


def _cell_key(row: pd.Series) -> tuple[str, float]:
    """The cell a Table 1 row shows: SSN at its chosen s is the SN cell at that s (s = 1 is SN itself)."""
    return (SCALED.get(row["row"], row["row"]), float(row["scale"]))


def significant_best(rows: pd.DataFrame, metric: str) -> set[str]:
    """The Table 1 rows (of one column and variant) to bold: those showing the cell with the best mean,
    only when it is better than every other distinct cell at Welch p < ALPHA; else none."""
    cand = rows[(rows["row"] != REAL_DATA) & rows["mean"].notna() & (rows["n"] > 0)]
    if cand.empty:
        return set()
    top = cand.sort_values("mean", ascending=not HIGHER_IS_BETTER[metric]).iloc[0]
    others = cand[[_cell_key(r) != _cell_key(top) for _, r in cand.iterrows()]]
    if others.empty:
        return set()
    for _, o in others.iterrows():
        p = welch_p_from_stats(top["mean"], top["sem"], int(top["n"]), o["mean"], o["sem"], int(o["n"]))
        if not significant(p) or o["mean"] == top["mean"]:
            return set()
    return {r["row"] for _, r in cand.iterrows() if _cell_key(r) == _cell_key(top)}


def winner(bsn_better: Any, p_value: float, both: bool) -> str:
    """The "better" cell of an SN-vs-BSN row: a side only at Welch p < ALPHA."""
    if not both:
        return "—"
    if not math.isfinite(p_value):
        return "no test (a side has < 2 seeds)"
    if significant(p_value):
        return BSN if bsn_better else SN
    return f"no significant difference (p = {pvalue(p_value)})"


def paper_table() -> dict:
    """The paper's Table 1 as printed (reference)."""
    cols = [(d, m) for d, ms in paper.TABLE1_METRICS.items() for m in ms]
    groups = [{"label": dataset_label(d), "span": len(ms)} for d, ms in paper.TABLE1_METRICS.items()]
    header = [f"{m.upper()} {arrow(m)}" for _, m in cols]
    rows = [{"name": row, "cells": [pm(mean, math.nan if sem is None else sem)
                                    for mean, sem in (paper.TABLE1[c][row] for c in cols)]}
            for row in paper.TABLE1_ROWS]
    return {"groups": groups, "header": header, "rows": rows}


# -- generic tables ----------------------------------------------------------------------------------
def sweep_tables(grouped: pd.DataFrame, dataset: str) -> list[dict]:
    """Per metric and protocol key (best during training): rows = scale, columns = swept families."""
    g = grouped[(grouped["dataset"] == dataset) & (grouped["which"] == "best")]
    fams = [f for f in sorted(g["family"].unique(), key=family_rank) if g[g["family"] == f]["scale"].nunique() >= 2]
    out = []
    groups = sorted(g[g["family"].isin(fams)].groupby(["metric", "key"]),
                    key=lambda kv: (METRICS.index(kv[0][0]), kv[0][1]))
    for (metric, key), sub in groups:
        scales = sorted(sub["scale"].unique())
        rows = []
        for s in scales:
            cells = []
            for f in fams:
                c = sub[(sub["family"] == f) & (sub["scale"] == s)]
                cells.append(f"{pm(c['mean'].iloc[0], c['sem'].iloc[0])} (n={int(c['n'].iloc[0])})" if len(c) else "")
            rows.append({"scale": f"{s:g}", "cells": cells})
        label = sub["label"].iloc[0]
        out.append({"title": f"{label} {arrow(metric)} ({key.tag(metric)}), best during training",
                    "families": fams, "rows": rows, "protocol": key.describe()})
    return out


def hparam_rows(hparam_table: pd.DataFrame, dataset: str) -> list[dict]:
    """App. N rows of one dataset: setting, metric, variant, SN, BSN, Δ, Welch p, winner."""
    if hparam_table.empty:
        return []
    d = hparam_table[hparam_table["dataset"] == dataset].sort_values(["setting_label", "metric", "which"])
    rows = []
    for _, r in d.iterrows():
        both = r["sn_n"] > 0 and r["bsn_n"] > 0
        rows.append({"setting": r["setting_label"],
                     "metric": f"{r['label']} {arrow(r['metric'])} ({r['key'].tag(r['metric'])})",
                     "which": r["which"], "sn": f"{pm(r['sn_mean'], r['sn_sem'])} (n={r['sn_n']})",
                     "bsn": f"{pm(r['bsn_mean'], r['bsn_sem'])} (n={r['bsn_n']})",
                     "diff": f"{r['bsn_mean'] - r['sn_mean']:+.3g}" if both else "—",
                     "p": pvalue(r["welch_p"]),
                     "winner": winner(r["bsn_better"], r["welch_p"], both)})
    return rows


def gamma_rows(gamma_scores: pd.DataFrame, dataset: str) -> list[dict]:
    """Learned-γ comparison rows of one dataset."""
    d = gamma_scores[gamma_scores["dataset"] == dataset]
    rows = []
    for (setting, metric, label, key, which), sub in d.groupby(["setting_label", "metric", "label", "key", "which"],
                                                                sort=True):
        cells = []
        for fam, _ in GAMMA_COLUMNS:
            c = sub[sub["family"] == fam]
            if len(c):
                r = c.iloc[0]
                g = f"; γ_end {r['gamma_final']:.3g}" if math.isfinite(r["gamma_final"]) else ""
                cells.append(f"{pm(r['mean'], r['sem'])} (n={int(r['n'])}{g})")
            else:
                cells.append("—")
        rows.append({"setting": setting, "metric": f"{label} {arrow(metric)} ({key.tag(metric)})", "which": which,
                     "cells": cells})
    return rows


def frame_table(frame: pd.DataFrame, max_rows: int = 200) -> dict:
    """Any frame as header + rows of formatted strings (the theory CSV, whose columns are not fixed)."""
    frame = frame.head(max_rows)
    return {"header": [str(c) for c in frame.columns],
            "rows": [[num(v) if isinstance(v, float) else str(v) for v in row]
                     for row in frame.itertuples(index=False)]}


def progress_lines(runs: list[Run], families: tuple[str, ...] | None = None,
                   settings: dict | None = None) -> list[str]:
    """"digits · SN: 3/5 cells done" per dataset and family (restricted to the Table 1 setting if given)."""
    lines = []
    for dataset in sorted({r.dataset for r in runs}, key=dataset_rank):
        setting = settings.get(dataset) if settings else None
        fams = sorted({r.family for r in runs if r.dataset == dataset and (families is None or r.family in families)},
                      key=family_rank)
        parts = []
        for f in fams:
            if setting:
                done, total, _ = progress(runs, dataset, setting, f)
            else:
                sel = [r for r in runs if r.dataset == dataset and r.family == f]
                done, total = sum(r.done for r in sel), len(sel)
            if total:
                parts.append(f"{f}: {done}/{total} cells done")
        if parts:
            lines.append(f"{dataset_label(dataset)} — " + ", ".join(parts))
    return lines


def variant_names(variants: list[tuple[str, float]]) -> str:
    return ", ".join(variant_label(f, s) for f, s in variants)
