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
import torch.nn.functional as F

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



def resize_tf1_bilinear(x: torch.Tensor, size: int = CLEAN_SIZE) -> torch.Tensor:
    """Float images (N, C, H, W) to (N, C, size, size) exactly as the forward of NVIDIA's
    ``inception-2015-12-05.pt`` does (the ``paper`` protocol's in-network resize, docs/design.md#metric-protocol):
    ``tf.image.resize_bilinear`` alignment (source pixel = i·H/size, edge clamped), emulated with
    ``affine_grid``/``grid_sample`` (bilinear, border padding, ``align_corners=False``) in the
    input's dtype. Used when the weights file has no built-in resize (the features-only file)."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([n, 1, 1])
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
