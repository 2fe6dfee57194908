"""FID/KID on the device: sanity properties, float64 statistics, RNG isolation, and equality with
clean-fid's ``frechet_distance`` (scipy ``sqrtm``) and ``kernel_distance``."""

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import importlib
import warnings

import numpy as np
import pytest
import torch

from specnorm.metrics import feature_stats, fid, kid
from specnorm.metrics.fid import Stats, StatsAccumulator, frechet_distance, kernel_distance, kid_subsets, psd_sqrt


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


# -- the device route against clean-fid's own functions (scipy sqrtm, NumPy kernel sums) ------------

def _gaussian_stats(n: int, d: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / d**0.5
    x = rng.standard_normal((n, d)) @ mix + shift
    return x.mean(0), np.cov(x, rowvar=False)


def _clean_fid(m1, s1, m2, s2) -> float:
    from cleanfid.fid import frechet_distance

    with warnings.catch_warnings():  # clean-fid 0.1.35 passes sqrtm(disp=...), deprecated in SciPy 1.17
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(frechet_distance(m1, s1, m2, s2))


@pytest.mark.parametrize("d,n1,n2", [
    (64, 500, 500),    # full rank
    (64, 40, 500),     # one covariance of rank 39 < d
    (64, 40, 30),      # both rank-deficient
    (256, 100, 2000),
    (256, 1500, 200),
])
def test_fid_equals_clean_fid_on_random_covariances(d, n1, n2):
    m1, s1 = _gaussian_stats(n1, d, seed=d + n1)
    m2, s2 = _gaussian_stats(n2, d, seed=d + n2 + 1, shift=0.1)
    assert fid(Stats(m1, s1), Stats(m2, s2)) == pytest.approx(_clean_fid(m1, s1, m2, s2), rel=1e-4)
    # symmetric in its arguments, and the tensor route is the same function
    assert fid(Stats(m2, s2), Stats(m1, s1)) == pytest.approx(_clean_fid(m1, s1, m2, s2), rel=1e-4)
    t = [torch.from_numpy(a) for a in (m1, s1, m2, s2)]
    assert float(frechet_distance(*t)) == pytest.approx(_clean_fid(m1, s1, m2, s2), rel=1e-4)


def test_fid_equals_clean_fid_on_structured_covariances():
    d = 128
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    spectrum = np.logspace(0, -10, d)  # condition number 1e10
    s1, s2 = (q * spectrum) @ q.T, (q * spectrum[::-1]) @ q.T  # commuting, opposite orders
    mu = np.linspace(-1, 1, d)
    cases = [
        (mu, s1, mu + 0.01, s2),
        (mu, s1, mu, s1),                                   # same Gaussian: 0
        (mu, np.diag(spectrum), mu + 1.0, np.diag(spectrum[::-1])),
        (mu, 2.0 * s1, mu, 0.5 * s1),                       # tr(2Σ) + tr(Σ/2) − 2 tr Σ = tr Σ / 2
        (mu, np.outer(mu, mu), mu, np.eye(d)),              # rank 1 against the identity
    ]
    # abs: √ of rounding-level eigenvalues (~1e-16 here) limits both routes' absolute accuracy to ~1e-7
    for m1, a, m2, b in cases:
        expected = _clean_fid(m1, a, m2, b)
        assert fid(Stats(m1, a), Stats(m2, b)) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert fid(Stats(mu, 2.0 * s1), Stats(mu, 0.5 * s1)) == pytest.approx(np.trace(s1) / 2, abs=1e-6)


def test_psd_sqrt_of_a_rank_deficient_covariance():
    _, s = _gaussian_stats(20, 50, seed=4)  # rank 19: eigh returns tiny negative eigenvalues
    r = psd_sqrt(torch.from_numpy(s))
    torch.testing.assert_close(r, r.T)
    torch.testing.assert_close(r @ r, torch.from_numpy(s), atol=1e-10, rtol=1e-8)
    assert torch.linalg.eigvalsh(r).min() > -1e-7


def test_the_reference_square_root_is_computed_once_per_run(monkeypatch):
    fid_module = importlib.import_module("specnorm.metrics.fid")  # the package re-exports fid()
    ref = feature_stats(_feats(300, d=16, seed=8))
    calls = []
    real = fid_module.psd_sqrt
    monkeypatch.setattr(fid_module, "psd_sqrt", lambda s: calls.append(1) or real(s))
    values = [fid(feature_stats(_feats(200, d=16, seed=s)), ref) for s in (9, 10, 11)]
    assert len(calls) == 1 and len(set(values)) == 3
    assert ref.sqrt_sigma("cpu") is ref.sqrt_sigma("cpu")


def test_kid_subsets_are_clean_fids_draws():
    np.random.seed(17)
    expected = [(np.random.choice(70, 50, replace=False), np.random.choice(50, 50, replace=False)) for _ in range(4)]
    idx_a, idx_b = kid_subsets(50, 70, seed=17, subsets=4)
    for i, (b, a) in enumerate(expected):
        np.testing.assert_array_equal(idx_b[i], b)
        np.testing.assert_array_equal(idx_a[i], a)


@pytest.mark.parametrize("n_a,n_b,d", [(300, 250, 32), (120, 1500, 64), (1200, 1100, 16)])
def test_kid_equals_clean_fid_kernel_distance(n_a, n_b, d):
    """Same subsets (clean-fid draws them after ``np.random.seed``): equal to rounding in float64.
    clean-fid computes in the features' dtype; on float32 features its kernel sums carry float32
    rounding (relative 1e-6 measured at 2048-d, 1000-row subsets), hence rel 1e-4 there."""
    from cleanfid.fid import kernel_distance

    rng = np.random.default_rng(n_a)
    a = rng.standard_normal((n_a, d)) * 0.5 + 0.3
    b = rng.standard_normal((n_b, d)) * 0.6 + 0.2
    for dtype, rel in ((np.float64, 1e-10), (np.float32, 1e-4)):
        fa, fb = a.astype(dtype), b.astype(dtype)
        state = np.random.get_state()
        np.random.seed(23)
        expected = kernel_distance(fa, fb, num_subsets=7)
        np.random.set_state(state)
        assert kid(fa, fb, seed=23, subsets=7) == pytest.approx(expected, rel=rel)
        assert kid(torch.from_numpy(fa), torch.from_numpy(fb), seed=23, subsets=7) == pytest.approx(expected, rel=rel)


def test_kid_does_not_depend_on_chunking():
    a, b = _feats(200, d=24, seed=12).numpy(), _feats(150, d=24, seed=13).numpy()
    idx_a, idx_b = kid_subsets(len(a), len(b), seed=3, subsets=9)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    one = kernel_distance(ta, tb, idx_a, idx_b, chunk_bytes=1)
    many = kernel_distance(ta, tb, idx_a, idx_b, chunk_bytes=2**30)
    assert one == pytest.approx(many, rel=1e-12)
