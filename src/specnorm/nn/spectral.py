"""Spectral normalizations of the paper: SN (SN_w), BSN, SN_Conv, their scaled versions, learned γ.

Each normalization is a ``torch.nn.utils.parametrize`` parametrization on a layer's ``weight``
(state in buffers, as in ``torch.nn.utils.parametrizations.spectral_norm``), but with the official
TensorFlow semantics (docs/design.md#u-update and the sections after it):

* ``forward`` runs **exactly one** power-iteration step from the stored ``u`` and does not store
  the result; gradients flow through ``u`` and ``v`` (official, no ``stop_gradient``) unless
  ``grad_through_uv=False`` (Miyato / PyTorch behaviour).
* the stored ``u`` advances only in :func:`update_u`, which the trainer calls once after each D
  optimizer step (never in the G step, the fake pass or extra D passes).
* ``u`` starts truncated-normal (std 1, cut at ±2) and is **not** normalized; normalizing adds
  ``eps = 1e-12`` to the norm (``x / (‖x‖ + eps)``).
* σ is computed in float32, even under autocast.

Modes (``mode``): ``none``, ``sn`` (σ of the c_out × c_in·k_h·k_w kernel matrix), ``bsn`` (mean of
that σ and the σ of the c_in × c_out·k_h·k_w matrix, two independent u's; linear layers fall back
to ``sn``), ``sn_conv`` (σ of the convolution operator at the layer's real input size, power
iteration with ``conv2d``/``conv_transpose2d``; exact division, Farnia's ``max(σ, 1)`` clamp on
request; linear layers fall back to ``sn``). ``scale`` s multiplies the normalized weight but not
the bias (SSN = ``sn`` with s ≠ 1, BSSN = ``bsn`` with s ≠ 1). A learned ``gamma`` multiplies the
weight **and the bias** (official ``same_gamma`` / ``diff_gamma``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from specnorm.catalog import norm_names
from specnorm.vocab import GAMMAS, INITS

MODES = norm_names()

EPS = 1e-12


def _normalize(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Official ``_l2normalize``: ``x / (sqrt(sum x²) + eps)`` (eps added to the norm, docs/design.md#eps-in-the-norm)."""
    return x / (x.pow(2).sum().sqrt() + eps)


