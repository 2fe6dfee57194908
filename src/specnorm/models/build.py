"""``build_models``: one entry point for every (G, D) pair of the benchmark."""

from __future__ import annotations

import torch

from specnorm.models.base import Discriminator, Generator
from specnorm.models.cnn import CNNDiscriminator, CNNGenerator
from specnorm.models.mlp import HIDDEN, IMG_SIZE, MLPDiscriminator, MLPGenerator
from specnorm.models.resnet import ResNetDiscriminator, ResNetGenerator
from specnorm.nn import NormSpec, lecun_init_

ARCHS = ("cnn", "resnet", "mlp")
D_INITS = ("official", "lecun")


def build_models(
    arch: str,
    norm: NormSpec,
    *,
    mg: int = 4,
    width: float = 1.0,
    z_dim: int = 128,
    img_channels: int = 3,
    img_size: int | None = None,
    hidden: int | None = None,
    d_init: str = "official",
    lecun_s: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Generator, Discriminator]:
    """Build and initialize ``(G, D)``; D is normalized per ``norm`` after its init.

    ``arch``: ``cnn`` (resolution 8·mg), ``resnet`` (32·mg; mg=4 → 128) or ``mlp`` (``img_size``,
    default 28; ``hidden``, default 512). ``width`` scales every channel count (tiny CPU runs).
    ``d_init``: ``official`` (CNN/MLP: truncated N(0, 0.02²) convs, N(0, 0.02²) linears; ResNet:
    Glorot) or ``lecun`` (N(0, (s/√fan_in)²), Fig. 8, §1.8; meant for ``norm.mode == 'none'``).
    All init randomness — G, then D, then the u buffers — is drawn from ``generator`` when given.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch {arch!r} is not one of {ARCHS}")
    if d_init not in D_INITS:
        raise ValueError(f"d_init {d_init!r} is not one of {D_INITS}")
    if arch == "mlp":
        size, h = img_size or IMG_SIZE, hidden or HIDDEN
        G: Generator = MLPGenerator(size, z_dim, img_channels, h, width)
        D: Discriminator = MLPDiscriminator(size, img_channels, h, width)
    else:
        if img_size is not None or hidden is not None:
            raise ValueError("img_size and hidden apply to arch 'mlp' only (cnn/resnet: use mg)")
        g_cls, d_cls = (CNNGenerator, CNNDiscriminator) if arch == "cnn" else (ResNetGenerator, ResNetDiscriminator)
        G, D = g_cls(mg, z_dim, img_channels, width), d_cls(mg, img_channels, width)
    G.init_(generator)
    if d_init == "official":
        D.init_(generator)
    else:
        lecun_init_(D, lecun_s, generator=generator)
    D.normalize_(norm, generator=generator)
    return G, D
