"""Generators and discriminators of the official code (docs/design.md#cnn-models, docs/design.md#resnet-models) and our MNIST MLP.

``build_models`` builds an initialized, normalized (G, D) pair; ``frozen_bn_stats`` freezes G's BN
running stats during ResNet D steps (docs/design.md#bn-statistics).
"""

from specnorm.models.base import Discriminator, Generator, channels, lrelu
from specnorm.models.bn import couples_batch, frozen_bn_stats
from specnorm.models.build import build_cell, build_models
from specnorm.models.cnn import CNNDiscriminator, CNNGenerator
from specnorm.models.mlp import MLPDiscriminator, MLPGenerator
from specnorm.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "CNNDiscriminator", "CNNGenerator", "Discriminator", "Generator", "MLPDiscriminator",
    "MLPGenerator", "ResNetDiscriminator", "ResNetGenerator", "build_cell", "build_models", "channels", "couples_batch", "frozen_bn_stats",
    "lrelu",
]
