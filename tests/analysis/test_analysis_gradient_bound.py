"""Prop. 1 machinery: unit spectral norms, per-sample gradients, the bound on small networks."""

import math

import torch
import torch.nn.functional as F

import specnorm  # noqa: F401
from specnorm.analysis.gradient_bound import (
    forward,
    per_sample_grad_norms,
    prop1_ratios,
    random_inputs,
    unit_spectral_weights,
)
from specnorm.analysis.shapes import LayerShape, cnn_d_layers, mlp_d_layers

TINY_CNN = cnn_d_layers(8, (2, 2, 3, 3, 4, 4, 5))
TINY_MLP = mlp_d_layers((20, 16, 16, 1))


def dense_conv_operator(sh: LayerShape, w: torch.Tensor) -> torch.Tensor:
    """The convolution as an explicit matrix (columns = images of the input basis)."""
    n_in = sh.c_in * sh.input_size**2
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, sh.c_in, sh.input_size, sh.input_size)
    return F.conv2d(basis, w.double(), stride=sh.stride, padding=sh.padding).reshape(n_in, -1).T


def test_weights_have_unit_spectral_norm():
    g = torch.Generator().manual_seed(0)
    for w in unit_spectral_weights(TINY_MLP, g):
        assert abs(torch.linalg.matrix_norm(w.double(), 2).item() - 1) < 1e-6
    for sh, w in zip(TINY_CNN, unit_spectral_weights(TINY_CNN, g)):
        op = dense_conv_operator(sh, w) if sh.kind == "conv" else w.double()
        assert abs(torch.linalg.matrix_norm(op, 2).item() - 1) < 1e-3  # 200 power iterations


def test_per_sample_grad_norms_match_a_loop():
    g = torch.Generator().manual_seed(1)
    weights = unit_spectral_weights(TINY_CNN, g)
    x = random_inputs(TINY_CNN, 3, g)
    norms = per_sample_grad_norms(TINY_CNN, weights, x)
    for i in range(3):
        leaves = [w.clone().requires_grad_() for w in weights]
        grads = torch.autograd.grad(forward(TINY_CNN, leaves, x[i : i + 1]).sum(), leaves)
        assert torch.allclose(norms[i], torch.stack([gr.norm() for gr in grads]), rtol=1e-5)


def test_mlp_grad_is_an_outer_product():
    """For a linear layer ∇_{w_t} D = δ_t h_{t−1}ᵀ; the last layer's gradient is the last hidden state."""
    g = torch.Generator().manual_seed(2)
    weights = unit_spectral_weights(TINY_MLP, g)
    x = random_inputs(TINY_MLP, 4, g)
    h = x
    for w in weights[:-1]:
        h = F.leaky_relu(h @ w.T, 0.1)
    assert torch.allclose(per_sample_grad_norms(TINY_MLP, weights, x)[:, -1], h.norm(dim=1), rtol=1e-5)


def test_prop1_bound_holds():
    for layers in (TINY_MLP, TINY_CNN):
        per_layer, total = prop1_ratios(layers, 4, torch.Generator().manual_seed(3))
        assert len(per_layer) == len(layers)
        assert all(0 < r <= 1 for r in per_layer)
        assert 0 < total <= math.sqrt(len(layers))
        assert total >= max(per_layer)


def test_prop1_single_layer_is_tight():
    """D(x) = w x with ‖w‖ = 1 and one output: ∇_w D = x, so the ratio is exactly 1."""
    layers = [LayerShape("t", "fc", "linear", 1, 7)]
    per_layer, total = prop1_ratios(layers, 3, torch.Generator().manual_seed(4))
    assert abs(per_layer[0] - 1) < 1e-6 and abs(total - 1) < 1e-6
