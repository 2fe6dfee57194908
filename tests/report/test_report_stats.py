import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from specnorm.report.stats import better, grouped_mean_sem, mean_sem, welch_p


def test_mean_sem_is_sample_std_over_root_n():
    m, s, n = mean_sem([1.0, 2.0, 4.0])
    assert n == 3 and m == pytest.approx(7 / 3)
    assert s == pytest.approx(np.std([1, 2, 4], ddof=1) / math.sqrt(3))


def test_mean_sem_ignores_non_finite_and_has_no_sem_for_one_value():
    m, s, n = mean_sem([5.0, float("nan"), float("inf")])
    assert (m, n) == (5.0, 1) and math.isnan(s)
    m, s, n = mean_sem([])
    assert n == 0 and math.isnan(m) and math.isnan(s)


def test_welch_p_matches_scipy_unequal_variances():
    a, b = [7.1, 7.3, 7.0, 7.2, 7.25], [7.5, 7.6, 7.45, 7.9]
    assert welch_p(a, b) == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_welch_p_undefined_cases_are_nan():
    assert math.isnan(welch_p([1.0], [2.0, 3.0]))
    assert math.isnan(welch_p([1.0, 1.0], [2.0, 2.0]))


def test_better_follows_metric_direction():
    assert better("is", 8.0, 7.0) and not better("is", 7.0, 8.0)
    assert better("fid", 20.0, 30.0) and better("kid", 0.01, 0.02)
    assert not better("fid", 30.0, 30.0)


def test_grouped_mean_sem_matches_mean_sem():
    df = pd.DataFrame({"k": ["a", "a", "a", "b", "c"], "value": [1.0, 2.0, 4.0, 3.0, float("inf")]})
    g = grouped_mean_sem(df, ["k"]).set_index("k")
    m, s, n = mean_sem([1.0, 2.0, 4.0])
    assert g.loc["a", "mean"] == pytest.approx(m) and g.loc["a", "sem"] == pytest.approx(s) and g.loc["a", "n"] == n
    assert g.loc["b", "n"] == 1 and math.isnan(g.loc["b", "sem"])
    assert "c" not in g.index  # no finite value
