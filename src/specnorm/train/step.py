"""One training iteration with the official loop semantics (docs/design.md#training-loop), as one
function of tensors for both engines (docs/design.md#packs).

``n_dis`` D steps, each on a fresh real batch and fresh z: G forward without gradient (BN running
statistics updated for the CNN, frozen for the ResNet), D loss, Adam step, then the normalizations'
state advances (u moves exactly once per D step, from the post-step weights). Then one G step,
reusing the last D step's z (CNN) or fresh z of the G batch size (ResNet); it never touches u.

:func:`iteration` reads and writes only the tensors of :class:`Tensors` (parameters, buffers, Adam
state, the counter random stream, counters): gradients come from ``torch.func.grad`` over
``torch.func.functional_call`` of the cell's modules, the optimizer step is tensor arithmetic
(:mod:`specnorm.train.optim`), the random numbers are drawn on the device from the stream
(:mod:`specnorm.train.rng`). So the whole iteration is one graph for ``torch.compile`` / CUDA graphs,
and ``torch.func.vmap`` of the same function runs the K cells of a fused pack as one computation.
There is no host synchronisation and no branch on data: logged quantities stay on the device until
the logging cadence reads them.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad, grad_and_value

from specnorm.data import to_float
from specnorm.losses import LOSSES, gradient_penalty, input_grad_norms
from specnorm.models import frozen_bn_stats
from specnorm.nn import Normalization, normalized_layers
from specnorm.train import optim, rng

Tensors = dict[str, Any]
"""A cell's training tensors, a pytree of dicts: ``G``/``D`` (parameters), ``Gb``/``Db`` (buffers:
BN statistics, the normalizations' state and scale), ``opt_g``/``opt_d`` (Adam state), ``hyper_g``/
``hyper_d`` (learning rate, betas), ``rng`` ([key, counter]), ``iteration`` and ``first_nonfinite``
(0-d int64: the first iteration with a non-finite loss, 0 while none). In a fused pack every leaf
has a leading cell axis."""


@dataclass(frozen=True, eq=False)
class Plan:
    """What a cell's iteration is specialised on: the same for every cell of a pack (``PACK_KEYS``).

    ``G``/``D``: the modules ``functional_call`` runs (a cell's own, or the first cell's in a fused
    pack). ``norms``: per normalized layer of D, its raw-weight key, its :class:`Normalization` and
    ``(state name, buffer key)`` pairs. ``host_data``: real batches come gathered from the host.
    """

    G: nn.Module
    D: nn.Module
    norms: tuple[tuple[str, str, Normalization, tuple[tuple[str, str], ...]], ...]
    n_dis: int
    d_batch: int
    g_batch: int
    z_dim: int
    n_images: int
    loss: str
    gp_weight: float
    z_reuse: bool
    bn_stats_in_d_step: bool
    fuse_d: bool
    precision: str
    host_data: bool = False

    def template(self) -> Plan:
        """This plan on copies of its modules: a pack's engine runs every cell on one template whose
        own tensors are no cell's (``torch.compile`` would otherwise specialise its graph on the cell
        whose tensors the modules hold, and trace again for each other cell)."""
        G, D = copy.deepcopy(self.G), copy.deepcopy(self.D)
        return dataclasses.replace(self, G=G, D=D, norms=_norms(D))

    @property
    def noise_count(self) -> int:
        """Values of the NOISE sub-stream one iteration draws: D-step latents, WGAN-GP weights and
        fresh G-step latents."""
        n = self.n_dis * self.d_batch * self.z_dim
        if self.loss == "wgan_gp":
            n += self.n_dis * self.d_batch
        if not self.z_reuse:
            n += self.g_batch * self.z_dim
        return n


def make_plan(cfg, G: nn.Module, D: nn.Module, n_images: int, host_data: bool = False) -> Plan:
    """The :class:`Plan` of a cell config with its built modules."""
    from specnorm.models import couples_batch

    return Plan(G=G, D=D, norms=_norms(D), n_dis=cfg.train.n_dis, d_batch=cfg.train.d_batch,
                g_batch=cfg.train.g_batch, z_dim=cfg.model.z_dim, n_images=n_images, loss=cfg.loss.name,
                gp_weight=cfg.loss.gp_weight, z_reuse=cfg.z_reuse == "reuse",
                bn_stats_in_d_step=G.bn_stats_in_d_step, fuse_d=not couples_batch(D),
                precision=cfg.train.precision, host_data=host_data)


def _norms(D: nn.Module) -> tuple:
    """:attr:`Plan.norms` of a discriminator."""
    buffer_keys = {id(b): k for k, b in D.named_buffers()}
    return tuple((name, f"{name}.parametrizations.weight.original", norm,
                  tuple((s, buffer_keys[id(getattr(norm, s))]) for s in norm.state))
                 for name, layer, norm in normalized_layers(D))


def precision_context(precision: str, device: torch.device):
    """``train.precision: bf16``: autocast convolutions and matmuls to bfloat16 (σ and the power
    iteration stay float32, ``specnorm.nn``); other precisions: no autocast."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _call(module: nn.Module, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
    return functional_call(module, (params, buffers), (x,))


