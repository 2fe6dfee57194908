"""FID/KID through clean-fid's arithmetic: sanity properties, float64 statistics, RNG isolation."""

import specnorm  # noqa: F401  (before torchvision)
import numpy as np
import pytest
import torch

from specnorm.metrics import feature_stats, fid, kid
from specnorm.metrics.fid import StatsAccumulator


def _feats(n: int, d: int = 8, seed: int = 0, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(d, d, generator=torch.Generator().manual_seed(99)) / d**0.5
    return torch.randn(n, d, generator=g) @ mix + shift


def test_stats_match_numpy_cov_and_streaming_equals_one_shot():
    f = _feats(1000) + 5.0
    s = feature_stats(f)
    x = f.double().numpy()
    np.testing.assert_allclose(s.mu, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.sigma, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    acc = StatsAccumulator()
    for part in f.split(137):
        acc.update(part)
    np.testing.assert_allclose(acc.result().sigma, s.sigma, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2"):
        StatsAccumulator().result()


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
    f = _feats(2000)
    base = feature_stats(f)
    assert abs(fid(base, base)) < 1e-6
    noise = _feats(2000, seed=1)
    values = [fid(feature_stats(f + a * noise), base) for a in (0.1, 0.3, 1.0, 3.0)]
    assert values[0] > 1e-4 and all(b > a for a, b in zip(values, values[1:]))


def test_unbiased_kid_is_near_zero_within_one_distribution():
    a, b = _feats(400, seed=2).numpy(), _feats(400, seed=3).numpy()
    far = (_feats(400, seed=4) + 1.0).numpy()
    same, other = kid(a, b, seed=0, subsets=20), kid(a, far, seed=0, subsets=20)
    assert abs(same) < other / 20
    assert other > 0.1


def test_kid_is_deterministic_and_leaves_the_global_numpy_rng_alone():
    a, b = _feats(100, seed=5).numpy(), _feats(100, seed=6).numpy()
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    k1 = kid(a, b, seed=7, subsets=5)
    assert np.array_equal(np.random.get_state()[1], before)
    assert kid(a, b, seed=7, subsets=5) == k1
