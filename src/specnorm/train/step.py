"""One training iteration with the official loop semantics (docs/design.md#training-loop).

``n_dis`` D steps, each on a fresh real batch and fresh z: G forward without gradient (BN running
statistics updated for the CNN, frozen for the ResNet), D loss, Adam step, then ``advance_state`` (u
advances exactly once per D step, from the post-step weights). Then one G step, reusing the last D
step's z (CNN) or fresh z of the G batch size (ResNet); it never touches u. No host synchronisation:
logged quantities stay on the device until the logging cadence reads them. The only Python branching
is on the iteration number (logging steps), never on data.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import parametrize

from specnorm.losses import LOSSES, gradient_penalty
from specnorm.models import frozen_bn_stats
from specnorm.nn import advance_state, logged_sigmas

if TYPE_CHECKING:  # the state module builds a RunState; the step only runs one
    from specnorm.train.state import RunState


def d_forward(D: nn.Module, real: torch.Tensor, fake: torch.Tensor, fuse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """D(real), D(fake); one concatenated forward when ``fuse`` (exactly equivalent without BN)."""
    if fuse:
        out = D(torch.cat([real, fake])).reshape(-1)
        return out[: real.shape[0]], out[real.shape[0]:]
    return D(real).reshape(-1), D(fake).reshape(-1)


def input_grad_norms(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-sample ‖∇ₓD(x)‖₂ as sqrt(Σg² + 1e-8) (official ``d/*_slopes``), without touching .grad."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x)
    return (g.pow(2).flatten(1).sum(1) + 1e-8).sqrt()


def train_iteration(st: "RunState", iteration: int, log: bool) -> None:
    """Run iteration ``iteration`` (1-based) in place on ``st``; with ``log``, keep what train_log needs."""
    st.iteration_t.fill_(iteration)  # the device-side counter (no sync); the body never reads a Python int
    with precision_context(st):
        iteration_body(st, log)


def precision_context(st: "RunState"):
    """``train.precision: bf16``: autocast convolutions and matmuls to bfloat16 (σ and the power
    iteration stay float32, ``specnorm.nn``); other precisions: no autocast."""
    if st.cfg.train.precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(st.device.type, dtype=torch.bfloat16)


def iteration_body(st: "RunState", log: bool) -> None:
    """The iteration itself, as ``torch.compile`` / CUDA graphs capture it (``train.compile``): its
    only inputs are ``st``'s tensors and the ``log`` flag; the iteration number is ``st.iteration_t``."""
    cfg, G, D = st.cfg, st.G, st.D
    d_loss_fn, g_loss_fn = LOSSES[cfg.loss.name]
    wgan = cfg.loss.name == "wgan_gp"
    gp_weight = cfg.loss.gp_weight if wgan else 0.0
    bs, dev = cfg.train.d_batch, st.device
    bn_ctx = contextlib.nullcontext if G.bn_stats_in_d_step else frozen_bn_stats
    fuse = st.fuse_d
    D.requires_grad_(True)
    z = None
    for k in range(cfg.train.n_dis):
        real = st.sampler.sample(bs)
        z = torch.randn(bs, G.z_dim, generator=st.z_gen, device=dev)
        with torch.no_grad(), bn_ctx(G):
            fake = G(z)
        with parametrize.cached():
            d_real, d_fake = d_forward(D, real, fake, fuse)
            loss_d = d_loss_fn(d_real, d_fake)
            if wgan:
                alpha = torch.rand(bs, 1, 1, 1, generator=st.gp_gen, device=dev)
                gp = gradient_penalty(D, real, fake, alpha)
                loss_d = loss_d + gp_weight * gp
            st.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            if log and k == cfg.train.n_dis - 1:
                # official D summaries: same batch, pre-update weights, σ one step from stored u
                st.last.update(
                    loss_d=loss_d.detach(), d_real=d_real.detach().mean(), d_fake=d_fake.detach().mean(),
                    gp=gp.detach() if wgan else None,
                    slopes_real=input_grad_norms(D, real), slopes_fake=input_grad_norms(D, fake),
                    sigmas=logged_sigmas(D),  # device tensors: read at the cadence, not here
                )
        st.opt_d.step()
        advance_state(D)  # docs/design.md#u-update: once per D step, after the optimizer step
    # G step (docs/design.md#z-reuse: CNN reuses the last D step's z)
    if st.z_reuse:
        zg = z
    else:
        zg = torch.randn(cfg.train.g_batch, G.z_dim, generator=st.z_gen, device=dev)
    D.requires_grad_(False)  # D weight gradients are not needed in the G step (TF skips them too)
    with parametrize.cached():
        loss_g = g_loss_fn(D(G(zg)).reshape(-1))
    st.opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    st.opt_g.step()
    D.requires_grad_(True)
    if log:
        st.last["loss_g"] = loss_g.detach()
    # divergence bookkeeping on the device (read at the logging cadence, not here)
    bad = ~(torch.isfinite(loss_d) & torch.isfinite(loss_g))
    st.first_nonfinite.copy_(torch.where(bad & (st.first_nonfinite == 0), st.iteration_t, st.first_nonfinite))
