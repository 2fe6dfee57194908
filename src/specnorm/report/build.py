"""Build the report: read every run, write the tidy tables, draw the figures, render ``index.html``.

The page is self-contained (figures and samples embedded as base64 PNG, inline CSS, no scripts, no
external URLs) and written atomically, so it can be regenerated while cells are still running.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from specnorm.io import atomic_write_text
from specnorm.layout import INDEX, REPORT, RESULTS, Results
from specnorm.provenance import git_commit, versions
from specnorm.report import aggregate as agg
from specnorm.report import claims as cl
from specnorm.report import figures as fg
from specnorm.report import paper, views
from specnorm.report.runs import Run, collect, read_complete_csv
from specnorm.report.scores import run_scores
from specnorm.report.variants import variant_label

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Paths:
    """Where the report reads from and writes to (``specnorm report`` defaults, :meth:`under`, in
    brackets: the :mod:`specnorm.layout` of ``results/``)."""

    runs: Path  # [results/runs]
    cells: Path | None  # [results/cells]: the pipeline's planned cells
    theory: Path | None  # [results/theory/theory-full.csv, else theory-quick.csv, else theory.csv]
    tables: Path  # [results/tables]
    out: Path  # [report]: index.html and figures/
    failed: frozenset[str] = frozenset()  # cells whose job ended in error (docs/pipeline.md#partial-reports)
    unfinished: frozenset[str] = frozenset()  # cells a stopped run left unfinished: never started or interrupted
    real: Path | None = None  # [results/real]: Table 1's Real-data scores (None: beside ``runs``)

    @classmethod
    def under(cls, results: str | Path = RESULTS, out: str | Path = REPORT, **given: Any) -> "Paths":
        """The layout's paths under ``results`` (``given`` replaces any of them)."""
        layout = Results(results)
        paths = {"runs": layout.runs, "cells": layout.cells, "theory": layout.latest_theory(),
                 "tables": layout.tables, "real": layout.real_dir, **given}
        return cls(out=Path(out), **paths)


@dataclass
class Built:
    """What :func:`build` produced."""

    index: Path
    tables: list[Path]
    figures: list[str]
    counts: dict[str, int]
    claims: list[cl.Claim] = field(default_factory=list)


def _sample(runs: list[Run], dataset: str, setting: str | None, fam: str, scale: float) -> dict | None:
    """The newest decodable sample grid of the lowest-seed run of a variant (finished runs first)."""
    cands = sorted((r for r in runs if r.dataset == dataset and r.setting == setting and r.family == fam
                    and r.scale == scale and r.path is not None), key=lambda r: (not r.done, r.seed))
    for r in cands:
        path = r.latest_sample()
        if path is not None:
            return {"variant": variant_label(fam, scale), "run": r.name, "seed": r.seed,
                    "state": r.state, "image": path.name,
                    "b64": base64.b64encode(path.read_bytes()).decode("ascii")}
    return None


def _provenance(inv: pd.DataFrame) -> dict[str, Any]:
    started = inv[~inv["state"].isin(("planned", "unfinished"))] if len(inv) else inv

    def counts(col: str) -> list[tuple[str, int]]:
        if started.empty:
            return []
        vc = started[col].fillna("—").replace("", "—").value_counts()
        return [(str(k), int(v)) for k, v in vc.items()]

    wall = pd.to_numeric(started.get("wall_time_s", pd.Series(dtype=float)), errors="coerce").fillna(0.0)
    on_gpu = started.get("device", pd.Series(dtype=str)).fillna("").str.startswith("cuda")
    return {
        "report_commit": git_commit(), "report_versions": versions("torch", "numpy", "scipy", "pandas", "matplotlib", "jinja2", "clean-fid"),
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commits": counts("git_commit"), "versions": counts("versions"), "devices": counts("device"),
        "gpu_hours": float(wall[on_gpu].sum() / 3600) if len(wall) else 0.0,
        "cpu_hours": float(wall[~on_gpu].sum() / 3600) if len(wall) else 0.0,
    }


def _inventory_rows(inv: pd.DataFrame) -> list[dict]:
    rows = []
    for _, r in inv.iterrows():
        wall = r["wall_time_s"]
        rows.append({"run": r["run"], "state": r["state"], "dataset": views.ds_label(r["dataset"]),
                     "variant": r["variant"], "seed": r["seed"], "setting": r["setting_label"],
                     "progress": f"{r['iterations_done']}/{r['iterations']}",
                     "wall": f"{wall / 60:.1f} min" if isinstance(wall, (int, float)) and math.isfinite(wall) else "—",
                     "device": r["device"] or "—", "commit": str(r["git_commit"] or "—")[:12],
                     "digest": r["config_digest"], "notes": r["notes"]})
    return rows


