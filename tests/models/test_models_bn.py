"""frozen_bn_stats: batch-stat normalization without touching running stats (docs/design.md#bn-statistics)."""

import copy

import specnorm  # noqa: F401
import pytest
import torch
from torch import nn

from specnorm.models import CNNGenerator, ResNetGenerator, frozen_bn_stats


def _buffers(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.named_buffers()}


@pytest.mark.parametrize("G", [CNNGenerator(mg=2, z_dim=8, width=1 / 16), ResNetGenerator(mg=1, z_dim=8, width=1 / 32)])
def test_frozen_stats_are_bit_exact_and_forward_matches_train_mode(G):
    G.init_(torch.Generator().manual_seed(0))
    G.train()
    G(torch.randn(4, 8))  # move the running stats away from their init
    ref = copy.deepcopy(G)
    before = _buffers(G)
    z = torch.randn(4, 8)
    with frozen_bn_stats(G):
        out = G(z)
        out.square().sum().backward()
        G(torch.randn(4, 8) * 3)
    after = _buffers(G)
    assert before.keys() == after.keys() and any(k.endswith("num_batches_tracked") for k in after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    want = ref(z)  # ordinary train mode: same batch-stat normalization, but stats move
    want.square().sum().backward()
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    for (n, p), (_, q) in zip(G.named_parameters(), ref.named_parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=0, msg=n)
    assert not all(torch.equal(before[k], v) for k, v in ref.named_buffers())


def test_state_restored_on_exit_and_on_exception():
    G = CNNGenerator(mg=2, z_dim=8, width=1 / 16)
    G.bn0.track_running_stats = True
    bns = [m for m in G.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    with pytest.raises(RuntimeError, match="boom"):
        with frozen_bn_stats(G):
            assert not any(bn.track_running_stats for bn in bns)
            raise RuntimeError("boom")
    assert all(bn.track_running_stats for bn in bns)
    before = _buffers(G)
    G.train()
    G(torch.randn(4, 8))
    assert not torch.equal(before["bn0.running_mean"], G.bn0.running_mean)  # updates again after exit


def test_eval_mode_inside_uses_running_stats_and_untracked_bn_stays_untracked():
    G = CNNGenerator(mg=2, z_dim=8, width=1 / 16)
    G.train()
    G(torch.randn(4, 8))
    G.eval()
    z = torch.randn(3, 8)
    want = G(z)
    with frozen_bn_stats(G):
        torch.testing.assert_close(G(z), want, rtol=0, atol=0)
    plain = nn.BatchNorm1d(4, track_running_stats=False)
    with frozen_bn_stats(plain):
        pass
    assert plain.track_running_stats is False
