"""Adam as tensor arithmetic on named tensors, inside the training iteration (docs/design.md#adam).

The official optimizer is Adam with a constant learning rate, eps 1e-8 and no weight decay; we use
``torch.optim.Adam``'s update formula (eps added to √v̂, docs/deviations.md) written as plain tensor
operations, so that the optimizer step is part of the one graph of an iteration and the cells of a
fused pack (``torch.func.vmap``) each use their own learning rate and betas. The hyper-parameters
and the step count are float64 0-d tensors, so the bias corrections and ``1 − β`` are computed in
double precision as ``torch.optim.Adam`` computes them from Python floats.
"""

from __future__ import annotations

import torch

EPS = 1e-8


def init_state(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A fresh state for ``params``: ``exp_avg.<name>``, ``exp_avg_sq.<name>`` (zeros) and ``step``
    ([0.], float64 of shape (1,): torch.compile drops in-place updates of 0-d float64 inputs, torch 2.13)."""
    state = {"step": torch.zeros(1, dtype=torch.float64, device=next(iter(params.values())).device)}
    for name, p in params.items():
        state[f"exp_avg.{name}"] = torch.zeros_like(p)
        state[f"exp_avg_sq.{name}"] = torch.zeros_like(p)
    return state


def hyper(lr: float, beta1: float, beta2: float, device: torch.device | str) -> dict[str, torch.Tensor]:
    """``{"lr", "beta1", "beta2"}`` as float64 0-d tensors on ``device``."""
    return {k: torch.tensor(float(v), dtype=torch.float64, device=device)
            for k, v in (("lr", lr), ("beta1", beta1), ("beta2", beta2))}


def adam_(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], state: dict[str, torch.Tensor],
          lr: torch.Tensor, beta1: torch.Tensor, beta2: torch.Tensor) -> None:
    """One Adam step in place on ``params`` and ``state`` (``torch.optim.Adam``'s non-capturable
    formula: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², p ← p − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + eps))."""
    state["step"].add_(1)
    step = state["step"].reshape(())
    bias1 = 1 - beta1 ** step
    bias2_sqrt = (1 - beta2 ** step).sqrt()
    dtype = next(iter(params.values())).dtype
    b1, w1, b2, w2 = beta1.to(dtype), (1 - beta1).to(dtype), beta2.to(dtype), (1 - beta2).to(dtype)
    step_size, b2_sqrt = (lr / bias1).to(dtype), bias2_sqrt.to(dtype)
    for name, p in params.items():
        g = grads[name]
        m, v = state[f"exp_avg.{name}"], state[f"exp_avg_sq.{name}"]
        m.mul_(b1).add_(g * w1)  # not lerp_: it has no vmap batching rule (a per-cell loop in a fused pack)
        v.mul_(b2).add_(g * g * w2)
        p.sub_(m / (v.sqrt() / b2_sqrt + EPS) * step_size)
