"""The report's figures (matplotlib): written as PNG and SVG to ``report/figures/`` and embedded as PNG.

Every figure has labelled axes with units, a legend and, where seeds are averaged, error bars or
bands of ± one standard error of the mean; the marker says how many seeds a line averages (× one, ▲ two,
● three or more), so a single-seed line never passes for a mean. PNGs are rendered at ``DPI`` and shown
at ``CSS_DPI`` (capped at ``PAGE_PX``), and :func:`save` enlarges any text that would be displayed
smaller than ``MIN_TEXT_PX``. Axis labels use matplotlib mathtext; captions are HTML, so plain Unicode.
"""

from __future__ import annotations

import base64
import io
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from specnorm.io import atomic_write  # noqa: E402
from specnorm.report.paper import dataset_label  # noqa: E402
from specnorm.report.scores import with_key  # noqa: E402
from specnorm.report.variants import base_family, family_rank, learned_gamma  # noqa: E402
from specnorm.scores import ProtocolKey  # noqa: E402
from specnorm.report.views import arrow  # noqa: E402
from specnorm.vocab import BSN, FAMILY_ORDER, MANIFOLD_METRICS, METRICS, SN, SN_CONV, variant_label  # noqa: E402

COLORS = dict(zip(FAMILY_ORDER, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f", "#9467bd", "#8c564b")))
WHICH = {"best": "best during training", "final": "final"}
ITERATION = "iteration (generator steps)"
BOUND_NAMES = {("bound_sn", "bound_bsn"): (r"Thm. 2 bound $s^2/\max(m,n)$",
                                          r"Thm. 3 (BSN) bound $2s^2/(c_{in}k^2+c_{out}k^2)$")}
NORMALIZED = (SN, BSN, SN_CONV)
"""Families whose effective weight is s·W/σ: their variance bounds carry the factor s² (:func:`bound_for_scale`)."""
DPI = 150
CSS_DPI = 96  # CSS px per inch: a figure is displayed at its physical size, the PNG has DPI/CSS_DPI × the pixels
PAGE_PX = 1100  # the widest a figure is displayed (the page's figure column)
MIN_TEXT_PX = 9.0  # the smallest text height, in displayed CSS px, that save() allows
N_MARKERS = {1: "x", 2: "^"}  # seeds averaged → marker; 3 or more: "o"
MAX_SCATTER = 20_000  # points per Fig. 3 panel (a fixed random subset beyond that)


@dataclass
class Figure:
    """A rendered figure: ``key`` names its files ``figures/<key>.png|svg``; ``width`` is the CSS width
    (px) it is displayed at and ``min_text_px`` its smallest text there."""

    key: str
    title: str
    caption: str
    png_b64: str
    width: int = 0
    min_text_px: float = 0.0


def color(family: str, index: int = 0) -> str:
    """A family's colour (a fallback from the default cycle for unknown families)."""
    return COLORS.get(base_family(family), f"C{(index + 7) % 10}")


def n_marker(n_seeds: int) -> str:
    """The marker of a line or point that averages ``n_seeds`` seeds (× 1, ▲ 2, ● ≥ 3)."""
    return N_MARKERS.get(int(n_seeds), "o")


def n_handles(n_seeds: object) -> list[Line2D]:
    """Legend entries explaining the seed markers present in ``n_seeds``."""
    kinds = sorted({min(int(n), 3) for n in n_seeds if n and n > 0})
    text = {1: "n = 1 seed (no s.e.m.)", 2: "n = 2 seeds", 3: "n ≥ 3 seeds"}
    return [Line2D([], [], color="0.3", ls="none", marker=n_marker(k), label=text[k]) for k in kinds]


def display_ppi(width_in: float) -> float:
    """CSS px per inch of a figure ``width_in`` inches wide as displayed (physical size, ≤ PAGE_PX)."""
    return min(width_in * CSS_DPI, PAGE_PX) / width_in


def min_font_pt(width_in: float) -> float:
    """The smallest font size (pt) displayed at ≥ MIN_TEXT_PX in a figure ``width_in`` inches wide."""
    return math.ceil(10 * MIN_TEXT_PX * 72 / display_ppi(width_in)) / 10


def _texts(fig: plt.Figure) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _render(fig: plt.Figure, fmt: str) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.05,
                metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's IHDR chunk."""
    return struct.unpack(">II", png[16:24])


def save(fig: plt.Figure, key: str, title: str, caption: str, out_dir: Path) -> Figure:
    """Write ``fig`` as PNG and SVG under ``out_dir`` (atomically) and return it embedded; text that
    would be displayed below MIN_TEXT_PX at the PNG's final width is enlarged first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for ax in fig.axes:
        _log_ticks(ax)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    png = _render(fig, "png")
    for _ in range(3):  # enlarging text can widen the tight bounding box: re-check at the new width
        need = min_font_pt(png_size(png)[0] / DPI)
        small = [t for t in _texts(fig) if t.get_fontsize() < need]
        if not small:
            break
        for ax in fig.axes:
            if any(t.get_fontsize() < need for t in ax.get_xticklabels() + ax.get_yticklabels()):
                ax.tick_params(which="both", labelsize=need)
        for t in small:
            t.set_fontsize(need)
        if fig.get_layout_engine() is None:
            fig.tight_layout()
        png = _render(fig, "png")
    width_in = png_size(png)[0] / DPI
    smallest = min((t.get_fontsize() for t in _texts(fig)), default=need)
    blobs = {"png": png, "svg": _render(fig, "svg")}
    for fmt, blob in blobs.items():
        atomic_write(out_dir / f"{key}.{fmt}", lambda f, b=blob: f.write(b))
    plt.close(fig)
    return Figure(key, title, caption, base64.b64encode(png).decode("ascii"),
                  width=round(width_in * display_ppi(width_in)), min_text_px=smallest / 72 * display_ppi(width_in))


def _grid(n: int, ncols: int, w: float = 4.2, h: float = 3.2) -> tuple[plt.Figure, list[plt.Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False, layout="constrained")
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def columns(scores: pd.DataFrame) -> list[tuple[str, ProtocolKey]]:
    """The (metric, protocol key) pairs of a score frame in metric order (IS, FID, KID)."""
    return sorted(dict.fromkeys(zip(scores["metric"], scores["key"])), key=lambda mk: (METRICS.index(mk[0]), mk[1]))


def log_axis(panel: plt.Axes, axis: str = "y") -> None:
    """Make ``axis`` logarithmic (its ticks are chosen from the data range in :func:`save`)."""
    (panel.set_yscale if axis == "y" else panel.set_xscale)("log")


def _log_ticks(ax: plt.Axes) -> None:
    """Plain-number ticks on log axes, denser when the data span less than about a decade."""
    for a, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        lo, hi = sorted(lim)
        if a.get_scale() != "log" or lo <= 0:
            continue
        decades = math.log10(hi / lo)
        subs = (1.0,) if decades > 6 else (1.0, 2.0, 5.0) if decades > 1.2 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
        a.set_major_locator(mticker.LogLocator(base=10, subs=subs))
        a.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        a.set_minor_formatter(mticker.NullFormatter())


def _k(v: float, _: int = 0) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"


def iteration_axis(panel: plt.Axes) -> None:
    """x = iterations: at most 6 ticks, thousands written as "k"."""
    panel.set_xlabel(ITERATION)
    panel.xaxis.set_major_locator(mticker.MaxNLocator(6, integer=True))
    panel.xaxis.set_major_formatter(mticker.FuncFormatter(_k))


def _err(sem: pd.Series) -> np.ndarray:
    return np.nan_to_num(sem.to_numpy(dtype=float))


def band(panel: plt.Axes, curve: pd.DataFrame, colour: str) -> None:
    """Shade mean ± s.e.m. of ``curve`` (columns iteration, mean, sem); lower edges ≤ 0 are left open on log axes."""
    m, e = curve["mean"].to_numpy(dtype=float), _err(curve["sem"])
    lo = m - e
    if panel.get_yscale() == "log":
        lo = np.where(lo > 0, lo, np.nan)
    panel.fill_between(curve["iteration"], lo, m + e, color=colour, alpha=0.15, lw=0)


# -- scale sweeps (Figs. 6, 8) ---------------------------------------------------------------------
def sweep(grouped: pd.DataFrame, dataset: str, out_dir: Path, manifold: bool = False) -> Figure | None:
    """Score vs scale s for every family swept over ≥ 2 scales; rows best/final, one column per metric:
    IS, FID, KID; or (``manifold``: figure ``sweep_prdc_<dataset>``) precision, recall, density, coverage."""
    g = grouped[(grouped["dataset"] == dataset) & (grouped["metric"].isin(MANIFOLD_METRICS) == manifold)]
    fams = [f for f in sorted(g["family"].unique(), key=family_rank) if g[g["family"] == f]["scale"].nunique() >= 2]
    g = g[g["family"].isin(fams)]
    if g.empty:
        return None
    cols = [(m, key) for m, key in columns(g)
            if g[(g["metric"] == m) & with_key(g, key)].groupby("family")["scale"].nunique().max() >= 2]
    if not cols:
        return None
    # one row per metric column, best and final side by side: two panels across at any number of
    # protocols, so titles and fonts stay readable at the page's width
    fig, axes = plt.subplots(len(cols), 2, figsize=(10.4, 3.9 * len(cols) + 0.5), squeeze=False,
                             layout="constrained")
    for j, (metric, key) in enumerate(cols):
        for i, which in enumerate(("best", "final")):
            ax = axes[j][i]
            sub = g[(g["metric"] == metric) & with_key(g, key) & (g["which"] == which)]
            for k, fam in enumerate(fams):
                f = sub[sub["family"] == fam].sort_values("scale")
                if len(f):
                    ax.errorbar(f["scale"], f["mean"], yerr=_err(f["sem"]), capsize=3, color=color(fam, k),
                                label=fam)
                    for n, pts in f.groupby(f["n"].clip(upper=3)):
                        ax.plot(pts["scale"], pts["mean"], ls="none", marker=n_marker(n), ms=6, color=color(fam, k))
            label = sub["label"].iloc[0] if len(sub) else ""
            if g["scale"].max() >= 10 * g["scale"].min():  # e.g. LeCun's 0.05–2 beside SN's 0.7–4
                log_axis(ax, "x")
                ax.set_xlabel("scale s (log axis)")
            else:
                ax.set_xlabel("scale s")
            ax.set_ylabel(f"{label} ({arrow(metric)})")
            ax.set_title(f"{label}, {WHICH[which]}\n{key.tag(metric)}", fontsize=11)
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=color(f, k), label=f) for k, f in enumerate(fams)] + n_handles(g["n"])
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4), fontsize=11)
    caption = (f"{dataset_label(dataset)}, Table 1 setting: score against the fixed scale s, mean ± s.e.m. over seeds. SN's "
               "curve is the SSN sweep and BSN's the BSSN sweep (Fig. 8's SSN curve), SN_Conv's is Fig. 6's and "
               "LeCun's is Fig. 8's scaled-LeCun curve (there s multiplies the init std of an un-normalized D). The "
               "marker gives the seeds behind each point (× one seed: no error bar; ▲ two; ● three or more).")
    if manifold:
        caption += (" Precision and recall (Kynkäänniemi et al. 2019, k = 3), density and coverage (Naeem et al. "
                    "2020, k = 5) of the FID samples against the real features: a collapsed generator keeps its "
                    "precision while its recall and coverage drop.")
        return save(fig, f"sweep_prdc_{dataset}", f"Scale sweeps, precision/recall/density/coverage — "
                    f"{dataset_label(dataset)}", caption, out_dir)
    return save(fig, f"sweep_{dataset}", f"Scale sweeps — {dataset_label(dataset)}", caption, out_dir)


# -- training curves (Figs. 4, 9) ------------------------------------------------------------------
def curves(curve_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path,
           manifold: bool = False) -> Figure | None:
    """Score vs iteration per featured variant, ± s.e.m. band; one panel per metric and protocol key: IS,
    FID, KID; or (``manifold``: figure ``curves_prdc_<dataset>``) precision, recall, density, coverage."""
    wanted = np.array([(f, s) in variants for f, s in zip(curve_means["family"], curve_means["scale"])], dtype=bool)
    c = curve_means[(curve_means["dataset"] == dataset).to_numpy() & wanted
                    & (curve_means["metric"].isin(MANIFOLD_METRICS) == manifold).to_numpy()]
    if c.empty:
        return None
    cols = columns(c)
    fig, axes = _grid(len(cols), 2, 5.2, 3.6)
    handles: dict[str, Line2D] = {}
    for ax, (metric, key) in zip(axes, cols):
        sub = c[(c["metric"] == metric) & with_key(c, key)]
        for k, (fam, s) in enumerate(variants):
            v = sub[(sub["family"] == fam) & (sub["scale"] == s)].sort_values("iteration")
            if v.empty:
                continue
            col = color(fam, k)
            lo, hi = int(v["n"].min()), int(v["n"].max())
            label = f"{variant_label(fam, s)} (n={lo}{'' if lo == hi else f'–{hi}'})"
            (line,) = ax.plot(v["iteration"], v["mean"], "-" if s == 1.0 else "--", marker=n_marker(lo), ms=5,
                              color=col, label=label)
            handles.setdefault(label, line)
            band(ax, v, col)
        label = sub["label"].iloc[0]
        iteration_axis(ax)
        ax.set_ylabel(f"{label} ({arrow(metric)})")
        ax.set_title(f"{label} ({key.tag(metric)})", fontsize=10)
        ax.grid(alpha=0.3)
    fig.legend(handles=[*handles.values(), *n_handles(c["n"])], loc="outside right upper")
    caption = (f"{dataset_label(dataset)}, Table 1 setting: in-training evaluations (metrics.csv) of finished runs, mean ± "
               "s.e.m. over seeds (n = seeds; marker × one seed, no band; ▲ two; ● three or more). Dashed: scaled "
               "variants (SSN/BSSN at Table 1's chosen s, SN_Conv×s).")
    if manifold:
        caption += (" Precision, recall (k = 3), density and coverage (k = 5) of each evaluation's FID samples "
                    "against the real features: recall and coverage falling while precision holds is a collapse.")
        return save(fig, f"curves_prdc_{dataset}", f"Training curves, precision/recall/density/coverage — "
                    f"{dataset_label(dataset)}", caption, out_dir)
    return save(fig, f"curves_{dataset}", f"Training curves — {dataset_label(dataset)}", caption, out_dir)


# -- per-layer analysis (Figs. 2, 5, 7; App. L.3) ----------------------------------------------------
def _per_layer(analysis_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], quantity: str,
               bounds: tuple[str, ...] = (), log: bool = True) -> tuple[plt.Figure, list[plt.Axes]] | None:
    """One panel per variant, one line (± s.e.m. band) per layer of ``quantity``; ``bounds`` dashed/dotted.
    The panel title gives the seeds (n) and the line marker says it too (:func:`n_marker`)."""
    a = analysis_means[(analysis_means["dataset"] == dataset)
                       & (analysis_means["quantity"].isin([quantity, *bounds]))]
    shown = [(f, s) for f, s in variants if not learned_gamma(f)
             and len(a[(a["family"] == f) & (a["scale"] == s) & (a["quantity"] == quantity) & a["mean"].notna()])]
    if not shown:
        return None
    fig, axes = _grid(len(shown), 3, 3.9, 3.1)
    layers = a.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    cmap = plt.get_cmap("viridis", max(len(layers), 2))
    ns = []
    for ax, (fam, s) in zip(axes, shown):
        v = a[(a["family"] == fam) & (a["scale"] == s)]
        n = int(v.loc[v["quantity"] == quantity, "n"].min())
        ns.append(n)
        if log:
            log_axis(ax)
        for i, layer in enumerate(layers):
            for q, ls in ((quantity, "-"), *zip(bounds, ("--", ":"))):
                lv = v[(v["layer"] == layer) & (v["quantity"] == q)].sort_values("iteration")
                if len(lv) and lv["mean"].notna().any():
                    mark = {"marker": n_marker(n), "ms": 4, "markevery": max(1, len(lv) // 6)} if q == quantity else {}
                    ax.plot(lv["iteration"], lv["mean"], ls, color=cmap(i), lw=1.2, **mark)
                    if q == quantity:
                        band(ax, lv, cmap(i))
        factor = bound_for_scale(1.0, fam, s)
        note = f"\nbounds × s² = {factor:.3g}" if bounds and factor != 1.0 else ""
        ax.set_title(f"{variant_label(fam, s)} (n={n}){note}", fontsize=10)
        iteration_axis(ax)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=cmap(i), lw=1.5, label=layer) for i, layer in enumerate(layers)]
    handles += [Line2D([], [], color="k", ls=ls, label=name)
                for name, ls in zip(BOUND_NAMES.get(bounds, ()), ("--", ":"))]
    handles += n_handles(ns)
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4))
    return fig, axes


def grad_norms(analysis_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path,
               quantity: str = "grad_norm_eff") -> Figure | None:
    """Per-layer ‖∇_W D(x)‖_F over training (Figs. 2, 5), w.r.t. the effective or the raw weight."""
    made = _per_layer(analysis_means, dataset, variants, quantity)
    if made is None:
        return None
    fig, axes = made
    wrt = ("effective weight W·s·γ/σ (Prop. 1's w′)" if quantity == "grad_norm_eff"
           else "raw weight W (what Adam updates)")
    for ax in axes:
        ax.set_ylabel(r"$\|\nabla_W D(x)\|_F$ (log)")
    caption = (f"{dataset_label(dataset)}, Table 1 setting: Frobenius norm of each layer's gradient of D(x) w.r.t. the {wrt}, "
               "per-sample gradients averaged over the fixed analysis batch of real images (docs/design.md#analysis-quantities), "
               "mean ± s.e.m. over seeds (band). One panel per variant, one line per layer (layer0 = input).")
    short = "effective" if quantity == "grad_norm_eff" else "raw"
    return save(fig, f"{quantity}_{dataset}", f"Per-layer gradient norms ({short} weights) — {dataset_label(dataset)}",
                caption, out_dir)


def bound_for_scale(bound: float, family: str, scale: float) -> float:
    """Theorem 2/3's bound on the variance of the entries of the effective weight s·W/σ: the s = 1 bound
    (1/max(m, n), or 2/(c_in k² + c_out k²) for BSN) times s², since Var(s·x) = s²·Var(x), for a
    normalized family; unchanged for LeCun×s and no-SN, where s is not a factor of the weight (it
    scales the initialization only) and the bounds are a reference, not a theorem."""
    return bound * scale ** 2 if base_family(family) in NORMALIZED else bound


def scale_bounds(analysis_means: pd.DataFrame, bounds: tuple[str, ...] = ("bound_sn", "bound_bsn")) -> pd.DataFrame:
    """``analysis_means`` (long analysis table) with the ``bounds`` rows' mean and s.e.m. put through
    :func:`bound_for_scale` for their cell's family and scale."""
    rows = analysis_means["quantity"].isin(bounds).to_numpy()
    factor = np.array([bound_for_scale(1.0, f, s) if r else 1.0
                       for f, s, r in zip(analysis_means["family"], analysis_means["scale"], rows)], dtype=float)
    return analysis_means.assign(mean=analysis_means["mean"].astype(float) * factor,
                                 sem=analysis_means["sem"].astype(float) * factor)


def variances(analysis_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]],
              out_dir: Path) -> Figure | None:
    """Variance of the effective weight's entries vs the SN bound s²/max(m,n) and the BSN bound (Fig. 7),
    the bounds scaled by s² for scaled normalized variants (:func:`bound_for_scale`)."""
    made = _per_layer(scale_bounds(analysis_means), dataset, variants, "var_eff", ("bound_sn", "bound_bsn"))
    if made is None:
        return None
    fig, axes = made
    for ax in axes:
        ax.set_ylabel("Var of effective weight entries (log)")
    caption = (f"{dataset_label(dataset)}, Table 1 setting: solid, the variance of each layer's effective weight entries "
               "(W·s·γ/σ; the raw W without normalization) over training, mean ± s.e.m. over seeds; dashed, "
               "Theorem 2's SN bound; dotted, Theorem 3's BSN bound (convolutions). The effective weight of SN, BSN "
               "and SN_Conv at scale s is s·W/σ, so its variance carries a factor s² and so do the bounds drawn in "
               "its panel: s²/max(m, n) and 2s²/(cᵢₙk² + cₒᵤₜk²) (the panel title gives s²). LeCun×s and "
               "no-SN panels show the s = 1 bounds as a reference only: there s scales the initialization, not "
               "the weight, and the theorems do not apply.")
    return save(fig, f"variance_{dataset}", f"Parameter variances vs bounds — {dataset_label(dataset)}", caption, out_dir)


