"""BatchSampler: i.i.d. with-replacement batches in [-1, 1], seeded and resumable (docs/design.md#real-batches)."""

import io

import numpy as np
import pytest
import torch

from specnorm.data import BatchSampler, to_float


def _indexed_images(n: int) -> np.ndarray:
    """Image i is filled with the value 2·i, so a batch reveals which indices were drawn."""
    return np.broadcast_to((2 * np.arange(n, dtype=np.uint8))[:, None, None, None], (n, 3, 4, 4)).copy()


def _indices(batch: torch.Tensor) -> np.ndarray:
    values = torch.round((batch[:, 0, 0, 0].double() + 1) * 127.5).long().numpy()
    return values // 2


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
    s = BatchSampler(images, "cpu", seed=1, on_device=on_device)
    b = s.sample(16)
    assert b.shape == (16, 3, 8, 8) and b.dtype == torch.float32 and b.device.type == "cpu"
    assert b.min() >= -1 and b.max() <= 1
    assert torch.equal(b[:, :, 0, 0], torch.full((16, 3), 51 / 127.5 - 1, dtype=torch.float32))
    assert s.n == 50 and s.on_device is on_device


def test_auto_placement_keeps_small_sets_on_device():
    assert BatchSampler(np.zeros((4, 1, 2, 2), np.uint8), "cpu", 0).on_device is True


def test_with_replacement_uniform_statistics():
    n = 10
    s = BatchSampler(_indexed_images(n), "cpu", seed=3)
    first = _indices(s.sample(n))
    assert len(np.unique(first)) < n  # drawn with replacement: ten draws from ten almost surely repeat
    draws = np.concatenate([_indices(s.sample(2000)) for _ in range(10)])
    counts = np.bincount(draws, minlength=n)
    assert counts.min() > 0 and draws.max() < n
    chi2 = ((counts - len(draws) / n) ** 2 / (len(draws) / n)).sum()
    assert chi2 < 27.9  # chi-square, 9 d.o.f., p = 0.001
    pairs = draws[:-1] * n + draws[1:]  # consecutive draws are independent
    assert len(np.unique(pairs)) == n * n


@pytest.mark.parametrize("on_device", [True, False])
def test_seed_determinism(on_device):
    images = _indexed_images(100)
    a = BatchSampler(images, "cpu", seed=7, on_device=on_device)
    b = BatchSampler(images, "cpu", seed=7, on_device=on_device)
    c = BatchSampler(images, "cpu", seed=8, on_device=on_device)
    batches_a = [a.sample(32) for _ in range(3)]
    assert all(torch.equal(x, b.sample(32)) for x in batches_a)
    assert not torch.equal(batches_a[0], c.sample(32))


@pytest.mark.parametrize("on_device", [True, False])
def test_state_dict_round_trip_through_torch_save(on_device, tmp_path):
    images = np.load(_memmapped(tmp_path), mmap_mode="r")
    s = BatchSampler(images, "cpu", seed=11, on_device=on_device)
    for _ in range(3):
        s.sample(8)
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    expected = [s.sample(8) for _ in range(4)]

    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    resumed = BatchSampler(images, "cpu", seed=999, on_device=on_device)
    resumed.load_state_dict(state)
    assert all(torch.equal(x, resumed.sample(8)) for x in expected)
    assert resumed.seed == 11


def _memmapped(tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, _indexed_images(60))
    return path


def test_state_for_another_dataset_is_refused():
    s = BatchSampler(_indexed_images(10), "cpu", 0)
    other = BatchSampler(_indexed_images(11), "cpu", 0)
    with pytest.raises(ValueError, match="n=10"):
        other.load_state_dict(s.state_dict())


def test_bad_inputs():
    with pytest.raises(ValueError, match="uint8"):
        BatchSampler(np.zeros((2, 1, 2, 2), np.float32), "cpu", 0)
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(np.zeros((2, 1, 2, 2), np.uint8), "cpu", 0).sample(0)
