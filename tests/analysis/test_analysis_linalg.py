"""σ of the convolution operator on the device (Lanczos, warm starts) against the dense SVD of the
explicitly built operator and against ARPACK (``linalg.arpack_conv_operator_norm``, the oracle)."""

import gc
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import specnorm  # noqa: F401
from specnorm.analysis import layer_analysis
from specnorm.analysis import quantities
from specnorm.analysis import linalg
from specnorm.analysis.linalg import ConvGeometry, ConvSigmaCache, conv_operator_norm, exact_sigma


def _weight(c_out, c_in, kh, kw, seed=0) -> torch.Tensor:
    return torch.randn(c_out, c_in, kh, kw, generator=torch.Generator().manual_seed(seed)) * 0.1


def _dense_sigma(w, size, stride, padding, dilation=1) -> float:
    """‖A‖₂ of the operator built column by column from conv2d on the standard basis (float64)."""
    c_in = w.shape[1]
    n_in = c_in * size[0] * size[1]
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, c_in, *size)
    cols = F.conv2d(basis, w.double(), stride=stride, padding=padding, dilation=dilation).reshape(n_in, -1)
    return torch.linalg.svdvals(cols.T)[0].item()


SMALL = [  # c_out, c_in, kernel, input size, stride, padding, dilation
    (4, 3, (3, 3), (8, 8), 1, 1, 1),
    (6, 4, (4, 4), (8, 8), 2, 1, 1),
    (5, 3, (3, 3), (4, 4), 1, 1, 1),
    (8, 4, (4, 4), (4, 4), 2, 1, 1),
    (3, 6, (3, 3), (4, 4), 1, 0, 1),   # no padding: 2×2 output
    (7, 2, (3, 3), (2, 2), 1, 1, 1),
    (4, 5, (3, 3), (1, 1), 1, 1, 1),   # 1×1 input: only the centre tap acts
    (2, 3, (4, 4), (3, 3), 2, 1, 1),   # odd size with stride 2: output_padding needed for the adjoint
    (3, 2, (3, 2), (5, 7), (2, 1), (1, 0), 1),  # rectangular kernel, size, stride, padding
    (3, 3, (3, 3), (7, 7), 1, 2, 2),   # dilation
    (16, 2, (3, 3), (6, 6), 1, 1, 1),  # output side larger: iterates AᵀA
    (2, 16, (4, 4), (6, 6), 2, 1, 1),  # input side larger: iterates AAᵀ
]


@pytest.mark.parametrize("c_out,c_in,k,size,stride,padding,dilation", SMALL,
                         ids=lambda v: "x".join(map(str, v)) if isinstance(v, tuple) else str(v))
