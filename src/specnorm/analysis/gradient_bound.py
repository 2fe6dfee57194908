"""Prop. 1 (§3): if every layer has ‖w_i‖_sp ≤ 1, internal activations are (leaky) ReLU and the last
one is the identity, then ‖∇_{w_t} D(x)‖_F ≤ ‖x‖ for every layer t and ‖∇_θ D(x)‖ ≤ √L·‖x‖.

As in §3 the network is bias-free and the gradients are taken w.r.t. the normalized weights w′
themselves. Fully connected layers are normalized by their exact σ; convolutions by the spectral
norm of the convolution operator at the layer's real input size (``linalg.conv_operator_norm``,
Lanczos in float64 to a relative tolerance of 1e-8), as "the same analysis can be applied to
convolutional layers" (§3). For a conv layer ∇_w = Φ(h)ᵀδ with Φ(h) the patch (im2col) matrix, whose
norm can exceed ‖h‖ by the square root of the number of overlapping patches, so the per-layer bound
‖x‖ is checked as the paper states it, not as a theorem for convolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import grad, vmap

from specnorm.analysis.linalg import conv_operator_norm, exact_sigma
from specnorm.analysis.shapes import LayerShape

LEAK = 0.1
"""Leaky-ReLU slope of the CNN and MLP discriminators (official ``lrelu(…, leak=0.1)``, docs/design.md#cnn-models)."""


def unit_spectral_weights(
    layers: list[LayerShape], gen: torch.Generator, tol: float = 1e-8,
) -> list[torch.Tensor]:
    """Gaussian weights for ``layers``, each divided by its spectral norm (linear: exact; conv: the
    operator norm by Lanczos to relative tolerance ``tol``, from a start drawn with its own seed from ``gen``)."""
    weights = []
    for sh in layers:
        if sh.kind == "linear":
            w = torch.randn(sh.c_out, sh.c_in, generator=gen)
            sigma = float(exact_sigma(w))
        else:
            w = torch.randn(sh.c_out, sh.c_in, sh.k, sh.k, generator=gen)
            seed = int(torch.randint(2**31 - 1, (), generator=gen))
            size = (sh.input_size, sh.input_size)
            sigma = conv_operator_norm(w, size, sh.stride, sh.padding, tol=tol, max_iter=20_000, seed=seed).sigma
        weights.append(w / sigma)
    return weights


def forward(layers: list[LayerShape], weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Bias-free D: leaky ReLU 0.1 after every layer but the last (identity); output shape ``[N]``."""
    h = x
    for i, (sh, w) in enumerate(zip(layers, weights)):
        h = F.conv2d(h, w, stride=sh.stride, padding=sh.padding) if sh.kind == "conv" else h.flatten(1) @ w.t()
        if i < len(layers) - 1:
            h = F.leaky_relu(h, LEAK)
    return h.reshape(-1)


def per_sample_grad_norms(
    layers: list[LayerShape], weights: list[torch.Tensor], x: torch.Tensor,
) -> torch.Tensor:
    """``[N, L]``: ‖∇_{w_t} D(x_i)‖_F for every sample i and layer t (``vmap`` of ``grad``)."""

    def d_of(ws: list[torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return forward(layers, ws, xi.unsqueeze(0)).sum()

    grads = vmap(grad(d_of), in_dims=(None, 0))(weights, x)
    return torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1)


def random_inputs(layers: list[LayerShape], n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` standard Gaussian inputs: RGB images at the first conv's input size, or flat vectors."""
    first = layers[0]
    if first.kind == "conv":
        return torch.randn(n, first.c_in, first.input_size, first.input_size, generator=gen)
    return torch.randn(n, first.c_in, generator=gen)


def prop1_ratios(
    layers: list[LayerShape], n_inputs: int, gen: torch.Generator,
) -> tuple[list[float], float]:
    """Over ``n_inputs`` random inputs x_i: per layer t, ``max_i ‖∇_{w_t} D(x_i)‖_F / ‖x_i‖`` (Prop. 1:
    ≤ 1), and ``max_i ‖∇_θ D(x_i)‖ / ‖x_i‖`` (Prop. 1: ≤ √L)."""
    weights = unit_spectral_weights(layers, gen)
    x = random_inputs(layers, n_inputs, gen)
    norms = per_sample_grad_norms(layers, weights, x)
    x_norm = x.flatten(1).norm(dim=1)
    per_layer = (norms / x_norm[:, None]).amax(dim=0)
    total = (norms.norm(dim=1) / x_norm).amax()
    return [float(r) for r in per_layer], float(total)