def _dataset_section(runs: list[Run], t: dict[str, pd.DataFrame], dataset: str, setting: str,
                     fig_dir: Path) -> dict[str, Any]:
    """Everything the page shows for one dataset in its Table 1 setting: figures, tables, samples."""
    gs, cv, an, tl = t["group_scores"], t["curves"], t["analysis"], t["train_log"]
    variants = agg.featured(gs, t["table1"], dataset, setting)
    g = gs[(gs["dataset"] == dataset) & (gs["setting"] == setting)]
    return {
        "dataset": dataset, "label": views.ds_label(dataset), "variants": views.variant_names(variants),
        "setting": next(r.setting_label for r in runs if r.setting == setting),
        "sweep": fg.sweep(g, dataset, fig_dir), "sweep_tables": views.sweep_tables(g, dataset),
        "curves": fg.curves(cv[(cv["dataset"] == dataset) & (cv["setting"] == setting)], dataset, variants, fig_dir),
        "grad_eff": fg.grad_norms(an, dataset, variants, fig_dir, "grad_norm_eff"),
        "grad_raw": fg.grad_norms(an, dataset, variants, fig_dir, "grad_norm_raw"),
        "variance": fg.variances(an, dataset, variants, fig_dir),
        "sigma": fg.sigma_ratio(an, dataset, variants, fig_dir),
        "input_grad": fg.input_grads(tl, dataset, variants, fig_dir),
        "samples": [s for f, sc in variants if (s := _sample(runs, dataset, setting, f, sc)) is not None],
        "hparams": views.hparam_rows(t["hparams"], dataset), "gamma": views.gamma_rows(t["gamma"], dataset),
    }


def _prune(fig_dir: Path, keys: set[str]) -> None:
    """Remove figures of an earlier build that this build no longer draws (their data are gone)."""
    for path in list(fig_dir.glob("*.png")) + list(fig_dir.glob("*.svg")):
        if path.stem not in keys:
            path.unlink(missing_ok=True)


def build(paths: Paths) -> Built:
    """Aggregate every run under ``paths.runs`` into ``paths.tables`` and render ``paths.out/index.html``."""
    runs, unreadable = collect(paths.runs, paths.cells)
    for r in runs:  # the pipeline's lists: a job that ended in error, or a run stopped before the cell finished
        if r.name in paths.failed and not r.done:
            r.state = "failed"
        elif r.name in paths.unfinished and not r.done:
            r.state = "unfinished"
    done = {r.name for r in runs if r.done}
    failed = sorted(set(paths.failed) - done)
    unfinished = sorted(set(paths.unfinished) - done - set(failed))
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    settings = agg.table1_settings(runs)
    real = agg.real_scores(paths.real or Results(paths.runs.parent).real_dir)  # specnorm score --real (Table 1's Real-data row)
    t1, columns = agg.table1(runs, scores, gs, settings, real)
    t = {"runs": agg.inventory(runs), "scores": scores, "group_scores": gs, "table1": t1, "curves": agg.curves(runs),
         "analysis": agg.analysis(runs, settings), "grad_ratio": agg.grad_ratios(runs, settings),
         "train_log": agg.train_log(runs, settings), "hparams": agg.hparams(gs), "gamma": agg.gamma_table(runs, gs)}
    claims = cl.checklist(runs, gs, t1, t["hparams"], t["curves"], t["analysis"], settings)
    t["claims"] = cl.to_frame(claims)
    written = [paths.tables / f"{name}.csv" for name in t]
    for name, path in zip(t, written):
        agg.write_csv(t[name], path)

    fig_dir = paths.out / "figures"
    sections = [_dataset_section(runs, t, d, s, fig_dir) for d, s in settings.items() if s is not None]
    ratio_fig = fg.grad_ratio(t["grad_ratio"], fig_dir)
    figs = [f.key for d in sections for f in (d["sweep"], d["curves"], d["grad_eff"], d["grad_raw"], d["variance"],
                                              d["sigma"], d["input_grad"]) if f is not None]
    figs += [ratio_fig.key] if ratio_fig else []
    if fig_dir.is_dir():
        _prune(fig_dir, set(figs))

    theory = read_complete_csv(paths.theory)[0] if paths.theory else pd.DataFrame()
    counts = {s: sum(r.state == s for r in runs) for s in ("completed", "diverged", "running", "planned")}
    counts["unreadable"] = len(unreadable)
    counts["failed"] = len(failed)
    counts["unfinished"] = len(unfinished)
    context = {
        "counts": counts,
        "table1": views.table1_views(t1, columns), "paper_table": views.paper_table(),
        "paper_protocol": paper.PAPER_PROTOCOL,
        "no_table1": [views.ds_label(d) for d, s in settings.items() if s is None],
        "datasets": sections, "ratio_fig": ratio_fig,
        "theory": views.frame_table(theory) if len(theory) else None,
        "theory_path": str(paths.theory) if paths.theory else "",
        "claims": claims,
        "claim_counts": {s: sum(c.status == s for c in claims) for s in (cl.REPRODUCED, cl.NOT_REPRODUCED, cl.NOT_RUN)},
        "progress_all": views.progress_lines(runs),
        "progress_t1": views.progress_lines(runs, ("SN", "BSN"), settings),
        "progress_sweeps": views.progress_lines(runs, ("SN", "BSN", "SN_Conv", "LeCun"), settings),
        "progress_gamma": views.progress_lines(runs, ("SN+γ(same)", "SN+γ(diff)")),
        "inventory": _inventory_rows(t["runs"]), "unreadable": [(str(u.path), u.reason) for u in unreadable],
        "failed": failed,
        "provenance": _provenance(t["runs"]),
        "tables_dir": str(paths.tables), "figures_dir": str(fig_dir),
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    index = paths.out / INDEX
    atomic_write_text(index, env.get_template("index.html.j2").render(**context))
    return Built(index, written, figs, counts, claims)
