"""Prop. 2 (§3): a bias-free leaky-ReLU D is invariant to layer rescalings with Π c_i = 1."""

import specnorm  # noqa: F401
import pytest
import torch
from torch import nn

from specnorm.models import MLPDiscriminator, build_models
from specnorm.config import NormCfg


def _rescaled_invariance(D: nn.Module, x: torch.Tensor) -> None:
    """Prop. 2: with zero biases, scaling layer i by c_i (Π c_i = 1) leaves D(x) and ∇ₓD(x) unchanged;
    Π c_i = k multiplies both by k (positive homogeneity of leaky ReLU)."""
    D = D.double()
    layers = [m for _, m, _ in D.weighted_layers()]
    assert all(torch.count_nonzero(m.bias) == 0 for m in layers)
    for m in layers:
        m.weight.data.normal_(std=0.1)
    x = x.double().requires_grad_(True)
    out = D(x)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert out.abs().min() > 0
    r = torch.randn(len(layers), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    c = torch.exp(r - r.mean())
    assert torch.prod(c).item() == pytest.approx(1.0) and (c - 1).abs().max() > 0.1
    with torch.no_grad():
        for m, ci in zip(layers, c):
            m.weight.mul_(ci)
    out2 = D(x)
    (grad2,) = torch.autograd.grad(out2.sum(), x)
    torch.testing.assert_close(out2, out)
    torch.testing.assert_close(grad2, grad)
    with torch.no_grad():
        layers[0].weight.mul_(3.0)
    torch.testing.assert_close(D(x), 3.0 * out)


def test_prop2_rescaling_invariance_cnn():
    _, D = build_models("cnn", NormCfg("none"), mg=2, width=1 / 8)
    _rescaled_invariance(D, torch.randn(3, 3, 16, 16))


def test_prop2_rescaling_invariance_mlp():
    D = MLPDiscriminator(img_size=6, img_channels=1, hidden=16)
    D.init_()  # biases 0
    _rescaled_invariance(D, torch.randn(4, 1, 6, 6))
