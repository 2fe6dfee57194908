"""The standard CNN GAN of the official ``no_gamma-CNN`` code (CIFAR10 / STL10 / CelebA; docs/design.md#cnn-models).

Resolution is ``8·mg`` (mg = 4 → 32, 6 → 48, 8 → 64; 2 → 16 for the built-in 16×16 dataset).
TF ``padding='SAME'`` on even sizes equals symmetric ``padding=1`` for every k3/s1 and k4/s2 layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from specnorm.models.base import BatchNorm1d, BatchNorm2d, Discriminator, Generator, channels, lrelu
from specnorm.nn import normal_init_, official_d_init_

# (c_out, kernel, stride) of the 7 discriminator convs (docs/design.md#cnn-models), all padding 1.
D_CONVS = ((64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1))


class CNNGenerator(Generator):
    """z → linear(mg·mg·512) → **BatchNorm1d on the flat vector** (docs/design.md#cnn-models) → ReLU → reshape →
    3 × [ConvTranspose k4 s2 p1 → BN → ReLU] (256, 128, 64) → ConvTranspose k3 s1 p1 → tanh.

    BN: eps 1e-5, momentum 0.1, affine. Official ``updates_collections=None``: running stats change
    in every train-mode forward, D steps included (``bn_stats_in_d_step = True``, docs/design.md#bn-statistics).
    """

    bn_stats_in_d_step = True

    def __init__(self, mg: int = 4, z_dim: int = 128, img_channels: int = 3, width: float = 1.0) -> None:
        super().__init__(z_dim, 8 * mg, img_channels)
        c512, c256, c128, c64 = (channels(c, width) for c in (512, 256, 128, 64))
        self.mg = mg
        self.c0 = c512
        self.linear = nn.Linear(z_dim, mg * mg * c512)
        self.bn0 = BatchNorm1d(mg * mg * c512)
        layers: list[nn.Module] = []
        for cin, cout in ((c512, c256), (c256, c128), (c128, c64)):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), BatchNorm2d(cout),
                       nn.ReLU()]
        layers += [nn.ConvTranspose2d(c64, img_channels, 3, 1, 1), nn.Tanh()]
        self.deconvs = nn.Sequential(*layers)

    def init_(self, generator: torch.Generator | None = None) -> None:
        """Official G init: every weight N(0, 0.02²), biases 0, BN γ=1 β=0 (docs/design.md#weight-init)."""
        normal_init_(self, std=0.02, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn0(self.linear(z)))
        return self.deconvs(h.view(-1, self.c0, self.mg, self.mg))


class CNNDiscriminator(Discriminator):
    """7 convs (``layer0``–``layer6``, leaky ReLU 0.1, no BN) → flatten → linear → 1 (``layer7``)."""

    def __init__(self, mg: int = 4, img_channels: int = 3, width: float = 1.0) -> None:
        super().__init__(8 * mg, img_channels)
        size = self.resolution
        cin = img_channels
        for i, (c, k, s) in enumerate(D_CONVS):
            cout = channels(c, width)
            self._add_weighted(f"layer{i}", nn.Conv2d(cin, cout, k, s, padding=1), (size, size))
            cin, size = cout, size // s
        self.n_convs = len(D_CONVS)
        self._add_weighted(f"layer{self.n_convs}", nn.Linear(cin * size * size, 1), None)

    def init_(self, generator: torch.Generator | None = None) -> None:
        """Official D init: conv W ~ N(0, 0.02²) truncated at ±0.04 (absolute), linear W ~ N(0, 0.02²),
        biases 0 (docs/design.md#weight-init)."""
        official_d_init_(self, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_convs):
            x = lrelu(getattr(self, f"layer{i}")(x))
        return getattr(self, f"layer{self.n_convs}")(x.flatten(1)).squeeze(1)
