"""Real images where the training iteration reads them (docs/design.md#real-batches): the official
value range ``x/255·2 − 1`` and the placement of the uint8 set.

The images live on the training device (copied once), so a batch is an index draw and a gather on
that device inside the iteration, with no host synchronisation. Sets too large for the device
(ImageNet, 63 GB) stay in host memory (a memmap); their batches are gathered on the host and sent
through pinned memory. The indices (i.i.d. uniform, **with replacement**, no epochs, no
augmentation) come from the cell's counter stream, ``specnorm.train.rng.batch_indices``.
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


class RealImages:
    """A cell's real training images (uint8 NCHW) where its iteration reads them.

    ``on_device``: True copies the images to ``device`` once (the training iteration gathers its
    batches there from indices it draws itself, ``specnorm.train.rng``); False keeps them in host
    memory (a memmap, e.g. ImageNet's 63 GB): the host draws the same indices from the same counter
    stream and :meth:`gather` sends the batch through pinned memory. None decides with
    :func:`fits_on_device`. ``data``: an existing device copy (shared by the cells of a pack).
    """

    def __init__(self, images: np.ndarray, device: torch.device | str, *, on_device: bool | None = None,
                 data: torch.Tensor | None = None) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) == 0:
            raise ValueError(f"real images must be a non-empty uint8 (N, C, H, W) array, got {images.dtype} {images.shape}")
        self.device = torch.device(device)
        self.images = images
        self.n = int(images.shape[0])
        self.on_device = self.placement(images, self.device) if on_device is None else bool(on_device)
        self.data = (data if data is not None else self.device_copy(images, self.device)) if self.on_device else None

    @staticmethod
    def device_copy(images: np.ndarray, device: torch.device | str) -> torch.Tensor:
        """The uint8 images copied once onto ``device`` (a memmap is read into RAM first)."""
        return torch.from_numpy(np.array(images, copy=True)).to(device)

    @staticmethod
    def placement(images: np.ndarray, device: torch.device | str) -> bool:
        """Whether ``images`` go to ``device`` (True) or stay on the host (:func:`fits_on_device`)."""
        return fits_on_device(images.nbytes, torch.device(device))

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """float32 images ``idx`` (any shape of indices, on the CPU for host images) in [−1, 1] on the
        device, shaped ``idx.shape + (C, H, W)``."""
        if self.data is not None:
            return to_float(self.data[idx.to(self.device)])
        flat = idx.reshape(-1).cpu().numpy()
        batch = torch.from_numpy(np.asarray(self.images[flat])).reshape(*idx.shape, *self.images.shape[1:])
        pin = self.device.type == "cuda"
        return to_float((batch.pin_memory() if pin else batch).to(self.device, non_blocking=pin))
