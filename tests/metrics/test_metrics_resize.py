"""The batched clean resize equals clean-fid's own per-image PIL resizer (``clean`` mode)."""

import specnorm  # noqa: F401  (before torchvision/cleanfid)
import numpy as np
import pytest
import torch
from cleanfid.resize import make_resizer

from specnorm.metrics.resize import pil_bicubic_matrix, resize_clean


@pytest.mark.parametrize("h,w", [(16, 16), (32, 32), (37, 21), (330, 320)])
def test_matches_clean_fid_pil_bicubic(h, w):
    imgs = np.random.default_rng(h * w).integers(0, 256, (2, h, w, 3), dtype=np.uint8)
    clean = make_resizer("PIL", False, "bicubic", (299, 299))
    expected = np.stack([clean(im) for im in imgs])
    out = resize_clean(torch.from_numpy(imgs).permute(0, 3, 1, 2).float()).permute(0, 2, 3, 1).numpy()
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() < 1e-3  # float32 rounding only (values in 0..255)


def test_weights_rows_sum_to_one_and_constant_images_stay_constant():
    w = pil_bicubic_matrix(32, 299)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    out = resize_clean(torch.full((1, 3, 32, 32), 77.0))
    assert torch.allclose(out, torch.full_like(out, 77.0), atol=1e-3)
