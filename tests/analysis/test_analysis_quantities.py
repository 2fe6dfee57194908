"""layer_analysis: per-sample gradient norms, variances, bounds, σ's, and no change of training state."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import specnorm  # noqa: F401
from specnorm.analysis import ANALYSIS_COLUMNS, layer_analysis
from specnorm.analysis.quantities import eff_grad_norms, raw_grad_norms
from specnorm.config import NormCfg
from specnorm.nn import advance_state, apply_norm, logged_sigmas, raw_weight

SPECS = [
    NormCfg("none"),
    NormCfg("sn", 1.5),
    NormCfg("sn", 1.0, grad_through_uv=False),
    NormCfg("bsn", 1.2, gamma="diff"),
    NormCfg("sn_conv", 1.75),
    NormCfg("sn", 1.0, gamma="same"),
]


class TinyD(nn.Module):
    """conv 3→4 (k3 s1) → lReLU → conv 4→6 (k4 s2) → lReLU → flatten → linear → 1, on 8×8 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.ModuleDict({"c0": nn.Conv2d(3, 4, 3, 1, 1), "c1": nn.Conv2d(4, 6, 4, 2, 1)})
        self.fc = nn.Linear(6 * 4 * 4, 1)

    def weighted_layers(self):
        return [("body.c0", self.body["c0"], (8, 8)), ("body.c1", self.body["c1"], (8, 8)), ("fc", self.fc, None)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.body["c0"](x), 0.1)
        x = F.leaky_relu(self.body["c1"](x), 0.1)
        return self.fc(x.flatten(1)).squeeze(1)


class LinearD(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n, 1)

    def weighted_layers(self):
        return [("fc", self.fc, None)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x).squeeze(1)


def make_d(spec: NormCfg, seed: int = 0) -> TinyD:
    g = torch.Generator().manual_seed(seed)
    D = TinyD()
    with torch.no_grad():
        for p in D.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    apply_norm([(layer, size) for _, layer, size in D.weighted_layers()], spec, generator=g)
    with torch.no_grad():
        for _, layer, _ in D.weighted_layers():  # move γ and u away from their initial values
            if hasattr(layer, "parametrizations") and layer.parametrizations.weight[0].gamma is not None:
                layer.parametrizations.weight[0].gamma.fill_(1.3)
    advance_state(D)
    return D


