"""Per-layer analysis quantities the trainer logs (docs/design.md#analysis-quantities; Figs. 2, 5, 7; App. L.3).

For each weighted layer of a discriminator (``D.weighted_layers()``, forward order):

* ``grad_norm_raw`` / ``grad_norm_eff``: mean over the samples x_i of the per-sample ‖∇_W D(x_i)‖_F,
  w.r.t. the raw trainable weight W (what the optimizer sees, App. C) and w.r.t. the effective weight
  w′ = W·s·γ/σ actually used in the forward (Prop. 1's w′). Per-sample gradients come from
  ``torch.func.vmap`` of ``grad`` (see :func:`raw_grad_norms`, :func:`eff_grad_norms`).
* ``var_eff``: variance (ddof 0) over all entries of w′ (Fig. 7); ``bound_sn`` = 1/max(m, n)
  (Thm. 2); ``bound_bsn`` = 2/(c_in·k_h·k_w + c_out·k_h·k_w) (Thm. 3) for convs and, for a linear
  layer, the SN bound, because BSN is plain SN on linear layers (docs/design.md#bsn).
* ``sigma_w``: exact σ of the raw kernel as a c_out × c_in·k_h·k_w matrix (SN_w's ‖ŵ‖);
  ``sigma_conv``: σ of the convolution operator at the layer's input size (‖w̃‖, App. L.3;
  :func:`specnorm.analysis.linalg.conv_operator_norm`: Lanczos on the device, relative error ≤
  ``tol`` = 1e-5 by its residual bound; NaN for linear layers or an unknown input size);
  ``sigma_used``: the σ the layer's normalization divides by now (one step from the stored state, as
  the training log's; BSN: (σ₁+σ₂)/2; without Farnia's optional clamp), NaN for an un-normalized
  layer.

Everything is computed on D's device; the only host transfers are Lanczos' convergence checks and
one transfer of all the other numbers at the end. Nothing of the training state changes: no
parameter, buffer or u is written, no ``.grad`` is set, the global RNG is not used, and every
module's train/eval flag is restored.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap
from torch.nn.utils import parametrize

from specnorm.analysis.linalg import DEFAULT_TOL, ConvSigmaCache, conv_operator_norm, exact_sigma
from specnorm.analysis.variance import bsn_bound, sn_bound
from specnorm.nn import normalized_layers, raw_weight

ANALYSIS_COLUMNS = (
    "layer", "kind", "m", "n", "grad_norm_raw", "grad_norm_eff", "var_eff", "bound_sn", "bound_bsn", "sigma_w",
    "sigma_conv", "sigma_used",
)
"""Keys of every dict :func:`layer_analysis` returns, in CSV column order."""

SIGMA_CONV_CACHE = ConvSigmaCache()
"""Warm starts of ``sigma_conv``: the last singular vector of every analysed conv layer."""


def _per_sample_norms(d_of, weights: dict[str, torch.Tensor], x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """``[N, len(weights)]``: ‖∇_{weights[k]} d_of(weights, x_i)‖_F per sample (``vmap`` of ``grad``),
    chunked over samples to bound memory. ``grad`` ignores the outer ``no_grad``, which only keeps
    D's own parameters out of any graph."""
    per_sample_grad = vmap(grad(d_of), in_dims=(None, 0))
    norms = []
    with torch.no_grad():
        for xc in x.split(chunk_size):
            g = per_sample_grad(weights, xc)
            norms.append(torch.stack([g[k].flatten(1).norm(dim=1) for k in weights], dim=1))
    return torch.cat(norms)