def _trunc_normal_u(shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Official u init: ``truncated_normal(mean 0, std 1)`` cut at ±2, not normalized."""
    u = torch.empty(shape)
    nn.init.trunc_normal_(u, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=generator)
    return u


@dataclass(frozen=True)
class NormSpec:
    """How a discriminator's layers are normalized (the paper's variants, §2, §4, §5).

    ``mode``: ``none`` | ``sn`` | ``bsn`` | ``sn_conv``. ``scale``: the fixed s of SSN/BSSN/SN_Conv×s.
    ``gamma``: ``none`` | ``same`` (one trainable γ shared by all layers) | ``diff`` (one per layer).
    ``grad_through_uv``: official default True. ``clamp``: SN_Conv divides by ``max(σ, 1)``.
    ``init``: ``official`` or ``lecun`` (the un-normalized baseline of Fig. 8, mode ``none``: there s
    multiplies the LeCun init std instead of the normalized weight, so s stays one number).
    """

    mode: str = "sn"
    scale: float = 1.0
    gamma: str = "none"
    grad_through_uv: bool = True
    clamp: bool = False
    init: str = "official"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"normalization mode {self.mode!r} is not one of {MODES}")
        if self.gamma not in GAMMAS:
            raise ValueError(f"gamma {self.gamma!r} is not one of {GAMMAS}")
        if not self.scale > 0:
            raise ValueError(f"normalization scale must be > 0, got {self.scale}")
        if self.mode == "none" and self.gamma != "none":
            raise ValueError("a learned gamma needs a normalization mode other than 'none'")
        if self.clamp and self.mode != "sn_conv":
            raise ValueError("clamp (Farnia's max(sigma, 1)) applies to mode 'sn_conv' only")
        if self.init not in INITS:
            raise ValueError(f"init {self.init!r} is not one of {INITS}")
        if self.init == "lecun" and self.mode != "none":
            raise ValueError("lecun init is the un-normalized baseline: it needs mode 'none'")


class _Gamma(nn.Module):
    """Multiplies a tensor by a (possibly shared) trainable γ; used on the bias of γ layers."""

    def __init__(self, gamma: nn.Parameter) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return b * self.gamma


class SpectralNorm(nn.Module):
    """Parametrization ``W ↦ W · s · γ / σ(W)`` with the official one-step power iteration.

    Buffers: ``u`` (``sn``/``bsn``: shape [c_out]; ``sn_conv``: [1, c_in, H, W]) and, for ``bsn``,
    ``u2`` (shape [c_in]). Build it with :func:`spectral_norm`, not directly.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        mode: str,
        *,
        scale: float = 1.0,
        grad_through_uv: bool = True,
        clamp: bool = False,
        gamma: nn.Parameter | None = None,
        conv: dict | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if mode not in ("sn", "bsn", "sn_conv"):
            raise ValueError(f"SpectralNorm mode must be sn, bsn or sn_conv, got {mode!r}")
        self.mode = mode
        self.scale = float(scale)
        self.grad_through_uv = bool(grad_through_uv)
        self.clamp = bool(clamp)
        self.gamma = gamma
        self.conv = conv  # stride, padding, dilation, output_padding, input_size for sn_conv
        c_out = weight.shape[0]
        if mode == "sn_conv":
            h, w = conv["input_size"]
            u = _trunc_normal_u((1, weight.shape[1], h, w), generator)
        else:
            u = _trunc_normal_u((c_out,), generator)
        self.register_buffer("u", u.to(device=weight.device))
        if mode == "bsn":
            self.register_buffer("u2", _trunc_normal_u((weight.shape[1],), generator).to(weight.device))

    # -- the power-iteration step ------------------------------------------------------------
    @staticmethod
    def _matrix_step(mat: torch.Tensor, u: torch.Tensor, detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One TF step on ``M`` (rows = u-space): v = n(Mᵀu), u' = n(Mv), σ = u'·(Mv)."""
        v = _normalize(mat.t() @ u)
        mv = mat @ v
        u_new = _normalize(mv)
        if detach:
            v, u_new = v.detach(), u_new.detach()
            mv = mat @ v
        return (u_new * mv).sum(), u_new

    def _conv_step(self, w: torch.Tensor, u: torch.Tensor, detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """One operator step (Farnia et al. / Gouk et al.): v = n(Au), u' = n(Aᵀv), σ = ⟨Au', v⟩."""
        c = self.conv
        kw = dict(stride=c["stride"], padding=c["padding"], dilation=c["dilation"])
        v = _normalize(F.conv2d(u, w, **kw))
        u_new = _normalize(F.conv_transpose2d(v, w, output_padding=c["output_padding"], **kw))
        if detach:
            v, u_new = v.detach(), u_new.detach()
        return (F.conv2d(u_new, w, **kw) * v).sum(), u_new

    def sigmas(self, weight: torch.Tensor, detach: bool | None = None) -> dict[str, torch.Tensor]:
        """σ's of one step from the stored u(s), plus the next u(s) (not stored here).

        Keys: ``sigma`` (the normalizer), ``u`` (and ``sigma1``, ``sigma2``, ``u2`` for ``bsn``).
        """
        detach = (not self.grad_through_uv) if detach is None else detach
        with torch.autocast(weight.device.type, enabled=False):
            w = weight.float()
            if self.mode == "sn_conv":
                s, u = self._conv_step(w, self.u.float(), detach)
                return {"sigma": s, "u": u}
            s1, u = self._matrix_step(w.reshape(w.shape[0], -1), self.u.float(), detach)
            if self.mode == "sn":
                return {"sigma": s1, "u": u}
            s2, u2 = self._matrix_step(w.transpose(0, 1).reshape(w.shape[1], -1), self.u2.float(), detach)
            return {"sigma": (s1 + s2) / 2, "sigma1": s1, "sigma2": s2, "u": u, "u2": u2}

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        sigma = self.sigmas(weight)["sigma"]
        if self.clamp:
            sigma = torch.clamp(sigma, min=1.0)
        factor = self.scale / sigma
        if self.gamma is not None:
            factor = factor * self.gamma
        return weight * factor.to(weight.dtype)

    @torch.no_grad()
    def update_u(self, weight: torch.Tensor) -> None:
        """Advance the stored u(s) by one step from the current (post-optimizer-step) weight."""
        out = self.sigmas(weight, detach=True)
        self.u.copy_(out["u"])
        if self.mode == "bsn":
            self.u2.copy_(out["u2"])

    def extra_repr(self) -> str:
        return f"mode={self.mode}, scale={self.scale}, grad_through_uv={self.grad_through_uv}, clamp={self.clamp}"


def _conv_output_padding(in_size: int, k: int, s: int, p: int, d: int) -> int:
    out = (in_size + 2 * p - d * (k - 1) - 1) // s + 1
    return in_size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)


def spectral_norm(
    module: nn.Module,
    mode: str = "sn",
    scale: float = 1.0,
    *,
    input_size: tuple[int, int] | None = None,
    grad_through_uv: bool = True,
    clamp: bool = False,
    gamma: nn.Parameter | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Normalize ``module.weight`` (``Conv2d`` or ``Linear``) in place and return the module.

    ``mode='none'`` leaves the layer untouched. ``bsn`` and ``sn_conv`` fall back to ``sn`` on a
    ``Linear`` layer (official: ``linear()`` has no BSN branch). ``sn_conv`` needs ``input_size``
    (H, W), the spatial size the layer really sees. ``gamma`` (a trainable scalar, possibly shared
    between layers) multiplies the weight and the bias.
    """
    if mode not in MODES:
        raise ValueError(f"normalization mode {mode!r} is not one of {MODES}")
    if mode == "none":
        return module
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise TypeError(f"spectral_norm supports Conv2d and Linear, got {type(module).__name__}")
    if parametrize.is_parametrized(module, "weight"):
        raise ValueError(f"{module} is already parametrized")
    conv = None
    if isinstance(module, nn.Linear):
        mode = "sn"
        clamp = False
    elif mode == "sn_conv":
        if input_size is None:
            raise ValueError("mode 'sn_conv' needs the layer's input_size (H, W)")
        if module.padding_mode != "zeros" or module.groups != 1 or isinstance(module.padding, str):
            raise ValueError("sn_conv supports zero padding given as integers and groups=1")
        k, s, p, d = module.kernel_size, module.stride, module.padding, module.dilation
        conv = dict(
            stride=s, padding=p, dilation=d, input_size=tuple(int(x) for x in input_size),
            output_padding=tuple(_conv_output_padding(input_size[i], k[i], s[i], p[i], d[i]) for i in range(2)),
        )
    sn = SpectralNorm(
        module.weight.detach(), mode, scale=scale, grad_through_uv=grad_through_uv, clamp=clamp,
        gamma=gamma, conv=conv, generator=generator,
    )
    parametrize.register_parametrization(module, "weight", sn, unsafe=True)
    if gamma is not None and module.bias is not None:
        parametrize.register_parametrization(module, "bias", _Gamma(gamma), unsafe=True)
    return module


def normalized_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module, SpectralNorm]]:
    """(name, layer, parametrization) for every spectrally normalized layer, in module order."""
    for name, mod in model.named_modules():
        if parametrize.is_parametrized(mod, "weight"):
            for p in mod.parametrizations.weight:
                if isinstance(p, SpectralNorm):
                    yield name, mod, p


