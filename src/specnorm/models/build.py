"""One model builder: ``build_models`` for every (G, D) pair of the benchmark, and ``build_cell``
for the (G, D) of a cell config (used by the trainer and the scorer alike)."""

from __future__ import annotations

import torch

from specnorm.models.base import Discriminator, Generator
from specnorm.models.cnn import CNNDiscriminator, CNNGenerator
from specnorm.models.mlp import HIDDEN, IMG_SIZE, MLPDiscriminator, MLPGenerator
from specnorm.models.resnet import ResNetDiscriminator, ResNetGenerator
from specnorm.catalog import get_info
from specnorm.config import NormCfg
from specnorm.nn import lecun_init_
from specnorm.vocab import ARCHS


def build_models(
    arch: str,
    norm: NormCfg,
    *,
    mg: int = 4,
    width: float = 1.0,
    z_dim: int = 128,
    img_channels: int = 3,
    img_size: int | None = None,
    hidden: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Generator, Discriminator]:
    """Build and initialize ``(G, D)``; D is normalized per ``norm`` after its init.

    ``arch``: ``cnn`` (resolution 8·mg), ``resnet`` (32·mg; mg=4 → 128) or ``mlp`` (``img_size``,
    default 28; ``hidden``, default 512). ``width`` scales every channel count (tiny CPU runs).
    ``norm.init``: ``official`` (CNN/MLP: truncated N(0, 0.02²) convs, N(0, 0.02²) linears; ResNet:
    Glorot) or ``lecun`` (N(0, (s/√fan_in)²) with s = ``norm.scale``, Fig. 8; mode ``none``).
    All init randomness — G, then D, then the u buffers — is drawn from ``generator`` when given.
    """
    norm.validate("norm")
    if arch not in ARCHS:
        raise ValueError(f"arch {arch!r} is not one of {ARCHS}")
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
    if norm.init == "lecun":
        lecun_init_(D, norm.scale, generator=generator)
    else:
        D.init_(generator)
    D.normalize_(norm, generator=generator)
    return G, D


def build_cell(cfg, generator: torch.Generator | None = None) -> tuple[Generator, Discriminator]:
    """``(G, D)`` of a cell config (``specnorm.config.CellConfig``), shaped for its dataset's images.

    The one place a config becomes models: the trainer builds a cell with its seeded init
    ``generator``, the scorer builds the same G and loads the kept weights into it.
    """
    info, m = get_info(cfg.dataset.name), cfg.model
    return build_models(m.arch, cfg.norm, mg=m.mg, width=m.width, z_dim=m.z_dim, img_channels=info.channels,
                        img_size=info.resolution if m.arch == "mlp" else None, hidden=m.hidden,
                        generator=generator)
