"""Thm. 2 / Thm. 3 estimators, bounds and the exact σ helper on hand-picked shapes."""

import math

import pytest
import torch

import specnorm  # noqa: F401  (torchvision shim first)
from specnorm.analysis.linalg import exact_sigma
from specnorm.analysis.variance import (
    bsn_applies,
    bsn_bound,
    bsn_lower_order,
    bsn_variance,
    draw,
    sn_bound,
    sn_lower_order,
    sn_variance,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(5, 9), (9, 5), (3, 4, 7), (1, 30)])
def test_exact_sigma_matches_svd(shape):
    a = torch.randn(shape, generator=gen())
    expected = torch.linalg.svdvals(a.double())[..., 0]
    assert torch.allclose(exact_sigma(a), expected, rtol=1e-12)


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
@pytest.mark.parametrize("m,n", [(64, 27), (27, 64), (64, 3), (128, 576)])
def test_sn_variance_below_bound_and_lower_order_positive(m, n, dist):
    est = sn_variance(m, n, dist, 8, gen())
    assert est.samples == 8 and est.se > 0
    assert 0 < est.var <= sn_bound(m, n)
    # Gaussian/uniform matrices sit well inside the bound, and far above 0 in lower-order units.
    assert 0.2 < est.var * max(m, n) < 0.95
    assert sn_lower_order(est.var, m, n) > 0.5


def test_sn_variance_of_a_vector_is_exactly_one_over_n():
    """A 1 × n matrix: ‖a‖_sp = ‖a‖₂, so the mean square of a/‖a‖ is exactly 1/n."""
    est = sn_variance(1, 100, "gaussian", 5, gen())
    assert est.var == pytest.approx(1 / 100, rel=1e-12)
    assert math.isnan(sn_lower_order(est.var, 1, 100))


def test_sn_variance_matches_direct_entry_statistics():
    """The per-matrix estimator agrees with the plain variance of the normalized entries."""
    m, n, samples = 16, 40, 200
    est = sn_variance(m, n, "uniform", samples, gen(3))
    g = gen(3)
    a = draw((samples, m, n), "uniform", g).double()
    normalized = a / exact_sigma(a)[:, None, None]
    assert est.var == pytest.approx(float(normalized.pow(2).mean()), rel=1e-9)
    assert est.var == pytest.approx(float(normalized.var()), rel=2e-2)


@pytest.mark.parametrize("dist", ["gaussian", "uniform"])
@pytest.mark.parametrize("c_out,c_in,area", [(64, 64, 9), (128, 64, 9), (32, 32, 16), (64, 64, 1)])
def test_bsn_variance_below_bound(c_out, c_in, area, dist):
    assert bsn_applies(c_out, c_in, area)
    est = bsn_variance(c_out, c_in, area, dist, 6, gen(1))
    assert 0 < est.var < bsn_bound(c_out, c_in, area)
    assert bsn_lower_order(est.var, c_out, c_in, area) > 1.0


def test_bsn_variance_is_the_mean_square_over_sigma_w():
    w = draw((1, 8, 4, 9), "gaussian", gen(5)).double()
    s1 = torch.linalg.svdvals(w[0].reshape(8, -1))[0]
    s2 = torch.linalg.svdvals(w[0].transpose(0, 1).reshape(4, -1))[0]
    expected = float(w.pow(2).mean() / ((s1 + s2) / 2) ** 2)
    assert bsn_variance(8, 4, 9, "gaussian", 1, gen(5)).var == pytest.approx(expected, rel=1e-10)


def test_bounds_and_hypotheses_arithmetic():
    assert sn_bound(64, 27) == 1 / 64 and sn_bound(1, 8192) == 1 / 8192
    assert bsn_bound(64, 64, 16) == 2 / (1024 + 1024)
    assert bsn_bound(128, 64, 9) == 2 / (576 + 1152)
    assert not bsn_applies(64, 3, 9)  # 64/3 > 9: the first conv is outside Thm. 3
    assert bsn_applies(1024, 1024, 1) and not bsn_applies(128, 64, 1)
    assert sn_lower_order(0.5, 4, 8) == pytest.approx(0.5 * 8 * math.log(4))
    assert math.isnan(sn_lower_order(0.5, 2, 2))
    assert bsn_lower_order(0.1, 4, 2, 9) == pytest.approx(0.1 * (18 * math.log(4) + 36 * math.log(2)))
    assert math.isnan(bsn_lower_order(0.1, 64, 1, 9))


def test_estimates_are_seeded_and_draw_checks_the_distribution():
    assert sn_variance(10, 20, "gaussian", 4, gen(7)) == sn_variance(10, 20, "gaussian", 4, gen(7))
    assert sn_variance(10, 20, "gaussian", 4, gen(7)) != sn_variance(10, 20, "gaussian", 4, gen(8))
    u = draw((1000,), "uniform", gen())
    assert u.min() >= -1 and u.max() <= 1
    with pytest.raises(ValueError):
        draw((3,), "cauchy", gen())
