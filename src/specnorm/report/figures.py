"""The report's figures (matplotlib): written as PNG and SVG to ``report/figures/`` and embedded as PNG.

Every figure has labelled axes with units, a legend and, where seeds are averaged, error bars or
bands of ± one standard error of the mean.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from specnorm.io import atomic_write  # noqa: E402
from specnorm.report import paper  # noqa: E402
from specnorm.report.variants import FAMILY_ORDER, family_rank, variant_label  # noqa: E402

COLORS = dict(zip(FAMILY_ORDER, ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f", "#9467bd", "#8c564b")))
WHICH = {"best": "best during training", "final": "final"}
ITERATION = "iteration (generator steps)"
BOUND_NAMES = {("bound_sn", "bound_bsn"): ("1/max(m,n)", "BSN bound")}
DPI = 90
MAX_SCATTER = 20_000  # points per Fig. 3 panel (a fixed random subset beyond that)


@dataclass
class Figure:
    """A rendered figure: ``key`` names its files ``figures/<key>.png|svg``."""

    key: str
    title: str
    caption: str
    png_b64: str


def color(fam: str, k: int = 0) -> str:
    """A family's colour (a fallback from the default cycle for unknown families)."""
    return COLORS.get(fam.split(" [")[0], f"C{(k + 7) % 10}")


def save(fig: plt.Figure, key: str, title: str, caption: str, out_dir: Path) -> Figure:
    """Write ``fig`` as PNG and SVG under ``out_dir`` (atomically) and return it embedded."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for ax in fig.axes:
        _log_ticks(ax)
    fig.tight_layout()
    blobs = {}
    for fmt in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)
        blobs[fmt] = buf.getvalue()
        atomic_write(out_dir / f"{key}.{fmt}", lambda f, b=blobs[fmt]: f.write(b))
    plt.close(fig)
    return Figure(key, title, caption, base64.b64encode(blobs["png"]).decode("ascii"))


def _grid(n: int, ncols: int, w: float = 4.2, h: float = 3.2) -> tuple[plt.Figure, list[plt.Axes]]:
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def columns(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The (metric, protocol signature) pairs of a score frame, IS first, then FID, then KID."""
    order = {"is": 0, "fid": 1, "kid": 2}
    return sorted(dict.fromkeys(zip(df["metric"], df["signature"])), key=lambda ms: (order.get(ms[0], 3), ms[1]))


