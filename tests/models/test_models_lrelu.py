"""The official ``lrelu`` = ``tf.maximum(x, 0.1·x)``: forward and gradient, including the tie at x = 0."""

import warnings

import specnorm  # noqa: F401
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

import specnorm.models.cnn as cnn
import specnorm.models.mlp as mlp
from specnorm.models import CNNDiscriminator, MLPDiscriminator, lrelu


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lrelu_forward_and_gradient_at_negative_zero_positive(dtype):
    x = torch.tensor([-2.0, -1e-30, -0.0, 0.0, 1e-30, 3.0], dtype=dtype, requires_grad=True)
    y = lrelu(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y, torch.stack([0.1 * x[0], 0.1 * x[1], x[2], x[3], x[4], x[5]]), rtol=0, atol=0)
    # TF's Maximum gradient goes to the first argument on ties (x >= 0.1·x): slope 1 at x = ±0, not 0.1.
    torch.testing.assert_close(g, torch.tensor([0.1, 0.1, 1.0, 1.0, 1.0, 1.0], dtype=dtype), rtol=0, atol=0)
    assert torch.equal(torch.signbit(y[2:4]), torch.tensor([True, False]))  # max(-0, -0) = -0


def test_lrelu_matches_tf_maximum_rule_on_random_data():
    """Forward bit-identical to max(x, 0.1·x) (and to F.leaky_relu); gradient = TF's ``x >= y`` mask rule."""
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0))
    x[::7] = 0.0
    x.requires_grad_(True)
    y = lrelu(x)
    upstream = torch.rand(4096, generator=torch.Generator().manual_seed(1))
    (g,) = torch.autograd.grad(y, x, upstream)
    with torch.no_grad():
        xd, yd = x.detach(), 0.1 * x.detach()
        assert torch.equal(y, torch.maximum(xd, yd)) and torch.equal(y, F.leaky_relu(xd, 0.1))
        assert torch.equal(g, torch.where(xd >= yd, upstream, 0.1 * upstream))


@pytest.mark.parametrize(
    "make", [lambda: CNNDiscriminator(mg=2, width=1 / 16), lambda: MLPDiscriminator(img_size=8, hidden=8)],
    ids=["cnn", "mlp"],
)
def test_discriminators_have_slope_one_at_zero(make, monkeypatch):
    """With zero biases (the official init) every pre-activation of D(0) is exactly 0, so ∇ₓD(0) is the
    gradient of the purely linear network (every activation slope 1); F.leaky_relu would scale it by 0.1^L."""
    torch.manual_seed(0)
    D = make().double()
    with torch.no_grad():
        for _, m, _ in D.weighted_layers():
            m.bias.zero_()
    x = torch.zeros(2, D.img_channels, D.resolution, D.resolution, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    module = cnn if isinstance(D, CNNDiscriminator) else mlp
    calls = []
    monkeypatch.setattr(module, "lrelu", lambda h: calls.append(1) or h)
    (g_linear,) = torch.autograd.grad(D(x).sum(), x)
    assert len(calls) == (7 if module is cnn else 4)  # every hidden layer goes through the helper
    assert g_linear.abs().max() > 0
    torch.testing.assert_close(g, g_linear, rtol=1e-12, atol=0)


def test_lrelu_under_vmap_grad_and_double_backward(monkeypatch):
    """The analysis takes per-sample gradients with ``vmap(grad(functional_call(D)))`` and WGAN-GP
    differentiates ∇ₓD again: both work (no batching-rule fallback) and match the plain definition."""
    torch.manual_seed(0)
    D = MLPDiscriminator(img_size=8, hidden=16).double()
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    x[0] = 0.0
    params = {k: v.detach() for k, v in D.named_parameters()}

    def d_of(p, xi):
        return functional_call(D, p, (xi.unsqueeze(0),)).sum()

    def gp_grads():
        xx = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(D(xx).sum(), xx, create_graph=True)
        gp = (gx.flatten(1).norm(dim=1) - 1).pow(2).mean()
        return torch.autograd.grad(gp, [D.layer0.weight, D.layer3.weight])

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        per_sample = vmap(grad(d_of), in_dims=(None, 0))(params, x)
        gp = gp_grads()
    monkeypatch.setattr(mlp, "lrelu", lambda h: torch.where(h >= 0, h, 0.1 * h))  # plain definition, slow on CPU
    ref = vmap(grad(d_of), in_dims=(None, 0))(params, x)
    ref_gp = gp_grads()
    for k in per_sample:
        torch.testing.assert_close(per_sample[k], ref[k], rtol=0, atol=0)
    for a, b in zip(gp, ref_gp):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
