"""Largest singular values for the analysis: exact for kernel matrices, Lanczos on the device for the
convolution operator (App. L.3's ‖w̃‖), and ARPACK on the host as the oracle they are checked against.

Nothing here uses a global random state.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def exact_sigma(a: torch.Tensor) -> torch.Tensor:
    """‖A‖_sp of a matrix or a batch of matrices ``[..., m, n]``, in float64.

    σ₁² is the largest eigenvalue of the Gram matrix of the smaller side (A Aᵀ if m ≤ n, else AᵀA),
    computed with ``eigvalsh``: exact to float64 precision and far cheaper than a full SVD for the
    wide kernel matrices of the discriminators (e.g. 1024 × 9216).
    """
    a = a.double()
    gram = a @ a.mT if a.shape[-2] <= a.shape[-1] else a.mT @ a
    return torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).sqrt()


# -- σ of the convolution operator ---------------------------------------------------------------

DEFAULT_TOL = 1e-5
"""Relative tolerance on σ_conv of the analysis (``analysis.csv``); see :func:`conv_operator_norm`."""


def _pair(x) -> tuple[int, int]:
    return (int(x), int(x)) if isinstance(x, int) else tuple(int(v) for v in x)


@dataclass(frozen=True)
class ConvGeometry:
    """A zero-padded ``conv2d`` as a linear map from ``[c_in, H, W]`` to ``[c_out, H', W']``."""

    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_padding: tuple[int, int]

    @classmethod
    def of(cls, weight: torch.Tensor, input_size, stride=1, padding=0, dilation=1) -> "ConvGeometry":
        if isinstance(padding, str):
            raise ValueError("σ_conv needs integer padding (the zero-padded operator of App. L.3)")
        size, s, p, d = _pair(input_size), _pair(stride), _pair(padding), _pair(dilation)
        k = tuple(weight.shape[2:])
        out = tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))
        if min(out) < 1:
            raise ValueError(f"a {k} kernel leaves no output on a {size} input (padding {p}, dilation {d})")
        # conv_transpose2d needs output_padding to return exactly the input size (the adjoint)
        op = tuple(size[i] - ((out[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + 1) for i in range(2))
        return cls((weight.shape[1], *size), (weight.shape[0], *out), s, p, d, op)

    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.out_shape)

    def forward(self, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A x for a batch ``[b, n_in]`` → ``[b, n_out]``."""
        y = F.conv2d(x.reshape(-1, *self.in_shape), w, stride=self.stride, padding=self.padding,
                     dilation=self.dilation)
        return y.reshape(x.shape[0], -1)

    def adjoint(self, w: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Aᵀ y for a batch ``[b, n_out]`` → ``[b, n_in]``."""
        x = F.conv_transpose2d(y.reshape(-1, *self.out_shape), w, stride=self.stride, padding=self.padding,
                               dilation=self.dilation, output_padding=self.output_padding)
        return x.reshape(y.shape[0], -1)

    def gram(self, w: torch.Tensor) -> tuple[int, Callable[[torch.Tensor], torch.Tensor]]:
        """(n, v ↦ G v) for the Gram operator of the smaller side: AᵀA on the input if n_in ≤ n_out,
        else AAᵀ on the output (same nonzero spectrum, σ₁² on top)."""
        if self.n_in <= self.n_out:
            return self.n_in, lambda v: self.adjoint(w, self.forward(w, v[None]))[0]
        return self.n_out, lambda u: self.forward(w, self.adjoint(w, u[None]))[0]

    def dense(self, w: torch.Tensor) -> torch.Tensor:
        """The operator as an explicit ``[n_out, n_in]`` matrix (tests and tiny layers only)."""
        eye = torch.eye(self.n_in, dtype=w.dtype, device=w.device)
        return self.forward(w, eye).T


@dataclass(frozen=True)
class ConvSigma:
    """Result of :func:`conv_operator_norm`.

    ``sigma``: ‖w̃‖ (largest Ritz value's square root, float); ``vector``: the matching unit singular
    vector (flattened, on the side that was iterated, on the weight's device) for a warm start;
    ``iterations``: applications of the Gram operator (one ``conv2d`` + one ``conv_transpose2d``
    each); ``rel_error``: the achieved bound r/(2θ) on the relative error of σ, r = ‖Gy − θy‖ the
    Ritz residual (some eigenvalue lies within r of θ); ``converged``: ``rel_error <= tol``.
    """

    sigma: float
    vector: torch.Tensor
    iterations: int
    rel_error: float
    converged: bool


def _checkpoints(m: int) -> set[int]:
    """Krylov sizes at which convergence is tested (one host sync each): 1, 2, 4, …, then every 16."""
    pts = {m}
    k = 1
    while k < m:
        pts.add(k)
        k = k * 2 if k < 16 else k + 16
    return pts


def _ritz_top(alpha: list[float], beta: list[float]) -> tuple[float, torch.Tensor, float]:
    """Largest eigenpair of the Lanczos tridiagonal T_k (float64, host) and its residual β_k·|s_k|."""
    k = len(alpha)
    t = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    if k > 1:
        off = torch.tensor(beta[: k - 1], dtype=torch.float64)
        t += torch.diag(off, 1) + torch.diag(off, -1)
    evals, evecs = torch.linalg.eigh(t)
    s = evecs[:, -1]
    return float(evals[-1]), s, abs(beta[k - 1] * float(s[-1]))


def lanczos_top_eig(
    apply: Callable[[torch.Tensor], torch.Tensor], v0: torch.Tensor, *, tol: float, max_iter: int,
    krylov_dim: int = 64,
) -> tuple[float, torch.Tensor, int, float]:
    """Top eigenpair of a symmetric PSD operator by restarted Lanczos with full reorthogonalization.

    Runs on ``v0``'s device and dtype; restarts from the top Ritz vector every ``krylov_dim`` steps.
    Stops when the relative error bound of √θ, r/(2θ), is ≤ ``tol`` (tested at Krylov sizes 1, 2, 4, …,
    16, 32, 48, …: one small host transfer each; an invariant subspace gives r ≈ 0), when the Krylov
    space is the whole space, or after ``max_iter`` operator applications. Returns ``(θ, unit Ritz
    vector, applications, r/(2θ))``; θ and the bound are NaN if the operator gave non-finite values.
    """
    n = v0.numel()
    q = v0.reshape(-1)
    q = q / q.norm()
    tiny = torch.finfo(q.dtype).tiny
    done, theta, rel = 0, 0.0, math.inf
    while True:
        m = max(1, min(krylov_dim, n, max_iter - done))
        basis = torch.empty(m + 1, n, dtype=q.dtype, device=q.device)
        basis[0] = q
        alphas: list[torch.Tensor] = []
        betas: list[torch.Tensor] = []
        pts = _checkpoints(m)
        for j in range(m):
            w = apply(basis[j])
            done += 1
            h = basis[: j + 1] @ w  # classical Gram-Schmidt, twice (full reorthogonalization)
            w = w - h @ basis[: j + 1]
            h2 = basis[: j + 1] @ w
            w = w - h2 @ basis[: j + 1]
            alphas.append(h[j] + h2[j])
            beta = w.norm()
            betas.append(beta)
            basis[j + 1] = w / beta.clamp_min(tiny)
            if j + 1 not in pts:
                continue
            ab = torch.stack(alphas + betas).double().cpu().tolist()  # the one sync of this check
            if not all(map(math.isfinite, ab)):  # non-finite weights (a diverged D): σ undefined
                return math.nan, basis[0], done, math.nan
            a, b = ab[: j + 1], ab[j + 1:]
            theta, s, res = _ritz_top(a, b)
            rel = res / (2 * theta) if theta > 0 else (0.0 if res == 0 else math.inf)
            if rel <= tol or done >= max_iter or j + 1 == n:  # j + 1 == n: the whole space, exact
                y = s.to(basis) @ basis[: j + 1]
                return theta, y / y.norm(), done, rel
        y = s.to(basis) @ basis[:m]  # explicit restart from the top Ritz vector
        q = y / y.norm()


def conv_operator_norm(
    weight: torch.Tensor, input_size, stride=1, padding=0, dilation=1, *, tol: float = DEFAULT_TOL,
    max_iter: int = 3000, krylov_dim: int = 64, v0: torch.Tensor | None = None, seed: int = 0,
    dtype: torch.dtype | None = None,
) -> ConvSigma:
    """‖w̃‖₂, the largest singular value of the zero-padded convolution operator at ``input_size``
    (stride, padding, dilation as in the layer; App. L.3), on the weight's device.

    Lanczos (:func:`lanczos_top_eig`) on the Gram operator of the smaller side, applied with
    ``conv2d``/``conv_transpose2d``, to a relative tolerance ``tol`` on σ. Start: ``v0`` (a previous
    :attr:`ConvSigma.vector` of the same geometry: warm start) or a Gaussian vector from ``seed``
    (drawn on the CPU, so the same on every device). ``dtype``: float32 unless ``tol < 1e-6`` (then
    float64, below float32's resolution of σ).
    """
    geo = ConvGeometry.of(weight, input_size, stride, padding, dilation)
    dtype = dtype or (torch.float64 if tol < 1e-6 else torch.float32)
    w = weight.detach().to(dtype)
    n, gram = geo.gram(w)
    if v0 is None or v0.numel() != n:
        v0 = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v0 = v0.detach().reshape(-1).to(device=w.device, dtype=dtype)
    theta, vec, its, rel = lanczos_top_eig(gram, v0, tol=tol, max_iter=max_iter, krylov_dim=krylov_dim)
    return ConvSigma(math.sqrt(max(theta, 0.0)), vec, its, rel, rel <= tol)


class ConvSigmaCache:
    """The last singular vector of each conv layer (weakly keyed by the module) for warm starts:
    between two analyses the weights move little, so Lanczos from the previous vector converges in a
    few steps. An entry is used only for the same geometry, dtype and device."""

    def __init__(self) -> None:
        self._store: weakref.WeakKeyDictionary[nn.Module, tuple[tuple, torch.Tensor]] = weakref.WeakKeyDictionary()

    @staticmethod
    def _key(weight: torch.Tensor, geo: ConvGeometry, dtype: torch.dtype) -> tuple:
        return (tuple(weight.shape), geo, dtype, weight.device)

    def sigma(self, layer: nn.Module, weight: torch.Tensor, input_size, *, tol: float = DEFAULT_TOL,
              max_iter: int = 3000, seed: int = 0, dtype: torch.dtype | None = None) -> ConvSigma:
        """:func:`conv_operator_norm` of ``layer``'s operator with ``weight``, warm-started from (and
        updating) this cache's entry for ``layer``."""
        geo = ConvGeometry.of(weight, input_size, layer.stride, layer.padding, layer.dilation)
        dtype = dtype or (torch.float64 if tol < 1e-6 else torch.float32)
        key = self._key(weight, geo, dtype)
        entry = self._store.get(layer)
        v0 = entry[1] if entry is not None and entry[0] == key else None
        r = conv_operator_norm(weight, input_size, layer.stride, layer.padding, layer.dilation, tol=tol,
                               max_iter=max_iter, v0=v0, seed=seed, dtype=dtype)
        self._store[layer] = (key, r.vector)
        return r

    def __contains__(self, layer: nn.Module) -> bool:
        return layer in self._store

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        self._store.clear()


def arpack_conv_operator_norm(weight: torch.Tensor, input_size, stride=1, padding=0, dilation=1,
                              n_iter: int = 1000, seed: int = 0) -> float:
    """‖w̃‖₂ by ARPACK (``scipy.sparse.linalg.svds``, float64 on the host, tolerance 1e-10): the
    independent oracle of :func:`conv_operator_norm` (tests, ``bench/eval_speed.py``); far slower."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, svds

    geo = ConvGeometry.of(weight, input_size, stride, padding, dilation)
    w = weight.detach().to(torch.float64).cpu()

    def matvec(x):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).reshape(1, -1)
        return geo.forward(w, x)[0].numpy()

    def rmatvec(y):
        y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).reshape(1, -1)
        return geo.adjoint(w, y)[0].numpy()

    if min(geo.n_in, geo.n_out) < 3:  # ARPACK needs k < min(shape); tiny operators: dense SVD
        return float(torch.linalg.matrix_norm(geo.dense(w), 2))
    A = LinearOperator((geo.n_out, geo.n_in), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    v0 = np.random.RandomState(seed).standard_normal(min(geo.n_in, geo.n_out))
    return float(svds(A, k=1, v0=v0, maxiter=n_iter, return_singular_vectors=False, tol=1e-10)[0])
