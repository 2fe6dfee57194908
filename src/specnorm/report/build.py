"""Build the report: read every run, write the tidy tables, draw the figures, render ``index.html``.

The page is self-contained (figures and samples embedded as base64 PNG, inline CSS, no scripts, no
external URLs) and written atomically, so it can be regenerated while cells are still running.
"""

from __future__ import annotations

import base64
import datetime
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from specnorm.catalog import DATASETS
from specnorm.io import atomic_write_text
from specnorm.layout import INDEX, REPORT, RESULTS, Results
from specnorm.provenance import git_commit, versions
from specnorm.report import aggregate, claims, figures, paper, views
from specnorm.report.runs import Run, collect
from specnorm.report.scores import run_scores
from specnorm.rundir import read_complete_csv
from specnorm.scores import ProtocolKey
from specnorm.vocab import BSN, GAMMA_FAMILIES, LECUN, SN, SN_CONV, variant_label

TEMPLATES = Path(__file__).parent / "templates"
SECTION_FIGURES = ("sweep", "sweep_prdc", "curves", "curves_prdc", "grad_eff", "grad_raw", "variance", "sigma",
                   "input_grad")
"""The figures of a dataset's section (:func:`_dataset_section`)."""


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
    claims: list[claims.Claim] = field(default_factory=list)


def _sample(runs: list[Run], dataset: str, setting: str | None, family: str, scale: float) -> dict | None:
    """The newest decodable sample grid of the lowest-seed run of a variant (finished runs first)."""
    candidates = sorted((run for run in runs if run.dataset == dataset and run.setting == setting
                         and run.family == family and run.scale == scale and run.path is not None),
                        key=lambda run: (not run.done, run.seed))
    for run in candidates:
        path = run.latest_sample()
        if path is not None:
            grey = dataset in DATASETS and DATASETS[dataset].grey
            return {"variant": variant_label(family, scale), "run": run.name, "seed": run.seed,
                    "state": run.state, "image": path.name, "grey": grey,
                    "b64": base64.b64encode(_in_dataset_channels(path.read_bytes(), grey)).decode("ascii")}
    return None


