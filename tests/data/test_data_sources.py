"""Every dataset reader on a tiny fixture written in the official format, through ``prepare``/``load``.

The registry entries are patched to the fixtures' sizes and md5s (the real ones describe the full
datasets); everything else is the production path.
"""

import dataclasses
import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from specnorm.data import DATASETS, DataError, load, prepare
from specnorm.data import sources
from specnorm.data.resize import resize_linear


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _patch(monkeypatch, name: str, **changes) -> None:
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], **changes))


def _tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _box(x: np.ndarray) -> np.ndarray:
    """Reference 2x2 box average with round-half-up, written independently of the package."""
    n, c, h, w = x.shape
    return np.floor(x.reshape(n, c, h // 2, 2, w // 2, 2).astype(np.float64).mean(axis=(3, 5)) + 0.5).astype(np.uint8)


def test_cifar10_batches_in_order(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, 256, (3, 3072), dtype=np.uint8) for _ in range(5)]
    members = {"cifar-10-batches-py/batches.meta": pickle.dumps({b"label_names": []})}
    for i in (5, 3, 1, 2, 4):  # archive order must not matter
        members[f"cifar-10-batches-py/data_batch_{i}"] = pickle.dumps({b"data": batches[i - 1], b"labels": [0] * 3}, protocol=2)
    members["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8)})
    raw = tmp_path / "root" / "cifar10" / "raw"
    raw.mkdir(parents=True)
    archive = _tar_gz(raw / "cifar-10-python.tar.gz", members)
    _patch(monkeypatch, "cifar10", n_images=15, md5=_md5(archive))
    prepare("cifar10", tmp_path / "root", download=False)
    images = load("cifar10", tmp_path / "root", verify=True)
    assert images.shape == (15, 3, 32, 32) and images.dtype == np.uint8
    assert np.array_equal(images, np.concatenate(batches).reshape(15, 3, 32, 32))


def test_stl10_column_major_transpose_and_box_average(tmp_path, monkeypatch):
    n = 3
    img = np.random.default_rng(1).integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
    img[0] = np.arange(96, dtype=np.uint8)[None, :, None]  # image 0: value = row index in every channel
    column_major = img.transpose(0, 1, 3, 2).tobytes()  # each plane stored column by column
    archive = _tar_gz(tmp_path / "stl10_binary.tar.gz", {
        "stl10_binary/train_X.bin": b"\0" * 27648, "stl10_binary/unlabeled_X.bin": column_major})
    _patch(monkeypatch, "stl10", n_images=n, md5=_md5(archive))
    monkeypatch.setattr(sources, "CHUNK", 2)  # several chunks
    prepare("stl10", tmp_path, source=archive)
    out = load("stl10", tmp_path)
    assert out.shape == (n, 3, 48, 48)
    # rows 2i and 2i+1 average to 2i + 0.5 -> rounded half up to 2i + 1; constant along columns
    assert np.array_equal(out[0], np.broadcast_to((2 * np.arange(48) + 1).astype(np.uint8)[None, :, None], (3, 48, 48)))
    assert np.array_equal(out, _box(img))


def _celeba_images(n: int) -> list[np.ndarray]:
    """178x218 RGB faces stand-ins: flat 16-pixel blocks (JPEG-friendly) of random colours."""
    rng = np.random.default_rng(2)
    out = []
    for _ in range(n):
        blocks = rng.integers(0, 256, (14, 12, 3), dtype=np.uint8)
        out.append(np.kron(blocks, np.ones((16, 16, 1), dtype=np.uint8))[:218, :178])
    return out


def _celeba_expected(files: list[Path]) -> np.ndarray:
    crops = [np.asarray(Image.open(f).convert("RGB"))[45:173, 25:153].transpose(2, 0, 1) for f in files]
    return _box(np.stack(crops))


def test_celeba_folder_and_zip_agree_with_pil_crop(tmp_path, monkeypatch):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    files = []
    for i, arr in enumerate(_celeba_images(3), start=1):
        files.append(folder / f"{i:06d}.jpg")
        Image.fromarray(arr).save(files[-1], quality=95)
    zpath = tmp_path / "img_align_celeba.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in files:
            z.write(f, f"img_align_celeba/{f.name}")
    _patch(monkeypatch, "celeba", n_images=3, md5=_md5(zpath))
    expected = _celeba_expected(files)
    assert expected.shape == (3, 3, 64, 64) and expected.std() > 10

    prepare("celeba", tmp_path / "from_folder", source=tmp_path)  # parent of img_align_celeba/ is accepted
    assert np.array_equal(load("celeba", tmp_path / "from_folder"), expected)

    raw = tmp_path / "from_zip" / "celeba" / "raw"
    raw.mkdir(parents=True)
    zpath.rename(raw / "img_align_celeba.zip")
    prepare("celeba", tmp_path / "from_zip", download=False, workers=2)
    assert np.array_equal(load("celeba", tmp_path / "from_zip"), expected)


def test_celeba_missing_image_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "img_align_celeba"
    folder.mkdir()
    Image.fromarray(_celeba_images(1)[0]).save(folder / "000001.jpg")
    _patch(monkeypatch, "celeba", n_images=2)
    with pytest.raises(DataError, match="000002.jpg"):
        prepare("celeba", tmp_path / "out", source=folder)


def test_imagenet_folder_streams_center_square_resized(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    train = tmp_path / "train"
    arrays = {
        "n01/a.png": rng.integers(0, 256, (300, 257, 3), dtype=np.uint8),  # tall, odd
        "n01/b.png": rng.integers(0, 256, (128, 200, 3), dtype=np.uint8),  # wide, crop already 128
        "n02/c.png": rng.integers(0, 256, (256, 400, 3), dtype=np.uint8),  # exact halving after the crop
        "n02/d.png": rng.integers(0, 256, (37, 53, 3), dtype=np.uint8),    # upscaled
    }
    for rel, arr in arrays.items():
        (train / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(train / rel)
    jpeg = np.kron(rng.integers(0, 256, (10, 16, 3), dtype=np.uint8), np.ones((16, 16, 1), dtype=np.uint8))
    Image.fromarray(jpeg).save(train / "n02" / "e.JPEG", quality=95)
    (train / "n02" / "notes.txt").write_text("not an image")
    _patch(monkeypatch, "imagenet", n_images=5)
    monkeypatch.setattr(sources, "CHUNK", 2)  # three chunks through the memmap writer
    prepare("imagenet", tmp_path / "root", source=train, workers=2)
    out = load("imagenet", tmp_path / "root", mmap=False)
    assert out.shape == (5, 3, 128, 128) and type(out) is np.ndarray

    chw = {k: v.transpose(2, 0, 1) for k, v in arrays.items()}
    assert np.array_equal(out[1], chw["n01/b.png"][:, :, 36:164])  # (200-128)//2 = 36, no resampling
    assert np.array_equal(out[2], _box(chw["n02/c.png"][None, :, :, 72:328])[0])  # (400-256)//2 = 72
    # odd aspect ratios: the official crop window, then the cv2-like resize (tested in test_data_resize.py)
    assert np.array_equal(out[0], resize_linear(chw["n01/a.png"][:, 21:278].copy(), 128, 128))  # (300-257)//2
    assert np.array_equal(out[3], resize_linear(chw["n02/d.png"][:, :, 8:45].copy(), 128, 128))  # (53-37)//2
    decoded = np.asarray(Image.open(train / "n02" / "e.JPEG").convert("RGB"))[:, 48:208]  # 160x256 -> (256-160)//2
    assert np.array_equal(out[4], resize_linear(decoded.transpose(2, 0, 1).copy(), 128, 128))


def test_imagenet_count_mismatch_names_the_folder(tmp_path, monkeypatch):
    (tmp_path / "train" / "n01").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "train" / "n01" / "x.png")
    _patch(monkeypatch, "imagenet", n_images=2)
    with pytest.raises(DataError, match=r"found 1 images.*expected 2"):
        prepare("imagenet", tmp_path / "root", source=tmp_path / "train")
    assert not (tmp_path / "root" / "imagenet" / "images.npy").exists()


def test_undecodable_image_is_named(tmp_path, monkeypatch):
    (tmp_path / "train" / "n01").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "train" / "n01" / "a.JPEG")
    (tmp_path / "train" / "n01" / "b.JPEG").write_bytes(b"\xff\xd8 truncated")
    _patch(monkeypatch, "imagenet", n_images=2)
    with pytest.raises(DataError, match=r"b\.JPEG: cannot decode"):
        prepare("imagenet", tmp_path / "root", source=tmp_path / "train")
    assert not (tmp_path / "root" / "imagenet" / "images.npy").exists()


def _idx(images: np.ndarray, magic: int = 2051) -> bytes:
    header = np.array([magic, len(images), 28, 28], dtype=">i4").tobytes()
    return gzip.compress(header + images.tobytes())


def test_mnist_idx_gz(tmp_path, monkeypatch):
    images = np.random.default_rng(4).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(_idx(images))
    _patch(monkeypatch, "mnist", n_images=7, md5=_md5(path))
    prepare("mnist", tmp_path / "root", source=path)
    out = load("mnist", tmp_path / "root")
    assert out.shape == (7, 1, 28, 28)
    assert np.array_equal(out[:, 0], images)

    path.write_bytes(_idx(images, magic=2049))  # a labels file is not an image file
    _patch(monkeypatch, "mnist", n_images=7, md5=_md5(path))
    with pytest.raises(DataError, match="not an idx3 image file"):
        prepare("mnist", tmp_path / "other", source=path)


def test_digits_are_read_without_importing_sklearn_and_equal_load_digits(monkeypatch):
    """The built-in dataset's pixels and labels come from scikit-learn's data file, parsed as
    ``load_digits`` parses it, in a process that never imports scikit-learn; without the file,
    ``load_digits`` itself."""
    code = ("import sys; from specnorm.data.sources import sklearn_digits; images, labels = sklearn_digits(); "
            "print(images.shape, labels.shape, 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["(1797,", "8,", "8)", "(1797,)", "False"]
    from sklearn.datasets import load_digits

    reference = load_digits()
    for missing in (False, True):
        if missing:  # a scikit-learn that no longer ships the file where we look
            monkeypatch.setattr(sources.importlib.util, "find_spec", lambda name: None)
        images, labels = sources.sklearn_digits()
        assert images.dtype == reference.images.dtype and np.array_equal(images, reference.images)
        assert labels.dtype == np.int64 and np.array_equal(labels, reference.target)


def test_digits_builtin_deterministic_and_prepared_equal(tmp_path):
    from sklearn.datasets import load_digits

    images = load("digits")
    assert images.shape == (1797, 3, 16, 16) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    assert np.array_equal(images[:, 0], images[:, 1]) and np.array_equal(images[:, 0], images[:, 2])
    raw = load_digits().images
    # corners are replicated border pixels of the 8x8 image scaled to 0..255 (round half up)
    assert np.array_equal(images[:, 0, 0, 0], np.floor(raw[:, 0, 0] * 255 / 16 + 0.5).astype(np.uint8))
    assert np.array_equal(images[:, 0, -1, -1], np.floor(raw[:, -1, -1] * 255 / 16 + 0.5).astype(np.uint8))
    sources.digits_images.cache_clear()
    assert np.array_equal(load("digits"), images)  # rebuilt from scratch: identical
    prepare("digits", tmp_path)
    assert np.array_equal(load("digits", tmp_path, verify=True), images)
