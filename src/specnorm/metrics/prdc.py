"""Precision and recall (Kynkäänniemi et al. 2019, k = 3) and density and coverage (Naeem et al.
2020, k = 5): k-nearest-neighbour estimates of how much of the generated set lies on the real
manifold (precision, density) and how much of the real manifold the generated set reaches (recall,
coverage); docs/design.md#metric-protocol.

With B(x, r) the ball of radius r around x and NND_k(x) the distance from x to its k-th nearest
neighbour in its own set (itself excluded), for real features X (N rows) and generated Y (M rows):

- precision = (1/M) Σ_j 1[∃ i: Y_j ∈ B(X_i, NND_3(X_i))]
- recall    = (1/N) Σ_i 1[∃ j: X_i ∈ B(Y_j, NND_3(Y_j))]
- density   = (1/(5M)) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_5(X_i))]
- coverage  = (1/N) Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_5(X_i))]

exactly as the authors' ``prdc`` package computes them (strict ``<``; Euclidean distances as
``sklearn.metrics.pairwise_distances``, self-distances 0): the peer of
``tests/metrics/test_metrics_prdc.py``. Distances in float64 on the features' device, in row chunks
of at most ``chunk_bytes`` of distance matrix, so 50k × 50k sets never hold an N × M matrix. The
real radii are computed once per reference (:class:`RealManifold`), not per evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NEAREST_K: dict[str, int] = {"precision": 3, "recall": 3, "density": 5, "coverage": 5}
"""k of each metric: the published defaults (Kynkäänniemi et al. 2019: 3; Naeem et al. 2020: 5)."""
CHUNK_BYTES = 256 * 2**20
"""Bound on one chunk's float64 distance block (rows × columns × 8 bytes)."""
_KS = tuple(sorted(set(NEAREST_K.values())))


def _rows_per_chunk(n_cols: int, chunk_bytes: int) -> int:
    return max(1, chunk_bytes // (8 * max(n_cols, 1)))


def distances(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Euclidean distances ``[len(a), len(b)]`` in float64, by sklearn's expansion
    √max(0, −2 a·bᵀ + ‖a‖² + ‖b‖²) (``b_sq``: ‖b‖², when precomputed)."""
    a, b = a.double(), b.double()
    d = -2.0 * (a @ b.T)
    d += (a * a).sum(1, keepdim=True)
    d += ((b * b).sum(1) if b_sq is None else b_sq)[None, :]
    return d.clamp_min_(0.0).sqrt_()


def knn_radii(feats: torch.Tensor, ks: tuple[int, ...] = _KS,
              chunk_bytes: int = CHUNK_BYTES) -> dict[int, torch.Tensor]:
    """``{k: NND_k}``: each row's distance to its k-th nearest neighbour among the other rows (the
    (k+1)-th smallest distance with its own, 0, included: ``prdc``'s radii), float64 on ``feats``' device."""
    n, top = len(feats), max(ks) + 1
    if n < top:
        raise ValueError(f"k-nearest-neighbour radii with k = {max(ks)} need at least {top} samples, got {n}")
    x = feats.double()
    x_sq = (x * x).sum(1)
    step = _rows_per_chunk(n, chunk_bytes)
    out = {k: torch.empty(n, dtype=torch.float64, device=x.device) for k in ks}
    for s in range(0, n, step):
        d = distances(x[s:s + step], x, x_sq)
        rows = torch.arange(len(d), device=x.device)
        d[rows, rows + s] = 0.0  # its own distance (rounding can leave ~1e-7 there)
        smallest = torch.topk(d, top, dim=1, largest=False, sorted=True).values
        for k in ks:
            out[k][s:s + step] = smallest[:, k]
    return out


@dataclass(frozen=True)
class RealManifold:
    """The real side: float64 features on the device and their k-NN radii (k = 3 and 5), built once."""

    feats: torch.Tensor
    sq_norms: torch.Tensor
    radii: dict[int, torch.Tensor]

    @classmethod
    def of(cls, feats, device: torch.device | str, chunk_bytes: int = CHUNK_BYTES) -> RealManifold:
        """From real features (array or tensor ``[N, d]``), copied to ``device`` in float64."""
        x = torch.as_tensor(feats).to(device=device, dtype=torch.float64)
        return cls(x, (x * x).sum(1), knn_radii(x, _KS, chunk_bytes))


def prdc(fake: torch.Tensor, real: RealManifold, chunk_bytes: int = CHUNK_BYTES) -> dict[str, float]:
    """Precision, recall, density and coverage of generated features ``fake`` ``[M, d]`` against
    ``real``, on ``real``'s device (module docstring). ``ValueError`` when ``fake`` has ≤ 3 rows."""
    device = real.feats.device
    y = fake.to(device=device, dtype=torch.float64)
    fake_r = knn_radii(y, (NEAREST_K["recall"],), chunk_bytes)[NEAREST_K["recall"]]
    r_p, r_d = real.radii[NEAREST_K["precision"]], real.radii[NEAREST_K["density"]]
    n_real = len(real.feats)
    precise = torch.zeros((), dtype=torch.float64, device=device)
    dense = torch.zeros((), dtype=torch.float64, device=device)
    recalled = torch.zeros(n_real, dtype=torch.bool, device=device)
    nearest = torch.full((n_real,), torch.inf, dtype=torch.float64, device=device)
    step = _rows_per_chunk(n_real, chunk_bytes)
    for s in range(0, len(y), step):
        d = distances(y[s:s + step], real.feats, real.sq_norms)  # [chunk of fake, real]
        precise += (d < r_p).any(1).sum()
        dense += (d < r_d).sum()
        recalled |= (d < fake_r[s:s + step, None]).any(0)
        torch.minimum(nearest, d.min(0).values, out=nearest)
    m = len(y)
    return {"precision": float(precise / m), "recall": float(recalled.double().mean()),
            "density": float(dense / (NEAREST_K["density"] * m)), "coverage": float((nearest < r_d).double().mean())}
