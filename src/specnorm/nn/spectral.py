"""The paper's normalizations (§2, §4, §5): SN (= SN_w), BSN and SN_Conv; a scale s ≠ 1 makes SSN,
BSSN and SN_Conv×s. Each is a :class:`~specnorm.nn.normalization.Normalization` registered by name in
:data:`specnorm.catalog.NORMALIZATIONS` (docs/design.md#normalizations).

* ``SN``: σ of the c_out × c_in·k_h·k_w kernel matrix; one TF power step v = n(Mᵀu), u' = n(Mv),
  σ = u'·(Mv) from the stored ``u`` (shape [c_out], docs/design.md#power-step).
* ``BSN``: the mean of that σ and the σ of the c_in × c_out·k_h·k_w matrix, with two independent
  vectors ``u`` and ``u2`` ([c_in]); a linear layer is plain SN (official: ``linear()`` has no BSN branch).
* ``SNConv``: σ of the zero-padded convolution operator at the layer's real input size, one step
  v = n(Au), u' = n(Aᵀv), σ = ⟨Au', v⟩ with ``conv2d``/``conv_transpose2d`` from ``u`` ([1, c_in, H, W])
  (Farnia et al., Gouk et al.); ``clamp`` divides by max(σ, 1) (Farnia); a linear layer is plain SN.
  It also reports ``sigma_w``, the SN_w σ of the same kernel (30 power steps from a fixed vector,
  App. L.3: ‖ŵ‖ ≤ ‖w̃‖). Exact σ's for the analysis are in :mod:`specnorm.analysis.linalg`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from collections.abc import Callable

from torch import nn

from specnorm.nn.normalization import Normalization, l2_normalize, trunc_normal_u


def power_step(first: Callable[[torch.Tensor], torch.Tensor], second: Callable[[torch.Tensor], torch.Tensor],
               u: torch.Tensor, detach: bool, batched: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One TF power step for an operator given as its two products (docs/design.md#power-step):
    v = n(first(u)), w = second(v), u' = n(w), σ = u'·w; ``(σ, u')``. For a matrix M with rows in
    u-space, first = Mᵀ·, second = M·; for a convolution A with u on the input side, first = A·,
    second = Aᵀ· (σ = ⟨Au', v⟩ = u'·Aᵀv). ``detach``: no gradient through v and u'. ``batched``:
    ``u`` is a batch of vectors (rows), each normalized on its own, σ one per row."""
    dim = -1 if batched else None
    v = l2_normalize(first(u), dim=dim)
    w = second(v)
    u_new = l2_normalize(w, dim=dim)
    if detach and torch.is_grad_enabled():  # without a graph, v and u' are constants already
        v, u_new = v.detach(), u_new.detach()
        w = second(v)
    if batched:
        return (u_new * w).sum(-1), u_new
    return (torch.dot(u_new, w) if w.ndim == 1 else (u_new * w).sum()), u_new


