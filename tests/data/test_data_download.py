"""Checksummed atomic downloads (file:// URLs and a fake opener; no network) and raw-file checks."""

import dataclasses
import hashlib
import io
import urllib.error

import numpy as np
import pytest

from specnorm.data import DATASETS, ChecksumError, DataError, SourceMissingError, load, prepare
from specnorm.data.download import download, verify_md5


def _payload() -> bytes:
    return np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_download_file_url_is_verified_and_atomic(tmp_path):
    data = _payload()
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    dest = tmp_path / "dl" / "archive.tar.gz"
    got = download([src.as_uri()], dest, hashlib.md5(data).hexdigest())
    assert got == dest and dest.read_bytes() == data
    assert _leftovers(dest.parent) == []


def test_download_bad_checksum_names_file_and_checksums(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(_payload())
    dest = tmp_path / "archive.tar.gz"
    expected = "0" * 32
    with pytest.raises(ChecksumError) as err:
        download([src.as_uri()], dest, expected)
    msg = str(err.value)
    assert "archive.tar.gz" in msg and expected in msg and hashlib.md5(src.read_bytes()).hexdigest() in msg
    assert "--source" in msg  # says what to do
    assert not dest.exists() and _leftovers(tmp_path) == []


class _Response(io.BytesIO):
    pass


def test_truncated_mirror_falls_back_to_the_next(tmp_path):
    data = _payload()
    calls = []

    def opener(url, timeout):
        calls.append(url)
        return _Response(data[: len(data) // 2] if url == "http://mirror-a/f" else data)

    dest = tmp_path / "f.gz"
    download(["http://mirror-a/f", "http://mirror-b/f"], dest, hashlib.md5(data).hexdigest(), opener=opener)
    assert calls == ["http://mirror-a/f", "http://mirror-b/f"]
    assert dest.read_bytes() == data and _leftovers(tmp_path) == []


def test_truncated_everywhere_raises_checksum_error(tmp_path):
    data = _payload()
    dest = tmp_path / "f.gz"
    with pytest.raises(ChecksumError, match=r"f\.gz.*corrupted or truncated"):
        download(["http://m/f"], dest, hashlib.md5(data).hexdigest(), opener=lambda url, timeout: _Response(data[:1000]))
    assert not dest.exists() and _leftovers(tmp_path) == []


def test_unreachable_mirrors_raise_data_error(tmp_path):
    def opener(url, timeout):
        raise urllib.error.URLError("no route to host")

    with pytest.raises(DataError, match="could not download f.gz.*no route to host") as err:
        download(["http://a/f", "http://b/f"], tmp_path / "f.gz", "0" * 32, opener=opener)
    assert not isinstance(err.value, ChecksumError)
    assert not (tmp_path / "f.gz").exists()


def test_verify_md5_returns_md5_and_sha256(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    digests = verify_md5(path, hashlib.md5(b"abc").hexdigest())
    assert digests == {"md5": hashlib.md5(b"abc").hexdigest(), "sha256": hashlib.sha256(b"abc").hexdigest()}


def _idx_gz(n: int) -> bytes:
    import gzip

    header = np.array([2051, n, 28, 28], dtype=">i4").tobytes()
    return gzip.compress(header + np.arange(n * 784, dtype=np.uint64).astype(np.uint8).tobytes())


def test_prepare_downloads_from_mirror_url(tmp_path, monkeypatch):
    data = _idx_gz(3)
    served = tmp_path / "served.gz"
    served.write_bytes(data)
    info = dataclasses.replace(DATASETS["mnist"], n_images=3, md5=hashlib.md5(data).hexdigest(),
                               urls=((tmp_path / "missing.gz").as_uri(), served.as_uri()))
    monkeypatch.setitem(DATASETS, "mnist", info)
    folder = prepare("mnist", tmp_path / "root")
    assert (folder / "raw" / "train-images-idx3-ubyte.gz").read_bytes() == data
    assert load("mnist", tmp_path / "root").shape == (3, 1, 28, 28)


def test_corrupted_user_file_is_refused_with_instructions(tmp_path, monkeypatch):
    good = _idx_gz(3)
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], n_images=3, md5=hashlib.md5(good).hexdigest()))
    raw = tmp_path / "root" / "mnist" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(good[:-10])  # truncated
    with pytest.raises(ChecksumError) as err:
        prepare("mnist", tmp_path / "root", download=False)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and hashlib.md5(good).hexdigest() in msg
    assert "Delete it" in msg or "Replace it" in msg
    assert not (tmp_path / "root" / "mnist" / "images.npy").exists()


def test_missing_source_without_download_explains(tmp_path):
    with pytest.raises(SourceMissingError, match="--no-download"):
        prepare("cifar10", tmp_path, download=False)
    with pytest.raises(SourceMissingError, match="img_align_celeba.zip.*00d2c5bc6d35e252742224ab0c1e8fcb"):
        prepare("celeba", tmp_path)  # never downloaded automatically: says how to provide it
    with pytest.raises(SourceMissingError, match="licence"):
        prepare("imagenet", tmp_path)
    with pytest.raises(SourceMissingError, match="built in"):
        prepare("digits", tmp_path, source=tmp_path)


def test_download_only_then_prepare_without_network_with_progress_bars(tmp_path, monkeypatch, capsys):
    """The pipeline's split (docs/pipeline.md#downloads): `prepare --download-only` fetches the raw file
    (a byte progress bar) and decodes nothing; `prepare --no-download` then decodes it (an image bar)."""
    import json

    from specnorm.data.cli import main

    data = _idx_gz(3)
    served = tmp_path / "served.gz"
    served.write_bytes(data)
    info = dataclasses.replace(DATASETS["mnist"], n_images=3, md5=hashlib.md5(data).hexdigest(),
                               urls=(served.as_uri(),))
    monkeypatch.setitem(DATASETS, "mnist", info)
    root = tmp_path / "root"
    assert main(["--dataset", "mnist", "--root", str(root), "--download-only"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["md5"] == info.md5 and json.loads((root / "mnist" / "raw" / "source.json").read_text())
    assert "train-images-idx3-ubyte.gz" in err and "100%" in err and f"{len(data)}/{len(data)}" in err
    assert (root / "mnist" / "raw" / "train-images-idx3-ubyte.gz").read_bytes() == data
    assert not (root / "mnist" / "manifest.json").exists() and not (root / "mnist" / "images.npy").exists()

    served.unlink()  # no network from here on
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(info, urls=()))
    assert main(["--dataset", "mnist", "--root", str(root), "--no-download"]) == 0
    err = capsys.readouterr().err
    assert "decode mnist" in err and "3/3" in err
    assert load("mnist", root).shape == (3, 1, 28, 28)


def test_download_only_and_no_download_exclude_each_other(tmp_path, capsys):
    from specnorm.data.cli import main

    with pytest.raises(SystemExit):
        main(["--dataset", "mnist", "--root", str(tmp_path), "--download-only", "--no-download"])
    assert "not allowed with" in capsys.readouterr().err
