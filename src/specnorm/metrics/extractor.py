"""The feature-extractor interface shared by Inception and the digits classifier, the two image
conversions every protocol applies before it (uint8 quantisation, strict fp32), and the numerics of
its forward (``eval.precision``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

import torch

from specnorm.vocab import EVAL_PRECISIONS


class Extractor(Protocol):
    """Maps images in [−1, 1] (float NCHW, on the extractor's device) to ``(features, logits)``:
    features for FID/KID, class logits for IS. One batched forward, no per-image Python work."""

    name: str  # the ``extractor`` field of a score row
    sha256: str  # sha256 of its weights file (the ``extractor_sha256`` field)
    resize: str  # how images reach the network's input size, in words (the ``resize`` field)
    features: str  # which tensor the features are (part of the reference-statistics cache key)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round [−1, 1] images to the uint8 grid as saving them to PNG would (StyleGAN/clean-fid
    convention ``floor(127.5·x + 128)`` clamped to 0..255), returned in [−1, 1]."""
    u = (x * 127.5 + 128.0).floor_().clamp_(0.0, 255.0)
    return u / 127.5 - 1.0


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 in cuDNN convolutions and CUDA matmuls on or off inside the block; the previous flags
    come back after it (also on exceptions)."""
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, mm


def strict_fp32() -> contextlib.AbstractContextManager[None]:
    """TF32 off for the metric network (cuDNN allows it by default; docs/deviations.md M4: the
    Inception forward runs in fp32)."""
    return tf32(False)


@contextlib.contextmanager
def extractor_precision(precision: str, device: torch.device) -> Iterator[None]:
    """The numerics of the metric network's forward (``eval.precision``, docs/deviations.md M10):
    ``fp32``: :func:`strict_fp32`; ``tf32``: TF32 allowed in cuDNN convolutions and CUDA matmuls
    (no effect on a CPU, where nothing is TF32); ``bf16``: autocast to bfloat16 on ``device``'s type
    (CPU or CUDA), TF32 off for the operations autocast leaves in fp32."""
    if precision not in EVAL_PRECISIONS:
        raise ValueError(f"eval precision must be one of {EVAL_PRECISIONS}, got {precision!r}")
    bf16 = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    with tf32(precision == "tf32"), bf16:
        yield


def extract(extractor: Extractor, x: torch.Tensor, precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """``extractor(x)`` under :func:`extractor_precision`; features and logits returned as fp32."""
    with extractor_precision(precision, x.device):
        feats, logits = extractor(x)
    return feats.float(), logits.float()
