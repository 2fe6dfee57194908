"""FID and KID by clean-fid's own arithmetic (``cleanfid.fid.frechet_distance``, ``kernel_distance``).

We only compute the inputs: feature means and covariances (float64, on the device, ``np.cov``
convention ddof=1) and the feature arrays for KID. ``kernel_distance`` draws its subsets from
NumPy's *global* RNG; we seed it per call and restore the caller's state, so evaluation never
disturbs training randomness and KID is deterministic for a given seed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from cleanfid.fid import frechet_distance, kernel_distance

KID_SUBSETS = 100  # clean-fid defaults
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class Stats:
    """Gaussian statistics of a feature set (float64)."""

    mu: np.ndarray
    sigma: np.ndarray


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
        """Mean and unbiased covariance (``np.cov`` convention, ddof=1)."""
        if self._sum is None or self.n < 2:
            raise ValueError(f"need at least 2 feature vectors, got {self.n}")
        mu = self._sum / self.n
        sigma = (self._gram - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return Stats(mu.cpu().numpy(), sigma.cpu().numpy())


def feature_stats(feats: torch.Tensor) -> Stats:
    """Mean and unbiased covariance of (N, D) features, computed in float64 where they live."""
    acc = StatsAccumulator()
    acc.update(feats)
    return acc.result()


def fid(a: Stats, b: Stats) -> float:
    """Fréchet distance between two feature Gaussians (clean-fid)."""
    with warnings.catch_warnings():  # clean-fid 0.1.35 passes sqrtm(disp=...), deprecated in SciPy 1.17
        warnings.filterwarnings("ignore", message="The `disp` argument is deprecated", category=DeprecationWarning)
        return float(frechet_distance(a.mu, a.sigma, b.mu, b.sigma))


def kid(feats_a: np.ndarray, feats_b: np.ndarray, seed: int, subsets: int = KID_SUBSETS) -> float:
    """Unbiased KID (cubic polynomial kernel, clean-fid's ``subsets`` subsets of ≤1000) with NumPy's
    global RNG isolated."""
    state = np.random.get_state()
    try:
        np.random.seed(seed % 2**32)
        return float(kernel_distance(feats_a, feats_b, num_subsets=subsets, max_subset_size=KID_SUBSET_SIZE))
    finally:
        np.random.set_state(state)
