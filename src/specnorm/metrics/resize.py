"""clean-fid's ``clean`` resize (PIL bicubic on float images, then clip to [0, 255]) as one batched
torch op on the device.

clean-fid resizes each image on the CPU, channel by channel, with PIL (``mode='F'``, bicubic,
``make_resizer("PIL", False, "bicubic", (299, 299))``). PIL's resampling is separable: a horizontal
then a vertical pass, each a fixed (out × in) weight matrix (Pillow ``Resample.c``: cubic kernel
with a = −0.5, support scaled by the reduction factor, window clipped to the image and renormalised
— not edge-replicated, unlike ``torch.nn.functional.interpolate``). We build those two matrices
once and apply them to a whole batch as two matmuls, so ``out = clip(W_h · x · W_wᵀ)`` equals PIL's
result up to float32 rounding (validated against clean-fid's own resizer in the tests).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

CLEAN_SIZE = 299


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Pillow's bicubic kernel (a = −0.5; torch's bicubic uses −0.75)."""
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


@lru_cache(maxsize=16)
def pil_bicubic_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) float64 weights of one Pillow bicubic resampling pass."""
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = np.arange(lo, hi)
        k = _cubic((taps - center + 0.5) / filterscale)
        total = k.sum()
        w[i, lo:hi] = k / total if total != 0.0 else k
    return w


def resize_clean(x: torch.Tensor, size: int = CLEAN_SIZE) -> torch.Tensor:
    """Resize float images (N, C, H, W) in [0, 255] to (N, C, size, size) like clean-fid ``clean``."""
    n, c, h, w = x.shape
    wh = torch.as_tensor(pil_bicubic_matrix(h, size), dtype=x.dtype, device=x.device)
    ww = torch.as_tensor(pil_bicubic_matrix(w, size), dtype=x.dtype, device=x.device)
    out = torch.matmul(x, ww.T)  # horizontal pass first, as Pillow does
    out = torch.matmul(wh, out)
    return out.clamp_(0.0, 255.0)

