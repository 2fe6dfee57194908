"""Apply a :class:`NormSpec` to a whole discriminator (one place for every architecture)."""

from __future__ import annotations

import torch
from torch import nn

from specnorm.nn.spectral import NormSpec, normalized_layers, spectral_norm


def apply_norm(
    layers: list[tuple[nn.Module, tuple[int, int] | None]],
    spec: NormSpec,
    generator: torch.Generator | None = None,
) -> None:
    """Normalize each ``(layer, input_size)`` pair per ``spec`` (call after the weight init).

    The scale s goes on **every** weighted layer, including the final linear (official, docs/design.md#scale).
    ``gamma='same'``: one trainable γ (init 1) shared by all layers; ``'diff'``: one per layer.
    ``input_size`` is the spatial size a conv really sees (needed by ``sn_conv``; None for linear).
    """
    if spec.mode == "none":
        return
    shared = nn.Parameter(torch.ones(())) if spec.gamma == "same" else None
    for layer, size in layers:
        gamma = shared if spec.gamma == "same" else nn.Parameter(torch.ones(())) if spec.gamma == "diff" else None
        spectral_norm(
            layer, spec.mode, spec.scale, input_size=size, grad_through_uv=spec.grad_through_uv,
            clamp=spec.clamp, gamma=gamma, generator=generator,
        )


def gammas(model: nn.Module) -> list[tuple[str, float]]:
    """(layer name, γ) of every layer with a learned γ (official ``d/scale{i}``)."""
    return [(name, float(sn.gamma.detach())) for name, _, sn in normalized_layers(model) if sn.gamma is not None]