def raw_grad_norms(D: nn.Module, layers: list[nn.Module], x: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """``[N, L]``: per-sample ‖∇_W D(x_i)‖_F w.r.t. each layer's raw weight. ``functional_call`` with
    the key ``<path>.parametrizations.weight.original`` runs the layer's parametrization on it (σ from
    one step from the stored u, gradient through u, v as configured); ``<path>.weight`` for a plain layer."""
    paths = {id(mod): path for path, mod in D.named_modules()}
    weights = {}
    for layer in layers:
        parametrized = parametrize.is_parametrized(layer, "weight")
        path = paths[id(layer)]
        key = f"{path}.parametrizations.weight.original" if parametrized else f"{path}.weight"
        weights[key] = raw_weight(layer).detach()

    def d_of(ws: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return functional_call(D, ws, (xi.unsqueeze(0),)).sum()

    return _per_sample_norms(d_of, weights, x, chunk_size)


def eff_grad_norms(D: nn.Module, layers: list[nn.Module], x: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """``[N, L]``: per-sample ‖∇_{w′} D(x_i)‖_F w.r.t. each layer's effective weight w′ = W·s·γ/σ.

    A layer is linear in its weight, so ``layer(h; w′ + Δ) = layer(h; w′) + layer(h; Δ)`` without bias:
    temporary forward hooks add the bias-free ``layer(h; Δ)`` and ∇_Δ D at Δ = 0 is ∇_{w′} D (the
    parametrization cannot be bypassed through ``functional_call``: it has no ``right_inverse``).
    """
    deltas = {str(i): torch.zeros_like(layer.weight) for i, layer in enumerate(layers)}
    current: dict[str, torch.Tensor] = {}

    def hook(key: str):
        def add_delta(mod: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
            if isinstance(mod, nn.Conv2d):  # the layer's own stride/padding/padding_mode, no bias
                return out + mod._conv_forward(inputs[0], current[key], None)
            return out + F.linear(inputs[0], current[key])
        return add_delta

    def d_of(ds: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        current.update(ds)
        return D(xi.unsqueeze(0)).sum()

    handles = [layer.register_forward_hook(hook(k)) for k, layer in zip(deltas, layers)]
    try:
        return _per_sample_norms(d_of, deltas, x, chunk_size)
    finally:
        for h in handles:
            h.remove()


def _sigma_conv(
    layer: nn.Conv2d, w: torch.Tensor, input_size: int | tuple[int, int] | None, *, tol: float, max_iter: int,
    seed: int, cache: ConvSigmaCache | None,
) -> float:
    if input_size is None:
        return math.nan
    if cache is not None:
        return cache.sigma(layer, w, input_size, tol=tol, max_iter=max_iter, seed=seed).sigma
    return conv_operator_norm(w, input_size, layer.stride, layer.padding, layer.dilation, tol=tol,
                              max_iter=max_iter, seed=seed).sigma


def _used_sigmas(D: nn.Module) -> dict[str, torch.Tensor]:
    """The σ each normalized layer divides by now (one step from its stored state), as device tensors."""
    return {name: norm.logged(raw_weight(layer))["sigma"] for name, layer, norm in normalized_layers(D)}


_DEVICE_KEYS = ("var_eff", "sigma_w", "sigma_used")


@torch.no_grad()
def _static_quantities(
    D: nn.Module, layers: list[tuple], *, tol: float, max_iter: int, seed: int, cache: ConvSigmaCache | None,
) -> tuple[list[dict], torch.Tensor]:
    """Everything but the gradient norms, for ``D.weighted_layers()`` entries ``(name, layer, input_size)``:
    the host-side rows and a float64 ``[L, 3]`` device tensor of ``var_eff``, ``sigma_w``, ``sigma_used``."""
    paths = {id(mod): path for path, mod in D.named_modules()}
    used = _used_sigmas(D)
    rows, on_device = [], []
    for name, layer, input_size in layers:
        raw, eff = raw_weight(layer).detach(), layer.weight
        conv = isinstance(layer, nn.Conv2d)
        m, n = raw.shape[0], raw[0].numel()
        area = raw[0, 0].numel()
        nan = torch.full((), math.nan, dtype=torch.float64, device=raw.device)
        on_device.append(torch.stack([
            eff.double().var(unbiased=False),
            exact_sigma(raw.reshape(m, -1)),
            used[paths[id(layer)]].double() if paths[id(layer)] in used else nan,
        ]))
        rows.append(dict(
            layer=name, kind="conv" if conv else "linear", m=m, n=n,
            bound_sn=sn_bound(m, n),
            bound_bsn=bsn_bound(m, raw.shape[1], area) if conv else sn_bound(m, n),
            sigma_conv=_sigma_conv(layer, raw, input_size, tol=tol, max_iter=max_iter, seed=seed, cache=cache)
            if conv else math.nan,
        ))
    return rows, torch.stack(on_device)


def layer_analysis(
    D: nn.Module, x_real: torch.Tensor, *, tol: float = DEFAULT_TOL, max_iter: int = 3000, seed: int = 0,
    chunk_size: int = 16, warm_start: bool | None = None,
) -> list[dict]:
    """One dict per weighted layer of ``D`` (keys ``ANALYSIS_COLUMNS``), from the samples ``x_real``
    (official cadence: a fixed batch of 64 real images). ``tol``/``max_iter``/``seed``: relative
    tolerance, cap on operator applications and cold-start vector of ``sigma_conv``. ``chunk_size``:
    samples per vectorized gradient batch (memory).

    ``warm_start``: start ``sigma_conv`` from the layer's vector of the previous analysis
    (:data:`SIGMA_CONV_CACHE`). Default: on accelerators only. On the CPU a killed run resumes
    bit-identically (README), which needs every analysis to depend on the checkpointed state alone;
    a warm-started value differs from a cold one within ``tol``.

    D runs in eval mode; every module's train/eval flag is restored afterwards."""
    if warm_start is None:
        p = next(D.parameters(), None)
        warm_start = p is not None and p.device.type != "cpu"
    modes = [(mod, mod.training) for mod in D.modules()]
    D.eval()
    try:
        layers = D.weighted_layers()
        modules = [layer for _, layer, _ in layers]
        raw = raw_grad_norms(D, modules, x_real, chunk_size)
        eff = eff_grad_norms(D, modules, x_real, chunk_size)
        rows, static = _static_quantities(D, layers, tol=tol, max_iter=max_iter, seed=seed,
                                          cache=SIGMA_CONV_CACHE if warm_start else None)
    finally:
        for mod, training in modes:
            mod.training = training
    grads = torch.stack([raw.mean(0), eff.mean(0)], dim=1).to(static)
    values = torch.cat([grads, static], dim=1).tolist()  # the one transfer of the device quantities
    for row, vals in zip(rows, values):
        row.update(zip(("grad_norm_raw", "grad_norm_eff", *_DEVICE_KEYS), vals))
    return [{c: row[c] for c in ANALYSIS_COLUMNS} for row in rows]