def log_axis(ax: plt.Axes, axis: str = "y") -> None:
    """Make ``axis`` logarithmic (its ticks are chosen from the data range in :func:`save`)."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")


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


def iteration_axis(ax: plt.Axes) -> None:
    """x = iterations: at most 6 ticks, thousands written as "k"."""
    ax.set_xlabel(ITERATION)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(6, integer=True))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(_k))


def _ds(dataset: str) -> str:
    return paper.DATASET_LABELS.get(dataset, dataset)


def _err(sem: pd.Series) -> np.ndarray:
    return np.nan_to_num(sem.to_numpy(dtype=float))


def band(ax: plt.Axes, v: pd.DataFrame, col: str) -> None:
    """Shade mean ± s.e.m. of ``v`` (columns iteration, mean, sem); lower edges ≤ 0 are left open on log axes."""
    m, e = v["mean"].to_numpy(dtype=float), _err(v["sem"])
    lo = m - e
    if ax.get_yscale() == "log":
        lo = np.where(lo > 0, lo, np.nan)
    ax.fill_between(v["iteration"], lo, m + e, color=col, alpha=0.15, lw=0)


# -- scale sweeps (Figs. 6, 8) ---------------------------------------------------------------------
def sweep(gs: pd.DataFrame, dataset: str, out_dir: Path) -> Figure | None:
    """Score vs scale s for every family swept over ≥ 2 scales; rows best/final, one column per metric."""
    g = gs[gs["dataset"] == dataset]
    fams = [f for f in sorted(g["family"].unique(), key=family_rank) if g[g["family"] == f]["scale"].nunique() >= 2]
    g = g[g["family"].isin(fams)]
    if g.empty:
        return None
    cols = [(m, sig) for m, sig in columns(g)
            if g[(g["metric"] == m) & (g["signature"] == sig)].groupby("family")["scale"].nunique().max() >= 2]
    fig, axes = plt.subplots(2, len(cols), figsize=(4.8 * len(cols), 6.6), squeeze=False)
    for j, (metric, sig) in enumerate(cols):
        for i, which in enumerate(("best", "final")):
            ax = axes[i][j]
            sub = g[(g["metric"] == metric) & (g["signature"] == sig) & (g["which"] == which)]
            for k, fam in enumerate(fams):
                f = sub[sub["family"] == fam].sort_values("scale")
                if len(f):
                    ax.errorbar(f["scale"], f["mean"], yerr=_err(f["sem"]), marker="o", ms=4, capsize=3,
                                color=color(fam, k), label=fam)
            label, proto = (sub["label"].iloc[0], sub["proto"].iloc[0]) if len(sub) else ("", "")
            if g["scale"].max() >= 10 * g["scale"].min():  # e.g. LeCun's 0.05–2 beside SN's 0.7–4
                log_axis(ax, "x")
                ax.set_xlabel("scale s (log axis)")
            else:
                ax.set_xlabel("scale s")
            ax.set_ylabel(f"{label} ({'↑' if metric == 'is' else '↓'})")
            ax.set_title(f"{label} ({proto}), {WHICH[which]}", fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    caption = (f"{_ds(dataset)}, Table 1 setting: score against the fixed scale s, mean ± s.e.m. over seeds. SN's "
               "curve is the SSN sweep and BSN's the BSSN sweep (Fig. 8's SSN curve), SN_Conv's is Fig. 6's and "
               "LeCun's is Fig. 8's scaled-LeCun curve (there s multiplies the init std of an un-normalized D).")
    return save(fig, f"sweep_{dataset}", f"Scale sweeps — {_ds(dataset)}", caption, out_dir)


# -- training curves (Figs. 4, 9) ------------------------------------------------------------------
def curves(cv: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path) -> Figure | None:
    """Score vs iteration per featured variant, ± s.e.m. band; one panel per metric signature."""
    wanted = np.array([(f, s) in variants for f, s in zip(cv["family"], cv["scale"])], dtype=bool)
    c = cv[(cv["dataset"] == dataset).to_numpy() & wanted]
    if c.empty:
        return None
    cols = columns(c)
    fig, axes = _grid(len(cols), 2, 6.4, 3.8)
    for ax, (metric, sig) in zip(axes, cols):
        sub = c[(c["metric"] == metric) & (c["signature"] == sig)]
        for k, (fam, s) in enumerate(variants):
            v = sub[(sub["family"] == fam) & (sub["scale"] == s)].sort_values("iteration")
            if v.empty:
                continue
            col = color(fam, k)
            ls = "-" if s == 1.0 else "--"
            ax.plot(v["iteration"], v["mean"], ls, marker=".", color=col,
                    label=f"{variant_label(fam, s)} (n={v['n'].max()})")
            band(ax, v, col)
        label = sub["label"].iloc[0]
        iteration_axis(ax)
        ax.set_ylabel(f"{label} ({'↑' if metric == 'is' else '↓'})")
        ax.set_title(f"{label} ({sub['proto'].iloc[0]})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption = (f"{_ds(dataset)}, Table 1 setting: in-training evaluations (metrics.csv) of finished runs, mean ± "
               "s.e.m. over seeds (n = seeds). Dashed: scaled variants (SSN/BSSN at Table 1's chosen s, SN_Conv×s).")
    return save(fig, f"curves_{dataset}", f"Training curves — {_ds(dataset)}", caption, out_dir)


# -- per-layer analysis (Figs. 2, 5, 7; App. L.3) ----------------------------------------------------
def _per_layer(an: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], quantity: str,
               bounds: tuple[str, ...] = (), log: bool = True) -> tuple[plt.Figure, list[plt.Axes]] | None:
    """One panel per variant, one line (± s.e.m. band) per layer of ``quantity``; ``bounds`` dashed/dotted."""
    a = an[(an["dataset"] == dataset) & (an["quantity"].isin([quantity, *bounds]))]
    shown = [(f, s) for f, s in variants if "+γ" not in f
             and len(a[(a["family"] == f) & (a["scale"] == s) & (a["quantity"] == quantity) & a["mean"].notna()])]
    if not shown:
        return None
    fig, axes = _grid(len(shown), 4, 4.2, 3.3)
    layers = a.drop_duplicates("layer").sort_values("layer_index")["layer"].tolist()
    cmap = plt.get_cmap("viridis", max(len(layers), 2))
    for ax, (fam, s) in zip(axes, shown):
        v = a[(a["family"] == fam) & (a["scale"] == s)]
        if log:
            log_axis(ax)
        for i, layer in enumerate(layers):
            for q, ls in ((quantity, "-"), *zip(bounds, ("--", ":"))):
                lv = v[(v["layer"] == layer) & (v["quantity"] == q)].sort_values("iteration")
                if len(lv) and lv["mean"].notna().any():
                    ax.plot(lv["iteration"], lv["mean"], ls, color=cmap(i), lw=1.2,
                            label=layer if q == quantity else None)
                    if q == quantity:
                        band(ax, lv, cmap(i))
        ax.set_title(variant_label(fam, s), fontsize=10)
        iteration_axis(ax)
        ax.grid(alpha=0.3)
        styles = [Line2D([], [], color="k", ls=ls, label=name)
                  for name, ls in zip(BOUND_NAMES.get(bounds, ()), ("--", ":"))]
        ax.legend(handles=ax.get_legend_handles_labels()[0] + styles, fontsize=6, ncol=2)
    return fig, axes


def grad_norms(an: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path,
               quantity: str = "grad_norm_eff") -> Figure | None:
    """Per-layer ‖∇_W D(x)‖_F over training (Figs. 2, 5), w.r.t. the effective or the raw weight."""
    made = _per_layer(an, dataset, variants, quantity)
    if made is None:
        return None
    fig, axes = made
    wrt = ("effective weight W·s·γ/σ (Prop. 1's w′)" if quantity == "grad_norm_eff"
           else "raw weight W (what Adam updates)")
    for ax in axes:
        ax.set_ylabel("‖∇_W D(x)‖_F (log)")
    caption = (f"{_ds(dataset)}, Table 1 setting: Frobenius norm of each layer's gradient of D(x) w.r.t. the {wrt}, "
               "per-sample gradients averaged over the fixed analysis batch of real images (docs/design.md#analysis-quantities), "
               "mean ± s.e.m. over seeds (band). One panel per variant, one line per layer (layer0 = input).")
    short = "effective" if quantity == "grad_norm_eff" else "raw"
    return save(fig, f"{quantity}_{dataset}", f"Per-layer gradient norms ({short} weights) — {_ds(dataset)}",
                caption, out_dir)


def variances(an: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path) -> Figure | None:
    """Variance of the effective weight's entries vs the SN bound 1/max(m,n) and the BSN bound (Fig. 7)."""
    made = _per_layer(an, dataset, variants, "var_eff", ("bound_sn", "bound_bsn"))
    if made is None:
        return None
    fig, axes = made
    for ax in axes:
        ax.set_ylabel("Var of effective weight entries (log)")
    caption = (f"{_ds(dataset)}, Table 1 setting: solid, the variance of each layer's effective weight entries "
               "(W·s·γ/σ; the raw W without normalization) over training, mean ± s.e.m. over seeds; dashed, "
               "Theorem 2's SN bound 1/max(m, n); dotted, Theorem 3's BSN bound 2/(c_in k² + c_out k²) "
               "(convolutions). Scaled variants' variances carry a factor s².")
    return save(fig, f"variance_{dataset}", f"Parameter variances vs bounds — {_ds(dataset)}", caption, out_dir)


