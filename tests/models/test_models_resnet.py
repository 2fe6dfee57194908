"""ResNet G/D for 128×128 (docs/design.md#resnet-models): counts, structure, Glorot init."""

import math

import specnorm  # noqa: F401
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from specnorm.models import ResNetDiscriminator, ResNetGenerator, build_models
from specnorm.models.resnet import DownBlock, UpBlock
from specnorm.config import NormCfg

G_CH = [1024, 1024, 512, 256, 128, 64]
D_CH = [3, 64, 128, 256, 512, 1024, 1024]


def g_count(z: int = 128, mg: int = 4) -> int:
    """Official ResNet G: linear (bias) → up-blocks [BN(in), conv3 in→out, BN(out), conv3 out→out,
    conv1×1 in→out, all with bias] → BN(64), conv3 64→3."""
    n = z * mg * mg * G_CH[0] + mg * mg * G_CH[0]
    for cin, cout in zip(G_CH[:-1], G_CH[1:]):
        n += 2 * cin + 9 * cin * cout + cout  # BN(in), conv1
        n += 2 * cout + 9 * cout * cout + cout  # BN(out), conv2
        n += cin * cout + cout  # 1×1 shortcut
    return n + 2 * 64 + 9 * 64 * 3 + 3


def d_count() -> int:
    """Official ResNet D: 6 blocks [conv3 in→out, conv3 out→out, conv1×1 in→out, with bias] → linear 1024→1."""
    n = 0
    for cin, cout in zip(D_CH[:-1], D_CH[1:]):
        n += 9 * cin * cout + cout + 9 * cout * cout + cout + cin * cout + cout
    return n + 1024 + 1


@pytest.fixture(scope="module")
def full():
    return build_models("resnet", NormCfg("sn"), mg=4, generator=torch.Generator().manual_seed(0))


def test_full_width_parameter_counts(full):
    G, D = full
    assert sum(p.numel() for p in G.parameters()) == g_count()
    assert sum(p.numel() for p in D.parameters()) == d_count()
    assert G.resolution == 128 and D.resolution == 128 and G.bn_stats_in_d_step is False
    assert len(D.weighted_layers()) == 6 * 3 + 1


def test_glorot_init_gains(full):
    G, D = full
    checked = 0
    for model in (G, D):
        for name, m in model.named_modules():
            if not isinstance(m, (nn.Conv2d, nn.Linear)):
                continue
            w = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            residual_3x3 = name.endswith(("conv1", "conv2"))
            gain = math.sqrt(2) if residual_3x3 else 1.0
            fan_in, fan_out = w[0].numel(), w.shape[0] * w[0, 0].numel()
            bound = gain * math.sqrt(6 / (fan_in + fan_out))
            assert w.abs().max() <= bound, name
            if w.numel() >= 1000:
                assert w.abs().max() > 0.95 * bound, name
                assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1), name
            assert torch.count_nonzero(m.bias) == 0
            checked += 1
    assert checked == (1 + 5 * 3 + 1) + (6 * 3 + 1)


@pytest.mark.parametrize("mg", [1, 4])
def test_reduced_width_shapes(mg):
    G, D = build_models("resnet", NormCfg("sn"), mg=mg, width=1 / 16, z_dim=8)
    img = G(torch.randn(2, 8))
    assert img.shape == (2, 3, 32 * mg, 32 * mg) and img.abs().max() <= 1.0
    assert D(img).shape == (2,)


def test_up_block_matches_official_order():
    blk = UpBlock(4, 6)
    blk.train()
    x = torch.randn(2, 4, 5, 5)
    up = lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3)  # TF constant-kernel unpooling
    bn = lambda t: F.batch_norm(t, None, None, training=True, eps=1e-5)
    h = blk.conv1(up(F.relu(bn(x))))
    want = blk.conv2(F.relu(bn(h))) + blk.shortcut(up(x))
    torch.testing.assert_close(blk(x), want)


def test_down_blocks_match_official_order():
    x = torch.randn(2, 3, 8, 8)
    first = DownBlock(3, 5, first=True)
    want = F.avg_pool2d(first.conv2(F.relu(first.conv1(x))), 2) + first.shortcut(F.avg_pool2d(x, 2))
    torch.testing.assert_close(first(x), want)
    later = DownBlock(3, 5)
    want = F.avg_pool2d(later.conv2(F.relu(later.conv1(F.relu(x)))), 2) + F.avg_pool2d(later.shortcut(x), 2)
    torch.testing.assert_close(later(x), want)
    same = DownBlock(3, 5, down=False)
    want = same.conv2(F.relu(same.conv1(F.relu(x)))) + same.shortcut(x)
    torch.testing.assert_close(same(x), want)


def test_discriminator_ends_with_relu_sum_pool_linear():
    D = ResNetDiscriminator(mg=2, width=1 / 16)
    feats = []
    D.layer5.register_forward_hook(lambda m, i, o: feats.append(o))
    out = D(torch.randn(2, 3, 64, 64))
    assert feats[0].shape == (2, 64, 2, 2)
    assert (D.layer5.shortcut.in_channels, D.layer5.shortcut.kernel_size) == (64, (1, 1))  # kept in 1024→1024
    torch.testing.assert_close(out, D.layer6(F.relu(feats[0]).sum(dim=(2, 3))).squeeze(1))
    assert isinstance(ResNetGenerator(mg=1, width=1 / 16).blocks[0].shortcut, nn.Conv2d)
