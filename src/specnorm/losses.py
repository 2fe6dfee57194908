"""GAN losses of the official code (docs/design.md#losses): hinge (no_gamma) and WGAN-GP (γ variants).

There is no non-saturating loss in the official code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GP_EPS = 1e-8
"""Inside the square root of the gradient norm: ``sqrt(sum g² + 1e-8)`` (official)."""


def hinge_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``mean(relu(1 − D(x))) + mean(relu(1 + D(G(z))))``."""
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_g(d_fake: torch.Tensor) -> torch.Tensor:
    """``−mean(D(G(z)))``."""
    return -d_fake.mean()


def wgan_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """``mean(D(G(z))) − mean(D(x))`` (the penalty is added by the caller, × ``loss.gp_weight``)."""
    return d_fake.mean() - d_real.mean()


def wgan_g(d_fake: torch.Tensor) -> torch.Tensor:
    """``−mean(D(G(z)))``."""
    return -d_fake.mean()


def input_grad_norms(d_of: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Per-sample ``‖∇ₓD(x)‖`` as ``sqrt(sum g² + 1e-8)`` (official ``d/*_slopes`` and the penalty's
    norm), with ``torch.func.grad`` (composable with an outer ``grad`` or ``vmap``). D treats the
    samples of a batch independently (no BN), so the gradient of ``D(x).sum()`` is per sample."""
    g = torch.func.grad(lambda xi: d_of(xi).sum())(x.detach())
    return torch.sqrt(g.pow(2).flatten(1).sum(1) + GP_EPS)


def gradient_penalty(d_of: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     alpha: torch.Tensor) -> torch.Tensor:
    """``mean((‖∇D(x̂)‖ − 1)²)`` at ``x̂ = real + alpha·(fake − real)``; ``alpha`` ([N,1,1,1], U(0,1))
    comes from the caller, ``d_of`` is D as a function of its input (its parameters captured, so an
    outer ``torch.func.grad`` over them trains D through the penalty). x̂ is detached from G
    (official: the D loss only trains D's variables)."""
    x_hat = (real + alpha * (fake - real)).detach()
    return (input_grad_norms(d_of, x_hat) - 1.0).pow(2).mean()


LOSSES: dict[str, tuple[Callable[..., torch.Tensor], Callable[..., torch.Tensor]]] = {
    "hinge": (hinge_d, hinge_g),
    "wgan_gp": (wgan_d, wgan_g),
}
