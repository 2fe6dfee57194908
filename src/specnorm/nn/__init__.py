"""Normalizations of the discriminator's weights (paper §2–§5; docs/design.md#power-step and the sections after it)."""

from specnorm.nn.init import fan_in, glorot_uniform_, lecun_init_, normal_init_, official_d_init_
from specnorm.nn.spectral import (
    GAMMAS,
    MODES,
    LayerSigma,
    NormSpec,
    SpectralNorm,
    conv_operator_sigma,
    normalized_layers,
    raw_weight,
    sigma_tensors,
    sigmas,
    spectral_norm,
    update_u,
)
from specnorm.nn.apply import apply_norm, gammas

__all__ = [
    "GAMMAS", "MODES", "LayerSigma", "NormSpec", "SpectralNorm", "apply_norm", "conv_operator_sigma",
    "fan_in", "gammas", "glorot_uniform_", "lecun_init_", "normal_init_", "normalized_layers",
    "official_d_init_", "raw_weight", "sigma_tensors", "sigmas", "spectral_norm", "update_u",
]
