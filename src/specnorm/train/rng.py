"""Counter-based random numbers of the training iteration, drawn on the device from state in tensors
(docs/design.md#seeds; docs/deviations.md T12).

A cell's training randomness (real-batch indices, latents, WGAN-GP interpolation weights) comes from
one stream: an int64 tensor ``[key, counter]``. A draw hashes (key, counter, sub-stream, element
index) into 32 random bits per element; the counter advances once per iteration, so

* a draw is a pure function of tensors: ``torch.compile`` traces it without a graph break, CUDA graphs
  replay it, and ``torch.func.vmap`` runs the streams of a fused pack's cells side by side;
* the stream is resumed exactly from the two numbers a checkpoint stores, on any device: the same
  cell draws the same numbers on the CPU and on a GPU (the arithmetic is exact integer arithmetic).

The hash is two rounds of ``lowbias32`` (C. Wellons' hash prospector: 16, 0x7feb352d, 15,
0x846ca68b, 16) with the key and counter folded in between; every product stays below 2**63 in
int64 (multipliers ≥ 2**31 are used as their negative twin modulo 2**32), so no step overflows.
Uniforms have 24 bits, normals come from the inverse error function (|z| ≤ 5.3), indices from the
multiply-shift ``(bits · n) >> 32``; tests check their moments and uniformity.
"""

from __future__ import annotations

import torch

from specnorm.vocab import stream_seed

M32 = 0xFFFFFFFF
_C1 = 0x7FEB352D
_C2 = 0x846CA68B - 2**32  # ≡ 0x846ca68b (mod 2**32); |x · c| < 2**63 for x < 2**32
_GOLDEN = 0x9E3779B9


def _lowbias32(x: torch.Tensor) -> torch.Tensor:
    """One round of lowbias32 on int64 holding 32-bit values (result in [0, 2**32))."""
    x = x ^ (x >> 16)
    x = (x * _C1) & M32
    x = x ^ (x >> 15)
    x = (x * _C2) & M32
    return x ^ (x >> 16)


def key_of(seed: int) -> int:
    """The stream key of a cell's run seed (32 bits of its ``train`` stream, ``vocab.stream_seed``)."""
    return stream_seed(seed, "train") & M32


def initial_state(seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A fresh stream ``[key, 0]`` of a cell's run seed."""
    return torch.tensor([key_of(seed), 0], dtype=torch.int64, device=device)


DATA, NOISE = 1, 2
"""Sub-streams of a draw: real-batch indices (which the host can recompute for a dataset kept in host
memory) and everything else (latents, WGAN-GP interpolation weights)."""


def bits(state: torch.Tensor, n: int, stream: int) -> torch.Tensor:
    """``n`` random 32-bit values (int64 in [0, 2**32)) of sub-stream ``stream`` at the stream's
    counter. Pure: the same state gives the same values; :func:`advance` moves the counter on."""
    key, counter = state[0], state[1]
    salt = _lowbias32(((counter * _GOLDEN + stream) & M32) ^ key)
    i = torch.arange(n, dtype=torch.int64, device=state.device)
    return _lowbias32(_lowbias32(i ^ salt) ^ key)


def advance(state: torch.Tensor) -> torch.Tensor:
    """The state with its counter advanced by one (one iteration's draws done)."""
    return state + torch.arange(2, dtype=torch.int64, device=state.device)  # [key, counter + 1]


def uniform(b: torch.Tensor) -> torch.Tensor:
    """float32 in (0, 1) from 32-bit values: (k + 0.5) / 2**23 for the top 23 bits k (exact in float32)."""
    return ((b >> 9).to(torch.float32) + 0.5) * (1.0 / 2**23)


def normal(b: torch.Tensor) -> torch.Tensor:
    """Standard normals (float32) from 32-bit values: √2 · erfinv(2u − 1), u = :func:`uniform`."""
    return torch.erfinv(uniform(b) * 2.0 - 1.0) * 2.0**0.5


def index(b: torch.Tensor, n: int) -> torch.Tensor:
    """Indices uniform on {0, …, n−1} (n < 2**31) from 32-bit values: ``(b · n) >> 32``."""
    return (b * n) >> 32


def batch_indices(state: torch.Tensor, n_dis: int, batch: int, n: int) -> torch.Tensor:
    """``[n_dis, batch]`` real-image indices of one iteration, i.i.d. uniform over the ``n`` images,
    with replacement (docs/design.md#real-batches): the ``DATA`` sub-stream."""
    return index(bits(state, n_dis * batch, DATA), n).view(n_dis, batch)
