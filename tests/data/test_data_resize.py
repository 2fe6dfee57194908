"""cv2-like INTER_LINEAR resize, box halving and the official crops (docs/design.md#datasets)."""

import numpy as np
import pytest

from specnorm.data.resize import _taps, box_halve, center_crop, center_square, resize_linear


def _float_bilinear(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Textbook bilinear with half-pixel centres and clamped taps, in float64 (independent reference)."""
    def axis(n_src, n_dst):
        pos = np.clip((np.arange(n_dst) + 0.5) * n_src / n_dst - 0.5, 0, n_src - 1)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, n_src - 1)
        return i0, i1, pos - i0
    y0, y1, fy = axis(x.shape[-2], h)
    x0, x1, fx = axis(x.shape[-1], w)
    xf = x.astype(np.float64)
    rows = xf[..., y0, :] * (1 - fy)[:, None] + xf[..., y1, :] * fy[:, None]
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


def test_box_halve_rounds_half_up():
    x = np.array([[[1, 2], [2, 1]]], dtype=np.uint8)  # sum 6 -> 1.5 -> 2
    assert box_halve(x).tolist() == [[[2]]]
    x = np.array([[[255, 255], [255, 254]]], dtype=np.uint8)  # 254.75 -> 255
    assert box_halve(x).tolist() == [[[255]]]
    x = np.array([[[0, 0], [1, 0]]], dtype=np.uint8)  # 0.25 -> 0
    assert box_halve(x).tolist() == [[[0]]]


def test_general_formula_equals_box_average_on_halving():
    """The fixed-point bilinear path (not the box shortcut) gives the box average on a 2x reduction."""
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 24, 30), dtype=np.uint8)
    y0, y1, b0, b1 = _taps(24, 12)
    x0, x1, a0, a1 = _taps(30, 15)
    assert (a0 == 1024).all() and (a1 == 1024).all() and (x1 == x0 + 1).all()
    xi = x.astype(np.int32)
    horiz = (xi[..., x0] * a0 + xi[..., x1] * a1) >> 4
    vert = ((horiz[..., y0, :] * b0[:, None]) >> 16) + ((horiz[..., y1, :] * b1[:, None]) >> 16)
    general = ((vert + 2) >> 2).astype(np.uint8)
    expected = np.floor(x.reshape(4, 3, 12, 2, 15, 2).astype(np.float64).mean(axis=(3, 5)) + 0.5)
    assert np.array_equal(general, expected.astype(np.uint8))
    assert np.array_equal(resize_linear(x, 12, 15), general)


@pytest.mark.parametrize("src,dst", [((37, 53), (16, 16)), ((300, 257), (128, 128)), ((8, 8), (16, 16)), ((20, 64), (13, 7))])
def test_resize_matches_float_bilinear_within_one_level(src, dst):
    x = np.random.default_rng(1).integers(0, 256, (2, 3, *src), dtype=np.uint8)
    out = resize_linear(x, *dst)
    ref = _float_bilinear(x, *dst)
    assert out.shape == (2, 3, *dst) and out.dtype == np.uint8
    assert np.abs(out.astype(np.float64) - ref).max() <= 1.0


def test_resize_identity_and_no_antialiasing():
    x = np.random.default_rng(2).integers(0, 256, (3, 40, 40), dtype=np.uint8)
    assert np.array_equal(resize_linear(x, 40, 40), x)
    # 4x reduction without antialiasing samples between source pixels 4i+1 and 4i+2 only
    stripes = np.zeros((1, 8, 8), dtype=np.uint8)
    stripes[..., 0::4] = 200  # columns 0 and 4: ignored by a 2-tap filter at positions 1.5 and 5.5
    assert resize_linear(stripes, 2, 2).max() == 0


def test_center_crops_follow_the_official_offsets():
    img = np.arange(218 * 178).reshape(218, 178)  # CelebA: H 218, W 178
    crop = center_crop(img, 128, 128)
    assert np.array_equal(crop, img[45:173, 25:153])
    wide = np.arange(5 * 8).reshape(5, 8)
    assert np.array_equal(center_square(wide), wide[:, 1:6])  # (8-5)//2 = 1
    tall = np.arange(9 * 4).reshape(9, 4)
    assert np.array_equal(center_square(tall), tall[2:6])  # (9-4)//2 = 2
    with pytest.raises(ValueError, match="smaller"):
        center_crop(wide, 128, 128)
