"""Image geometry of the official preprocessing (docs/design.md#datasets): center crops and a numpy
re-implementation of ``cv2.resize(..., INTER_LINEAR)`` on uint8 images (cv2 is not a dependency).

``resize_linear`` follows OpenCV's 8-bit bilinear path: half-pixel centres
(``src = (dst + 0.5)·scale − 0.5``), taps clamped at the border (edge replicated), no
antialiasing, weights quantised to 11 bits (``round(2048·w)``), a horizontal pass in exact integer
arithmetic, then the vertical pass of OpenCV's vectorised kernel
(``((h0>>4)·b0 >> 16) + ((h1>>4)·b1 >> 16) + 2) >> 2``). On an exact halving this is the 2×2 box
average ``floor((a+b+c+d+2)/4)``, which is also what cv2 itself computes there (it switches to its
INTER_AREA fast path for 2× reductions).
"""

from __future__ import annotations

import numpy as np

COEF_BITS = 11
COEF_SCALE = 1 << COEF_BITS


def _taps(n_src: int, n_dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Source indices (i0, i1) and fixed-point weights (w0, w1) for one axis, as OpenCV computes them."""
    scale = n_src / n_dst
    pos = ((np.arange(n_dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    i0 = np.floor(pos).astype(np.int64)
    frac = pos - i0.astype(np.float32)
    clamp = (i0 < 0) | (i0 >= n_src - 1)
    frac[clamp] = 0.0
    i0 = np.clip(i0, 0, n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    w0 = np.rint((np.float32(1.0) - frac) * np.float32(COEF_SCALE)).astype(np.int32)
    w1 = np.rint(frac * np.float32(COEF_SCALE)).astype(np.int32)
    return i0, i1, w0, w1


def resize_linear(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of uint8 images ``(..., H, W)`` to ``(..., height, width)`` like cv2 INTER_LINEAR."""
    if x.dtype != np.uint8:
        raise TypeError(f"resize_linear expects uint8 images, got {x.dtype}")
    if x.shape[-2:] == (2 * height, 2 * width):
        return box_halve(x)  # cv2's INTER_AREA fast path; the general formula below gives the same values
    y0, y1, b0, b1 = _taps(x.shape[-2], height)
    x0, x1, a0, a1 = _taps(x.shape[-1], width)
    xi = x.astype(np.int32)
    horiz = (xi[..., x0] * a0 + xi[..., x1] * a1) >> 4
    vert = ((horiz[..., y0, :] * b0[:, None]) >> 16) + ((horiz[..., y1, :] * b1[:, None]) >> 16)
    return np.clip((vert + 2) >> 2, 0, 255).astype(np.uint8)


def box_halve(x: np.ndarray) -> np.ndarray:
    """2×2 box average of uint8 images ``(..., 2H, 2W)``, rounding half up: ``(a+b+c+d+2) >> 2``."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    if x.shape[-2] != 2 * h or x.shape[-1] != 2 * w:
        raise ValueError(f"box_halve needs even height and width, got {x.shape[-2:]}")
    blocks = x.astype(np.uint16).reshape(*x.shape[:-2], h, 2, w, 2)
    return ((blocks.sum(axis=(-3, -1)) + 2) >> 2).astype(np.uint8)


def center_crop(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop ``(H, W, ...)`` to ``height × width`` from offset ``((H−height)//2, (W−width)//2)`` (official)."""
    h, w = x.shape[:2]
    if h < height or w < width:
        raise ValueError(f"image of size {h}x{w} is smaller than the {height}x{width} crop")
    top, left = (h - height) // 2, (w - width) // 2
    return x[top:top + height, left:left + width]


def center_square(x: np.ndarray) -> np.ndarray:
    """The official ImageNet crop: the central ``min(H, W)`` square of an ``(H, W, ...)`` image."""
    side = min(x.shape[:2])
    return center_crop(x, side, side)
