"""The report's figures (issue 12): ≥ 150 dpi PNGs whose text is ≥ 9 px as displayed, mathtext labels and
Unicode captions (no raw TeX), variance bounds scaled by s² for scaled runs, seeds told apart by marker."""

import math
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from PIL import Image

from specnorm.report import figures as fg
from specnorm.report.scores import keyed
from specnorm.scores import ProtocolKey

RAW_TEX = re.compile(r"_\{|\^\{|\\[A-Za-z]+")


def _outside_math(text: str) -> str:
    return re.sub(r"\$[^$]*\$", "", text)


@pytest.fixture(scope="module")
def demo_figures(demo_report, tmp_path_factory):
    """Every figure of the demo drawn again from the demo's tidy tables, with the text of each figure
    (captured before it is closed): ``[(Figure, [text, ...]), ...]``."""
    _, paths = demo_report
    out = tmp_path_factory.mktemp("figs")
    t = {name: pd.read_csv(paths.tables / f"{name}.csv") for name in ("group_scores", "curves", "analysis",
                                                                       "train_log", "grad_ratio")}
    t = {name: keyed(df) if "protocol" in df else df for name, df in t.items()}  # score tables: their key back
    variants = sorted({(f, float(s)) for f, s in zip(t["analysis"]["family"], t["analysis"]["scale"])})
    texts = []
    original = fg.save

    def spy(fig, *args, **kwargs):
        made = original(fig, *args, **kwargs)
        texts.append((made, [x.get_text() for x in fg._texts(fig)]))
        return made

    mp = pytest.MonkeyPatch()
    mp.setattr(fg, "save", spy)
    try:
        fg.sweep(t["group_scores"], "digits", out)
        fg.curves(t["curves"], "digits", variants, out)
        for q in ("grad_norm_eff", "grad_norm_raw"):
            fg.grad_norms(t["analysis"], "digits", variants, out, q)
        fg.variances(t["analysis"], "digits", variants, out)
        fg.sigma_ratio(t["analysis"], "digits", variants, out)
        fg.input_grads(t["train_log"], "digits", variants, out)
        fg.grad_ratio(t["grad_ratio"], out)
    finally:
        mp.undo()
    assert len(texts) == 8
    return texts


def test_pngs_are_saved_at_150_dpi_and_displayed_at_physical_size(demo_report):
    built, paths = demo_report
    html = built.index.read_text()
    for key in built.figures:
        with Image.open(paths.out / "figures" / f"{key}.png") as im:
            dpi, width = im.info["dpi"], im.size[0]
        assert min(dpi) >= 149.9
        shown = int(re.search(rf'id="fig-{key}">\s*<img [^>]*width="(\d+)"', html).group(1))
        assert shown == pytest.approx(min(width * fg.CSS_DPI / fg.DPI, fg.PAGE_PX), abs=1)


def test_text_is_at_least_9_px_as_displayed(demo_figures):
    for fig, _ in demo_figures:
        assert fig.min_text_px >= fg.MIN_TEXT_PX - 1e-6, fig.key


def test_save_enlarges_tiny_legends_and_ticks(tmp_path):
    fig, ax = plt.subplots(figsize=(16, 3))  # wider than the page: displayed shrunk
    ax.plot([1, 2], [1, 2], label="a line")
    ax.legend(fontsize=4)
    ax.tick_params(labelsize=4)
    ax.set_xlabel("x", fontsize=5)
    made = fg.save(fig, "tiny", "t", "c", tmp_path)
    assert made.min_text_px >= fg.MIN_TEXT_PX
    assert made.width == fg.PAGE_PX
    assert fg.min_font_pt(16) > fg.min_font_pt(6) == pytest.approx(fg.MIN_TEXT_PX * 72 / fg.CSS_DPI, abs=0.1)


def test_no_raw_tex_in_figure_text_or_captions(demo_figures, demo_report):
    for fig, texts in demo_figures:
        for text in texts:
            assert text.count("$") % 2 == 0 and not RAW_TEX.search(_outside_math(text)), (fig.key, text)
        assert "$" not in fig.caption and not RAW_TEX.search(fig.caption), fig.key
    labels = [t for _, texts in demo_figures for t in texts]
    assert any(r"$\|\nabla_{w_i} D\| / \|\nabla_{w_j} D\|$" == t for t in labels)  # Fig. 3's label as mathtext
    built, _ = demo_report
    html = built.index.read_text()
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)
    assert len(captions) >= len(built.figures)
    for caption in captions:
        assert "$" not in caption and not RAW_TEX.search(caption), caption
    for c in built.claims:
        for text in (c.claim, c.evidence, c.rule, c.criteria):
            assert not RAW_TEX.search(text), text