def _in_dataset_channels(png: bytes, grey: bool) -> bytes:
    """A sample grid as the dataset's images look: a grey dataset's grid (G has three output channels
    even when the data are grey replicated) as one grey channel, the mean of the three; else unchanged."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        if not grey or img.mode == "L":
            return png
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
        out = io.BytesIO()
        Image.fromarray(np.round(rgb.mean(axis=2)).astype(np.uint8), mode="L").save(out, format="PNG")
        return out.getvalue()


def _provenance(inventory: pd.DataFrame) -> dict[str, Any]:
    started = inventory[~inventory["state"].isin(("planned", "unfinished"))] if len(inventory) else inventory

    def counts(column: str) -> list[tuple[str, int]]:
        if started.empty:
            return []
        tally = started[column].fillna("—").replace("", "—").value_counts()
        return [(str(value), int(n)) for value, n in tally.items()]

    wall = pd.to_numeric(started.get("wall_time_s", pd.Series(dtype=float)), errors="coerce").fillna(0.0)
    on_gpu = started.get("device", pd.Series(dtype=str)).fillna("").str.startswith("cuda")
    return {
        "report_commit": git_commit(),
        "report_versions": versions("torch", "numpy", "scipy", "pandas", "matplotlib", "jinja2", "clean-fid"),
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commits": counts("git_commit"), "versions": counts("versions"), "devices": counts("device"),
        "gpu_hours": float(wall[on_gpu].sum() / 3600) if len(wall) else 0.0,
        "cpu_hours": float(wall[~on_gpu].sum() / 3600) if len(wall) else 0.0,
    }


def _inventory_rows(inventory: pd.DataFrame) -> list[dict]:
    rows = []
    for _, row in inventory.iterrows():
        wall = row["wall_time_s"]
        rows.append({"run": row["run"], "state": row["state"], "dataset": paper.dataset_label(row["dataset"]),
                     "variant": row["variant"], "seed": row["seed"], "setting": row["setting_label"],
                     "progress": f"{row['iterations_done']}/{row['iterations']}",
                     "wall": f"{wall / 60:.1f} min" if isinstance(wall, (int, float)) and math.isfinite(wall) else "—",
                     "device": row["device"] or "—", "commit": str(row["git_commit"] or "—")[:12],
                     "digest": row["config_digest"], "notes": row["notes"]})
    return rows


def _dataset_section(runs: list[Run], tables: dict[str, pd.DataFrame], dataset: str, setting: str,
                     figure_dir: Path) -> dict[str, Any]:
    """Everything the page shows for one dataset in its Table 1 setting: figures, tables, samples."""
    grouped, analysis_means, train_log_means = tables["group_scores"], tables["analysis"], tables["train_log"]
    curve_means = tables["curves"]
    variants = aggregate.featured(grouped, tables["table1"], dataset, setting)
    cells = grouped[(grouped["dataset"] == dataset) & (grouped["setting"] == setting)]
    curves = curve_means[(curve_means["dataset"] == dataset) & (curve_means["setting"] == setting)]
    return {
        "dataset": dataset, "label": paper.dataset_label(dataset), "variants": views.variant_names(variants),
        "setting": next(r.setting_label for r in runs if r.setting == setting),
        "sweep": figures.sweep(cells, dataset, figure_dir), "sweep_tables": views.sweep_tables(cells, dataset),
        "sweep_prdc": figures.sweep(cells, dataset, figure_dir, manifold=True),
        "curves": figures.curves(curves, dataset, variants, figure_dir),
        "curves_prdc": figures.curves(curves, dataset, variants, figure_dir, manifold=True),
        "grad_eff": figures.grad_norms(analysis_means, dataset, variants, figure_dir, "grad_norm_eff"),
        "grad_raw": figures.grad_norms(analysis_means, dataset, variants, figure_dir, "grad_norm_raw"),
        "variance": figures.variances(analysis_means, dataset, variants, figure_dir),
        "sigma": figures.sigma_ratio(analysis_means, dataset, variants, figure_dir),
        "input_grad": figures.input_grads(train_log_means, dataset, variants, figure_dir),
        "samples": [sample for family, scale in variants
                    if (sample := _sample(runs, dataset, setting, family, scale)) is not None],
        "hparams": views.hparam_rows(tables["hparams"], dataset), "gamma": views.gamma_rows(tables["gamma"], dataset),
    }


def _prune(fig_dir: Path, keys: set[str]) -> None:
    """Remove figures of an earlier build that this build no longer draws (their data are gone)."""
    for path in list(fig_dir.glob("*.png")) + list(fig_dir.glob("*.svg")):
        if path.stem not in keys:
            path.unlink(missing_ok=True)


def build(paths: Paths) -> Built:
    """Aggregate every run under ``paths.runs`` into ``paths.tables`` and render ``paths.out/index.html``."""
    runs, unreadable = collect(paths.runs, paths.cells)
    for run in runs:  # the pipeline's lists: a job that ended in error, or a run stopped before the cell finished
        if run.done or run.held_by:  # finished, or still training in a live process (docs/pipeline.md)
            continue
        if run.name in paths.failed:
            run.state = "failed"
        elif run.name in paths.unfinished:
            run.state = "unfinished"
    settled = {run.name for run in runs if run.done or run.held_by}
    failed = sorted(set(paths.failed) - settled)
    unfinished = sorted(set(paths.unfinished) - settled - set(failed))
    scores = run_scores(runs)
    grouped = aggregate.group_scores(scores)
    settings = aggregate.table1_settings(runs)
    real = aggregate.real_scores(paths.real or Results(paths.runs.parent).real_dir)  # specnorm score --real (Table 1's Real-data row)
    table1_rows, columns = aggregate.table1(runs, scores, grouped, settings, real)
    tables = {"runs": aggregate.inventory(runs), "scores": scores, "group_scores": grouped, "table1": table1_rows,
              "curves": aggregate.curves(runs), "analysis": aggregate.analysis(runs, settings),
              "grad_ratio": aggregate.grad_ratios(runs, settings), "train_log": aggregate.train_log(runs, settings),
              "hparams": aggregate.hparams(grouped), "gamma": aggregate.gamma_table(runs, grouped)}
    verdicts = claims.checklist(runs, grouped, table1_rows, tables["hparams"], settings)
    tables["claims"] = claims.to_frame(verdicts)
    written = [paths.tables / f"{name}.csv" for name in tables]
    for name, path in zip(tables, written):
        aggregate.write_csv(tables[name], path)

    figure_dir = paths.out / "figures"
    sections = [_dataset_section(runs, tables, dataset, setting, figure_dir)
                for dataset, setting in settings.items() if setting is not None]
    ratio_figure = figures.grad_ratio(tables["grad_ratio"], figure_dir)
    drawn = [figure.key for section in sections for figure in (section[name] for name in SECTION_FIGURES)
             if figure is not None]
    drawn += [ratio_figure.key] if ratio_figure else []
    if figure_dir.is_dir():
        _prune(figure_dir, set(drawn))

    theory = read_complete_csv(paths.theory)[0] if paths.theory else pd.DataFrame()
    counts = {state: sum(run.state == state for run in runs)
              for state in ("completed", "diverged", "running", "planned")}
    counts["unreadable"] = len(unreadable)
    counts["failed"] = len(failed)
    counts["unfinished"] = len(unfinished)
    context = {
        "counts": counts,
        "table1": views.table1_views(table1_rows, columns), "paper_table": views.paper_table(),
        "best_final": views.best_final_note(scores), "alpha": f"{claims.ALPHA:g}",
        "paper_protocol": paper.PAPER_PROTOCOL,
        "no_table1": [paper.dataset_label(dataset) for dataset, setting in settings.items() if setting is None],
        "datasets": sections, "ratio_fig": ratio_figure,
        "theory": views.frame_table(theory) if len(theory) else None,
        "theory_path": str(paths.theory) if paths.theory else "",
        "claims": verdicts,
        "claim_counts": claims.counts(verdicts),
        "progress_all": views.progress_lines(runs),
        "progress_t1": views.progress_lines(runs, (SN, BSN), settings),
        "progress_sweeps": views.progress_lines(runs, (SN, BSN, SN_CONV, LECUN), settings),
        "progress_gamma": views.progress_lines(runs, GAMMA_FAMILIES),
        "gamma_columns": views.GAMMA_COLUMNS,
        "inventory": _inventory_rows(tables["runs"]), "unreadable": [(str(bad.path), bad.reason) for bad in unreadable],
        "failed": failed,
        "provenance": _provenance(tables["runs"]),
        "tables_dir": str(paths.tables), "figures_dir": str(figure_dir), "key_fields": ProtocolKey.NAMES,
    }
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    index = paths.out / INDEX
    atomic_write_text(index, env.get_template("index.html.j2").render(**context))
    return Built(index, written, drawn, counts, verdicts)
