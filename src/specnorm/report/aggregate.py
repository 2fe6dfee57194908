"""Tidy tables aggregated over seeds from every run (``results/tables/*.csv``).

Seeds of one cell are the runs whose resolved configs differ only in ``train.seed``; statistics are
mean ± s.e.m. across them (Table 1 caption). Table 1 follows docs/design.md#table1-scale-rule: SN and BSN are the
s = 1 cells; SSN (BSSN) is the best scale of the SN (BSN) sweep, which includes s = 1, chosen by the
best mean separately for every metric column and for each of the two variants, "best during
training" (per run, each metric's own best: :mod:`specnorm.report.scores`) and "final".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from specnorm.catalog import resolve_extractor
from specnorm.io import atomic_write_text
from specnorm.report import paper
from specnorm.report.runs import Run
from specnorm.report.scores import flat, keyed, protocol_text, with_key
from specnorm.report.stats import better, grouped_mean_sem, mean_sem, welch_p
from specnorm.report.variants import family_rank, learned_gamma
from specnorm.scores import ProtocolKey, ScoreRecord
from specnorm.vocab import (BSN, HIGHER_IS_BETTER, LECUN, METRIC_INFO, METRICS, REAL_DATA, SCALED, SN, SN_CONV,
                            metric_label, variant_label)

KEYS = ["dataset", "setting", "family", "scale"]
TABLE1_FAMILIES = {family: (family, scaled) for scaled, family in SCALED.items()}
"""Table 1's families and their rows: SN (s = 1) and SSN (its sweep's best s); BSN and BSSN."""
ANALYSIS_QUANTITIES = ("grad_norm_raw", "grad_norm_eff", "var_eff", "bound_sn", "bound_bsn", "sigma_w", "sigma_conv",
                       "sigma_used", "sigma_ratio")
TRAIN_QUANTITIES = ("loss_d", "loss_g", "d_real", "d_fake", "gp", "grad_x_real_mean", "grad_x_fake_mean")
HP_KEYS = ["dataset", "setting", "setting_label", "metric", "label", "key", "which"]
INVENTORY_COLUMNS = ["run", "state", "dataset", "family", "scale", "variant", "seed", "setting_label", "setting",
                     "group", "config_digest", "iterations", "iterations_done", "diverged_at", "reason", "wall_time_s",
                     "it_per_s", "device", "git_commit", "versions", "has_scores_json", "notes", "path"]
MAX_POINTS = 50  # iterations kept per cell in the analysis / training-log tables (evenly spaced)


# -- helpers ---------------------------------------------------------------------------------------
def thin(iterations: Any, count: int = MAX_POINTS) -> list[int]:
    """At most ``count`` evenly spaced values of the sorted unique ``iterations`` (first and last kept)."""
    its = sorted({int(i) for i in iterations})
    if len(its) <= count:
        return its
    return [its[i] for i in sorted(set(np.linspace(0, len(its) - 1, count).round().astype(int)))]


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write atomically (specnorm.io): readers never see half a table; a ``key`` column becomes the
    protocol key's fields (:func:`specnorm.report.scores.flat`)."""
    atomic_write_text(path, flat(table).to_csv(index=False))


