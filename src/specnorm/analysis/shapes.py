"""Weighted-layer shapes of the paper's discriminators, for the theory checks.

Hard-coded from the official architectures (docs/design.md#cnn-models, docs/design.md#resnet-models), and from our MNIST MLP D
(784 → 4 × 512 → 1, the documented choice of ``specnorm.models.mlp``; repeated here as a constant so
the theory command does not depend on the model code).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CNN_SIZES = (32, 48, 64)
"""CNN D input resolutions: CIFAR10 (mg=4), STL10 (mg=6), CelebA (mg=8) (docs/design.md#cnn-models)."""
CNN_D_CONVS = ((64, 3, 1), (64, 4, 2), (128, 3, 1), (128, 4, 2), (256, 3, 1), (256, 4, 2), (512, 3, 1))
"""(c_out, k, stride) of the 7 CNN D convs, all with padding 1 (docs/design.md#cnn-models)."""
RESNET_D_CHANNELS = (64, 128, 256, 512, 1024, 1024)
"""Output channels of the 6 ResNet D blocks (docs/design.md#resnet-models)."""
MLP_D_WIDTHS = (784, 512, 512, 512, 512, 1)
"""MLP D: flattened 28×28 MNIST → four hidden layers of 512 → 1 (our choice; Apps. J/K unavailable)."""


@dataclass(frozen=True)
class LayerShape:
    """One weighted layer: ``kind`` is ``conv`` (``c_out × c_in × k × k``) or ``linear`` (``k = 1``).

    ``input_size`` is the square spatial size a conv sees (None where not needed / linear).
    """

    arch: str
    layer: str
    kind: str
    c_out: int
    c_in: int
    k: int = 1
    stride: int = 1
    padding: int = 0
    input_size: int | None = None

    @property
    def m(self) -> int:
        """Rows of the SN matrix (c_out, or out_features)."""
        return self.c_out

    @property
    def n(self) -> int:
        """Columns of the SN matrix (c_in·k·k, or in_features)."""
        return self.c_in * self.k * self.k

    @property
    def label(self) -> str:
        return f"{self.arch}:{self.layer}"


def cnn_d_layers(size: int, channels: tuple[int, ...] | None = None) -> list[LayerShape]:
    """The CNN D at resolution ``size`` (docs/design.md#cnn-models): 7 convs then linear mg²·c → 1, mg = size/8.

    ``channels`` overrides the conv widths (the theory command's ``--quick`` mode uses narrow ones).
    """
    widths = channels or tuple(c for c, _, _ in CNN_D_CONVS)
    out, c_in, s = [], 3, size
    for i, ((_, k, stride), c_out) in enumerate(zip(CNN_D_CONVS, widths)):
        out.append(LayerShape(f"cnn{size}", f"conv{i}", "conv", c_out, c_in, k, stride, 1, s))
        c_in, s = c_out, s // stride
    out.append(LayerShape(f"cnn{size}", "linear", "linear", 1, c_in * s * s))
    return out


def resnet_d_layers() -> list[LayerShape]:
    """The ImageNet ResNet D (docs/design.md#resnet-models): per block conv1 3×3, conv2 3×3, 1×1 shortcut; linear 1024 → 1."""
    out, c_in = [], 3
    for b, c in enumerate(RESNET_D_CHANNELS):
        out += [
            LayerShape("resnet", f"b{b}.conv1", "conv", c, c_in, 3, 1, 1),
            LayerShape("resnet", f"b{b}.conv2", "conv", c, c, 3, 1, 1),
            LayerShape("resnet", f"b{b}.shortcut", "conv", c, c_in, 1, 1, 0),
        ]
        c_in = c
    return out + [LayerShape("resnet", "linear", "linear", 1, c_in)]


def mlp_d_layers(widths: tuple[int, ...] = MLP_D_WIDTHS) -> list[LayerShape]:
    """The MLP D: ``fc{i}`` maps widths[i] → widths[i+1]."""
    pairs = zip(widths, widths[1:])
    return [LayerShape("mlp", f"fc{i}", "linear", c_out, c_in) for i, (c_in, c_out) in enumerate(pairs)]


def all_d_layers() -> list[LayerShape]:
    """Every weighted layer of every discriminator. The CNN convs are identical at 32/48/64, so they
    appear once (arch ``cnn``); only the final linear layer depends on the resolution."""
    convs = [replace(sh, arch="cnn", input_size=None) for sh in cnn_d_layers(CNN_SIZES[0]) if sh.kind == "conv"]
    linears = [sh for size in CNN_SIZES for sh in cnn_d_layers(size) if sh.kind == "linear"]
    return convs + linears + resnet_d_layers() + mlp_d_layers()
