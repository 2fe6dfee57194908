"""Weight initializations: the official ones (docs/design.md#weight-init) and the LeCun×s baseline of Fig. 8."""

from __future__ import annotations

import math

import torch
from torch import nn

from specnorm.nn.normalization import raw_weight


@torch.no_grad()
def official_d_init_(model: nn.Module, generator: torch.Generator | None = None) -> None:
    """Official CNN discriminator init: conv W ~ N(0, 0.02²) truncated at ±0.04 (absolute bounds,
    ``tf.truncated_normal_initializer(stddev=0.02)``); linear W ~ N(0, 0.02²); biases 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.trunc_normal_(raw_weight(m), std=0.02, a=-0.04, b=0.04, generator=generator)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(raw_weight(m), std=0.02, generator=generator)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


@torch.no_grad()
def normal_init_(model: nn.Module, std: float = 0.02, generator: torch.Generator | None = None) -> None:
    """Official CNN generator init: every linear / (transposed) conv W ~ N(0, std²), biases 0; BN γ=1, β=0."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(raw_weight(m), std=std, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


@torch.no_grad()
def glorot_uniform_(w: torch.Tensor, gain: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """TF ``variance_scaling(scale=gain², mode='fan_avg', distribution='uniform')`` (ResNet, docs/design.md#weight-init)."""
    return nn.init.xavier_uniform_(w, gain=gain, generator=generator)


def fan_in(layer: nn.Module) -> int:
    """c_in·k_h·k_w for a convolution, in_features for a linear layer."""
    w = raw_weight(layer)
    return int(w[0].numel())


@torch.no_grad()
def lecun_init_(model: nn.Module, s: float, generator: torch.Generator | None = None) -> nn.Module:
    """LeCun×s init for the un-normalized baseline of Fig. 8 (§5.2; docs/design.md#lecun-baseline).

    Every ``Conv2d`` / ``Linear`` weight ~ N(0, (s/√fan_in)²), untruncated; biases 0. Our choice,
    recorded in docs/deviations.md: s multiplies the **standard deviation** (as SSN's s multiplies
    the weights), with fan_in = c_in·k_h·k_w (conv) or in_features (linear). Use with mode ``none``.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(raw_weight(m), std=s / math.sqrt(fan_in(m)), generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
