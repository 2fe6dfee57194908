"""Generators and discriminators of the official code (CNN §2.1–2.2, ResNet §2.3–2.4) and our MNIST MLP.

``build_models`` builds an initialized, normalized (G, D) pair; ``frozen_bn_stats`` freezes G's BN
running stats during ResNet D steps (pitfall 7).
"""

from specnorm.models.base import Discriminator, Generator, channels
from specnorm.models.bn import frozen_bn_stats
from specnorm.models.build import ARCHS, D_INITS, build_models
from specnorm.models.cnn import CNNDiscriminator, CNNGenerator
from specnorm.models.mlp import MLPDiscriminator, MLPGenerator
from specnorm.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = [
    "ARCHS", "CNNDiscriminator", "CNNGenerator", "D_INITS", "Discriminator", "Generator", "MLPDiscriminator",
    "MLPGenerator", "ResNetDiscriminator", "ResNetGenerator", "build_models", "channels", "frozen_bn_stats",
]
