"""One interface for every normalization of D's weights (docs/design.md#normalizations).

A normalization is a :class:`Normalization` subclass registered by name in
:data:`specnorm.catalog.NORMALIZATIONS` (``norm.mode``). It is a ``torch.nn.utils.parametrize``
parametrization ``W ↦ W · s · γ / σ(W)`` on a layer's ``weight`` whose state lives in buffers, as in
``torch.nn.utils.parametrizations.spectral_norm``, with the official TensorFlow semantics
(docs/design.md#u-update and the sections after it):

* :meth:`Normalization.step` is the one power-iteration step of the subclass: from a state (the
  buffers named in ``state``) it returns σ and the next state, storing nothing.
* ``forward`` divides by the σ of one step from the stored state (gradients flow through the step
  unless ``grad_through_uv=False``); the stored state advances only through :meth:`advance`, which
  the trainer applies once after each D optimizer step (never in the G step or an extra D pass).
* σ is computed in float32, also under autocast. ``scale`` s (a buffer, so the cells of a fused pack
  may differ in it) multiplies the normalized weight but not the bias; a learned ``gamma``
  multiplies the weight **and the bias** (official ``same_gamma`` / ``diff_gamma``).

Adding a normalization is one subclass, one registry entry (its name and display name) and one
config block (README, "Adding a new normalization").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from specnorm.catalog import get_norm

EPS = 1e-12


def l2_normalize(x: torch.Tensor, eps: float = EPS, dim: int | None = None) -> torch.Tensor:
    """Official ``_l2normalize``: ``x / (sqrt(sum x²) + eps)`` (eps added to the norm,
    docs/design.md#eps-in-the-norm); ``dim``: normalize each slice along it (a batch of vectors)."""
    return x / (torch.linalg.vector_norm(x, dim=dim, keepdim=dim is not None) + eps)


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 (itself when it already is: no conversion op on the training path)."""
    return x if x.dtype == torch.float32 else x.float()


def trunc_normal_u(shape: tuple[int, ...], generator: torch.Generator | None = None) -> torch.Tensor:
    """Official u init: ``truncated_normal(mean 0, std 1)`` cut at ±2, not normalized."""
    u = torch.empty(shape)
    nn.init.trunc_normal_(u, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=generator)
    return u


class Normalization(nn.Module):
    """A layer weight's normalization ``W ↦ W · s · γ / σ(W)``; see the module docstring.

    Subclasses set ``state`` (names of the buffers :meth:`advance` moves on), ``logs`` (the σ's they
    report beside the normalizer, e.g. BSN's two sides), register their buffers in ``__init__`` (after
    calling this one) and implement :meth:`step`. Build one with :func:`normalize_layer`.
    """

    state: ClassVar[tuple[str, ...]] = ()
    logs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, layer: nn.Module, *, scale: float = 1.0, grad_through_uv: bool = True,
                 gamma: nn.Parameter | None = None, input_size: tuple[int, int] | None = None,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale), device=layer.weight.device))
        self.grad_through_uv = bool(grad_through_uv)
        self.gamma = gamma

    @classmethod
    def for_layer(cls, layer: nn.Module) -> type[Normalization]:
        """The class that normalizes ``layer`` (a subclass may hand linear layers to another one)."""
        return cls

    # -- the subclass's σ ---------------------------------------------------------------------------
    def step(self, weight: torch.Tensor, state: dict[str, torch.Tensor], detach: bool
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One power step on the float32 ``weight`` from ``state``: ``(σ, next state, logged σ's)``
        (the last keyed by ``logs``). ``detach``: no gradient through the iteration vectors."""
        raise NotImplementedError

    def divisor(self, sigma: torch.Tensor) -> torch.Tensor:
        """What the weight is divided by, given σ (SN_Conv's optional clamp overrides it)."""
        return sigma

    # -- shared behaviour ---------------------------------------------------------------------------
    def stored(self) -> dict[str, torch.Tensor]:
        """The stored state (the buffers named in ``state``)."""
        return {name: getattr(self, name) for name in self.state}

    def _step32(self, weight: torch.Tensor, state: dict[str, torch.Tensor], detach: bool):
        device = weight.device.type  # autocast off (σ in float32) where autocast exists (not on "meta")
        with torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device) else nullcontext():
            return self.step(as_float32(weight), {k: as_float32(v) for k, v in state.items()}, detach)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        sigma, _, _ = self._step32(weight, self.stored(), not self.grad_through_uv)
        factor = self.scale / self.divisor(sigma)
        if self.gamma is not None:
            factor = factor * self.gamma
        return weight * (factor if factor.dtype == weight.dtype else factor.to(weight.dtype))

    @torch.no_grad()
    def advance(self, weight: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """The next state, one detached step from ``state`` (default: the stored one) with the
        (post-optimizer-step) raw ``weight``; the caller stores it (:func:`advance_state`)."""
        return self._step32(weight, self.stored() if state is None else state, True)[1]

    @torch.no_grad()
    def logged(self, weight: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """``{"sigma": σ, **logs}`` of one detached step from ``state`` (default: the stored one):
        device tensors, no host sync (official ``d/sigma{i}`` summaries: the pre-update value)."""
        sigma, _, extra = self._step32(weight, self.stored() if state is None else state, True)
        return {"sigma": sigma, **extra}

    def extra_repr(self) -> str:
        return f"scale={float(self.scale):g}, grad_through_uv={self.grad_through_uv}"


class _Gamma(nn.Module):
    """Multiplies a tensor by a (possibly shared) trainable γ; used on the bias of γ layers."""

    def __init__(self, gamma: nn.Parameter) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        return b * self.gamma


def normalize_layer(
    module: nn.Module,
    mode: str = "sn",
    scale: float = 1.0,
    *,
    input_size: tuple[int, int] | None = None,
    grad_through_uv: bool = True,
    gamma: nn.Parameter | None = None,
    generator: torch.Generator | None = None,
    **options: Any,
) -> nn.Module:
    """Normalize ``module.weight`` (``Conv2d`` or ``Linear``) with the registered normalization
    ``mode`` in place and return the module (``none``: untouched). ``input_size``: the (H, W) the
    layer really sees (SN_Conv needs it). ``options``: the normalization's own ``norm.*`` options
    (``clamp`` for SN_Conv)."""
    info = get_norm(mode)
    if info.impl is None:
        return module
    if not isinstance(module, (nn.Conv2d, nn.Linear)):
        raise TypeError(f"{mode} normalizes Conv2d and Linear layers, not {type(module).__name__}")
    if parametrize.is_parametrized(module, "weight"):
        raise ValueError(f"{module} is already parametrized")
    cls = info.load().for_layer(module)
    kwargs = options if cls is info.load() else {}  # a fallback class takes none of the options
    norm = cls(module, scale=scale, grad_through_uv=grad_through_uv, gamma=gamma, input_size=input_size,
               generator=generator, **kwargs)
    parametrize.register_parametrization(module, "weight", norm, unsafe=True)
    if gamma is not None and module.bias is not None:
        parametrize.register_parametrization(module, "bias", _Gamma(gamma), unsafe=True)
    return module


def apply_norm(layers: list[tuple[nn.Module, tuple[int, int] | None]], norm: Any,
               generator: torch.Generator | None = None) -> None:
    """Normalize each ``(layer, input_size)`` pair per ``norm`` (a ``specnorm.config.NormCfg``,
    validated here; call after the weight init, u's drawn from ``generator`` in layer order).

    The scale s goes on **every** weighted layer, including the final linear (official,
    docs/design.md#scale). ``gamma='same'``: one trainable γ (init 1) shared by all layers; ``'diff'``:
    one per layer.
    """
    norm.validate("norm")
    if get_norm(norm.mode).impl is None:
        return
    options = {name: getattr(norm, name) for name in get_norm(norm.mode).options}
    shared = nn.Parameter(torch.ones(())) if norm.gamma == "same" else None
    for layer, size in layers:
        gamma = shared if norm.gamma == "same" else nn.Parameter(torch.ones(())) if norm.gamma == "diff" else None
        normalize_layer(layer, norm.mode, norm.scale, input_size=size, grad_through_uv=norm.grad_through_uv,
                        gamma=gamma, generator=generator, **options)


def normalized_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module, Normalization]]:
    """(name, layer, normalization) for every normalized layer, in module order."""
    for name, mod in model.named_modules():
        if parametrize.is_parametrized(mod, "weight"):
            for p in mod.parametrizations.weight:
                if isinstance(p, Normalization):
                    yield name, mod, p


