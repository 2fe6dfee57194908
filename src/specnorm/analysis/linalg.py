"""Exact largest singular values, for the analysis (no power iteration, no RNG)."""

from __future__ import annotations

import torch


def exact_sigma(a: torch.Tensor) -> torch.Tensor:
    """‖A‖_sp of a matrix or a batch of matrices ``[..., m, n]``, in float64.

    σ₁² is the largest eigenvalue of the Gram matrix of the smaller side (A Aᵀ if m ≤ n, else AᵀA),
    computed with ``eigvalsh``: exact to float64 precision and far cheaper than a full SVD for the
    wide kernel matrices of the discriminators (e.g. 1024 × 9216).
    """
    a = a.double()
    gram = a @ a.mT if a.shape[-2] <= a.shape[-1] else a.mT @ a
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).sqrt()
