"""CNN G/D (docs/design.md#cnn-models): shapes, exact parameter counts, official init, Prop. 2."""

import math

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch
from torch import nn

from specnorm.models import CNNDiscriminator, CNNGenerator, build_models
from specnorm.config import NormCfg

D_CONVS = [(3, 64, 3), (64, 64, 4), (64, 128, 3), (128, 128, 4), (128, 256, 3), (256, 256, 4), (256, 512, 3)]
G_DECONVS = [(512, 256, 4), (256, 128, 4), (128, 64, 4), (64, 3, 3)]


def g_counts(mg: int, z: int = 128) -> tuple[int, int]:
    """(all parameters, weight matrices only) of the official CNN G (docs/design.md#cnn-models)."""
    flat = mg * mg * 512
    weights = z * flat + sum(cin * cout * k * k for cin, cout, k in G_DECONVS)
    biases = flat + sum(cout for _, cout, _ in G_DECONVS)
    bn = 2 * flat + 2 * (256 + 128 + 64)
    return weights + biases + bn, weights


def d_counts(mg: int) -> tuple[int, int]:
    """(all parameters, weight matrices only) of the official CNN D (docs/design.md#cnn-models)."""
    weights = sum(cin * cout * k * k for cin, cout, k in D_CONVS) + 512 * mg * mg
    biases = sum(cout for _, cout, _ in D_CONVS) + 1
    return weights + biases, weights


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def n_weights(m: nn.Module) -> int:
    return sum(p.numel() for name, p in m.named_parameters() if p.dim() >= 2)


@pytest.mark.parametrize("mg,g_m,d_m", [(4, 3.80, 2.93), (6, 5.11, 2.94), (8, 6.95, 2.96)])
def test_full_width_parameter_counts(mg, g_m, d_m):
    G, D = build_models("cnn", NormCfg("sn"), mg=mg)
    g_all, g_w = g_counts(mg)
    d_all, d_w = d_counts(mg)
    assert (n_params(G), n_weights(G)) == (g_all, g_w)
    assert (n_params(D), n_weights(D)) == (d_all, d_w)
    # the performance model's 3.80M / 2.93M etc. count weight matrices (no biases, no BN affine)
    assert (round(g_w / 1e6, 2), round(d_w / 1e6, 2)) == (g_m, d_m)
    assert G.resolution == 8 * mg and G.z_dim == 128 and G.img_channels == 3 and D.resolution == 8 * mg


@pytest.mark.parametrize("mg", [2, 4, 6])
def test_shapes_and_range(mg):
    G, D = build_models("cnn", NormCfg("sn"), mg=mg, width=1 / 16, img_channels=1, z_dim=16)
    img = G(torch.randn(5, 16))
    assert img.shape == (5, 1, 8 * mg, 8 * mg)
    assert img.abs().max() <= 1.0
    assert D(img).shape == (5,)
    assert D.layer7.in_features == 32 * mg * mg  # 512/16 channels × (R/8)²


def test_generator_layers_follow_official_table():
    G = CNNGenerator(mg=4)
    assert isinstance(G.bn0, nn.BatchNorm1d) and G.bn0.num_features == 4 * 4 * 512  # docs/design.md#cnn-models
    bns = [m for m in G.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert all(bn.eps == 1e-5 and bn.momentum == 0.1 and bn.affine for bn in bns)
    deconvs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.kernel_size, m.stride, m.padding) for m in deconvs] == [((4, 4), (2, 2), (1, 1))] * 3 + [
        ((3, 3), (1, 1), (1, 1))
    ]
    assert isinstance(G.deconvs[-1], nn.Tanh)
    assert CNNGenerator.bn_stats_in_d_step is True


def test_discriminator_activation_is_leaky_relu_01():
    D = CNNDiscriminator(mg=2, width=1 / 16)
    seen = []
    D.layer1.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach().clone()))
    with torch.no_grad():
        D.layer0.weight.normal_()
        x = torch.randn(2, 3, 16, 16)
        D(x)
        pre = D.layer0(x)
    torch.testing.assert_close(seen[0], torch.where(pre > 0, pre, 0.1 * pre))


def test_official_init_statistics():
    gen = torch.Generator().manual_seed(0)
    G, D = build_models("cnn", NormCfg("none"), mg=4, generator=gen)
    # D convs: N(0, 0.02²) truncated at ±0.04 absolute → std 0.02·0.8796
    trunc_factor = math.sqrt(1 - 4 * math.exp(-2) / math.sqrt(2 * math.pi) / math.erf(2 / math.sqrt(2)))
    convs = torch.cat([D.get_submodule(f"layer{i}").weight.flatten() for i in range(7)])
    assert convs.abs().max() <= 0.04 and convs.abs().max() > 0.039
    assert convs.std().item() == pytest.approx(0.02 * trunc_factor, rel=0.02)
    lin = D.layer7.weight  # untruncated N(0, 0.02²)
    assert lin.std().item() == pytest.approx(0.02, rel=0.05) and lin.abs().max() > 0.06
    assert all(torch.count_nonzero(m.bias) == 0 for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    for m in G.modules():
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
            if m.weight.numel() > 10_000:
                assert m.weight.std().item() == pytest.approx(0.02, rel=0.05)
                assert m.weight.abs().max() > 0.06
            assert torch.count_nonzero(m.bias) == 0
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            assert torch.all(m.weight == 1) and torch.all(m.bias == 0)
