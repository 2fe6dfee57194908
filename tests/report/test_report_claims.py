import pandas as pd
import pytest
import yaml
from report_fixtures import cell_config, default_knn, make_demo, make_run

from specnorm.report import aggregate as agg
from specnorm.report import claims as cl
from specnorm.report.runs import collect
from specnorm.report.scores import run_scores


@pytest.mark.parametrize("means,sems,want", [
    ([1, 3, 1, 3, 1], [0.05] * 5, [0.2, 0.6]),  # two clear peaks
    ([1, 2, 3, 2, 1], [0.05] * 5, [0.4]),  # one peak
    ([1, 3, 2.9, 3.1, 1], [0.1] * 5, [0.6]),  # the dip is not significant: one mode (the higher peak)
    ([3, 1, 1, 1, 3], [0.05] * 5, [0.0, 0.8]),  # modes at both ends
    ([1, 3, 2.0, 3, 1], [0.6] * 5, [0.2]),  # a visible dip at p ≥ α: one mode
])
def test_modes(means, sems, want):
    scales = [0.0, 0.2, 0.4, 0.6, 0.8]
    assert cl.modes(scales, means, sems, [3] * 5) == want


def test_single_mode_needs_every_step_significant():
    assert cl.single_mode([1, 2, 3, 2, 1], [0.05] * 5, [3] * 5)
    assert not cl.single_mode([1, 2, 3, 2.95, 1], [0.05] * 5, [3] * 5)  # a flat step could hide a second mode
    assert not cl.single_mode([1, 2, 3, 2, 1], [0.05] * 5, [1] * 5)  # one seed: no test


def _checklist(runs):
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    settings = agg.table1_settings(runs)
    t1, _ = agg.table1(runs, scores, gs, settings)
    return cl.checklist(runs, gs, t1, agg.hparams(gs), settings)


def _judge(runs_dir):
    return {c.key: c for c in _checklist(collect(runs_dir)[0])}


@pytest.fixture(scope="module")
def demo3_claims(tmp_path_factory):
    """The checklist of the synthetic demo grid with 3 seeds (the fewest a verdict accepts)."""
    runs = make_demo(tmp_path_factory.mktemp("demo3"), seeds=(0, 1, 2))
    return {c.key: c for c in _checklist(collect(runs)[0])}


def test_synthetic_demo_with_three_seeds_reproduces_every_claim_but_imagenet_as_a_demo_analogue(demo3_claims):
    status = {k: c.status for k, c in demo3_claims.items()}
    assert status == {"bsn_vs_sn": "reproduced", "curves": "reproduced", "sn_conv": "reproduced",
                      "modes_SN": "reproduced", "modes_LeCun": "reproduced", "variance": "reproduced",
                      "imagenet": "not reproduced"}  # the synthetic BSN does not collapse: its IS and coverage are high
    assert all(c.rule and c.evidence and c.criteria for c in demo3_claims.values())
    for key, c in demo3_claims.items():
        assert c.verdict == ("not reproduced" if key == "imagenet" else "reproduced") + " (demo analogue)"
    assert "coverage: SN" in demo3_claims["imagenet"].evidence and "recall: SN" in demo3_claims["imagenet"].evidence


def test_two_seed_demo_is_inconclusive_everywhere(demo_report):
    built, _ = demo_report
    status = {c.key: c.status for c in built.claims}
    assert set(status.values()) == {"inconclusive"} and "imagenet" in status  # the collapse analogue too
    assert all(c.analogue and c.verdict == "inconclusive (demo analogue)" for c in built.claims)


def worse_bsn(cfg, it):
    is_ = 7.0 if cfg["norm"]["mode"] == "sn" else 6.0
    is_ += 0.05 * cfg["train"]["seed"]
    return is_, 60 - 6 * is_


def test_bsn_significantly_worse_than_sn_is_not_reproduced_and_flat_curves_are_inconclusive(tmp_path):
    for mode in ("sn", "bsn"):
        for seed in (0, 1, 2):
            make_run(tmp_path, f"{mode}{seed}", mode=mode, seed=seed, quality=worse_bsn, samples=False)
    c = _judge(tmp_path)
    assert c["bsn_vs_sn"].status == "not reproduced"
    assert "SN significantly better in 2" in c["bsn_vs_sn"].evidence and "BSN's mean better in 0 of 2" in c[
        "bsn_vs_sn"].evidence
    assert c["curves"].status == "inconclusive"  # flat curves: no significant drop of SN, none of BSN either
    assert c["sn_conv"].status == "not run" and c["sn_conv"].scope == "any dataset"


def test_one_seed_is_inconclusive_not_not_run(tmp_path):
    for mode in ("sn", "bsn"):
        make_run(tmp_path, mode, mode=mode, samples=False)
    c = _judge(tmp_path)
    assert c["bsn_vs_sn"].status == "inconclusive" and "too few seeds" in c["bsn_vs_sn"].evidence
    assert c["curves"].status == "inconclusive" and "n = 1" in c["curves"].evidence


def _sn_runs(root, seeds=(0, 1, 2)):
    return [make_run(root, f"sn{seed}", seed=seed, samples=False) for seed in seeds]


def _variance_grid(root, seeds=(0, 1, 2)):
    """SN and no-SN runs at s = 1 (the fixture's no-SN variance grows 20×, SN's by < 2×)."""
    paths = [make_run(root, f"sn{seed}", seed=seed, samples=False) for seed in seeds]
    for seed in seeds:
        make_run(root, f"nosn{seed}", mode="none", seed=seed, samples=False)
    return paths


def _edit_analysis(path, where, column, value):
    an = pd.read_csv(path / "analysis.csv")
    an.loc[where(an), column] = value(an)
    an.to_csv(path / "analysis.csv", index=False)


