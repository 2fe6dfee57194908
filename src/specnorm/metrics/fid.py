"""FID and KID on the device, with clean-fid's definitions (``cleanfid.fid.frechet_distance`` and
``kernel_distance``, the oracles of ``tests/metrics/test_metrics_fid.py``).

FID = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr √(Σ₁Σ₂). clean-fid takes the trace of scipy's ``sqrtm`` of
the non-symmetric product (tens of seconds per 2048-d FID on a CPU core); here
tr √(Σ₁Σ₂) = Σᵢ √λᵢ(√Σ₂ Σ₁ √Σ₂), the eigenvalues of a symmetric PSD matrix with the same spectrum
as Σ₁Σ₂, with √Σ₂ from ``torch.linalg.eigh`` (rounding-level negative eigenvalues clamped to 0), all
in float64 on the device. √Σ of the reference is computed once and cached on its :class:`Stats`.

KID: clean-fid's unbiased estimator with the cubic polynomial kernel k(x, y) = (xᵀy/d + 1)³ over
``subsets`` random subsets of m = min(n₁, n₂, 1000) rows of each set, drawn exactly as clean-fid
draws them (``choice(…, replace=False)``, reference subset first) but from a ``RandomState(seed)`` of
our own, so the global NumPy RNG is untouched and KID is deterministic for a seed; kernel sums in
float64 on the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

KID_SUBSETS = 100  # clean-fid defaults
KID_SUBSET_SIZE = 1000

ArrayLike = np.ndarray | torch.Tensor


def _device_of(x: ArrayLike) -> torch.device:
    return x.device if isinstance(x, torch.Tensor) else torch.device("cpu")


@dataclass(frozen=True, eq=False)
class Stats:
    """Gaussian statistics of a feature set: float64 mean and covariance, as NumPy arrays (loaded from
    a cache file) or tensors (computed on the device). Device copies and √Σ are cached per device."""

    mu: ArrayLike
    sigma: ArrayLike
    _cache: dict = field(default_factory=dict, init=False, repr=False)

    def on(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, sigma)`` as float64 tensors on ``device`` (copied there once)."""
        key = ("mu_sigma", str(torch.device(device)))
        if key not in self._cache:
            self._cache[key] = tuple(torch.as_tensor(a).to(device=device, dtype=torch.float64)
                                     for a in (self.mu, self.sigma))
        return self._cache[key]

    def sqrt_sigma(self, device: torch.device | str) -> torch.Tensor:
        """√Σ on ``device`` (:func:`psd_sqrt`), computed once per device."""
        key = ("sqrt_sigma", str(torch.device(device)))
        if key not in self._cache:
            self._cache[key] = psd_sqrt(self.on(device)[1])
        return self._cache[key]


class StatsAccumulator:
    """Streaming float64 sums of features and their outer products, on the features' device, so
    reference sets of any size (ImageNet: 1.28M) need O(D²) memory."""

    def __init__(self) -> None:
        self.n = 0
        self._sum: torch.Tensor | None = None
        self._gram: torch.Tensor | None = None

    def update(self, feats: torch.Tensor) -> None:
        f = feats.double()
        if self._sum is None:
            self._sum = torch.zeros(f.shape[1], dtype=torch.float64, device=f.device)
            self._gram = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=f.device)
        self._sum += f.sum(0)
        self._gram += f.T @ f
        self.n += f.shape[0]

    def result(self) -> Stats:
        """Mean and unbiased covariance (``np.cov`` convention, ddof=1), float64 tensors on the device."""
        if self._sum is None or self.n < 2:
            raise ValueError(f"need at least 2 feature vectors, got {self.n}")
        mu = self._sum / self.n
        sigma = (self._gram - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return Stats(mu, sigma)


def feature_stats(feats: torch.Tensor) -> Stats:
    """Mean and unbiased covariance of (N, D) features, computed in float64 where they live."""
    acc = StatsAccumulator()
    acc.update(feats)
    return acc.result()


def psd_sqrt(sigma: torch.Tensor) -> torch.Tensor:
    """The symmetric PSD square root of a covariance (float64, ``eigh``; eigenvalues below 0, which
    only rounding produces, clamped to 0)."""
    s = sigma.double()
    evals, evecs = torch.linalg.eigh((s + s.mT) / 2)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.mT


def trace_sqrt_product(sigma1: torch.Tensor, sqrt_sigma2: torch.Tensor) -> torch.Tensor:
    """tr √(Σ₁Σ₂) = Σ √λ(√Σ₂ Σ₁ √Σ₂) (float64, 0-dim tensor on the inputs' device)."""
    m = sqrt_sigma2 @ sigma1.double() @ sqrt_sigma2
    return torch.linalg.eigvalsh((m + m.mT) / 2).clamp_min(0).sqrt().sum()


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor,
                     sqrt_sigma2: torch.Tensor | None = None) -> torch.Tensor:
    """The Fréchet distance of two Gaussians (clean-fid's ``frechet_distance``), float64 0-dim tensor
    on the inputs' device; ``sqrt_sigma2``: a precomputed √Σ₂ (the reference's)."""
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    if sqrt_sigma2 is None:
        sqrt_sigma2 = psd_sqrt(sigma2)
    diff = mu1 - mu2
    return diff @ diff + sigma1.trace() + sigma2.trace() - 2 * trace_sqrt_product(sigma1, sqrt_sigma2)


