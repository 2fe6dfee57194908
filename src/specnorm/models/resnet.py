"""The unconditional ResNet GAN of the official ``no_gamma-ResNet`` code (ImageNet 128×128; docs/design.md#resnet-models).

Resolution is ``32·mg`` (5 up/down blocks; mg = 4 → 128, the official setting). Smaller mg keeps
every block and channel count and only shrinks the spatial sizes (for tests). Init is Glorot-uniform
(TF ``variance_scaling(fan_avg, uniform)``): gain √2 on the 3×3 convs inside residual blocks, gain 1
on 1×1 shortcuts, linears and G's final conv; biases 0 (docs/design.md#weight-init).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from specnorm.models.base import BatchNorm2d, Discriminator, Generator, channels
from specnorm.nn import glorot_uniform_, raw_weight

RES_GAIN = math.sqrt(2.0)  # ini_scale 2.0 on residual 3×3 convs
G_CHANNELS = (1024, 1024, 512, 256, 128, 64)  # linear output, then each up-block's output
D_CHANNELS = (64, 128, 256, 512, 1024, 1024)  # each down-block's output; the last one does not downsample


def _glorot_(layer: nn.Module, gain: float, generator: torch.Generator | None) -> None:
    glorot_uniform_(raw_weight(layer), gain=gain, generator=generator)
    nn.init.zeros_(layer.bias)


class UpBlock(nn.Module):
    """Official ``up_resnet``: BN → ReLU → nearest 2× → conv3 → BN → ReLU → conv3, plus the shortcut
    nearest 2× → conv1×1, always present (docs/design.md#resnet-models). TF's constant-kernel ``unpooling`` is nearest."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.bn1 = BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.bn2 = BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def init_(self, generator: torch.Generator | None) -> None:
        _glorot_(self.conv1, RES_GAIN, generator)
        _glorot_(self.conv2, RES_GAIN, generator)
        _glorot_(self.shortcut, 1.0, generator)
        for bn in (self.bn1, self.bn2):
            bn.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest"))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DownBlock(nn.Module):
    """Official ``down_resnet``. ``first``: conv3 → ReLU → conv3 → avgpool, shortcut avgpool → conv1×1.
    Otherwise: ReLU → conv3 → ReLU → conv3 → [avgpool], shortcut conv1×1 → [avgpool]; the 1×1 shortcut
    is kept even without downsampling (docs/design.md#resnet-models). ReLU, not leaky."""

    def __init__(self, cin: int, cout: int, first: bool = False, down: bool = True) -> None:
        super().__init__()
        self.first, self.down = first, down
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def input_sizes(self, size: int) -> dict[str, tuple[int, int]]:
        """Spatial size each conv sees when the block's input is ``size × size``."""
        sc = size // 2 if self.first else size
        return {"conv1": (size, size), "conv2": (size, size), "shortcut": (sc, sc)}

    def init_(self, generator: torch.Generator | None) -> None:
        _glorot_(self.conv1, RES_GAIN, generator)
        _glorot_(self.conv2, RES_GAIN, generator)
        _glorot_(self.shortcut, 1.0, generator)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.first:
            return h + self.shortcut(self._pool(x))
        return h + self._pool(self.shortcut(x))


class ResNetGenerator(Generator):
    """z → linear(mg·mg·1024) (no BN/activation) → 5 up-blocks (1024, 512, 256, 128, 64) → BN → ReLU →
    conv3 → tanh. BN running stats update only in the G step (``bn_stats_in_d_step = False``, docs/design.md#bn-statistics)."""

    bn_stats_in_d_step = False

    def __init__(self, mg: int = 4, z_dim: int = 128, img_channels: int = 3, width: float = 1.0) -> None:
        super().__init__(z_dim, 32 * mg, img_channels)
        chs = [channels(c, width) for c in G_CHANNELS]
        self.mg = mg
        self.linear = nn.Linear(z_dim, mg * mg * chs[0])
        self.blocks = nn.Sequential(*(UpBlock(cin, cout) for cin, cout in zip(chs[:-1], chs[1:])))
        self.bn_out = BatchNorm2d(chs[-1])
        self.conv_out = nn.Conv2d(chs[-1], img_channels, 3, 1, 1)

    def init_(self, generator: torch.Generator | None = None) -> None:
        _glorot_(self.linear, 1.0, generator)
        for block in self.blocks:
            block.init_(generator)
        self.bn_out.reset_parameters()
        _glorot_(self.conv_out, 1.0, generator)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.linear(z).view(z.shape[0], -1, self.mg, self.mg))
        return torch.tanh(self.conv_out(F.relu(self.bn_out(h))))


class ResNetDiscriminator(Discriminator):
    """``layer0`` (first block 3→64) … ``layer4`` (→1024) downsample; ``layer5`` 1024→1024 keeps the size;
    then ReLU → global **sum** pool → linear → 1 (``layer6``). Unconditional (no projection)."""

    def __init__(self, mg: int = 4, img_channels: int = 3, width: float = 1.0) -> None:
        super().__init__(32 * mg, img_channels)
        size, cin = self.resolution, img_channels
        last = len(D_CHANNELS) - 1
        for i, c in enumerate(D_CHANNELS):
            cout = channels(c, width)
            block = DownBlock(cin, cout, first=i == 0, down=i < last)
            self.add_module(f"layer{i}", block)
            self._input_sizes.update({f"layer{i}.{k}": v for k, v in block.input_sizes(size).items()})
            cin, size = cout, size // 2 if block.down else size
        self.n_blocks = len(D_CHANNELS)
        self._add_weighted(f"layer{self.n_blocks}", nn.Linear(cin, 1), None)

    def init_(self, generator: torch.Generator | None = None) -> None:
        for i in range(self.n_blocks):
            getattr(self, f"layer{i}").init_(generator)
        _glorot_(getattr(self, f"layer{self.n_blocks}"), 1.0, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(self.n_blocks):
            x = getattr(self, f"layer{i}")(x)
        return getattr(self, f"layer{self.n_blocks}")(F.relu(x).sum(dim=(2, 3))).squeeze(1)
