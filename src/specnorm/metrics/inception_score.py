"""Inception Score from class logits, as the official BSN code computes it (docs/design.md#metric-protocol).

IS = exp(E_x KL(p(y|x) ‖ p(y))) per split, p(y) the split's mean prediction; mean and (population)
std over ``splits`` contiguous splits ``[i·N//splits, (i+1)·N//splits)`` (tsc2017 / ``metric.py``).
The logits passed in are already the extractor's classes (Inception: biased ``logits[:, :1000]``).
Computed in float64 from log-softmax, on the logits' device.
"""

from __future__ import annotations

import math

import torch


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """(mean, std) of the per-split Inception Scores of ``logits`` (N, K)."""
    n = logits.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"need 1 <= splits <= number of samples, got splits={splits}, n={n}")
    logp = torch.log_softmax(logits.double(), dim=1)
    scores = []
    for i in range(splits):
        part = logp[i * n // splits:(i + 1) * n // splits]
        log_py = torch.logsumexp(part, 0, keepdim=True) - math.log(len(part))  # log p(y), finite
        kl = (part.exp() * (part - log_py)).sum(1).mean()
        scores.append(torch.exp(kl))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(correction=0))