def inputs(n: int = 5, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def loop_grad_norms(D: nn.Module, weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Naive per-sample loop: ‖∇ D(x_i)‖_F w.r.t. each of ``weights`` (tensors of D's graph)."""
    rows = []
    for i in range(len(x)):
        grads = torch.autograd.grad(D(x[i : i + 1]).sum(), weights)
        rows.append(torch.stack([g.norm() for g in grads]))
    return torch.stack(rows)


def plain_copy_with_effective_weights(D: TinyD) -> TinyD:
    """An un-normalized TinyD whose weights and biases are D's effective ones (W·s·γ/σ, γ·b)."""
    P = TinyD()
    with torch.no_grad():
        for (_, src, _), (_, dst, _) in zip(D.weighted_layers(), P.weighted_layers()):
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return P


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.mode}-{s.scale}-{s.gamma}-{s.grad_through_uv}")
def test_grad_norms_match_a_naive_loop(spec):
    D, x = make_d(spec), inputs()
    rows = layer_analysis(D, x)
    raws = [raw_weight(layer) for _, layer, _ in D.weighted_layers()]
    expected_raw = loop_grad_norms(D, raws, x).mean(0)
    P = plain_copy_with_effective_weights(D)
    expected_eff = loop_grad_norms(P, [layer.weight for _, layer, _ in P.weighted_layers()], x).mean(0)
    assert [r["grad_norm_raw"] for r in rows] == pytest.approx(expected_raw.tolist(), rel=1e-5)
    assert [r["grad_norm_eff"] for r in rows] == pytest.approx(expected_eff.tolist(), rel=1e-5)


def test_per_sample_norms_do_not_depend_on_chunking():
    D, x = make_d(NormCfg("bsn", 1.2)), inputs(7)
    layers = [layer for _, layer, _ in D.weighted_layers()]
    assert torch.allclose(raw_grad_norms(D, layers, x, 2), raw_grad_norms(D, layers, x, 16), rtol=1e-6)
    assert torch.allclose(eff_grad_norms(D, layers, x, 3), eff_grad_norms(D, layers, x, 16), rtol=1e-6)


def test_without_normalization_raw_and_effective_gradients_coincide():
    rows = layer_analysis(make_d(NormCfg("none")), inputs())
    for r in rows:
        assert r["grad_norm_eff"] == pytest.approx(r["grad_norm_raw"], rel=1e-6)
        assert math.isnan(r["sigma_used"])


@pytest.mark.parametrize("grad_through_uv", [True, False])
def test_single_linear_layer_with_sn_by_hand(grad_through_uv):
    """D(x) = s·Wx/σ(W) + b with W of shape 1×n: one power step gives σ = ‖W‖, so ∇_{w′}D = x and
    ∇_W D = s·(I − ŵŵᵀ)x/‖W‖ with ŵ = W/‖W‖ (σ's gradient is ŵ, whether or not it flows through u, v)."""
    n, s = 6, 1.5
    D = LinearD(n)
    apply_norm([(D.fc, None)], NormCfg("sn", s, grad_through_uv=grad_through_uv))
    x = torch.randn(4, n, generator=torch.Generator().manual_seed(2))
    (row,) = layer_analysis(D, x)
    w = raw_weight(D.fc).detach()[0]
    w_hat = w / w.norm()
    raw = s * (x - (x @ w_hat)[:, None] * w_hat) / w.norm()
    assert row["grad_norm_eff"] == pytest.approx(float(x.norm(dim=1).mean()), rel=1e-5)
    assert row["grad_norm_raw"] == pytest.approx(float(raw.norm(dim=1).mean()), rel=1e-4)
    assert row["sigma_used"] == pytest.approx(float(w.norm()), rel=1e-5)
    assert row["sigma_w"] == pytest.approx(float(w.norm()), rel=1e-6)
    assert (row["kind"], row["m"], row["n"]) == ("linear", 1, n)


def dense_conv_sigma(conv: nn.Conv2d, w: torch.Tensor, size: int) -> float:
    n_in = conv.in_channels * size * size
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, conv.in_channels, size, size)
    out = F.conv2d(basis, w.double(), stride=conv.stride, padding=conv.padding)
    return torch.linalg.matrix_norm(out.reshape(n_in, -1), 2).item()


@pytest.mark.parametrize("spec", [NormCfg("bsn", 1.2, gamma="diff"), NormCfg("sn_conv", 1.75)], ids=lambda s: s.mode)
def test_variances_bounds_and_sigmas(spec):
    D = make_d(spec)
    rows = layer_analysis(D, inputs())
    assert [r["layer"] for r in rows] == ["body.c0", "body.c1", "fc"]
    assert all(list(r) == list(ANALYSIS_COLUMNS) for r in rows)
    used = {s.name: float(s.sigma) for s in logged_sigmas(D)}
    for r, (name, layer, _) in zip(rows, D.weighted_layers()):
        w, eff = raw_weight(layer).detach(), layer.weight.detach()
        m, n = w.shape[0], w[0].numel()
        assert (r["m"], r["n"]) == (m, n)
        assert r["var_eff"] == pytest.approx(float(eff.double().var(unbiased=False)), rel=1e-12)
        assert r["bound_sn"] == 1 / max(m, n)
        assert r["sigma_w"] == pytest.approx(torch.linalg.svdvals(w.double().reshape(m, -1))[0].item(), rel=1e-10)
        assert r["sigma_used"] == used[name]
        if r["kind"] == "conv":
            c_out, c_in, kh, kw = w.shape
            assert r["bound_bsn"] == 2 / (c_in * kh * kw + c_out * kh * kw)
            # Lanczos to a relative tolerance of 1e-5 (tests/analysis/test_analysis_linalg.py)
            exact = dense_conv_sigma(layer, w, 8)
            assert r["sigma_conv"] == pytest.approx(exact, rel=1e-4)
            assert exact >= r["sigma_w"]  # ‖ŵ‖ ≤ ‖w̃‖ (§4, App. L.3)
        else:
            assert r["bound_bsn"] == r["bound_sn"] and math.isnan(r["sigma_conv"])
    # the hand-checkable shapes: c0 is 4 × 3·3·3, c1 is 6 × 4·4·4
    assert (rows[0]["bound_sn"], rows[1]["bound_bsn"]) == (1 / 27, 2 / (4 * 16 + 6 * 16))


@pytest.mark.parametrize("spec", SPECS[1:5], ids=lambda s: s.mode)
def test_training_state_is_untouched(spec):
    D = make_d(spec)
    D.train()
    D.body["c1"].eval()  # a mixed mode must be restored exactly
    modes = {name: mod.training for name, mod in D.named_modules()}
    before = {k: v.clone() for k, v in D.state_dict().items()}
    rng = torch.get_rng_state()
    layer_analysis(D, inputs())
    assert torch.equal(rng, torch.get_rng_state())
    after = D.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in D.parameters())
    assert {name: mod.training for name, mod in D.named_modules()} == modes
    assert all(not layer._forward_hooks for _, layer, _ in D.weighted_layers())
