"""Readers of the raw datasets in their official formats (docs/design.md#datasets).

Each reader takes the raw file or folder and the :class:`DatasetInfo` and yields uint8 NCHW
chunks in the dataset's canonical order, already preprocessed to ``info.resolution``. Images are
streamed chunk by chunk, so no reader holds a whole large dataset in memory.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from specnorm.data.errors import DataError
from specnorm.catalog import DatasetInfo
from specnorm.data.resize import center_crop, center_square, resize_linear

T = TypeVar("T")
Reader = Callable[[Path, DatasetInfo, int], Iterator[np.ndarray]]
CHUNK = 1024
CELEBA_CROP = 128
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def _count_error(path: Path, info: DatasetInfo, found: int, what: str) -> DataError:
    return DataError(
        f"{path}: found {found:,} {what}, expected {info.n_images:,} for {info.name}. "
        "The source is incomplete or is not the right dataset; replace it with a complete copy."
    )


def _decoded_chunks(items: list[T], decode: Callable[[bytes | Path], np.ndarray], workers: int,
                    fetch: Callable[[T], bytes | Path] | None = None) -> Iterator[np.ndarray]:
    """Decode ``items`` in a thread pool (PIL releases the GIL) and yield stacked chunks, in order.

    ``fetch`` (e.g. reading a zip member, which is not thread-safe) runs in the calling thread.
    """
    def run(pair: tuple[T, bytes | Path]) -> np.ndarray:
        try:
            return decode(pair[1])
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{pair[0]}: cannot decode this image ({e}); replace the file with a good copy") from None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(items), CHUNK):
            part = items[start:start + CHUNK]
            loaded = [fetch(i) for i in part] if fetch is not None else part
            yield np.stack(list(pool.map(run, zip(part, loaded))))


def _rgb(data: bytes | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3) with PIL (the official code uses cv2; a deviation)."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
        return np.asarray(im.convert("RGB"))


def _chw(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def read_cifar10(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """``cifar-10-python.tar.gz``: pickled ``data_batch_1..5`` (rows of 3·32·32 bytes, RGB planes), in order."""
    wanted = {f"data_batch_{i}" for i in range(1, 6)}
    batches: dict[str, np.ndarray] = {}
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if member.isfile() and base in wanted:
                entry = pickle.load(tar.extractfile(member), encoding="bytes")
                batches[base] = np.asarray(entry[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    missing = sorted(wanted - batches.keys())
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)}; this is not a complete cifar-10-python.tar.gz")
    found = sum(len(b) for b in batches.values())
    if found != info.n_images:
        raise _count_error(path, info, found, "images in data_batch_1..5")
    for i in range(1, 6):
        yield batches[f"data_batch_{i}"]


def read_stl10(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """``stl10_binary.tar.gz`` → ``unlabeled_X.bin``: per image 3 column-major 96×96 planes.

    ``reshape(-1, 3, 96, 96)`` gives (N, C, col, row); swapping the last two axes is the
    official ``transpose(0, 3, 2, 1)`` expressed in NCHW.
    """
    side = 96
    per_image = 3 * side * side
    with tarfile.open(path, "r|gz") as tar:
        for member in tar:
            if member.isfile() and os.path.basename(member.name) == "unlabeled_X.bin":
                break
        else:
            raise DataError(f"{path}: no stl10_binary/unlabeled_X.bin inside; this is not stl10_binary.tar.gz")
        if member.size % per_image or member.size // per_image != info.n_images:
            raise _count_error(path, info, member.size // per_image, "images in unlabeled_X.bin")
        f = tar.extractfile(member)
        for start in range(0, info.n_images, CHUNK):
            k = min(CHUNK, info.n_images - start)
            raw = f.read(k * per_image)
            if len(raw) != k * per_image:
                raise DataError(f"{path}: unlabeled_X.bin ended early at image {start + len(raw) // per_image:,}")
            planes = np.frombuffer(raw, dtype=np.uint8).reshape(k, 3, side, side)
            yield resize_linear(planes.transpose(0, 1, 3, 2), info.resolution, info.resolution)


def _celeba_decode(info: DatasetInfo) -> Callable[[bytes | Path], np.ndarray]:
    def decode(data: bytes | Path) -> np.ndarray:
        crop = center_crop(_rgb(data), CELEBA_CROP, CELEBA_CROP)
        return resize_linear(_chw(crop), info.resolution, info.resolution)
    return decode


def read_celeba(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """``img_align_celeba`` as the zip or the extracted folder: ``000001.jpg``… in numeric order."""
    names = [f"{i:06d}.jpg" for i in range(1, info.n_images + 1)]
    decode = _celeba_decode(info)
    if path.is_dir():
        folder = path / "img_align_celeba" if (path / "img_align_celeba").is_dir() else path
        present = set(os.listdir(folder))
        missing = [n for n in names if n not in present]
        if missing:
            raise _count_error(folder, info, len(names) - len(missing), f"of the expected images (first missing: {missing[0]})")
        yield from _decoded_chunks([folder / n for n in names], decode, workers)
        return
    with zipfile.ZipFile(path) as archive:
        by_name = {os.path.basename(z.filename): z for z in archive.infolist() if not z.is_dir()}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise _count_error(path, info, len(names) - len(missing), f"of the expected images (first missing: {missing[0]})")
        yield from _decoded_chunks(names, decode, workers, fetch=lambda n: archive.read(by_name[n]))


def imagenet_files(folder: Path) -> list[Path]:
    """Every image of an ILSVRC2012 train folder: sorted class sub-folders, sorted files."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    return [f for c in classes for f in sorted(c.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]