def test_equals_the_dense_svd_of_the_built_operator(c_out, c_in, k, size, stride, padding, dilation):
    w = _weight(c_out, c_in, *k, seed=c_out * 31 + c_in)
    r = conv_operator_norm(w, size, stride, padding, dilation)
    exact = _dense_sigma(w, size, stride, padding, dilation)
    assert r.sigma == pytest.approx(exact, rel=1e-4)
    assert r.converged and r.rel_error <= 1e-5
    assert r.vector.dtype == torch.float32 and r.vector.norm().item() == pytest.approx(1.0, rel=1e-5)
    # the geometry's explicit matrix is the same operator, and the adjoint really is its transpose
    geo = ConvGeometry.of(w, size, stride, padding, dilation)
    a = geo.dense(w.double())
    assert torch.linalg.svdvals(a)[0].item() == pytest.approx(exact, rel=1e-10)
    y = torch.randn(1, geo.n_out, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(geo.adjoint(w.double(), y)[0], a.T @ y[0])


def test_float64_reaches_a_tighter_tolerance():
    w, size = _weight(6, 4, 4, 4, seed=3), (8, 8)
    r = conv_operator_norm(w, size, 2, 1, tol=1e-10)
    assert r.vector.dtype == torch.float64 and r.converged and r.rel_error <= 1e-10
    assert r.sigma == pytest.approx(_dense_sigma(w, size, 2, 1), rel=1e-9)


@pytest.mark.parametrize("c_out,c_in,k,size,stride", [(64, 32, 3, 16, 1), (64, 32, 4, 16, 2)])
def test_equals_arpack_on_a_medium_layer(c_out, c_in, k, size, stride):
    w = _weight(c_out, c_in, k, k, seed=7)
    r = conv_operator_norm(w, (size, size), stride, 1)
    oracle = linalg.arpack_conv_operator_norm(w, (size, size), stride, 1, n_iter=3000)
    assert r.converged
    assert r.sigma == pytest.approx(oracle, rel=1e-5)


def test_the_iteration_cap_is_honoured_and_the_achieved_tolerance_reported():
    w, size = _weight(64, 32, 3, 3, seed=7), (16, 16)
    r = conv_operator_norm(w, size, 1, 1, max_iter=3)
    assert r.iterations == 3 and not r.converged and r.rel_error > 1e-5
    full = conv_operator_norm(w, size, 1, 1)
    assert full.converged and full.rel_error <= 1e-5 and full.iterations > 3
    assert r.sigma <= full.sigma * (1 + 1e-6)  # a Ritz value approaches σ from below


def test_a_warm_start_converges_in_fewer_iterations_than_a_cold_one():
    w, size = _weight(64, 32, 4, 4, seed=11), (16, 16)
    first = conv_operator_norm(w, size, 2, 1)
    moved = w + 1e-3 * _weight(64, 32, 4, 4, seed=12)  # one training interval's worth of change
    cold = conv_operator_norm(moved, size, 2, 1, seed=5)
    warm = conv_operator_norm(moved, size, 2, 1, v0=first.vector)
    assert cold.converged and warm.converged
    assert warm.iterations < cold.iterations
    assert warm.sigma == pytest.approx(cold.sigma, rel=2e-5)
    same = conv_operator_norm(w, size, 2, 1, v0=first.vector)  # unchanged weights: at once
    assert same.iterations <= 2 and same.sigma == pytest.approx(first.sigma, rel=1e-5)


def test_the_cache_is_keyed_by_layer_and_geometry_and_does_not_keep_layers_alive():
    cache = ConvSigmaCache()
    layer = nn.Conv2d(32, 64, 4, 2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(_weight(64, 32, 4, 4, seed=13))
    w = layer.weight.detach()
    cold = cache.sigma(layer, w, (16, 16))
    assert layer in cache and len(cache) == 1
    warm = cache.sigma(layer, w, (16, 16))
    assert warm.iterations < cold.iterations and warm.sigma == pytest.approx(cold.sigma, rel=1e-5)
    other_size = cache.sigma(layer, w, (8, 8))  # another geometry: the stored vector does not fit
    assert other_size.iterations >= 4
    assert other_size.sigma == pytest.approx(conv_operator_norm(w, (8, 8), 2, 1).sigma, rel=1e-5)
    del layer
    gc.collect()
    assert len(cache) == 0


class _TwoConvD(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.c0, self.c1 = nn.Conv2d(3, 16, 3, 1, 1), nn.Conv2d(16, 32, 4, 2, 1)
        self.fc = nn.Linear(32 * 4 * 4, 1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)

    def weighted_layers(self):
        return [("c0", self.c0, (8, 8)), ("c1", self.c1, (8, 8)), ("fc", self.fc, None)]

    def forward(self, x):
        x = F.leaky_relu(self.c1(F.leaky_relu(self.c0(x), 0.1)), 0.1)
        return self.fc(x.flatten(1)).squeeze(1)


def test_layer_analysis_warm_starts_only_when_asked_on_the_cpu():
    quantities.SIGMA_CONV_CACHE.clear()
    D = _TwoConvD()
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    cold1, cold2 = layer_analysis(D, x), layer_analysis(D, x)
    assert len(quantities.SIGMA_CONV_CACHE) == 0
    assert [r["sigma_conv"] for r in cold1[:2]] == [r["sigma_conv"] for r in cold2[:2]]  # bit for bit: resumable
    warm = layer_analysis(D, x, warm_start=True)
    assert D.c0 in quantities.SIGMA_CONV_CACHE and D.c1 in quantities.SIGMA_CONV_CACHE
    for r, layer, size in zip(warm, (D.c0, D.c1), (8, 8)):
        assert r["sigma_conv"] == pytest.approx(_dense_sigma(layer.weight.detach(), (size, size), layer.stride,
                                                             layer.padding), rel=1e-4)
        assert r["sigma_conv"] >= r["sigma_w"] * (1 - 1e-5)  # ‖ŵ‖ ≤ ‖w̃‖ (App. L.3)
    assert math.isnan(warm[2]["sigma_conv"])
    assert warm[2]["sigma_w"] == pytest.approx(exact_sigma(D.fc.weight.detach()).item(), rel=1e-12)
    quantities.SIGMA_CONV_CACHE.clear()


def test_non_finite_weights_give_nan_and_zero_weights_give_zero():
    w = _weight(4, 3, 3, 3)
    w[0, 0, 0, 0] = float("nan")
    r = conv_operator_norm(w, (8, 8), 1, 1)
    assert math.isnan(r.sigma) and not r.converged
    z = conv_operator_norm(torch.zeros(4, 3, 3, 3), (8, 8), 1, 1)
    assert z.sigma == 0.0 and z.converged
