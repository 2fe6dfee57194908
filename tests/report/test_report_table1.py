import math

import numpy as np
import pytest
import yaml
from report_fixtures import cell_config, default_knn, make_run
from scipy import stats

from specnorm.report import aggregate as agg
from specnorm.report.runs import collect
from specnorm.report.scores import run_scores

# (mode, s) -> (IS, FID), constant over training; the seed adds 0.1·seed to IS and subtracts it from FID.
# SN's IS is best at s = 1.4 while its FID is best at s = 0.8: the scale is chosen per column.
LEVELS = {("sn", 0.8): (6.0, 20.0), ("sn", 1.0): (6.5, 25.0), ("sn", 1.4): (7.0, 30.0),
          ("bsn", 1.0): (7.2, 18.0), ("bsn", 1.4): (7.1, 19.0)}


def quality(cfg, it):
    is_, fid = LEVELS[(cfg["norm"]["mode"], cfg["norm"]["scale"])]
    return is_ + 0.1 * cfg["train"]["seed"], fid - 0.1 * cfg["train"]["seed"]


def _table(tmp_path, dataset="digits", protocol=None, planned=0, **cell):
    runs_dir = tmp_path / "runs"
    for (mode, s) in LEVELS:
        for seed in (0, 1, 2):
            make_run(runs_dir, f"{mode}-{s}-{seed}", mode=mode, scale=s, seed=seed, dataset=dataset, quality=quality,
                     protocol=protocol, analysis=False, samples=False, knn=default_knn, **cell)
    cells = tmp_path / "cells"
    cells.mkdir()
    for seed in range(3, 3 + planned):
        (cells / f"sn-1.0-{seed}.yaml").write_text(yaml.safe_dump(cell_config(dataset=dataset, seed=seed, **cell)))
    runs, _ = collect(runs_dir, cells)
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    settings = agg.table1_settings(runs)
    return agg.table1(runs, scores, gs, settings)


def _cell(t1, metric, row, which="best"):
    r = t1[(t1["metric"] == metric) & (t1["row"] == row) & (t1["which"] == which)]
    assert len(r) == 1
    return r.iloc[0]


def test_rows_mean_sem_and_per_column_scale_choice(tmp_path):
    t1, cols = _table(tmp_path)
    assert [(c.metric, c.label) for c in cols] == [("is", "digits-IS"), ("fid", "digits-FID"),
                                                   ("recall", "digits-Recall")]  # ours, after the paper's
    assert cols[2].key.reference == "digits-train-subset(1000),k=3" and _cell(t1, "recall", "BSSN")["n_scales"] == 2
    assert _cell(t1, "recall", "SN")["n"] == 3 and math.isnan(_cell(t1, "recall", "SN")["paper_mean"])
    sn = _cell(t1, "is", "SN")
    assert sn["mean"] == pytest.approx(6.6) and sn["sem"] == pytest.approx(0.1 / math.sqrt(3)) and sn["n"] == 3
    assert _cell(t1, "is", "SSN")["scale"] == 1.4 and _cell(t1, "is", "SSN")["mean"] == pytest.approx(7.1)
    assert _cell(t1, "fid", "SSN")["scale"] == 0.8 and _cell(t1, "fid", "SSN")["mean"] == pytest.approx(19.9)
    assert _cell(t1, "is", "BSSN")["scale"] == 1.0 and _cell(t1, "is", "BSSN")["n_scales"] == 2
    assert math.isnan(_cell(t1, "is", "Real data")["mean"]) and _cell(t1, "is", "Real data")["n"] == 0
    assert set(t1["which"]) == {"best", "final"}


def test_welch_p_of_bsn_vs_sn(tmp_path):
    t1, _ = _table(tmp_path)
    sn = [6.5 + 0.1 * s for s in range(3)]
    bsn = [7.2 + 0.1 * s for s in range(3)]
    want = stats.ttest_ind(bsn, sn, equal_var=False).pvalue
    assert _cell(t1, "is", "BSN")["welch_p_bsn_vs_sn"] == pytest.approx(want)
    assert t1[t1["row"] != "BSN"]["welch_p_bsn_vs_sn"].isna().all()


def test_progress_counts_planned_seeds(tmp_path):
    t1, _ = _table(tmp_path, planned=2)
    sn = _cell(t1, "is", "SN")
    assert (sn["done"], sn["total"], sn["n"]) == (3, 5, 3)
    ssn = _cell(t1, "is", "SSN")
    assert (ssn["done"], ssn["total"]) == (9, 11)


def test_paper_numbers_and_difference_on_cifar10(tmp_path):
    t1, cols = _table(tmp_path, dataset="cifar10", g_lr=1e-4, d_lr=1e-4,
                      protocol={"extractor": "inception", "n_gen": 10000, "n_real": 5000})
    assert [c.label for c in cols] == ["IS", "FID", "Recall"]
    sn = _cell(t1, "is", "SN")
    assert (sn["paper_mean"], sn["paper_sem"]) == (7.12, 0.07)
    assert sn["diff"] == pytest.approx(6.6 - 7.12)
    assert _cell(t1, "fid", "Real data")["paper_mean"] == 9.70


def test_celeba_has_no_is_column_as_in_the_paper(tmp_path):
    _, cols = _table(tmp_path, dataset="celeba", g_lr=1e-4, d_lr=1e-4)
    assert [c.metric for c in cols] == ["fid", "recall"]


def test_table1_setting_is_the_papers_hyper_parameters(tmp_path):
    runs_dir = tmp_path / "runs"
    for seed in (0, 1):
        make_run(runs_dir, f"default-{seed}", dataset="cifar10", g_lr=1e-4, d_lr=1e-4, seed=seed, analysis=False)
    for s in (0.8, 1.0, 1.4):  # an App. N setting with more cells
        make_run(runs_dir, f"appn-{s}", dataset="cifar10", g_lr=2e-4, d_lr=2e-4, scale=s, analysis=False)
    runs, _ = collect(runs_dir)
    setting = agg.table1_settings(runs)["cifar10"]
    assert {r.name for r in runs if r.setting == setting} == {"default-0", "default-1"}


def test_other_datasets_use_the_setting_with_most_cells(tmp_path):
    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "a", g_lr=1e-3, analysis=False)
    for s in (0.8, 1.0):
        make_run(runs_dir, f"b{s}", scale=s, analysis=False)
    runs, _ = collect(runs_dir)
    setting = agg.table1_settings(runs)["digits"]
    assert {r.name for r in runs if r.setting == setting} == {"b0.8", "b1.0"}


def test_thin_keeps_first_and_last():
    its = agg.thin(range(0, 1000, 10), 5)
    assert its[0] == 0 and its[-1] == 990 and len(its) == 5
    assert agg.thin([3, 1, 2, 2]) == [1, 2, 3]
    assert np.all(np.diff(its) > 0)