def _thin_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` at ≤ MAX_POINTS evenly spaced iterations per cell (:func:`thin`)."""
    kept = pd.DataFrame([(*key, it) for key, sub in df.groupby(KEYS) for it in thin(sub["iteration"])],
                        columns=[*KEYS, "iteration"]).astype({"iteration": df["iteration"].dtype})
    return df.merge(kept, on=[*KEYS, "iteration"])


def progress(runs: list[Run], dataset: str, setting: str, fam: str,
             scale: float | None = None) -> tuple[int, int, int]:
    """``(done, total, diverged)`` cells of a family (one scale, or its whole sweep when ``scale`` is None)."""
    sel = [r for r in runs if r.dataset == dataset and r.setting == setting and r.family == fam
           and (scale is None or r.scale == scale)]
    return sum(r.done for r in sel), len(sel), sum(r.state == "diverged" for r in sel)


# -- seeds → cells -------------------------------------------------------------------------------
def group_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean ± s.e.m. over seeds of the preferred score rows, per cell × metric × key × which; with
    the per-seed ``values`` and their ``seeds`` as lists."""
    cols = [*KEYS, "setting_label", "metric", "label", "key", "which"]
    if scores.empty:
        return pd.DataFrame(columns=[*cols, "mean", "sem", "n", "values", "seeds"])
    pref = scores[scores["preferred"]]
    rows = []
    for group, sub in pref.groupby(cols, sort=False, dropna=False):
        mean, sem, n = mean_sem(sub["value"].tolist())
        rows.append({**dict(zip(cols, group)), "mean": mean, "sem": sem, "n": n,
                     "values": [float(v) for v in sub["value"]], "seeds": [int(x) for x in sub["seed"]]})
    return pd.DataFrame(rows)


# -- Table 1 ---------------------------------------------------------------------------------------
def dataset_rank(dataset: str) -> tuple[int, str]:
    """Table 1's column order (CIFAR10, STL10, CelebA, ILSVRC2012), then other datasets by name."""
    order = list(paper.TABLE1_METRICS)
    return (order.index(dataset) if dataset in order else len(order), dataset)


def table1_settings(runs: list[Run]) -> dict[str, str | None]:
    """The setting of Table 1 per dataset: the paper's hyper-parameters (docs/design.md#table1-scale-rule) for its
    datasets (None when no SN/BSN cell has them), else the setting with the most SN/BSN cells."""
    out: dict[str, str | None] = {}
    for dataset in sorted({r.dataset for r in runs}, key=dataset_rank):
        cand = [r for r in runs if r.dataset == dataset and r.family in TABLE1_FAMILIES]
        want = paper.DEFAULT_SETTINGS.get(dataset)
        if want is not None:
            cand = [r for r in cand if all(math.isclose(float(r.config[k]), v) for k, v in want.items())]
        counts: dict[str, int] = {}
        for r in cand:
            counts[r.setting] = counts.get(r.setting, 0) + 1
        out[dataset] = min(counts, key=lambda s: (-counts[s], s)) if counts else None
    return out


@dataclass(frozen=True)
class Column:
    """One Table 1 column: a dataset × metric × protocol key (None: no finished run has scores yet),
    with the note saying how its numbers were obtained."""

    dataset: str
    metric: str
    label: str
    key: ProtocolKey | None
    note: str

    @property
    def header(self) -> str:
        """The protocol tag under the column's label: ``paper, 10000 vs 5000``."""
        return self.key.tag(self.metric) if self.key is not None else "no scores yet"


def _pick_best(cands: pd.DataFrame, metric: str) -> pd.Series | None:
    cands = cands[cands["n"] > 0]
    if cands.empty:
        return None
    order = cands.sort_values(["mean", "scale"], ascending=[not HIGHER_IS_BETTER[metric], True])
    return order.iloc[0]


@dataclass(frozen=True)
class RealScore:
    """One score of ``specnorm score --real``: real images of ``dataset`` (``n_dataset`` of them)
    scored like a generator against other real images (docs/deviations.md P5); ``column`` is the key
    of the generator column it stands beside (its own key says what was really compared)."""

    dataset: str
    n_dataset: int | None
    record: ScoreRecord
    column: ProtocolKey
    images: str = ""


def real_scores(real_dir: Path) -> list[RealScore]:
    """The Real-data scores of ``specnorm score --real`` (``results/real/<dataset>-<protocol>.json``),
    read through :class:`ScoreRecord`; a file that is not readable as such, or an older one without
    the ``column`` of each score (its FID could be real images against themselves), is skipped."""
    out: list[RealScore] = []
    for path in sorted(Path(real_dir).glob("*.json")) if real_dir is not None else ():
        try:
            data = json.loads(path.read_text())
            n_dataset = data["protocol"].get("n_dataset")
            out += [RealScore(data["dataset"], n_dataset, ScoreRecord.from_row(s), ProtocolKey.from_row(s["column"]),
                              str(s.get("images", ""))) for s in data["scores"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return out


def real_score(real: list[RealScore], col: Column) -> RealScore | None:
    """The Real-data score of a column: same dataset and metric, recorded for the column's key."""
    for real_score in real:
        if col.key is not None and (real_score.dataset, real_score.record.metric, real_score.column) == (
                col.dataset, col.metric, col.key) and math.isfinite(real_score.record.value):
            return real_score
    return None


def table1(runs: list[Run], scores: pd.DataFrame, grouped: pd.DataFrame, settings: dict[str, str | None],
           real: list[RealScore] | None = None) -> tuple[pd.DataFrame, list[Column]]:
    """Long Table 1: one row per (column, variant best/final, row); plus the column descriptions. The
    columns: the paper's (:data:`~specnorm.report.paper.TABLE1_METRICS`), then ours (``TABLE1_ADDED``: recall).

    The Real-data row shows ``real`` (:func:`real_scores`, real images scored under the column's
    protocol, docs/deviations.md P5) where one matches the column, else stays empty; the paper's
    value is shown beside it.
    """
    rows: list[dict] = []
    columns: list[Column] = []
    for dataset, setting in settings.items():
        if setting is None:
            continue
        cells = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == setting)]
        runs_scores = scores[(scores["dataset"] == dataset) & (scores["setting"] == setting) & scores["preferred"]
                             & scores["family"].isin(list(TABLE1_FAMILIES))]
        for metric in (*paper.TABLE1_METRICS.get(dataset, ("is", "fid")), *paper.TABLE1_ADDED):
            found = [Column(dataset, metric, under_key.iloc[0]["label"], key, protocol_text(under_key))
                     for key, under_key in runs_scores[runs_scores["metric"] == metric].groupby("key", sort=True)]
            for column in found or [_pending_column(runs, dataset, setting, metric)]:
                columns.append(column)
                for which in ("best", "final"):
                    rows += _table1_column(runs, cells, column, which, setting, real or [])
    names = ["dataset", "metric", "label", "key", "which", "row", "mean", "sem", "n", "scale", "n_scales",
             "done", "total", "diverged", "paper_mean", "paper_sem", "diff", "welch_p_bsn_vs_sn", "real_protocol"]
    return pd.DataFrame(rows, columns=names), columns


def _real_words(found: RealScore | None) -> str:
    """What a Real-data cell compared, in words: ``digits-train-split-complement(898,seed=0) vs
    digits-train-split(899,seed=0)`` (FID/KID) or the images IS scored."""
    if found is None:
        return ""
    key = found.record.key
    return f"{found.images} vs {key.reference}" if METRIC_INFO[found.record.metric].reference else found.images


def _pending_column(runs: list[Run], dataset: str, setting: str, metric: str) -> Column:
    """A column whose cells have no scores yet: it shows the paper's numbers and the cells' progress."""
    cfg = next(r.config for r in runs if r.dataset == dataset and r.setting == setting)
    label = metric_label(metric, resolve_extractor(cfg["eval.extractor"], dataset))
    return Column(dataset, metric, label, None,
                  f"{label}: no finished run has scores yet (protocol {cfg['eval.protocol']}).")


def _table1_column(runs: list[Run], cells: pd.DataFrame, col: Column, which: str, setting: str,
                   real: list[RealScore]) -> list[dict]:
    g = cells[(cells["metric"] == col.metric) & with_key(cells, col.key) & (cells["which"] == which)]
    base = {"dataset": col.dataset, "metric": col.metric, "label": col.label, "key": col.key, "which": which}
    found = real_score(real, col)
    real_value = found.record.value if found is not None else math.nan
    out = [{**base, "row": REAL_DATA, "mean": real_value, "sem": math.nan, "n": int(not math.isnan(real_value)),
            "scale": math.nan, "n_scales": 0, "done": 0, "total": 0, "diverged": 0,
            "real_protocol": _real_words(found)}]
    picked: dict[str, pd.Series | None] = {}
    for fam, (plain, scaled) in TABLE1_FAMILIES.items():
        sweep = g[g["family"] == fam]
        one = sweep[sweep["scale"] == 1.0]
        picked[plain] = one.iloc[0] if len(one) else None
        picked[scaled] = _pick_best(sweep, col.metric)
        for name, scale in ((plain, 1.0), (scaled, None)):
            row = picked[name]
            done, total, diverged = progress(runs, col.dataset, setting, fam, scale)
            out.append({**base, "row": name, "mean": row["mean"] if row is not None else math.nan,
                        "sem": row["sem"] if row is not None else math.nan,
                        "n": int(row["n"]) if row is not None else 0,
                        "scale": row["scale"] if row is not None else math.nan,
                        "n_scales": int(sweep["scale"].nunique()) if scale is None else 1,
                        "done": done, "total": total, "diverged": diverged})
    p = welch_p(picked[BSN]["values"], picked[SN]["values"]) \
        if picked[SN] is not None and picked[BSN] is not None else math.nan
    for row in out:
        pv = paper.paper_value(col.dataset, col.metric, row["row"])
        row["paper_mean"] = pv[0] if pv else math.nan
        row["paper_sem"] = pv[1] if pv and pv[1] is not None else math.nan
        row["diff"] = row["mean"] - row["paper_mean"]
        row["welch_p_bsn_vs_sn"] = p if row["row"] == BSN else math.nan
    return out


# -- sweeps, curves, featured variants -------------------------------------------------------------
def featured(grouped: pd.DataFrame, table1_rows: pd.DataFrame, dataset: str, setting: str) -> list[tuple[str, float]]:
    """The variants shown in the per-variant figures of a dataset: every family at s = 1, SN_Conv at the
    scale closest to 1.75 (Figs. 4–6), the SSN/BSSN scales Table 1 chose, and LeCun's best scale."""
    g = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == setting)]
    present = set(zip(g["family"], g["scale"]))
    out = {(f, s) for f, s in present if s == 1.0}
    conv = [s for f, s in present if f == SN_CONV and s != 1.0]
    if conv:
        out.add((SN_CONV, min(conv, key=lambda s: (abs(s - paper.SN_CONV_FIX_SCALE), s))))
    chosen = table1_rows[(table1_rows["dataset"] == dataset) & table1_rows["row"].isin(list(SCALED))
                         & table1_rows["scale"].notna()]
    for row, s in zip(chosen["row"], chosen["scale"]):
        out.add((SCALED[row], float(s)))
    lecun = g[(g["family"] == LECUN) & (g["which"] == "best")]
    for metric in ("is", "fid"):
        best = _pick_best(lecun[lecun["metric"] == metric], metric)
        if best is not None:
            out.add((LECUN, float(best["scale"])))
            break
    return sorted(out & present, key=lambda fs: (family_rank(fs[0]), fs[1]))


def curves(runs: list[Run]) -> pd.DataFrame:
    """IS/FID/KID vs iteration (metrics.csv of finished runs), mean ± s.e.m. over seeds (Figs. 4, 9)."""
    frames = []
    for run in runs:
        df = run.metrics
        if not run.done or df.empty or not {"metric", "value", "iteration"} <= set(df.columns):
            continue
        df = keyed(df[df["metric"].isin(METRICS)])
        frames.append(df.assign(dataset=run.dataset, setting=run.setting, family=run.family, scale=run.scale,
                                seed=run.seed)[[*KEYS, "seed", "metric", "label", "key", "iteration", "value"]])
    cols = [*KEYS, "metric", "label", "key", "iteration", "mean", "sem", "n"]
    if not frames:
        return pd.DataFrame(columns=cols)
    # one value per seed and iteration (the official code evaluates twice at 100k multiples: docs/deviations.md T4)
    keys = [*KEYS, "metric", "label", "key", "iteration"]
    per_seed = pd.concat(frames).groupby([*keys, "seed"], as_index=False)["value"].mean()
    return grouped_mean_sem(per_seed, keys)[cols]


# -- analysis.csv ---------------------------------------------------------------------------------
def _analysis_frame(run: Run) -> pd.DataFrame:
    df = run.analysis
    if df.empty or not {"iteration", "layer"} <= set(df.columns):
        return pd.DataFrame()
    order = {name: i for i, name in enumerate(dict.fromkeys(df["layer"]))}
    if {"sigma_conv", "sigma_w"} <= set(df.columns):
        df = df.assign(sigma_ratio=df["sigma_conv"] / df["sigma_w"])  # ‖w̃‖/‖ŵ‖, App. L.3
    return df.assign(layer_index=df["layer"].map(order), dataset=run.dataset, setting=run.setting,
                     family=run.family, scale=run.scale, seed=run.seed, run=run.name)


def analysis(runs: list[Run], settings: dict[str, str | None]) -> pd.DataFrame:
    """Per-layer analysis quantities (analysis.csv, docs/design.md#analysis-quantities) of the Table 1 setting's
    finished runs, long format, mean ± s.e.m. over seeds, at ≤ MAX_POINTS iterations per cell."""
    frames = [_analysis_frame(r) for r in runs if r.done and settings.get(r.dataset) == r.setting]
    frames = [f for f in frames if not f.empty]
    cols = [*KEYS, "layer", "layer_index", "kind", "m", "n_dim", "iteration", "quantity", "mean", "sem", "n"]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = pd.concat(frames, ignore_index=True).rename(columns={"n": "n_dim"})
    for k in ("kind", "m", "n_dim"):
        if k not in df:
            df[k] = None
    df = _thin_rows(df)
    quantities = [q for q in ANALYSIS_QUANTITIES if q in df]
    long = df.melt(id_vars=[*KEYS, "layer", "layer_index", "kind", "m", "n_dim", "iteration", "seed"],
                   value_vars=quantities, var_name="quantity")
    return grouped_mean_sem(long, [*KEYS, "layer", "layer_index", "kind", "m", "n_dim", "iteration", "quantity"])[cols]


def grad_ratios(runs: list[Run], settings: dict[str, str | None], max_iterations: int = 20) -> pd.DataFrame:
    """Fig. 3 points: for every pair of layers i < j of a finished run at ≤ ``max_iterations``
    iterations, ‖∇_{w_i}D‖/‖∇_{w_j}D‖ (gradients w.r.t. the effective weights, averaged over the
    analysis batch) against ‖w_j‖_sp/‖w_i‖_sp of the effective weights (σ_w/σ_used; s cancels).
    Learned-γ runs are left out (their per-layer γ would enter the ratio)."""
    cols = ["dataset", "run", "family", "scale", "iteration", "layer_i", "layer_j", "grad_ratio", "inv_sigma_ratio"]
    frames = []
    for run in runs:
        if not run.done or learned_gamma(run.family) or settings.get(run.dataset) != run.setting:
            continue
        df = _analysis_frame(run)
        if df.empty or not {"grad_norm_eff", "sigma_w"} <= set(df.columns):
            continue
        used = df["sigma_used"] if "sigma_used" in df else pd.Series(math.nan, index=df.index)
        df = df.assign(sp=df["sigma_w"] / used.where(used.notna() & (used > 0), 1.0))
        df = df[df["iteration"].isin(thin(df["iteration"], max_iterations))]
        df = df[["iteration", "layer", "layer_index", "grad_norm_eff", "sp"]]
        p = df.merge(df, on="iteration", suffixes=("_i", "_j"))
        p = p[(p["layer_index_i"] < p["layer_index_j"]) & (p["grad_norm_eff_j"] > 0) & (p["sp_i"] > 0)]
        frames.append(pd.DataFrame({
            "dataset": run.dataset, "run": run.name, "family": run.family, "scale": run.scale,
            "iteration": p["iteration"], "layer_i": p["layer_i"], "layer_j": p["layer_j"],
            "grad_ratio": p["grad_norm_eff_i"] / p["grad_norm_eff_j"], "inv_sigma_ratio": p["sp_j"] / p["sp_i"]}))
    return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)


# -- train_log.csv --------------------------------------------------------------------------------
def train_log(runs: list[Run], settings: dict[str, str | None]) -> pd.DataFrame:
    """Scalar training quantities (losses, D outputs, input-gradient norms) of the Table 1 setting's
    finished runs, mean ± s.e.m. over seeds at ≤ MAX_POINTS logged iterations per cell."""
    frames = []
    for run in runs:
        df = run.train_log
        if run.done and settings.get(run.dataset) == run.setting and "iteration" in df and len(df):
            q = [c for c in TRAIN_QUANTITIES if c in df]
            frames.append(df[["iteration", *q]].assign(dataset=run.dataset, setting=run.setting, family=run.family,
                                                        scale=run.scale, seed=run.seed))
    cols = [*KEYS, "iteration", "quantity", "mean", "sem", "n"]
    if not frames:
        return pd.DataFrame(columns=cols)
    df = _thin_rows(pd.concat(frames, ignore_index=True))
    long = df.melt(id_vars=[*KEYS, "iteration", "seed"], value_vars=[c for c in TRAIN_QUANTITIES if c in df],
                   var_name="quantity").dropna(subset=["value"])
    return grouped_mean_sem(long, [*KEYS, "iteration", "quantity"])[cols]


def final_gamma(run: Run) -> float:
    """Mean over layers of the learned γ's last logged value (``gamma/<layer>`` columns), NaN if none."""
    cols = [c for c in run.train_log.columns if c.startswith("gamma/")]
    if not cols:
        return math.nan
    last = run.train_log[cols].dropna(how="all")
    return float(last.iloc[-1].mean()) if len(last) else math.nan


# -- App. N and learned γ -------------------------------------------------------------------------
def hparams(grouped: pd.DataFrame) -> pd.DataFrame:
    """App. N: SN vs BSN (both s = 1) in every setting, per metric × protocol key × which, with Welch's p."""
    rows = []
    for group, sub in grouped[grouped["scale"] == 1.0].groupby(HP_KEYS, sort=True):
        sn, bsn = sub[sub["family"] == SN], sub[sub["family"] == BSN]
        if sn.empty and bsn.empty:
            continue
        r = dict(zip(HP_KEYS, group))
        for name, part in (("sn", sn), ("bsn", bsn)):
            r[f"{name}_mean"] = part["mean"].iloc[0] if len(part) else math.nan
            r[f"{name}_sem"] = part["sem"].iloc[0] if len(part) else math.nan
            r[f"{name}_n"] = int(part["n"].iloc[0]) if len(part) else 0
        r["welch_p"] = welch_p(bsn["values"].iloc[0], sn["values"].iloc[0]) if len(sn) and len(bsn) else math.nan
        both = len(sn) and len(bsn)
        r["bsn_better"] = better(r["metric"], r["bsn_mean"], r["sn_mean"]) if both else None
        rows.append(r)
    return pd.DataFrame(rows, columns=[*HP_KEYS, "sn_mean", "sn_sem", "sn_n", "bsn_mean", "bsn_sem", "bsn_n",
                                       "welch_p", "bsn_better"])


def gamma_table(runs: list[Run], grouped: pd.DataFrame) -> pd.DataFrame:
    """Learned γ (official same_gamma / diff_gamma, WGAN-GP) beside SN and BSN at s = 1 in the settings
    where a learned-γ cell exists; with the mean learned γ at the end of training."""
    gamma = grouped["family"].map(learned_gamma).astype(bool)
    gam = grouped[gamma & (grouped["scale"] == 1.0)]
    settings = set(zip(gam["dataset"], gam["setting"]))
    in_setting = np.array([(d, s) in settings for d, s in zip(grouped["dataset"], grouped["setting"])], dtype=bool)
    sel = grouped[in_setting & (grouped["scale"] == 1.0) & (grouped["family"].isin([SN, BSN]) | gamma)]
    gamma_end: dict[tuple, list[float]] = {}
    for run in runs:
        if run.done and learned_gamma(run.family):
            gamma_end.setdefault((run.dataset, run.setting, run.family), []).append(final_gamma(run))
    out = sel.copy()
    out["gamma_final"] = [mean_sem(gamma_end.get((d, s, f), []))[0]
                          for d, s, f in zip(out["dataset"], out["setting"], out["family"])]
    return out.sort_values(["dataset", "setting_label", "metric", "which"], kind="stable").reset_index(drop=True)


# -- inventory -------------------------------------------------------------------------------------
def inventory(runs: list[Run]) -> pd.DataFrame:
    """One row per cell: identity, state, progress and provenance (commit, versions, device, time)."""
    rows = []
    for r in runs:
        s = r.summary or {}
        versions = s.get("versions") if isinstance(s.get("versions"), dict) else {}
        rows.append({"run": r.name, "state": r.state, "dataset": r.dataset, "family": r.family, "scale": r.scale,
                     "variant": variant_label(r.family, r.scale), "seed": r.seed, "setting_label": r.setting_label,
                     "setting": r.setting, "group": r.group, "config_digest": r.digest,
                     "iterations": r.config["train.iterations"], "iterations_done": r.iterations_done,
                     "diverged_at": s.get("diverged_at"), "reason": s.get("reason"),
                     "wall_time_s": s.get("wall_time_s"), "it_per_s": s.get("it_per_s"),
                     "device": s.get("device"), "git_commit": s.get("git_commit"),
                     "versions": "; ".join(f"{k} {v}" for k, v in sorted(versions.items())),
                     "has_scores_json": r.scores is not None, "notes": "; ".join(r.notes),
                     "path": str(r.path) if r.path else ""})
    return pd.DataFrame(rows, columns=INVENTORY_COLUMNS)
