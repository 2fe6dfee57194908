"""Across-seed statistics of the report: mean ± standard error and Welch's t-test (Table 1 caption)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

HIGHER_IS_BETTER: dict[str, bool] = {"is": True, "fid": False, "kid": False}
"""Direction of each metric (IS ↑, FID ↓, KID ↓)."""


def mean_sem(values: Sequence[float]) -> tuple[float, float, int]:
    """``(mean, s.e.m., n)`` of the finite values; s.e.m. = sample std (ddof 1) / √n, NaN for n < 2."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, 0
    sem = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return float(x.mean()), sem, n


def grouped_mean_sem(df: pd.DataFrame, keys: list[str], value: str = "value") -> pd.DataFrame:
    """:func:`mean_sem` of ``df[value]`` per group of ``keys`` (vectorized): columns ``keys + [mean, sem, n]``."""
    v = df[value].astype(float).replace([np.inf, -np.inf], np.nan)
    g = df.assign(**{value: v}).groupby(keys, sort=True, dropna=False)[value].agg(["mean", "std", "count"])
    g = g.rename(columns={"count": "n"}).reset_index()
    g["sem"] = g["std"] / np.sqrt(g["n"])  # std (ddof 1) is NaN for one value
    return g[g["n"] > 0][[*keys, "mean", "sem", "n"]].reset_index(drop=True)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test; NaN when a side has < 2 values or
    both sides are constant (the test is undefined)."""
    x = np.asarray([v for v in a if math.isfinite(v)], dtype=float)
    y = np.asarray([v for v in b if math.isfinite(v)], dtype=float)
    if len(x) < 2 or len(y) < 2 or (x.std() == 0 and y.std() == 0):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def better(metric: str, a: float, b: float) -> bool:
    """Whether value ``a`` is strictly better than ``b`` for ``metric`` (IS higher, FID/KID lower)."""
    return a > b if HIGHER_IS_BETTER[metric] else a < b