def d_outputs(plan: Plan, params: dict, buffers: dict, real: torch.Tensor, fake: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """D(real), D(fake); one concatenated forward when ``plan.fuse_d`` (exactly equivalent: D has no BN)."""
    if plan.fuse_d:
        out = _call(plan.D, params, buffers, torch.cat([real, fake])).reshape(-1)
        return out[: real.shape[0]], out[real.shape[0]:]
    return (_call(plan.D, params, buffers, real).reshape(-1), _call(plan.D, params, buffers, fake).reshape(-1))


def d_summaries(plan: Plan, params: dict, buffers: dict, real: torch.Tensor, fake: torch.Tensor) -> dict:
    """The official D summaries at the pre-update weights: per-sample input-gradient norms of the real
    and the fake batch and every normalized layer's σ's, one step from its stored state."""
    def d_of(x):
        return _call(plan.D, params, buffers, x)

    sigmas = {name: norm.logged(params[wkey], {s: buffers[b] for s, b in keys})
              for name, wkey, norm, keys in plan.norms}
    return {"slopes_real": input_grad_norms(d_of, real), "slopes_fake": input_grad_norms(d_of, fake),
            "sigmas": sigmas}


def iteration(T: Tensors, data: torch.Tensor | None, plan: Plan, log: bool,
              real_batches: torch.Tensor | None = None) -> dict:
    """Run one iteration in place on ``T``; with ``log``, return what ``train_log.csv`` needs (device
    tensors). ``data``: the uint8 images on the device (batches are gathered here), or None with
    ``real_batches`` (``[n_dis, d_batch, C, H, W]``, gathered on the host from the same indices)."""
    with torch.no_grad():
        return _iteration(T, data, plan, log, real_batches)


def _iteration(T: Tensors, data, plan: Plan, log: bool, real_batches) -> dict:
    G, g_par, g_buf, d_par, d_buf = plan.G, T["G"], T["Gb"], T["D"], T["Db"]
    d_loss_fn, g_loss_fn = LOSSES[plan.loss]
    wgan = plan.loss == "wgan_gp"
    nd, bs, zd = plan.n_dis, plan.d_batch, plan.z_dim
    state = T["rng"]
    noise = rng.bits(state, plan.noise_count, rng.NOISE)
    z_all = rng.normal(noise[: nd * bs * zd]).view(nd, bs, zd)
    used, alphas = nd * bs * zd, None
    if wgan:
        alphas = rng.uniform(noise[used: used + nd * bs]).view(nd, bs, 1, 1, 1)
        used += nd * bs
    if real_batches is None:
        idx = rng.batch_indices(state, nd, bs, plan.n_images)
    logged: dict = {}
    z = z_all[0]
    for k in range(nd):
        real = to_float(data[idx[k]]) if real_batches is None else real_batches[k]
        z = z_all[k]
        with contextlib.nullcontext() if plan.bn_stats_in_d_step else frozen_bn_stats(G):
            fake = _call(G, g_par, g_buf, z)

        def d_objective(params, real=real, fake=fake, k=k):
            d_real, d_fake = d_outputs(plan, params, d_buf, real, fake)
            loss = d_loss_fn(d_real, d_fake)
            aux = {"loss_d": loss, "d_real": d_real.mean(), "d_fake": d_fake.mean()}
            if wgan:
                aux["gp"] = gradient_penalty(lambda x: _call(plan.D, params, d_buf, x), real, fake, alphas[k])
                loss = aux["loss_d"] = loss + plan.gp_weight * aux["gp"]
            return loss, aux

        grads, aux = grad(d_objective, has_aux=True)(d_par)
        loss_d = aux["loss_d"]
        if log and k == nd - 1:  # official D summaries: same batch, pre-update weights
            logged = {**aux, **d_summaries(plan, d_par, d_buf, real, fake)}
        optim.adam_(d_par, grads, T["opt_d"], **T["hyper_d"])
        for _, wkey, norm, keys in plan.norms:  # docs/design.md#u-update: once per D step, after Adam
            nxt = norm.advance(d_par[wkey], {s: d_buf[b] for s, b in keys})
            for s, b in keys:
                d_buf[b].copy_(nxt[s])
    # G step (docs/design.md#z-reuse: CNN reuses the last D step's z); u is never touched here
    zg = z if plan.z_reuse else rng.normal(noise[used: used + plan.g_batch * zd]).view(plan.g_batch, zd)

    def g_objective(params, buffers):  # the BN buffers an argument: torch.func lets G's forward update them
        return g_loss_fn(_call(plan.D, d_par, d_buf, _call(G, params, buffers, zg)).reshape(-1))

    grads, loss_g = grad_and_value(g_objective)(g_par, g_buf)
    optim.adam_(g_par, grads, T["opt_g"], **T["hyper_g"])
    T["rng"].copy_(rng.advance(state))
    T["iteration"].add_(1)
    # divergence bookkeeping on the device (read at the logging cadence, not here)
    bad = ~(torch.isfinite(loss_d) & torch.isfinite(loss_g))
    first = T["first_nonfinite"]
    first.copy_(torch.where(bad & (first == 0), T["iteration"], first))
    if log:
        logged["loss_g"] = loss_g
    return logged
