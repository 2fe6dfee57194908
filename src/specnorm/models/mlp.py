"""MLP GAN for the paper's MNIST analysis (Figs. 2–3, "four hidden layers"; Apps. J/K unavailable).

The architecture is **our documented choice** (docs/deviations.md A1), kept in the style of
the official CNN code:

* D: flatten → 4 × [Linear(hidden) → leaky ReLU 0.1] → Linear → 1 (``layer0``–``layer4``); no BN.
  With zero biases (as at init) it is positively homogeneous per layer, as Prop. 2 / Thm. 1 assume.
* G: z → 4 × [Linear(hidden) → BatchNorm1d → ReLU] → Linear(C·S·S) → tanh → reshape (C, S, S).
* Defaults: ``hidden = 512``, ``img_size = 28`` (MNIST). Init as the official CNN's linears:
  G and D weights N(0, 0.02²), biases 0. G's BN stats update in every train-mode forward, like the
  CNN (``bn_stats_in_d_step = True``).
"""

from __future__ import annotations

import torch
from torch import nn

from specnorm.models.base import BatchNorm1d, Discriminator, Generator, channels, lrelu
from specnorm.nn import normal_init_, official_d_init_

HIDDEN = 512
N_HIDDEN = 4
IMG_SIZE = 28


class MLPGenerator(Generator):
    """z → 4 × [Linear → BN → ReLU] → Linear → tanh → (C, S, S)."""

    bn_stats_in_d_step = True

    def __init__(
        self, img_size: int = IMG_SIZE, z_dim: int = 128, img_channels: int = 1, hidden: int = HIDDEN,
        width: float = 1.0,
    ) -> None:
        super().__init__(z_dim, img_size, img_channels)
        h = channels(hidden, width)
        layers: list[nn.Module] = []
        cin = z_dim
        for _ in range(N_HIDDEN):
            layers += [nn.Linear(cin, h), BatchNorm1d(h), nn.ReLU()]
            cin = h
        layers += [nn.Linear(cin, img_channels * img_size * img_size), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def init_(self, generator: torch.Generator | None = None) -> None:
        normal_init_(self, std=0.02, generator=generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, self.img_channels, self.resolution, self.resolution)


class MLPDiscriminator(Discriminator):
    """flatten → 4 × [Linear → leaky ReLU 0.1] → Linear → 1."""

    def __init__(
        self, img_size: int = IMG_SIZE, img_channels: int = 1, hidden: int = HIDDEN, width: float = 1.0
    ) -> None:
        super().__init__(img_size, img_channels)
        h = channels(hidden, width)
        cin = img_channels * img_size * img_size
        for i in range(N_HIDDEN):
            self._add_weighted(f"layer{i}", nn.Linear(cin, h), None)
            cin = h
        self._add_weighted(f"layer{N_HIDDEN}", nn.Linear(cin, 1), None)

    def init_(self, generator: torch.Generator | None = None) -> None:
        """Linear W ~ N(0, 0.02²), biases 0 (the official CNN D's linear init)."""
        official_d_init_(self, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for i in range(N_HIDDEN):
            x = lrelu(getattr(self, f"layer{i}")(x))
        return getattr(self, f"layer{N_HIDDEN}")(x).squeeze(1)