def fid(a: Stats, b: Stats) -> float:
    """FID between two feature Gaussians, on ``a``'s device (the generated set's); ``b`` is the
    reference, whose √Σ is computed there once and cached on ``b``. Raises ``torch.linalg.LinAlgError``
    if ``eigh`` fails (non-finite statistics)."""
    device = _device_of(a.mu)
    mu1, sigma1 = a.on(device)
    mu2, sigma2 = b.on(device)
    return float(frechet_distance(mu1, sigma1, mu2, sigma2, b.sqrt_sigma(device)))


def kid_subsets(n_a: int, n_b: int, seed: int, subsets: int = KID_SUBSETS,
                max_subset_size: int = KID_SUBSET_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``(idx_a, idx_b)``, each ``[subsets, m]``: the rows clean-fid's ``kernel_distance(a, b)`` uses after
    ``np.random.seed(seed % 2**32)`` (per subset: b's rows, then a's), from a private ``RandomState``."""
    m = min(n_a, n_b, max_subset_size)
    rs = np.random.RandomState(seed % 2**32)
    idx_a, idx_b = np.empty((subsets, m), np.int64), np.empty((subsets, m), np.int64)
    for i in range(subsets):
        idx_b[i] = rs.choice(n_b, m, replace=False)
        idx_a[i] = rs.choice(n_a, m, replace=False)
    return idx_a, idx_b


def _near(t: torch.Tensor, device: torch.device, rows_used: int) -> torch.Tensor:
    """``t`` moved to ``device`` when that moves fewer bytes than gathering its subsets on its own device."""
    return t.to(device) if t.device != device and t.shape[0] <= rows_used else t


def kernel_distance(feats_a: torch.Tensor, feats_b: torch.Tensor, idx_a: np.ndarray, idx_b: np.ndarray,
                    device: torch.device | None = None, chunk_bytes: int = 256 * 2**20) -> float:
    """Unbiased KID (clean-fid's estimator) of ``feats_a`` vs ``feats_b`` on the given row subsets,
    float64 on ``device`` (default: ``feats_a``'s), ``chunk_bytes`` bounding the working memory."""
    device = torch.device(device) if device is not None else feats_a.device
    subsets, m = idx_a.shape
    if m < 2:
        raise ValueError(f"KID needs subsets of at least 2 rows, got {m}")
    d = feats_a.shape[1]
    per_subset = 8 * (2 * m * d + 3 * m * m)
    chunk = max(1, chunk_bytes // per_subset)
    ia, ib = torch.from_numpy(idx_a), torch.from_numpy(idx_b)
    a, b = (_near(t, device, subsets * m) for t in (feats_a, feats_b))
    total = torch.zeros((), dtype=torch.float64, device=device)
    for s in range(0, subsets, chunk):
        x = b[ib[s:s + chunk].to(b.device)].to(device=device, dtype=torch.float64)  # [c, m, d]
        y = a[ia[s:s + chunk].to(a.device)].to(device=device, dtype=torch.float64)
        kxx = (x @ x.mT / d + 1) ** 3
        kyy = (y @ y.mT / d + 1) ** 3
        kxy = (x @ y.mT / d + 1) ** 3
        diag = kxx.diagonal(dim1=1, dim2=2).sum() + kyy.diagonal(dim1=1, dim2=2).sum()
        total += (kxx.sum() + kyy.sum() - diag) / (m - 1) - kxy.sum() * 2 / m
    return float(total / subsets / m)


def kid(feats_a: ArrayLike, feats_b: ArrayLike, seed: int, subsets: int = KID_SUBSETS,
        device: torch.device | None = None) -> float:
    """KID of generated ``feats_a`` vs reference ``feats_b`` (arrays or tensors, ``[n, d]``): clean-fid's
    ``kernel_distance(feats_a, feats_b)`` after ``np.random.seed(seed)``, without touching the global
    RNG, on ``device`` (default: ``feats_a``'s)."""
    a, b = torch.as_tensor(feats_a), torch.as_tensor(feats_b)
    idx_a, idx_b = kid_subsets(len(a), len(b), seed, subsets)
    return kernel_distance(a, b, idx_a, idx_b, device if device is not None else a.device)