def raw_weight(layer: nn.Module) -> torch.Tensor:
    """The trainable (un-normalized) weight of a layer, parametrized or not."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


@torch.no_grad()
def advance_state(model: nn.Module) -> None:
    """Advance every normalization's stored state by one step (official: once after each D optimizer
    step, docs/design.md#u-update)."""
    for _, layer, norm in normalized_layers(model):
        for name, value in norm.advance(raw_weight(layer)).items():
            getattr(norm, name).copy_(value)


@dataclass
class LayerSigma:
    """σ's of one layer: ``sigma`` is the normalizer's σ, ``extra`` its ``logs`` (0-d device tensors)."""

    name: str
    sigma: torch.Tensor
    extra: dict[str, torch.Tensor] = field(default_factory=dict)


@torch.no_grad()
def logged_sigmas(model: nn.Module) -> list[LayerSigma]:
    """Every normalized layer's :meth:`Normalization.logged` σ's as device tensors, with no host
    synchronisation: what the training step keeps at a logging iteration (read at the cadence)."""
    return [LayerSigma(name, (out := norm.logged(raw_weight(layer)))["sigma"],
                       {k: v for k, v in out.items() if k != "sigma"})
            for name, layer, norm in normalized_layers(model)]


def gammas(model: nn.Module) -> list[tuple[str, float]]:
    """(layer name, γ) of every layer with a learned γ (official ``d/scale{i}``)."""
    return [(name, float(norm.gamma.detach())) for name, _, norm in normalized_layers(model)
            if norm.gamma is not None]
