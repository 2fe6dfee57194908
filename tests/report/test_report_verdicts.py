"""Verdicts and marks the report states only with their evidence (issue 12): claims at p ≥ α are
inconclusive, the built-in dataset gives demo analogues, the header counts all four verdicts, and a
best is bold (a side "better") only at p < α."""

import math
import re

import pandas as pd
from report_fixtures import judge as _judge
from report_fixtures import make_run

from specnorm.report import claims as cl
from specnorm.report import views
from specnorm.report.stats import ALPHA, welch_p_from_stats
from specnorm.scores import ProtocolKey


def noisy(levels):
    """IS per mode with a large seed spread (±0.5), so small differences are not significant."""
    def quality(cfg, it):
        is_ = levels[cfg["norm"]["mode"]] + 0.5 * (cfg["train"]["seed"] % 3 - 1)
        return is_, 60 - 6 * is_
    return quality


def _grid(root, dataset="digits", seeds=(0, 1, 2), quality=None, **cell):
    for mode in ("sn", "bsn"):
        for seed in seeds:
            make_run(root, f"{mode}{seed}", mode=mode, seed=seed, dataset=dataset, samples=False,
                     quality=quality, **cell)


def test_bsn_slightly_worse_at_p_above_alpha_is_inconclusive_not_not_reproduced(tmp_path):
    _grid(tmp_path, quality=noisy({"sn": 7.0, "bsn": 6.9}))
    c = _judge(tmp_path)["bsn_vs_sn"]
    assert c.status == "inconclusive"
    assert "no significant difference in 2" in c.evidence and "BSN's mean better in 0 of 2" in c.evidence


def test_two_seeds_are_too_few_even_at_small_p(tmp_path):
    _grid(tmp_path, seeds=(0, 1), quality=lambda cfg, it: ((7.0 if cfg["norm"]["mode"] == "sn" else 6.0)
                                                          + 0.01 * cfg["train"]["seed"], 30.0))
    c = _judge(tmp_path)["bsn_vs_sn"]
    assert c.status == "inconclusive" and "too few seeds" in c.evidence and f"≥ {cl.MIN_SEEDS} seeds" in c.criteria


def test_curve_drop_at_p_above_alpha_is_inconclusive(tmp_path):
    def quality(cfg, it):  # SN ends 0.3 below its peak, seeds spread ±1: not significant
        frac = it / cfg["train"]["iterations"]
        is_ = (7.0 - 0.3 * (frac == 1.0)) if cfg["norm"]["mode"] == "sn" else 6.0 + frac
        return is_ + 1.0 * (cfg["train"]["seed"] % 3 - 1), 30.0
    _grid(tmp_path, quality=quality)
    c = _judge(tmp_path)["curves"]
    assert c.status == "inconclusive" and "SN does not drop significantly" in c.evidence


def test_demo_dataset_is_labelled_a_demo_analogue_and_a_paper_dataset_is_not(tmp_path):
    _grid(tmp_path / "digits", quality=noisy({"sn": 6.0, "bsn": 8.0}))
    demo = _judge(tmp_path / "digits")["bsn_vs_sn"]
    assert (demo.status, demo.analogue, demo.verdict) == ("reproduced", True, "reproduced (demo analogue)")
    _grid(tmp_path / "cifar", dataset="cifar10", g_lr=1e-4, d_lr=1e-4, quality=noisy({"sn": 6.0, "bsn": 8.0}))
    real = _judge(tmp_path / "cifar")["bsn_vs_sn"]
    assert (real.status, real.analogue, real.verdict, real.scope) == ("reproduced", False, "reproduced", "CIFAR10")


def test_a_dataset_the_paper_does_not_claim_is_inconclusive(tmp_path):
    _grid(tmp_path, dataset="mnist", quality=noisy({"sn": 6.0, "bsn": 8.0}))
    c = _judge(tmp_path)["bsn_vs_sn"]
    assert c.status == "inconclusive" and not c.analogue
    assert "states this claim for CIFAR10, STL10, CelebA" in c.evidence and '"reproduced"' in c.evidence


def test_builtin_check_asks_the_dataset_catalogue():
    assert [cl._claim("variance", d, cl.REPRODUCED, "").analogue for d in ("digits", "cifar10", "nope")] == [
        True, False, False]


def test_header_counts_each_of_the_four_verdicts(demo_report):
    built, _ = demo_report
    html = built.index.read_text()
    header = re.search(r"<header>.*?</header>", html, re.S).group(0)
    want = cl.counts(built.claims)
    assert set(want) == {"reproduced", "not reproduced", "inconclusive", "not run"} and sum(want.values()) == 7
    for status, n in want.items():
        slug = status.replace(" ", "-")
        assert re.search(rf'id="count-{slug}">{n} {status}</span>', header), status
    assert want["inconclusive"] == 7 and want["not run"] == 0  # two seeds: nothing is decided (collapse: digits)
    assert "demo analogues on the built-in dataset" in header


