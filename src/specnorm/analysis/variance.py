"""Monte-Carlo estimates of the parameter variance under SN (Thm. 2, §4) and BSN (Thm. 3, §5.1).

Both theorems are about i.i.d. zero-mean symmetric entries (e.g. Gaussian or uniform). The entries
of a matrix are exchangeable (row and column permutations keep ‖A‖_sp) and ``a_ij/‖A‖_sp`` has mean
0 (``A ↦ −A``), so ``Var(a_ij/‖A‖_sp) = E[‖A‖_F² / (m·n·‖A‖_sp²)]``: each sampled matrix contributes
the mean square of all its normalized entries, an unbiased and much less noisy estimator than a
single entry. The σ's are exact (:func:`exact_sigma`), not power iterations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from specnorm.analysis.linalg import exact_sigma

DISTS = ("gaussian", "uniform")
"""Entry distributions: N(0, 1) and U(−1, 1) (the scale is irrelevant: the ratios are scale-free)."""
CHUNK_ENTRIES = 2**22
"""Matrices are drawn in batches of at most this many entries (memory bound)."""


@dataclass(frozen=True)
class Estimate:
    """Monte-Carlo estimate of a variance: the mean over ``samples`` matrices and its standard error."""

    var: float
    se: float
    samples: int


def draw(shape: tuple[int, ...], dist: str, gen: torch.Generator) -> torch.Tensor:
    """i.i.d. float32 entries from ``dist`` (``gaussian`` N(0,1) or ``uniform`` U(−1,1))."""
    if dist == "gaussian":
        return torch.randn(shape, generator=gen)
    if dist == "uniform":
        return torch.rand(shape, generator=gen) * 2 - 1
    raise ValueError(f"distribution {dist!r} is not one of {DISTS}")


def _estimate(
    shape: tuple[int, ...], per_matrix: Callable[[torch.Tensor], torch.Tensor], dist: str, samples: int,
    gen: torch.Generator,
) -> Estimate:
    entries = math.prod(shape)
    chunk = max(1, CHUNK_ENTRIES // entries)
    vals = torch.cat([
        per_matrix(draw((min(chunk, samples - i), *shape), dist, gen).double())
        for i in range(0, samples, chunk)
    ])
    se = float(vals.std() / math.sqrt(samples)) if samples > 1 else math.nan
    return Estimate(float(vals.mean()), se, samples)


def sn_variance(m: int, n: int, dist: str, samples: int, gen: torch.Generator) -> Estimate:
    """Thm. 2: ``Var(a_ij/‖A‖_sp)`` for ``A ∈ R^{m×n}`` with i.i.d. ``dist`` entries."""

    def per_matrix(a: torch.Tensor) -> torch.Tensor:
        return a.pow(2).sum((-2, -1)) / (m * n * exact_sigma(a).pow(2))

    return _estimate((m, n), per_matrix, dist, samples, gen)


def bsn_variance(c_out: int, c_in: int, area: int, dist: str, samples: int, gen: torch.Generator) -> Estimate:
    """Thm. 3: ``Var(w_ij/σ_w)`` for a kernel ``c_out × c_in × area`` (area = k_w·k_h) with i.i.d. entries,
    ``σ_w = (‖w^{c_out×c_in·area}‖_sp + ‖w^{c_in×c_out·area}‖_sp)/2`` (official BSN, docs/design.md#bsn)."""

    def per_matrix(w: torch.Tensor) -> torch.Tensor:
        s1 = exact_sigma(w.reshape(-1, c_out, c_in * area))
        s2 = exact_sigma(w.transpose(1, 2).reshape(-1, c_in, c_out * area))
        return w.pow(2).sum((1, 2, 3)) / (c_out * c_in * area * ((s1 + s2) / 2).pow(2))

    return _estimate((c_out, c_in, area), per_matrix, dist, samples, gen)


def sn_bound(m: int, n: int) -> float:
    """Thm. 2 upper bound ``1/max(m, n)``."""
    return 1.0 / max(m, n)


def bsn_bound(c_out: int, c_in: int, area: int) -> float:
    """Thm. 3 upper bound ``2/(c_in·k_w·k_h + c_out·k_w·k_h)``."""
    return 2.0 / (c_in * area + c_out * area)


def bsn_applies(c_out: int, c_in: int, area: int) -> bool:
    """Thm. 3's hypothesis ``k_w·k_h ≥ max(c_out/c_in, c_in/c_out)``."""
    return area >= max(c_out / c_in, c_in / c_out)


def sn_lower_order(var: float, m: int, n: int) -> float:
    """``Var·max(m,n)·log(min(m,n))``: Thm. 2's Gaussian lower bound says this is ≥ L (a constant
    independent of m, n) when m, n ≥ 2 and max(m, n) ≥ 3; NaN outside that range."""
    if min(m, n) < 2 or max(m, n) < 3:
        return math.nan
    return var * max(m, n) * math.log(min(m, n))


def bsn_lower_order(var: float, c_out: int, c_in: int, area: int) -> float:
    """``Var·(c_in·k²·log c_out + c_out·k²·log c_in)``: Thm. 3's Gaussian lower bound says this is ≥ L
    when c_in, c_out ≥ 2 and c_in·k², c_out·k² ≥ 3 (k² = k_w·k_h); NaN outside that range."""
    if min(c_in, c_out) < 2 or min(c_in, c_out) * area < 3:
        return math.nan
    return var * (c_in * area * math.log(c_out) + c_out * area * math.log(c_in))
