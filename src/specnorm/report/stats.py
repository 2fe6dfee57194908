"""Across-seed statistics of the report: mean ± standard error and Welch's t-test (Table 1 caption).

``ALPHA`` and ``MIN_SEEDS`` are the report's one significance rule (docs/deviations.md P6): a difference
is called (a "better", a bold best, a claim verdict) only at two-sided Welch p < ``ALPHA`` between
cells of at least ``MIN_SEEDS`` seeds.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from specnorm.vocab import HIGHER_IS_BETTER

ALPHA = 0.05
"""Significance level of every test the report states (two-sided)."""

MIN_SEEDS = 3
"""Seeds a cell needs before a claim verdict rests on it: the fewest the paper uses for a Table 1 cell
(3 for SSN/BSN/BSSN on ILSVRC2012; 5 elsewhere)."""


def mean_sem(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, s.e.m., n)`` of the finite values; s.e.m. = sample std (ddof 1) / √n, NaN for n < 2."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    sem = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(x.mean()), sem, n


def grouped_mean_sem(rows: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """:func:`mean_sem` of ``rows[value]`` per group of ``keys`` (vectorized): columns ``keys + [mean, sem, n]``."""
    finite = rows[value].astype(float).replace([np.inf, -np.inf], np.nan)
    groups = rows.assign(**{value: finite}).groupby(keys, sort=True, dropna=False)[value].agg(["mean", "std", "count"])
    groups = groups.rename(columns={"count": "n"}).reset_index()
    groups["sem"] = groups["std"] / np.sqrt(groups["n"])  # std (ddof 1) is NaN for one value
    return groups[groups["n"] > 0][[*keys, "mean", "sem", "n"]].reset_index(drop=True)


def welch_p(values: Sequence[float], others: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test of ``values`` against ``others`` (their
    finite entries); NaN when a side has < 2 values or both sides are constant (the test is undefined)."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=float)
    y = np.asarray([v for v in others if math.isfinite(v)], dtype=float)
    if len(x) < 2 or len(y) < 2 or (x.std() == 0 and y.std() == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def welch_p_from_stats(mean_a: float, sem_a: float, n_a: int, mean_b: float, sem_b: float, n_b: int) -> float:
    """:func:`welch_p` from each side's mean, s.e.m. and n (Welch's test needs nothing else); NaN when a
    side has n < 2 or an undefined s.e.m., or both s.e.m. are 0."""
    vals = (mean_a, sem_a, mean_b, sem_b)
    if n_a < 2 or n_b < 2 or not all(math.isfinite(float(v)) for v in vals) or (sem_a == 0 and sem_b == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind_from_stats(mean_a, sem_a * math.sqrt(n_a), n_a, mean_b, sem_b * math.sqrt(n_b),
                                                n_b, equal_var=False).pvalue)


def significant(p_value: float) -> bool:
    """Whether a two-sided p-value is below :data:`ALPHA` (NaN, an undefined test, never is)."""
    return math.isfinite(p_value) and p_value < ALPHA


def better(metric: str, value: float, other: float) -> bool:
    """Whether ``value`` is strictly better than ``other`` for ``metric`` (IS higher, FID/KID lower)."""
    return value > other if HIGHER_IS_BETTER[metric] else value < other


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)


def welch_p_less(values: Sequence[float], others: Sequence[float], margin: float = 0.0) -> float:
    """One-sided Welch p of H₁: mean(values) − mean(others) < ``margin`` (a non-inferiority or
    equivalence bound when ``margin`` ≠ 0); NaN when undefined (as :func:`welch_p`)."""
    x, y = _finite(values), _finite(others)
    if len(x) < 2 or len(y) < 2 or (x.std() == 0 and y.std() == 0) or not math.isfinite(margin):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x - margin, y, equal_var=False, alternative="less").pvalue)


def paired_p_less(values: Sequence[float], others: Sequence[float]) -> float:
    """One-sided paired t-test p of H₁: mean(values − others) < 0, over the pairs where both are
    finite (the same seed's two evaluations); NaN for < 2 pairs or constant differences."""
    d = np.asarray([a - b for a, b in zip(values, others) if math.isfinite(a) and math.isfinite(b)], dtype=float)
    if len(d) < 2 or d.std() == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_1samp(d, 0.0, alternative="less").pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (family-wise error ≤ α when compared with :data:`ALPHA`);
    NaN stays NaN and does not count as a test."""
    finite = sorted((p, i) for i, p in enumerate(p_values) if math.isfinite(p))
    out = [math.nan] * len(p_values)
    running, m = 0.0, len(finite)
    for rank, (p, i) in enumerate(finite):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out