def test_claims_table_shows_verdict_label_and_rule_parameters(demo_report):
    built, _ = demo_report
    table = re.search(r'<table class="claims".*?</table>', built.index.read_text(), re.S).group(0)
    assert table.count("inconclusive (demo analogue)") == 7  # the collapse claim's digits analogue too
    assert table.count("decided by: ") == 7 and f"≥ {cl.MIN_SCALES} scales" in table
    assert table.count(f"decided by: α = {ALPHA:g}") == 7  # every rule is a test (the variance bound is a check)


# -- bold best and "better" ------------------------------------------------------------------------
def _t1(rows):
    return pd.DataFrame([{"row": r, "mean": m, "sem": s, "n": n, "scale": sc} for r, m, s, n, sc in rows])


def test_bold_best_only_when_significantly_better_than_every_other_cell():
    clear = _t1([("Real data", math.nan, math.nan, 0, math.nan), ("SN", 7.0, 0.05, 5, 1.0),
                 ("SSN", 7.1, 0.05, 5, 1.4), ("BSN", 8.0, 0.05, 5, 1.0), ("BSSN", 8.0, 0.05, 5, 1.0)])
    assert views.significant_best(clear, "is") == {"BSN", "BSSN"}  # BSSN at s = 1 is the BSN cell
    close = clear.assign(mean=[math.nan, 7.0, 7.1, 7.15, 7.15], sem=[math.nan, 0.3, 0.3, 0.3, 0.3])
    p = welch_p_from_stats(7.15, 0.3, 5, 7.1, 0.3, 5)
    assert p >= ALPHA and views.significant_best(close, "is") == set()
    two_seeds = clear.assign(n=[0, 1, 1, 1, 1])  # one seed per cell: no test, no bold
    assert views.significant_best(two_seeds, "is") == set()
    assert views.significant_best(clear.assign(mean=[math.nan, 20.0, 25.0, 30.0, 30.0]), "fid") == {"SN"}


def test_table1_view_bolds_nothing_at_p_above_alpha(tmp_path):
    from specnorm.report import aggregate as agg
    from specnorm.report.runs import collect
    from specnorm.report.scores import run_scores

    _grid(tmp_path, quality=noisy({"sn": 7.0, "bsn": 7.1}))
    runs, _ = collect(tmp_path)
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    t1, columns = agg.table1(runs, scores, gs, agg.table1_settings(runs))
    cells = [c for v in views.table1_views(t1, columns) for row in v["rows"] for c in row["cells"]]
    assert cells and not any(c.get("best") for c in cells)


KEY = ProtocolKey("paper", "inception", "f" * 64, 10000, 5000, "cifar10-train-subset(5000)", "x")


def test_app_n_better_only_at_p_below_alpha():
    hp = pd.DataFrame([
        {"dataset": "d", "setting_label": "a", "metric": "is", "label": "IS", "key": KEY, "which": "best",
         "sn_mean": 7.0, "sn_sem": 0.1, "sn_n": 2, "bsn_mean": 7.2, "bsn_sem": 0.2, "bsn_n": 2, "welch_p": 0.44,
         "bsn_better": True},
        {"dataset": "d", "setting_label": "b", "metric": "fid", "label": "FID", "key": KEY, "which": "best",
         "sn_mean": 30.0, "sn_sem": 0.1, "sn_n": 5, "bsn_mean": 20.0, "bsn_sem": 0.1, "bsn_n": 5, "welch_p": 1e-6,
         "bsn_better": True},
        {"dataset": "d", "setting_label": "c", "metric": "is", "label": "IS", "key": KEY, "which": "best",
         "sn_mean": 7.0, "sn_sem": math.nan, "sn_n": 1, "bsn_mean": 6.0, "bsn_sem": math.nan, "bsn_n": 1,
         "welch_p": math.nan, "bsn_better": False},
    ])
    winners = {r["setting"]: r["winner"] for r in views.hparam_rows(hp, "d")}
    assert winners == {"a": "no significant difference (p = 0.440)", "b": "BSN", "c": "no test (a side has < 2 seeds)"}


def test_demo_app_n_table_never_names_a_side_without_significance(demo_report):
    built, _ = demo_report
    table = re.search(r'<table class="small" id="hparams-digits">.*?</table>', built.index.read_text(), re.S).group(0)
    for p, better in re.findall(r"<td>([^<]*)</td><td>([^<]*)</td></tr>", table):
        if better in ("SN", "BSN"):
            assert p == "&lt; 0.001" or float(p) < ALPHA
        else:
            assert better.startswith("no significant difference") or better.startswith("no test")
