"""MNIST MLP G/D (our documented choice for Figs. 2–3)."""

import specnorm  # noqa: F401
import pytest
import torch
from torch import nn

from specnorm.models import MLPGenerator, build_models
from specnorm.config import NormCfg


def test_default_shapes_and_layers():
    G, D = build_models("mlp", NormCfg("sn"), img_channels=1)
    assert (G.resolution, G.img_channels, G.z_dim) == (28, 1, 128)
    img = G(torch.randn(4, 128))
    assert img.shape == (4, 1, 28, 28) and img.abs().max() <= 1.0
    assert D(img).shape == (4,)
    lins = [m for _, m, _ in D.weighted_layers()]
    assert [(m.in_features, m.out_features) for m in lins] == [(784, 512)] + [(512, 512)] * 3 + [(512, 1)]
    g_lins = [m for m in G.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in g_lins] == [512] * 4 + [784]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in G.modules()) == 4
    assert not any(isinstance(m, nn.BatchNorm1d) for m in D.modules())
    assert MLPGenerator.bn_stats_in_d_step is True


def test_custom_size_hidden_width():
    G, D = build_models("mlp", NormCfg("bsn"), img_channels=3, img_size=8, hidden=64, width=0.5, z_dim=10)
    img = G(torch.randn(2, 10))
    assert img.shape == (2, 3, 8, 8) and D(img).shape == (2,)
    assert D.layer0.in_features == 192 and D.layer0.out_features == 32


def test_init_statistics():
    G, D = build_models("mlp", NormCfg("none"), img_channels=1, generator=torch.Generator().manual_seed(3))
    for model in (G, D):
        for m in model.modules():
            if isinstance(m, nn.Linear):
                if m.weight.numel() > 10_000:
                    assert m.weight.std().item() == pytest.approx(0.02, rel=0.05)
                assert torch.count_nonzero(m.bias) == 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        build_models("cnn", NormCfg("sn"), hidden=10)
    with pytest.raises(ValueError):
        build_models("vgg", NormCfg("sn"))
    with pytest.raises(ValueError):
        build_models("mlp", NormCfg("sn", init="kaiming"))