def sigma_ratio(an: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path) -> Figure | None:
    """σ_conv/σ_w (‖w̃‖ / ‖ŵ‖) per conv layer over training (App. L.3)."""
    made = _per_layer(an, dataset, variants, "sigma_ratio", log=False)
    if made is None:
        return None
    fig, axes = made
    for ax in axes:
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_ylabel("σ_conv / σ_w  (‖w̃‖ / ‖ŵ‖)")
    caption = (f"{_ds(dataset)}, Table 1 setting: ratio of the convolution operator's spectral norm ‖w̃‖ to the "
               "reshaped kernel's ‖ŵ‖ (both accurate, analysis.csv), per conv layer, mean ± s.e.m. over seeds. "
               "App. L.3 claims ‖ŵ‖ ≤ ‖w̃‖ throughout training (ratio ≥ 1, black line).")
    return save(fig, f"sigma_ratio_{dataset}", f"‖w̃‖ vs ‖ŵ‖ — {_ds(dataset)}", caption, out_dir)


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
        ax.set_xlabel("‖w_j‖_sp / ‖w_i‖_sp (effective weights)")
        ax.set_ylabel("‖∇_{w_i} D‖ / ‖∇_{w_j} D‖")
        ax.set_title(_ds(dataset), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    caption = ("Every pair of layers i < j of every finished run (Table 1 setting, ≤ 20 analysis iterations per run; "
               f"at most {MAX_SCATTER} points per panel, a fixed random subset): "
               "ratio of the gradient norms w.r.t. the effective weights (averaged over the analysis batch) against "
               "the inverse ratio of the effective weights' spectral norms (σ_w/σ_used; s cancels). Thm. 1's set 𝒟 "
               "lies on the diagonal. Learned-γ runs are left out.")
    return save(fig, "grad_ratio", "Gradient-norm ratio vs inverse spectral-norm ratio (Fig. 3)", caption, out_dir)


def input_grads(tl: pd.DataFrame, dataset: str, variants: list[tuple[str, float]], out_dir: Path) -> Figure | None:
    """D's input-gradient norm on real and fake images over training (official ``d/*_slopes``)."""
    t = tl[(tl["dataset"] == dataset) & tl["quantity"].isin(["grad_x_real_mean", "grad_x_fake_mean"])]
    shown = [(f, s) for f, s in variants if len(t[(t["family"] == f) & (t["scale"] == s)])]
    if not shown:
        return None
    fig, axes = _grid(2, 2, 5.0, 3.6)
    for ax, (q, name) in zip(axes, (("grad_x_real_mean", "real"), ("grad_x_fake_mean", "generated"))):
        log_axis(ax)
        for k, (fam, s) in enumerate(shown):
            v = t[(t["family"] == fam) & (t["scale"] == s) & (t["quantity"] == q)].sort_values("iteration")
            if len(v):
                ax.plot(v["iteration"], v["mean"], "-" if s == 1.0 else "--", color=color(fam, k),
                        label=variant_label(fam, s))
                band(ax, v, color(fam, k))
        iteration_axis(ax)
        ax.set_ylabel(f"mean ‖∇ₓD(x)‖₂, {name} x (log)")
        ax.set_title(f"input gradient, {name} images", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    caption = (f"{_ds(dataset)}, Table 1 setting: mean per-sample ‖∇ₓD(x)‖₂ over the last D batch (official "
               "d/mean_*_slopes, train_log.csv), mean ± s.e.m. over seeds.")
    return save(fig, f"input_grad_{dataset}", f"Discriminator input gradients — {_ds(dataset)}", caption, out_dir)