def test_variance_bound_carries_s_squared_for_normalized_families_only():
    assert fg.bound_for_scale(1 / 64, "SN", 1.5) == pytest.approx(2.25 / 64)
    assert fg.bound_for_scale(0.01, "BSN", 0.8) == pytest.approx(0.0064)
    assert fg.bound_for_scale(0.01, "SN_Conv", 1.75) == pytest.approx(0.030625)
    assert fg.bound_for_scale(0.01, "SN [u,v const]", 2.0) == pytest.approx(0.04)
    assert fg.bound_for_scale(0.01, "SN", 1.0) == 0.01
    assert fg.bound_for_scale(0.01, "LeCun", 0.2) == 0.01  # s scales the init, not the weight
    an = pd.DataFrame({"family": ["SN", "SN", "SN", "LeCun"], "scale": [1.5, 1.5, 1.5, 0.2],
                       "quantity": ["var_eff", "bound_sn", "bound_bsn", "bound_sn"],
                       "mean": [0.02, 0.01, 0.008, 0.01], "sem": [0.001, 0.0, 0.0, 0.0]})
    out = fg.scale_bounds(an)
    assert out["mean"].tolist() == pytest.approx([0.02, 0.0225, 0.018, 0.01])  # var_eff itself untouched


def test_scaled_sn_within_its_s_squared_bound_is_not_drawn_as_a_violation(tmp_path):
    """SN×1.5 whose variance is 1.5² × 0.9/max(m,n): above 1/max(m,n) but below the bound drawn."""
    rows = []
    for it in (0, 500, 1000):
        for q, v in (("var_eff", 2.25 * 0.9 / 64), ("bound_sn", 1 / 64), ("bound_bsn", 2 / 100)):
            rows.append({"dataset": "d", "setting": "x", "family": "SN", "scale": 1.5, "layer": "layer0",
                         "layer_index": 0, "iteration": it, "quantity": q, "mean": v, "sem": math.nan, "n": 1})
    drawn = {}
    original = fg.save

    def spy(fig, *args, **kwargs):
        ax = fig.axes[0]
        drawn.update({ln.get_linestyle(): ln.get_ydata()[0] for ln in ax.get_lines()})
        drawn["title"] = ax.get_title()
        return original(fig, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(fg, "save", spy)
    try:
        made = fg.variances(pd.DataFrame(rows), "d", [("SN", 1.5)], tmp_path)
    finally:
        mp.undo()
    assert drawn["-"] < drawn["--"] == pytest.approx(2.25 / 64)
    assert "bounds × s² = 2.25" in drawn["title"] and "s²/max(m, n)" in made.caption


def test_one_seed_and_two_seed_lines_have_different_markers(tmp_path):
    key = ProtocolKey("paper", "inception", "f" * 64, 100, 0, "none(IS,10 splits)", "float->tf1-bilinear")
    rows = [{"dataset": "d", "setting": "x", "family": fam, "scale": 1.0, "metric": "is", "label": "IS",
             "key": key, "iteration": it, "mean": 5.0 + it / 1000, "sem": sem, "n": n}
            for fam, n, sem in (("SN", 1, math.nan), ("BSN", 2, 0.1)) for it in (500, 1000, 1500)]
    markers = {}
    original = fg.save

    def spy(fig, *args, **kwargs):
        markers.update({ln.get_label(): ln.get_marker() for ln in fig.axes[0].get_lines()})
        return original(fig, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(fg, "save", spy)
    try:
        made = fg.curves(pd.DataFrame(rows), "d", [("SN", 1.0), ("BSN", 1.0)], tmp_path)
    finally:
        mp.undo()
    assert markers["SN (n=1)"] != markers["BSN (n=2)"]
    assert (markers["SN (n=1)"], markers["BSN (n=2)"]) == (fg.n_marker(1), fg.n_marker(2))
    assert "one seed" in made.caption


def test_sweep_stays_two_panels_wide_and_readable_with_several_protocols(tmp_path):
    """Best and final side by side, one row per metric × protocol: four metric columns (in-training and
    rescored IS and FID) still fit the page with text ≥ 12 px as displayed, titles not overlapping."""
    from dataclasses import replace as dc_replace

    from report_fixtures import make_demo

    from specnorm.report import aggregate as agg
    from specnorm.report.runs import collect
    from specnorm.report.scores import run_scores

    runs = collect(make_demo(tmp_path / "results", seeds=(0, 1)))[0]
    g = agg.group_scores(run_scores(runs))
    more = g.assign(key=[dc_replace(k, n_gen=k.n_gen * 10) for k in g["key"]])
    g = pd.concat([g, more], ignore_index=True)
    g = g[g["setting"] == agg.table1_settings(runs)["digits"]]
    made = fg.sweep(g, "digits", tmp_path / "figs")
    w, h = Image.open(tmp_path / "figs" / "sweep_digits.png").size
    assert made.width <= fg.PAGE_PX and made.min_text_px >= 12 and h > 1.4 * w  # 4 rows of 2 panels


def test_fig3_analogue_says_how_it_differs(demo_figures):
    ratio = next(made for made, _ in demo_figures if made.key == "grad_ratio")
    assert "without the paper's random rescalings" in ratio.title and "vertical strip at x ≈ 1" in ratio.title
