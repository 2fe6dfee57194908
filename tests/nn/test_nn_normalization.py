"""specnorm.nn's normalizations against the official semantics (docs/design.md#u-update and the
sections after it); exact σ's from specnorm.analysis.linalg and dense SVDs."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from specnorm.analysis.linalg import conv_operator_norm, exact_sigma
from specnorm.config import ConfigError, NormCfg
from specnorm.nn import (
    SN,
    Normalization,
    advance_state,
    apply_norm,
    gammas,
    lecun_init_,
    logged_sigmas,
    normalize_layer,
    normalized_layers,
    raw_weight,
)
from specnorm.nn.normalization import l2_normalize


def _svd(mat: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(mat.double(), ord=2))


def _converge(layer: nn.Module, steps: int = 500) -> None:
    for _ in range(steps):
        advance_state(layer)


def _sn(layer: nn.Module) -> Normalization:
    return next(p for _, _, p in normalized_layers(layer))


def _logged(layer: nn.Module) -> dict[str, float]:
    """The layer's logged σ's (one step from the stored state) as floats."""
    return {k: float(v) for k, v in _sn(layer).logged(raw_weight(layer)).items()}


def dense_conv_matrix(w: torch.Tensor, size: int, stride: int, padding: int) -> torch.Tensor:
    """The convolution operator w̃ as an explicit matrix (one column per input basis image)."""
    c_in = w.shape[1]
    n = c_in * size * size
    basis = torch.eye(n, dtype=torch.float64).reshape(n, c_in, size, size)
    out = torch.nn.functional.conv2d(basis, w.double(), stride=stride, padding=padding)
    return out.reshape(n, -1).t()


def test_sn_sigma_converges_to_svd():
    torch.manual_seed(0)
    conv = normalize_layer(nn.Conv2d(6, 10, 3, padding=1), "sn")
    _converge(conv)
    w = raw_weight(conv).detach()
    assert _logged(conv)["sigma"] == pytest.approx(_svd(w.reshape(10, -1)), rel=1e-5)
    lin = normalize_layer(nn.Linear(7, 4), "sn")
    _converge(lin)
    assert _logged(lin)["sigma"] == pytest.approx(_svd(raw_weight(lin).detach()), rel=1e-5)


def test_bsn_sigma_is_mean_of_both_reshapes_with_two_u():
    torch.manual_seed(1)
    conv = normalize_layer(nn.Conv2d(5, 12, 4, stride=2, padding=1), "bsn")
    sn = _sn(conv)
    assert sn.u.shape == (2, 12) and torch.equal(sn.u[1, 5:], torch.zeros(7))  # two vectors: c_out-, c_in-side
    _converge(conv)
    assert torch.equal(sn.u[1, 5:], torch.zeros(7))  # the padding stays zero
    w = raw_weight(conv).detach()
    s1, s2 = _svd(w.reshape(12, -1)), _svd(w.transpose(0, 1).reshape(5, -1))
    ls = _logged(conv)
    assert ls["sigma1"] == pytest.approx(s1, rel=1e-5)
    assert ls["sigma2"] == pytest.approx(s2, rel=1e-5)
    assert ls["sigma"] == pytest.approx((s1 + s2) / 2, rel=1e-5)
    exact = (float(exact_sigma(w.reshape(12, -1))) + float(exact_sigma(w.transpose(0, 1).reshape(5, -1)))) / 2
    assert exact == pytest.approx((s1 + s2) / 2, rel=1e-4)


def test_bsn_and_sn_conv_fall_back_to_sn_on_linear():
    for mode in ("bsn", "sn_conv"):
        lin = normalize_layer(nn.Linear(8, 3), mode)
        assert type(_sn(lin)) is SN and _sn(lin).u.shape == (3,)


@pytest.mark.parametrize("kernel,stride,padding", [(k, s, p) for k in (1, 3, 4) for s in (1, 2) for p in (0, 1)])
def test_sn_conv_converges_to_dense_operator_norm(kernel, stride, padding):
    torch.manual_seed(kernel * 10 + stride * 3 + padding)
    size = 6
    conv = normalize_layer(nn.Conv2d(3, 4, kernel, stride=stride, padding=padding), "sn_conv", input_size=(size, size))
    assert _sn(conv).u.shape == (1, 3, size, size)
    _converge(conv, 2000)
    w = raw_weight(conv).detach()
    dense = _svd(dense_conv_matrix(w, size, stride, padding))
    assert _logged(conv)["sigma"] == pytest.approx(dense, rel=1e-3)
    assert conv_operator_norm(w, (size, size), stride, padding, tol=1e-8).sigma == pytest.approx(dense, rel=1e-3)
    # ‖ŵ‖ ≤ ‖w̃‖ (Sedghi et al. Cor. 1; paper §4): SN_Conv divides by at least SN_w's σ
    assert _svd(w.reshape(4, -1)) <= dense * (1 + 1e-6)
    assert float(exact_sigma(w.reshape(4, -1))) <= dense * (1 + 1e-6)
    assert _logged(conv)["sigma_w"] <= dense * (1 + 1e-5)  # the logged SN_w σ of the same kernel


def test_sn_conv_needs_input_size_and_output_shape_round_trips():
    with pytest.raises(ValueError, match="input_size"):
        normalize_layer(nn.Conv2d(3, 4, 3), "sn_conv")
    conv = normalize_layer(nn.Conv2d(3, 4, 4, stride=2, padding=1), "sn_conv", input_size=(7, 7))
    out = _sn(conv).advance(raw_weight(conv))["u"]
    assert out.shape == (1, 3, 7, 7)


@pytest.mark.parametrize("mode", ["sn", "bsn", "sn_conv"])
def test_effective_weight_is_w_times_s_over_sigma_and_bias_unscaled(mode):
    torch.manual_seed(2)
    conv = normalize_layer(nn.Conv2d(4, 6, 3, padding=1), mode, 1.7, input_size=(5, 5))
    nn.init.normal_(conv.bias)
    sn = _sn(conv)
    w = raw_weight(conv)
    sigma = sn.step(w, sn.stored(), False)[0]
    s = torch.tensor(1.7)  # a buffer: the cells of a fused pack differ in it
    assert torch.equal(sn.scale, s) and torch.equal(conv.weight, w * (s / sigma))
    x = torch.randn(2, 4, 5, 5)
    ref = torch.nn.functional.conv2d(x, w * (s / sigma), conv.bias, padding=1)
    assert torch.allclose(conv(x), ref, atol=1e-6)


def test_clamp_divides_by_max_sigma_one():
    conv = normalize_layer(nn.Conv2d(2, 2, 3, padding=1), "sn_conv", input_size=(4, 4), clamp=True)
    with torch.no_grad():
        raw_weight(conv).mul_(1e-3)  # σ ≪ 1: the clamp leaves the weight as it is
    assert torch.allclose(conv.weight, raw_weight(conv))
    with pytest.raises(ValueError, match="clamp"):
        apply_norm([(nn.Linear(2, 2), None)], NormCfg("sn", clamp=True))


def test_learned_gamma_scales_weight_and_bias_shared_or_per_layer():
    torch.manual_seed(3)
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Linear(16, 1)]
    for layer in layers:
        nn.init.normal_(layer.bias)
    apply_norm([(layers[0], (4, 4)), (layers[1], (4, 4)), (layers[2], None)], NormCfg("sn", gamma="same"))
    model = nn.ModuleList(layers)
    gs = {id(p.gamma) for _, _, p in normalized_layers(model)}
    assert len(gs) == 1 and len(list(model.parameters())) == 3 * 2 + 1
    gamma = _sn(layers[0]).gamma
    with torch.no_grad():
        gamma.fill_(2.5)
    b = layers[0].parametrizations.bias.original
    assert torch.allclose(layers[0].bias, 2.5 * b)
    sn = _sn(layers[0])
    assert torch.allclose(layers[0].weight, raw_weight(layers[0]) * 2.5 / sn.logged(raw_weight(layers[0]))["sigma"])
    assert [g for _, g in gammas(model)] == [2.5, 2.5, 2.5]
    diff = [nn.Linear(3, 3), nn.Linear(3, 1)]
    apply_norm([(diff[0], None), (diff[1], None)], NormCfg("sn", gamma="diff"))
    assert _sn(diff[0]).gamma is not _sn(diff[1]).gamma
    # a scale s does not touch the bias
    lin = normalize_layer(nn.Linear(3, 2), "sn", 3.0)
    assert not parametrize.is_parametrized(lin, "bias")


def test_u_init_is_truncated_normal_not_normalized():
    torch.manual_seed(4)
    sn = _sn(normalize_layer(nn.Conv2d(64, 5000, 1), "sn"))
    u = sn.u
    assert u.abs().max() <= 2.0 and u.std().item() == pytest.approx(0.88, abs=0.03)
    assert u.norm().item() > 10  # not normalized


def test_u_changes_only_in_advance_state_and_forward_is_repeatable():
    torch.manual_seed(5)
    conv = normalize_layer(nn.Conv2d(3, 8, 3, padding=1), "bsn")
    sn = _sn(conv)
    u0 = sn.u.clone()
    x = torch.randn(4, 3, 6, 6)
    y1 = conv(x)
    y1.sum().backward()
    y2 = conv(x)
    assert torch.equal(y1, y2)  # one unstored step from the same u
    assert torch.equal(sn.u, u0)
    advance_state(conv)
    assert not torch.equal(sn.u[0], u0[0]) and not torch.equal(sn.u[1], u0[1])  # both vectors advance


def test_advance_state_stores_exactly_one_step():
    torch.manual_seed(6)
    lin = normalize_layer(nn.Linear(6, 4), "sn")
    sn = _sn(lin)
    w = raw_weight(lin).detach()
    u = sn.u.clone()
    v = w.t() @ u
    v = v / (v.norm() + 1e-12)
    u_new = w @ v
    u_new = u_new / (u_new.norm() + 1e-12)
    advance_state(lin)
    assert torch.allclose(sn.u, u_new, atol=1e-7)


def _torch_sn_grad(w0: torch.Tensor, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """PyTorch's spectral_norm gradient for the vectors of our step from the stored u.

    PyTorch iterates u ← n(Wv), v ← n(Wᵀu) from its stored v, so the same vectors are given to it
    directly: u' = n(W n(Wᵀu)), v = n(Wᵀu), in eval mode (σ = u'·Wv, no further iteration).
    """
    v = w0.t() @ u
    v = v / (v.norm() + 1e-12)
    u_new = w0 @ v
    u_new = u_new / (u_new.norm() + 1e-12)
    lin = nn.Linear(w0.shape[1], w0.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(w0)
    lin = torch.nn.utils.parametrizations.spectral_norm(lin, eps=1e-12)
    with torch.no_grad():
        lin.parametrizations.weight[0]._u.copy_(u_new)
        lin.parametrizations.weight[0]._v.copy_(v)
    lin.eval()
    lin(x).pow(2).sum().backward()
    return lin.parametrizations.weight.original.grad


def _our_grad(w0, u, x, grad_through_uv):
    lin = nn.Linear(w0.shape[1], w0.shape[0], bias=False)
    with torch.no_grad():
        lin.weight.copy_(w0)
    normalize_layer(lin, "sn", grad_through_uv=grad_through_uv)
    with torch.no_grad():
        _sn(lin).u.copy_(u)
    lin(x).pow(2).sum().backward()
    return raw_weight(lin).grad, lin


def test_detached_gradient_matches_torch_spectral_norm_and_default_differs_until_convergence():
    torch.manual_seed(7)
    w0 = torch.randn(5, 8)
    u = torch.randn(5)
    x = torch.randn(3, 8)
    g_torch = _torch_sn_grad(w0, u, x)
    g_det, _ = _our_grad(w0, u, x, False)
    g_off, _ = _our_grad(w0, u, x, True)
    assert torch.allclose(g_det, g_torch, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(g_off, g_torch, rtol=1e-3, atol=1e-5)  # away from convergence
    # at a converged u the two gradients agree (envelope argument, docs/design.md#grad-through-uv)
    _, lin = _our_grad(w0, u, x, True)
    _converge(lin, 2000)
    u_conv = _sn(lin).u.clone()
    g_on, _ = _our_grad(w0, u_conv, x, True)
    g_det2, _ = _our_grad(w0, u_conv, x, False)
    assert torch.allclose(g_on, g_det2, rtol=1e-4, atol=1e-5)


def test_sigma_in_float32_under_autocast():
    conv = normalize_layer(nn.Conv2d(3, 4, 3, padding=1), "sn")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = _sn(conv).logged(raw_weight(conv))
        weight = conv.weight
    assert out["sigma"].dtype == torch.float32 and weight.dtype == torch.float32


def test_normalize_adds_eps_to_the_norm():
    x = torch.tensor([3.0, 4.0])
    assert torch.equal(l2_normalize(x, eps=1.0), x / 6.0)
    assert torch.equal(l2_normalize(torch.zeros(3)), torch.zeros(3))  # no division by zero


def test_mode_none_and_invalid_inputs():
    lin = nn.Linear(3, 3)
    assert normalize_layer(lin, "none") is lin and not parametrize.is_parametrized(lin)
    with pytest.raises(KeyError, match="normalization 'weird'"):
        normalize_layer(nn.Linear(3, 3), "weird")
    with pytest.raises(TypeError):
        normalize_layer(nn.BatchNorm2d(3), "sn")
    with pytest.raises(ConfigError, match="norm.scale"):
        apply_norm([(nn.Linear(2, 2), None)], NormCfg("sn", scale=0))
    with pytest.raises(ConfigError, match="norm.gamma"):
        apply_norm([(nn.Linear(2, 2), None)], NormCfg("none", gamma="same"))


def test_lecun_init_std_is_s_over_sqrt_fan_in():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Conv2d(16, 64, 3), nn.Linear(400, 300))
    lecun_init_(model, 1.2)
    assert model[0].weight.std().item() == pytest.approx(1.2 / math.sqrt(16 * 9), rel=0.05)
    assert model[1].weight.std().item() == pytest.approx(1.2 / math.sqrt(400), rel=0.05)
    assert model[0].bias.abs().sum() == 0


@pytest.mark.parametrize("mode", ["sn", "bsn", "sn_conv"])
def test_logged_sigmas_stay_on_the_device_and_name_every_log(mode):
    """The training step's log path keeps 0-d device tensors (no host sync), one per layer with the
    normalization's ``logs``, the same on every call (nothing stored)."""
    from specnorm.models import build_models

    _, D = build_models("cnn", NormCfg(mode), mg=2, width=0.0625, z_dim=8, generator=torch.Generator().manual_seed(1))
    first, second = logged_sigmas(D), logged_sigmas(D)
    assert [x.name for x in first] == [name for name, _, _ in normalized_layers(D)] == [x.name for x in second]
    for a, b, (_, _, norm) in zip(first, second, normalized_layers(D)):
        assert isinstance(a.sigma, torch.Tensor) and a.sigma.ndim == 0 and set(a.extra) == set(norm.logs)
        assert torch.equal(a.sigma, b.sigma) and all(torch.equal(a.extra[k], b.extra[k]) for k in a.extra)
