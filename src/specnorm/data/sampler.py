"""Real-image batches as the official trainer draws them (docs/design.md#real-batches):
indices i.i.d. uniform over the whole set, **with replacement**, no epochs, no augmentation,
mapped to the official value range ``x/255·2 − 1``.

The uint8 images live on the training device (copied once), so a batch is an index draw and a
gather on that device, with no host synchronisation. Sets too large for the device (ImageNet,
63 GB) stay in host memory (a memmap); their batches are gathered on the host and sent through
pinned memory.
"""

from __future__ import annotations

import os

import numpy as np
import torch

DEVICE_FRACTION = 0.25  # "fits comfortably": at most this share of the device's total memory ...
FREE_FRACTION = 0.5     # ... and at most this share of what is free right now


def to_float(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 ``x/255·2 − 1`` (official range [−1, 1]; 0 → −1, 255 → 1).

    Computed as ``x/127.5 − 1``, bit-identical in float32 to ``(x/255)·2 − 1``.
    """
    if x_uint8.dtype != torch.uint8:
        raise TypeError(f"to_float expects uint8 images, got {x_uint8.dtype}")
    return x_uint8.to(torch.float32).div_(127.5).sub_(1.0)


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def fits_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of images fit comfortably on ``device`` (CPU: a share of physical RAM)."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return nbytes <= min(DEVICE_FRACTION * total, FREE_FRACTION * free)
    if device.type == "cpu":
        return nbytes <= DEVICE_FRACTION * _host_memory()
    return True


class BatchSampler:
    """Draws batches of real images i.i.d. with replacement from ``images`` (uint8 NCHW).

    ``on_device``: True copies the images to ``device`` once; False keeps them on the host
    (gather there, pinned transfer); None decides with :func:`fits_on_device`. The randomness is
    a ``torch.Generator`` seeded with ``seed``, on ``device`` for the on-device path and on the
    CPU for the host path (the host gathers, so its indices must be on the host).
    """

    def __init__(self, images: np.ndarray, device: torch.device | str, seed: int, *, on_device: bool | None = None,
                 data: torch.Tensor | None = None):
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
            raise ValueError(f"BatchSampler expects a non-empty uint8 (N, C, H, W) array, got {images.dtype} {images.shape}")
        self.device = torch.device(device)
        self.n = int(images.shape[0])
        self.seed = int(seed)
        self.on_device = self.placement(images, self.device) if on_device is None else bool(on_device)
        if self.on_device:
            # ``data``: the images' device copy, shared by the cells of a pack (read only)
            self._data = data if data is not None else self.device_copy(images, self.device)
            self._images = None
            self.generator = torch.Generator(device=self.device)
        else:
            self._data = None
            self._images = images
            self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(self.seed)
        self._pin = not self.on_device and self.device.type == "cuda"

    @staticmethod
    def device_copy(images: np.ndarray, device: torch.device | str) -> torch.Tensor:
        """The uint8 images copied once onto ``device`` (a memmap is read into RAM first)."""
        return torch.from_numpy(np.array(images, copy=True)).to(device)

    @staticmethod
    def placement(images: np.ndarray, device: torch.device | str) -> bool:
        """Whether ``images`` go to ``device`` (True) or stay on the host (:func:`fits_on_device`)."""
        return fits_on_device(images.nbytes, torch.device(device))

    def sample(self, batch_size: int) -> torch.Tensor:
        """float32 (B, C, H, W) in [−1, 1] on the device; indices ~ U{0..N−1} with replacement."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = torch.randint(0, self.n, (batch_size,), generator=self.generator, device=self.generator.device)
        if self._data is not None:
            return to_float(self._data.index_select(0, idx))
        batch = torch.from_numpy(np.asarray(self._images[idx.numpy()]))
        if self._pin:
            batch = batch.pin_memory()
        return to_float(batch.to(self.device, non_blocking=self._pin))

    def state_dict(self) -> dict:
        """Everything needed to continue the exact same stream (tensors and plain scalars only)."""
        return {"generator_state": self.generator.get_state(), "seed": self.seed, "n": self.n, "on_device": self.on_device}

    def load_state_dict(self, state: dict) -> None:
        """Resume the stream saved by :meth:`state_dict` (same dataset size and placement required)."""
        if int(state["n"]) != self.n or bool(state["on_device"]) != self.on_device:
            raise ValueError(
                f"sampler state is for n={state['n']}, on_device={state['on_device']}; "
                f"this sampler has n={self.n}, on_device={self.on_device}"
            )
        self.seed = int(state["seed"])
        self.generator.set_state(state["generator_state"])
