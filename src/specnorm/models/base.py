"""What every generator and discriminator of :mod:`specnorm.models` shares (the public interface)."""

from __future__ import annotations

import torch
from torch import nn

from specnorm.config import NormCfg
from specnorm.nn import apply_norm

LEAK = 0.1
"""Leaky-ReLU slope of the CNN (and MLP) discriminator: official ``lrelu(…, leak=0.1)`` (docs/design.md#cnn-models)."""

BN_EPS = 1e-5
BN_MOMENTUM = 0.1
"""Generator BatchNorm: TF ``batch_norm(decay=0.9, epsilon=1e-5, scale=True)`` (docs/design.md#cnn-models)."""


class _Float32Norm:
    """Normalizes in float32 also under bf16 autocast (``train.precision: bf16``, docs/deviations.md
    T10): its statistics and parameters are float32, and a batched (``vmap``, fused pack) batch norm
    takes one dtype. In fp32 the input passes unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if x.dtype == torch.float32 else x.float())


class BatchNorm1d(_Float32Norm, nn.BatchNorm1d):
    """``nn.BatchNorm1d`` with the official eps and momentum, in float32 (:class:`_Float32Norm`)."""

    def __init__(self, features: int) -> None:
        super().__init__(features, eps=BN_EPS, momentum=BN_MOMENTUM)


class BatchNorm2d(_Float32Norm, nn.BatchNorm2d):
    """``nn.BatchNorm2d`` with the official eps and momentum, in float32 (:class:`_Float32Norm`)."""

    def __init__(self, features: int) -> None:
        super().__init__(features, eps=BN_EPS, momentum=BN_MOMENTUM)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """The official ``lrelu``, ``tf.maximum(x, 0.1·x)``, exactly: forward and gradient, also at x = 0
    (docs/design.md#cnn-models). Every leaky ReLU of :mod:`specnorm.models` is this function.

    The slope is 1 for ``x >= 0`` (on a tie TF's ``Maximum`` passes the gradient to its first argument)
    and 0.1 below; ``F.leaky_relu`` has slope 0.1 at 0, ``torch.maximum`` splits a tie (0.55).
    ``x · slope`` with the constant ``slope = clamp(sign(x) + 1, 0.1, 1)`` gives ``x`` / ``0.1·x`` and
    the gradient ``g`` / ``0.1·g`` bit for bit as TF, with no host sync or branch on data, and runs
    ~7x faster on CPU than ``torch.where(x >= 0, x, 0.1·x)`` (whose CPU kernel is not vectorized).
    """
    slope = x.detach().sign().add_(1).clamp(LEAK, 1.0)  # 1 where x >= 0 (sign(±0) = ±0), 0.1 where x < 0
    return x * slope


def channels(c: int, width: float) -> int:
    """Channel count ``c`` scaled by the width multiplier (tiny CPU runs): ``max(1, round(c·width))``."""
    return max(1, round(c * width))


class Generator(nn.Module):
    """A generator ``G(z) -> images in [-1, 1]``; never normalized (docs/design.md#scale).

    ``bn_stats_in_d_step``: whether BatchNorm running stats are updated by the train-mode G forwards
    of the D step (CNN: True, ``updates_collections=None``; ResNet: False) — docs/design.md#bn-statistics.
    """

    bn_stats_in_d_step: bool

    def __init__(self, z_dim: int, resolution: int, img_channels: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.resolution = resolution
        self.img_channels = img_channels

    def init_(self, generator: torch.Generator | None = None) -> None:
        """The official initialization of this generator (all draws from ``generator``)."""
        raise NotImplementedError


class Discriminator(nn.Module):
    """A discriminator ``D(x) -> logits (N,)`` whose weighted layers know their real input size.

    Subclasses register each ``Conv2d``/``Linear`` with :meth:`_add_weighted` (or record its size in
    ``_input_sizes``) in forward order; :meth:`normalize_` then applies a ``NormCfg`` to all of
    them (convs, 1×1 shortcuts and the final linear — docs/design.md#scale).
    """

    def __init__(self, resolution: int, img_channels: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.img_channels = img_channels
        self.norm = NormCfg(mode="none")
        self._input_sizes: dict[str, tuple[int, int] | None] = {}

    def _add_weighted(self, name: str, layer: nn.Module, input_size: tuple[int, int] | None) -> nn.Module:
        self.add_module(name, layer)
        self._input_sizes[name] = input_size
        return layer

    def weighted_layers(self) -> list[tuple[str, nn.Module, tuple[int, int] | None]]:
        """``(name, layer, input_size)`` of every Conv2d/Linear in forward order; ``input_size`` is the
        (H, W) the conv really sees at ``self.resolution``, None for a linear layer."""
        return [
            (name, m, self._input_sizes[name])
            for name, m in self.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear))
        ]

    def init_(self, generator: torch.Generator | None = None) -> None:
        """The official initialization of this discriminator (all draws from ``generator``)."""
        raise NotImplementedError

    def normalize_(self, norm: NormCfg, generator: torch.Generator | None = None) -> None:
        """Normalize every weighted layer per ``norm``; call once, after the weight init (u buffers
        are drawn from ``generator`` after the weights)."""
        if self.norm.mode != "none":
            raise ValueError("discriminator is already normalized")
        apply_norm([(layer, size) for _, layer, size in self.weighted_layers()], norm, generator=generator)
        self.norm = norm