def matrix_step(mat: torch.Tensor, u: torch.Tensor, detach: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`power_step` on a matrix ``M`` whose rows live in u-space: v = n(Mᵀu), u' = n(Mv), σ = u'·(Mv)."""
    return power_step(lambda x: x @ mat, lambda x: mat @ x, u, detach)


class SN(Normalization):
    """SN_w (Miyato et al.): σ of the kernel as a c_out × c_in·k_h·k_w matrix."""

    state = ("u",)

    def __init__(self, layer: nn.Module, *, generator: torch.Generator | None = None, **kw) -> None:
        super().__init__(layer, generator=generator, **kw)
        self.register_buffer("u", trunc_normal_u((layer.weight.shape[0],), generator).to(layer.weight.device))

    def step(self, weight, state, detach):
        sigma, u = matrix_step(weight.reshape(weight.shape[0], -1), state["u"], detach)
        return sigma, {"u": u}, {}


class BSN(Normalization):
    """BSN (§5): (σ₁ + σ₂)/2 of the two kernel unfoldings, each from its own vector.

    Both power steps run as one batched step: the kernel, zero-padded to c = max(c_out, c_in)
    channels on both sides, gives two c × c·k·k matrices (its two unfoldings), stacked; zero rows
    and columns change no singular value. The stored ``u`` is [2, c]: row 0 the c_out-side vector
    (official ``u``), row 1 the c_in-side one (official second ``u``), each zero beyond its length
    (the zeros stay zero: they meet only zero rows).
    """

    state = ("u",)
    logs = ("sigma1", "sigma2")

    @classmethod
    def for_layer(cls, layer: nn.Module) -> type[Normalization]:
        return SN if isinstance(layer, nn.Linear) else cls

    def __init__(self, layer: nn.Module, *, generator: torch.Generator | None = None, **kw) -> None:
        super().__init__(layer, generator=generator, **kw)
        c_out, c_in = layer.weight.shape[:2]
        u = torch.zeros(2, max(c_out, c_in))
        u[0, :c_out] = trunc_normal_u((c_out,), generator)
        u[1, :c_in] = trunc_normal_u((c_in,), generator)
        self.register_buffer("u", u.to(layer.weight.device))

    def step(self, weight, state, detach):
        c_out, c_in = weight.shape[:2]
        c = max(c_out, c_in)
        square = F.pad(weight, (0, 0, 0, 0, 0, c - c_in, 0, c - c_out))  # [c, c, k, k]
        mats = torch.stack([square.reshape(c, -1), square.transpose(0, 1).reshape(c, -1)])  # [2, c, c·k·k]
        sigmas, u = power_step(lambda x: (x.unsqueeze(-2) @ mats).squeeze(-2),
                               lambda x: (mats @ x.unsqueeze(-1)).squeeze(-1), state["u"], detach, batched=True)
        return sigmas.mean(), {"u": u}, {"sigma1": sigmas[0], "sigma2": sigmas[1]}


def conv_output_padding(in_size: int, k: int, s: int, p: int, d: int) -> int:
    """``output_padding`` that makes ``conv_transpose2d`` the exact adjoint of ``conv2d`` at ``in_size``."""
    out = (in_size + 2 * p - d * (k - 1) - 1) // s + 1
    return in_size - ((out - 1) * s - 2 * p + d * (k - 1) + 1)


SIGMA_W_STEPS = 30
"""Power steps of SN_Conv's logged ``sigma_w`` (a diagnostic, not the normalizer)."""


class SNConv(Normalization):
    """SN_Conv (§4): σ of the convolution operator at the layer's input size (exact division)."""

    state = ("u",)
    logs = ("sigma_w",)

    @classmethod
    def for_layer(cls, layer: nn.Module) -> type[Normalization]:
        return SN if isinstance(layer, nn.Linear) else cls

    def __init__(self, layer: nn.Module, *, input_size: tuple[int, int] | None = None, clamp: bool = False,
                 generator: torch.Generator | None = None, **kw) -> None:
        super().__init__(layer, generator=generator, **kw)
        if input_size is None:
            raise ValueError("sn_conv needs the layer's input_size (H, W)")
        if layer.padding_mode != "zeros" or layer.groups != 1 or isinstance(layer.padding, str):
            raise ValueError("sn_conv supports zero padding given as integers and groups=1")
        w = layer.weight
        k, s, p, d = layer.kernel_size, layer.stride, layer.padding, layer.dilation
        self.clamp = bool(clamp)
        self.input_size = tuple(int(x) for x in input_size)
        self.conv = dict(stride=s, padding=p, dilation=d)
        self.output_padding = tuple(conv_output_padding(self.input_size[i], k[i], s[i], p[i], d[i]) for i in range(2))
        self.register_buffer("u", trunc_normal_u((1, w.shape[1], *self.input_size), generator).to(w.device))
        # the start of sigma_w's power steps: fixed, not drawn from the init stream (a diagnostic)
        start = torch.randn(w.shape[0], generator=torch.Generator().manual_seed(0))
        self.register_buffer("sigma_w_start", start.to(w.device), persistent=False)

    def step(self, weight, state, detach):
        sigma, u = power_step(lambda x: F.conv2d(x, weight, **self.conv),
                              lambda x: F.conv_transpose2d(x, weight, output_padding=self.output_padding, **self.conv),
                              state["u"], detach)
        return sigma, {"u": u}, {}

    @torch.no_grad()
    def logged(self, weight: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        mat = weight.float().reshape(weight.shape[0], -1)
        u = l2_normalize(self.sigma_w_start)
        for _ in range(SIGMA_W_STEPS):
            u = l2_normalize(mat @ l2_normalize(mat.t() @ u))
        return {**super().logged(weight, state), "sigma_w": torch.linalg.vector_norm(mat.t() @ u)}

    def divisor(self, sigma: torch.Tensor) -> torch.Tensor:
        return torch.clamp(sigma, min=1.0) if self.clamp else sigma

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, input_size={self.input_size}, clamp={self.clamp}"