def read_imagenet(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """ILSVRC2012 train folder: center square crop, then bilinear resize without antialiasing."""
    if not path.is_dir():
        raise DataError(f"{path}: ImageNet must be a folder of class sub-folders of JPEGs. {info.how_to_get}")
    files = imagenet_files(path)
    if len(files) != info.n_images:
        raise _count_error(path, info, len(files), "images in its class sub-folders")

    def decode(f: Path) -> np.ndarray:
        return resize_linear(_chw(center_square(_rgb(f))), info.resolution, info.resolution)

    yield from _decoded_chunks(files, decode, workers)


def read_mnist(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """``train-images-idx3-ubyte.gz``: big-endian header (2051, N, 28, 28), then N·28·28 bytes."""
    with gzip.open(path, "rb") as f:
        magic, n, rows, cols = np.frombuffer(f.read(16), dtype=">i4")
        if magic != 2051 or (rows, cols) != (info.resolution, info.resolution):
            raise DataError(f"{path}: not an idx3 image file of {info.resolution}x{info.resolution} images")
        if n != info.n_images:
            raise _count_error(path, info, int(n), "images in its header")
        raw = f.read(n * rows * cols)
    if len(raw) != n * rows * cols:
        raise DataError(f"{path}: idx payload is truncated ({len(raw):,} of {n * rows * cols:,} bytes)")
    yield np.frombuffer(raw, dtype=np.uint8).reshape(n, 1, rows, cols)


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits: 8×8 images (float64, integer values 0..16) and their labels.

    Read from the data file scikit-learn ships (``sklearn/datasets/data/digits.csv.gz``: 64 pixels and
    the label per row, what ``load_digits`` parses) without importing scikit-learn, which costs about a
    second in every process that loads the demo's dataset; ``load_digits`` when the file is not there.
    Fresh arrays on every call, as ``load_digits`` returns them (:func:`digits_images` caches its own).
    """
    spec = importlib.util.find_spec("sklearn")  # locates the package without running its __init__
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    rows = np.loadtxt(path, delimiter=",")
    return rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(np.int64)


@lru_cache(maxsize=1)
def digits_images() -> np.ndarray:
    """The built-in dataset: sklearn's 1,797 8×8 digits (0..16) → uint8 0..255 → 16×16 bilinear → 3 channels.

    Deterministic; returned read-only (cached).
    """
    raw = sklearn_digits()[0]  # float64, integer values 0..16
    grey = np.floor(raw * 255.0 / 16.0 + 0.5).astype(np.uint8)
    big = resize_linear(grey, 16, 16)
    out = np.ascontiguousarray(np.repeat(big[:, None], 3, axis=1))
    out.flags.writeable = False
    return out


def read_digits(path: Path, info: DatasetInfo, workers: int = 1) -> Iterator[np.ndarray]:
    """The built-in digits as one chunk (``path`` is unused: there is no raw file)."""
    images = digits_images()
    if len(images) != info.n_images:
        raise DataError(f"scikit-learn's digits have {len(images)} images, expected {info.n_images}")
    yield images

