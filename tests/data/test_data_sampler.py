"""Real batches: i.i.d. with-replacement indices from the cell's counter stream, gathered in [-1, 1] on
the device or on the host alike, seeded and resumable (docs/design.md#real-batches)."""

import io

import numpy as np
import pytest
import torch

from specnorm.data import RealImages, to_float
from specnorm.train import rng


def _indexed_images(n: int) -> np.ndarray:
    """Image i is filled with the value 2·i, so a batch reveals which indices were drawn."""
    return np.broadcast_to((2 * np.arange(n, dtype=np.uint8))[:, None, None, None], (n, 3, 4, 4)).copy()


def _indices(batch: torch.Tensor) -> np.ndarray:
    values = torch.round((batch[..., 0, 0, 0].double() + 1) * 127.5).long().numpy()
    return values // 2


def _draws(state: torch.Tensor, iterations: int, batch: int, n: int) -> tuple[np.ndarray, torch.Tensor]:
    """The indices of ``iterations`` successive iterations (one batch each) and the state after them."""
    out = []
    for _ in range(iterations):
        out.append(rng.batch_indices(state, 1, batch, n).reshape(-1))
        state = rng.advance(state)
    return torch.cat(out).numpy(), state


def test_to_float_is_the_official_map():
    x = torch.arange(256, dtype=torch.uint8)
    y = to_float(x)
    assert y.dtype == torch.float32
    assert y[0].item() == -1.0 and y[255].item() == 1.0
    assert torch.equal(y, x.to(torch.float32) / 255 * 2 - 1)  # bit-identical to x/255*2-1
    assert torch.allclose(y.double(), x.double() / 255 * 2 - 1, atol=1e-7, rtol=0)
    with pytest.raises(TypeError):
        to_float(y)


@pytest.mark.parametrize("on_device", [True, False])
def test_values_shape_and_range(on_device):
    images = np.random.default_rng(0).integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    images[:, :, 0, 0] = 51
    s = RealImages(images, "cpu", on_device=on_device)
    b = s.gather(rng.batch_indices(rng.initial_state(1), 2, 16, s.n))
    assert b.shape == (2, 16, 3, 8, 8) and b.dtype == torch.float32 and b.device.type == "cpu"
    assert b.min() >= -1 and b.max() <= 1
    assert torch.equal(b[..., 0, 0], torch.full((2, 16, 3), 51 / 127.5 - 1, dtype=torch.float32))
    assert s.n == 50 and s.on_device is on_device and (s.data is not None) is on_device


def test_device_and_host_images_give_the_same_batches():
    images = _indexed_images(100)
    idx = rng.batch_indices(rng.initial_state(5), 3, 32, 100)
    assert torch.equal(RealImages(images, "cpu", on_device=True).gather(idx),
                       RealImages(images, "cpu", on_device=False).gather(idx))


def test_auto_placement_keeps_small_sets_on_device():
    assert RealImages(np.zeros((4, 1, 2, 2), np.uint8), "cpu").on_device is True


def test_with_replacement_uniform_statistics():
    n = 10
    first, state = _draws(rng.initial_state(3), 1, n, n)
    assert len(np.unique(first)) < n  # drawn with replacement: ten draws from ten almost surely repeat
    draws, _ = _draws(state, 10, 2000, n)
    counts = np.bincount(draws, minlength=n)
    assert counts.min() > 0 and draws.max() < n
    chi2 = ((counts - len(draws) / n) ** 2 / (len(draws) / n)).sum()
    assert chi2 < 27.9  # chi-square, 9 d.o.f., p = 0.001
    pairs = draws[:-1] * n + draws[1:]  # consecutive draws are independent
    assert len(np.unique(pairs)) == n * n


def test_seed_determinism():
    a, _ = _draws(rng.initial_state(7), 3, 32, 100)
    b, _ = _draws(rng.initial_state(7), 3, 32, 100)
    c, _ = _draws(rng.initial_state(8), 3, 32, 100)
    assert np.array_equal(a, b) and not np.array_equal(a[:32], c[:32])


def test_state_round_trip_through_torch_save():
    _, state = _draws(rng.initial_state(11), 3, 8, 60)
    buf = io.BytesIO()
    torch.save(state, buf)
    expected, _ = _draws(state, 4, 8, 60)
    buf.seek(0)
    resumed = torch.load(buf, weights_only=True)
    assert np.array_equal(_draws(resumed, 4, 8, 60)[0], expected)
    assert resumed.tolist() == [rng.key_of(11), 3]


def test_memmapped_images_stay_on_the_host(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, _indexed_images(60))
    images = np.load(path, mmap_mode="r")
    s = RealImages(images, "cpu", on_device=False)
    idx = rng.batch_indices(rng.initial_state(2), 1, 8, s.n)
    assert np.array_equal(_indices(s.gather(idx)), idx.numpy())


def test_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        RealImages(np.zeros((2, 1, 2, 2), np.float32), "cpu")
    with pytest.raises(ValueError, match="non-empty"):
        RealImages(np.zeros((0, 1, 2, 2), np.uint8), "cpu")