def raw_weight(layer: nn.Module) -> torch.Tensor:
    """The trainable (un-normalized) weight of a layer, parametrized or not."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


@torch.no_grad()
def update_u(model: nn.Module) -> None:
    """Advance every stored u of ``model`` by one step (official: once after each D optimizer step)."""
    for _, layer, sn in normalized_layers(model):
        sn.update_u(layer.parametrizations.weight.original)


def _accurate_matrix_sigma(mat: torch.Tensor, n_iter: int, gen: torch.Generator) -> float:
    return float(_matrix_sigma_from(mat, torch.randn(mat.shape[0], generator=gen, dtype=mat.dtype), n_iter))


def _pair(x) -> tuple[int, int]:
    return (x, x) if isinstance(x, int) else tuple(x)


def conv_operator_sigma(
    weight: torch.Tensor, input_size: tuple[int, int], stride=1, padding=0, dilation=1,
    n_iter: int = 1000, seed: int = 0,
) -> float:
    """‖w̃‖₂, the largest singular value of the zero-padded convolution operator (App. L.3's SN_Conv σ,
    measured accurately for analysis).

    Lanczos (ARPACK ``svds``) on the operator applied with ``conv2d`` / ``conv_transpose2d`` from a
    seeded start vector: exact to solver tolerance, where power iteration converges slowly because a
    conv operator's top singular values nearly coincide. Uses no global random state.
    """
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, svds

    k, s, p, d = _pair(tuple(weight.shape[2:])), _pair(stride), _pair(padding), _pair(dilation)
    op = tuple(_conv_output_padding(input_size[i], k[i], s[i], p[i], d[i]) for i in range(2))
    w = weight.detach().to(torch.float64).cpu()
    in_shape = (1, w.shape[1], *input_size)
    out_shape = tuple(F.conv2d(torch.zeros(in_shape, dtype=torch.float64), w, stride=s, padding=p, dilation=d).shape)

    def matvec(x):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)).reshape(in_shape)
        return F.conv2d(x, w, stride=s, padding=p, dilation=d).reshape(-1).numpy()

    def rmatvec(y):
        y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).reshape(out_shape)
        return F.conv_transpose2d(y, w, stride=s, padding=p, dilation=d, output_padding=op).reshape(-1).numpy()

    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    A = LinearOperator((n_out, n_in), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)
    v0 = np.random.RandomState(seed).standard_normal(min(n_in, n_out))
    if min(n_in, n_out) < 3:  # ARPACK needs k < min(shape); tiny operators: dense SVD
        dense = np.stack([matvec(e) for e in np.eye(n_in)], axis=1)
        return float(np.linalg.norm(dense, 2))
    sv = svds(A, k=1, v0=v0, maxiter=n_iter, return_singular_vectors=False, tol=1e-10)
    return float(sv[0])


@dataclass
class LayerSigma:
    """σ's of one layer: ``sigma`` is the normalizer in use; extras depend on the mode. Floats from
    :func:`sigmas`, 0-d device tensors from :func:`sigma_tensors`."""

    name: str
    mode: str
    sigma: float | torch.Tensor
    extra: dict[str, float | torch.Tensor] = field(default_factory=dict)


@torch.no_grad()
def sigma_tensors(model: nn.Module) -> list[LayerSigma]:
    """:func:`sigmas` (default mode) as device tensors, with no host synchronisation: what the
    training step keeps at a logging iteration; the trainer reads the numbers at its cadence. The
    SN_w σ of an ``sn_conv`` layer starts from the same seeded vectors as :func:`sigmas` (drawn
    once per layer and kept beside it), so the values are identical."""
    layers = list(normalized_layers(model))
    if any(sn.mode == "sn_conv" and getattr(sn, "_log_start", None) is None for _, _, sn in layers):
        gen = torch.Generator().manual_seed(0)  # sigmas()'s stream: one draw per sn_conv layer, in order
        for _, layer, sn in layers:
            if sn.mode == "sn_conv":
                c_out = layer.parametrizations.weight.original.shape[0]
                sn._log_start = torch.randn(c_out, generator=gen).to(layer.parametrizations.weight.original.device)
    out: list[LayerSigma] = []
    for name, layer, sn in layers:
        w = layer.parametrizations.weight.original.float()
        r = sn.sigmas(w, detach=True)
        extra = {k: v for k, v in r.items() if k in ("sigma1", "sigma2")}
        if sn.mode == "sn_conv":
            extra["sigma_w"] = _matrix_sigma_from(w.reshape(w.shape[0], -1), sn._log_start, 30)
        out.append(LayerSigma(name, sn.mode, r["sigma"], extra))
    return out


def _matrix_sigma_from(mat: torch.Tensor, start: torch.Tensor, n_iter: int) -> torch.Tensor:
    """σ_max of ``mat`` by ``n_iter`` power steps from ``start`` (a device tensor, no sync)."""
    u = _normalize(start.to(device=mat.device, dtype=mat.dtype))
    for _ in range(n_iter):
        u = _normalize(mat @ _normalize(mat.t() @ u))
    return torch.linalg.vector_norm(mat.t() @ u)


@torch.no_grad()
def sigmas(model: nn.Module, accurate: bool = False, n_iter: int = 1000, seed: int = 0) -> list[LayerSigma]:
    """Per-layer σ of the raw weight, for logging (official ``d/sigma{i}``).

    Default: the pre-update value, one step from the stored u (not stored). ``accurate=True``:
    converged values from a fresh seeded vector, for analysis (power iteration on the reshaped
    kernels, Lanczos on the convolution operator). Extras: ``bsn`` → ``sigma1``
    (c_out side) and ``sigma2`` (c_in side); ``sn_conv`` → ``sigma_w``, the SN_w σ of the same kernel
    (App. L.3: ‖ŵ‖ ≤ ‖w̃‖).
    """
    out: list[LayerSigma] = []
    gen = torch.Generator().manual_seed(seed)
    for name, layer, sn in normalized_layers(model):
        w = layer.parametrizations.weight.original.float()
        mat = w.reshape(w.shape[0], -1)
        if not accurate:
            r = sn.sigmas(w, detach=True)
            extra = {k: float(v) for k, v in r.items() if k in ("sigma1", "sigma2")}
            if sn.mode == "sn_conv":
                extra["sigma_w"] = _accurate_matrix_sigma(mat, 30, gen)
            out.append(LayerSigma(name, sn.mode, float(r["sigma"]), extra))
            continue
        s1 = _accurate_matrix_sigma(mat, n_iter, gen)
        if sn.mode == "sn":
            out.append(LayerSigma(name, sn.mode, s1))
        elif sn.mode == "bsn":
            s2 = _accurate_matrix_sigma(w.transpose(0, 1).reshape(w.shape[1], -1), n_iter, gen)
            out.append(LayerSigma(name, sn.mode, (s1 + s2) / 2, {"sigma1": s1, "sigma2": s2}))
        else:
            c = sn.conv
            sc = conv_operator_sigma(w, c["input_size"], c["stride"], c["padding"], c["dilation"], n_iter, seed)
            out.append(LayerSigma(name, sn.mode, sc, {"sigma_w": s1}))
    return out