def test_variance_is_judged_against_no_sn_and_the_bound_is_only_an_implementation_check(tmp_path):
    _variance_grid(tmp_path)
    c = _judge(tmp_path)["variance"]
    assert c.status == "reproduced" and "SN" in c.evidence and "no-SN" in c.evidence
    assert "implementation check" in c.evidence and "passed" in c.evidence and "variance × fan-in" in c.evidence


def test_variance_above_the_identity_is_a_failed_implementation_check_not_a_refutation(tmp_path):
    path = _variance_grid(tmp_path)[0]
    _edit_analysis(path, lambda an: an["layer"] == "layer1", "var_eff", lambda an: an["bound_sn"] * 1.5)
    c = _judge(tmp_path)["variance"]
    assert c.status == "inconclusive" and "implementation check failed" in c.evidence and "FAILED" in c.evidence


def test_sn_drifting_more_than_no_sn_is_not_reproduced(tmp_path):
    paths = _variance_grid(tmp_path)
    for i, path in enumerate(paths):
        _edit_analysis(path, lambda an: an["iteration"] > 0, "var_eff",
                       lambda an, i=i: an["bound_sn"] * (1 + i * 0.01) * 0.9 ** (an["iteration"] / 10))
    c = _judge(tmp_path)["variance"]
    assert c.status == "not reproduced" and "passed" in c.evidence


def test_variance_with_too_few_runs_is_inconclusive(tmp_path):
    _variance_grid(tmp_path, (0, 1))
    c = _judge(tmp_path)["variance"]
    assert c.status == "inconclusive" and "too few runs (2, 2" in c.evidence


def test_variance_at_iteration_zero_is_not_judged(tmp_path):
    path = _variance_grid(tmp_path)[0]
    _edit_analysis(path, lambda an: an["iteration"] == 0, "var_eff", lambda an: an["bound_sn"] * 1e-6)
    assert _judge(tmp_path)["variance"].status == "reproduced"


def test_variance_without_an_unnormalized_baseline_is_not_run(tmp_path):
    _sn_runs(tmp_path)
    assert _judge(tmp_path)["variance"].status == "not run"


COLLAPSE_LEVELS = {("sn", 1.0): 12.8, ("bsn", 1.0): 1.8, ("bsn", 1.4): 13.2}  # IS: BSN at s = 1 collapses


def _collapse_runs(root, dataset="imagenet", knn=default_knn):
    """SN, BSN and BSN ×1.4 (3 seeds each) at :data:`COLLAPSE_LEVELS`' IS, with ``make_run``'s ``knn``."""
    paper_setting = dict(g_lr=2e-4, d_lr=2e-4, beta1=0.0, beta2=0.9, n_dis=5) if dataset == "imagenet" else {}
    for (mode, s), v in COLLAPSE_LEVELS.items():
        for seed in (0, 1, 2):
            make_run(root, f"{mode}{s}{seed}", dataset=dataset, mode=mode, scale=s, seed=seed, samples=False,
                     analysis=False, quality=lambda cfg, it, v=v: (v + 0.1 * cfg["train"]["seed"], 300 - 10 * v),
                     knn=knn, **paper_setting)
    return _judge(root)


def test_imagenet_collapse_rule(tmp_path):
    c = _collapse_runs(tmp_path)  # coverage follows IS (report_fixtures.default_knn): it collapses too
    assert c["imagenet"].status == "reproduced" and "BSSN (s = 1.4)" in c["imagenet"].evidence
    assert "coverage: SN 0.8" in c["imagenet"].evidence and "BSN vs SN p < 0.001" in c["imagenet"].evidence
    assert "Reported, not judged: recall: SN" in c["imagenet"].evidence and "coverage" in c["imagenet"].rule


def test_a_low_is_without_a_coverage_drop_is_no_collapse(tmp_path):
    same = lambda cfg, it, is_: {"precision": 0.8, "recall": 0.5, "density": 0.9,  # noqa: E731
                                 "coverage": 0.6 + 0.01 * cfg["train"]["seed"]}
    assert _collapse_runs(tmp_path / "flat", knn=same)["imagenet"].status == "inconclusive"
    higher = lambda cfg, it, is_: {**same(cfg, it, is_), "coverage": (0.9 if cfg["norm"]["mode"] == "bsn"  # noqa: E731
                                                                      else 0.6) + 0.01 * cfg["train"]["seed"]}
    assert _collapse_runs(tmp_path / "higher", knn=higher)["imagenet"].status == "not reproduced"


def test_the_collapse_needs_coverage_to_be_measured(tmp_path):
    claim = _collapse_runs(tmp_path, knn=None)["imagenet"]
    assert claim.status == "inconclusive" and claim.evidence.startswith("coverage not measured")
    assert "not measured for SN, BSN, BSSN" in claim.evidence


def test_the_collapse_rule_on_the_built_in_dataset_is_a_demo_analogue(tmp_path):
    claim = _collapse_runs(tmp_path, dataset="digits")["imagenet"]
    assert claim.scope == "digits (built-in)" and claim.verdict == "reproduced (demo analogue)"


def test_planned_experiments_are_listed_as_not_run_with_progress(tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    for mode in ("sn", "bsn"):
        cfg = cell_config(dataset="cifar10", mode=mode, g_lr=1e-4, d_lr=1e-4)
        (cells / f"{mode}.yaml").write_text(yaml.safe_dump(cfg))
    runs, _ = collect(tmp_path / "runs", cells)
    c = {(x.key, x.scope): x for x in _checklist(runs)}
    bsn = c[("bsn_vs_sn", "CIFAR10")]
    assert bsn.status == "not run" and "SN ×1: 0/1, BSN ×1: 0/1 cells finished" in bsn.evidence
    assert c[("imagenet", "any dataset")].status == "not run"