def sigma_ratio(analysis_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]],
                out_dir: Path) -> Figure | None:
    """σ_conv/σ_w (‖w̃‖ / ‖ŵ‖) per conv layer over training (App. L.3)."""
    made = _per_layer(analysis_means, dataset, variants, "sigma_ratio", log=False)
    if made is None:
        return None
    fig, axes = made
    for ax in axes:
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylabel(r"$\sigma_{conv}/\sigma_w$  ($\|\tilde{w}\| / \|\hat{w}\|$)")
    caption = (f"{dataset_label(dataset)}, Table 1 setting: ratio of the convolution operator's spectral norm ‖w̃‖ to the "
               "reshaped kernel's ‖ŵ‖ (both accurate, analysis.csv), per conv layer, mean ± s.e.m. over seeds. "
               "App. L.3 claims ‖ŵ‖ ≤ ‖w̃‖ throughout training (ratio ≥ 1, black line).")
    return save(fig, f"sigma_ratio_{dataset}", f"‖w̃‖ vs ‖ŵ‖ — {dataset_label(dataset)}", caption, out_dir)


def grad_ratio(pairs: pd.DataFrame, out_dir: Path) -> Figure | None:
    """Fig. 3: gradient-norm ratio vs inverse spectral-norm ratio, all layer pairs, one panel per dataset."""
    if pairs.empty:
        return None
    datasets = sorted(pairs["dataset"].unique())
    fig, axes = _grid(len(datasets), 3, 4.4, 4.0)
    for ax, dataset in zip(axes, datasets):
        p = pairs[pairs["dataset"] == dataset]
        p = p.sample(n=min(len(p), MAX_SCATTER), random_state=0) if len(p) > MAX_SCATTER else p
        for k, fam in enumerate(sorted(p["family"].unique(), key=family_rank)):
            f = p[p["family"] == fam]
            ax.scatter(f["inv_sigma_ratio"], f["grad_ratio"], s=6, alpha=0.5, color=color(fam, k), label=fam)
        lo = float(np.nanmin(np.r_[p["inv_sigma_ratio"], p["grad_ratio"]]))
        hi = float(np.nanmax(np.r_[p["inv_sigma_ratio"], p["grad_ratio"]]))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="y = x")
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel(r"$\|w_j\|_{sp} / \|w_i\|_{sp}$ (effective weights)")
        ax.set_ylabel(r"$\|\nabla_{w_i} D\| / \|\nabla_{w_j} D\|$")
        ax.set_title(dataset_label(dataset), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(markerscale=2)
    caption = ("Every pair of layers i < j of every finished run (Table 1 setting, ≤ 20 analysis iterations per run; "
               f"at most {MAX_SCATTER} points per panel, a fixed random subset): "
               "ratio of the gradient norms w.r.t. the effective weights (averaged over the analysis batch) against "
               "the inverse ratio of the effective weights' spectral norms (the analysis.csv columns sigma_w / "
               "sigma_used; s cancels). Thm. 1's set 𝒟 "
               "lies on the diagonal. Learned-γ runs are left out. How this differs from Fig. 3: the paper trains "
               "with randomly drawn rescalings c of the layers' spectral norms, which spread the points along x "
               "(each run a vertical series); we train no such rescalings, so every normalized layer's effective "
               "spectral norm is ≈ 1 and SN/BSN/SN_Conv points form a vertical strip at x ≈ 1 — only their spread "
               "in y (how far training stays from 𝒟) is comparable; un-normalized runs spread along x.")
    return save(fig, "grad_ratio", "Gradient-norm ratio vs inverse spectral-norm ratio (Fig. 3 analogue without the "
                "paper's random rescalings: a vertical strip at x ≈ 1)", caption, out_dir)


def input_grads(train_log_means: pd.DataFrame, dataset: str, variants: list[tuple[str, float]],
                out_dir: Path) -> Figure | None:
    """D's input-gradient norm on real and fake images over training (official ``d/*_slopes``)."""
    t = train_log_means[(train_log_means["dataset"] == dataset)
                        & train_log_means["quantity"].isin(["grad_x_real_mean", "grad_x_fake_mean"])]
    shown = [(f, s) for f, s in variants if len(t[(t["family"] == f) & (t["scale"] == s)])]
    if not shown:
        return None
    fig, axes = _grid(2, 2, 4.6, 3.4)
    handles: dict[str, Line2D] = {}
    for ax, (q, name) in zip(axes, (("grad_x_real_mean", "real"), ("grad_x_fake_mean", "generated"))):
        log_axis(ax)
        for k, (fam, s) in enumerate(shown):
            v = t[(t["family"] == fam) & (t["scale"] == s) & (t["quantity"] == q)].sort_values("iteration")
            if len(v):
                n = int(v["n"].min())
                label = f"{variant_label(fam, s)} (n={n})"
                (line,) = ax.plot(v["iteration"], v["mean"], "-" if s == 1.0 else "--", color=color(fam, k),
                                  marker=n_marker(n), ms=4, markevery=max(1, len(v) // 8), label=label)
                handles.setdefault(label, line)
                band(ax, v, color(fam, k))
        iteration_axis(ax)
        ax.set_ylabel(rf"mean $\|\nabla_x D(x)\|_2$, {name} x (log)")
        ax.set_title(f"input gradient, {name} images", fontsize=10)
        ax.grid(alpha=0.3)
    fig.legend(handles=[*handles.values(), *n_handles(t["n"])], loc="outside right upper")
    caption = (f"{dataset_label(dataset)}, Table 1 setting: mean per-sample ‖∇ₓD(x)‖₂ over the last D batch (official "
               "d/mean_*_slopes, train_log.csv), mean ± s.e.m. over seeds (marker × one seed, ▲ two, ● three or "
               "more).")
    return save(fig, f"input_grad_{dataset}", f"Discriminator input gradients — {dataset_label(dataset)}", caption, out_dir)
