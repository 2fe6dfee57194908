"""Normalizations of the discriminator's weights (paper §2–§5; docs/design.md#normalizations): one
:class:`Normalization` interface, the paper's classes registered by name in ``specnorm.catalog``."""

from specnorm.nn.init import fan_in, glorot_uniform_, lecun_init_, normal_init_, official_d_init_
from specnorm.nn.normalization import (
    LayerSigma,
    Normalization,
    advance_state,
    apply_norm,
    gammas,
    logged_sigmas,
    normalize_layer,
    normalized_layers,
    raw_weight,
)
from specnorm.nn.spectral import BSN, SN, SNConv

__all__ = [
    "BSN", "LayerSigma", "Normalization", "SN", "SNConv", "advance_state", "apply_norm", "fan_in", "gammas",
    "glorot_uniform_", "lecun_init_", "logged_sigmas", "normal_init_", "normalize_layer", "normalized_layers",
    "official_d_init_", "raw_weight",
]
