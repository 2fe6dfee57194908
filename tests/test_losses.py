"""Losses of docs/design.md#losses on hand-computed cases."""

import math

import specnorm  # noqa: F401
import pytest
import torch
from torch import nn

from specnorm.config import LossCfg
from specnorm.losses import LOSSES, gradient_penalty, hinge_d, hinge_g, wgan_d, wgan_g

D_REAL = torch.tensor([2.0, 0.5, -1.0])
D_FAKE = torch.tensor([-2.0, 0.0, 0.5])


def test_hinge():
    # relu(1 - real) = [0, .5, 2]; relu(1 + fake) = [0, 1, 1.5]
    assert hinge_d(D_REAL, D_FAKE).item() == pytest.approx(2.5 / 3 + 2.5 / 3)
    assert hinge_g(D_FAKE).item() == pytest.approx(0.5)


def test_wgan():
    assert wgan_d(D_REAL, D_FAKE).item() == pytest.approx(-1.5 / 3 - 1.5 / 3)
    assert wgan_g(D_FAKE).item() == pytest.approx(0.5)


def test_registry_and_weight():
    assert LOSSES == {"hinge": (hinge_d, hinge_g), "wgan_gp": (wgan_d, wgan_g)}
    assert LossCfg().gp_weight == 10.0  # official d_gp_coe


class LinearD(nn.Module):
    """D(x) = <w, x> + b: ∇ₓD = w for every sample."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(w.numel(), 1, dtype=torch.float64)
        with torch.no_grad():
            self.lin.weight.copy_(w.reshape(1, -1))
            self.lin.bias.fill_(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1)).squeeze(1)


def _batch(n: int = 4):
    g = torch.Generator().manual_seed(0)
    real = torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64)
    fake = torch.randn(n, 1, 2, 2, generator=g, dtype=torch.float64)
    alpha = torch.rand(n, 1, 1, 1, generator=g, dtype=torch.float64)
    return real, fake, alpha


@pytest.mark.parametrize("norm_w", [0.0, 1.0, 2.0])
def test_gradient_penalty_linear_d_closed_form(norm_w):
    w = torch.tensor([1.0, -2.0, 2.0, 4.0], dtype=torch.float64)
    w = w / w.norm() * norm_w
    D = LinearD(w)
    gp = gradient_penalty(D, *_batch())
    want = (math.sqrt(norm_w**2 + 1e-8) - 1) ** 2  # the +1e-8 sits inside the sqrt
    assert gp.item() == pytest.approx(want, rel=1e-12, abs=1e-30)
    if norm_w == 0.0:
        assert gp.item() == pytest.approx(0.99980001, rel=1e-12)  # (1e-4 − 1)², not 1
    if norm_w == 1.0:
        assert 0 < gp.item() < 1e-16


def test_gradient_penalty_is_differentiable_in_d():
    w = torch.tensor([0.0, 3.0, 0.0, 4.0], dtype=torch.float64)  # ‖w‖ = 5
    D = LinearD(w)
    gradient_penalty(D, *_batch()).backward()
    n = math.sqrt(25 + 1e-8)
    torch.testing.assert_close(D.lin.weight.grad, (2 * (n - 1) / n * w).reshape(1, -1))  # d/dw (‖w‖−1)²
    assert D.lin.bias.grad is None or D.lin.bias.grad.item() == 0.0  # ∇ₓD does not depend on b


def test_gradient_penalty_interpolates_per_sample():
    """D(x) = ½‖x‖²: ∇ₓD(x̂) = x̂, so the penalty checks x̂ = real + α(fake − real) per sample."""
    real, fake, alpha = _batch()
    fake.requires_grad_(True)  # x̂ is detached from G
    gp = gradient_penalty(lambda x: 0.5 * x.pow(2).flatten(1).sum(1), real, fake, alpha)
    x_hat = real + alpha * (fake - real)
    want = ((x_hat.detach().pow(2).flatten(1).sum(1) + 1e-8).sqrt() - 1).pow(2).mean()
    torch.testing.assert_close(gp, want)
    assert not gp.requires_grad  # no autograd path back to fake (D here has no parameters to train)
