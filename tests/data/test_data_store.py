"""Prepared arrays: atomic writes, manifest checks, refusal of half-written data, idempotent prepare."""

import json

import numpy as np
import pytest

from specnorm.data import StoreError, load, prepare
from specnorm.data import sources
from specnorm.data.store import read_manifest, write_images


def test_manifest_describes_the_array(tmp_path):
    import hashlib

    folder = prepare("digits", tmp_path)
    manifest = read_manifest(folder)
    array_file = folder / "images.npy"
    assert manifest["shape"] == [1797, 3, 16, 16] and manifest["dtype"] == "uint8" and manifest["layout"] == "NCHW"
    assert manifest["array_sha256"] == hashlib.sha256(array_file.read_bytes()).hexdigest()
    assert manifest["array_bytes"] == array_file.stat().st_size
    assert manifest["source"]["kind"] == "builtin" and "16x16" in manifest["preprocessing"]
    assert sorted(p.name for p in folder.iterdir()) == ["images.npy", "manifest.json"]


def test_prepare_is_idempotent(tmp_path, monkeypatch):
    folder = prepare("digits", tmp_path)
    stamp = (folder / "images.npy").stat().st_mtime_ns, (folder / "manifest.json").read_text()

    def no_reading(*args, **kwargs):
        raise AssertionError("prepare re-read a dataset that was already prepared")

    monkeypatch.setattr(sources, "read_digits", no_reading)  # the catalogue resolves readers by name
    assert prepare("digits", tmp_path) == folder
    assert ((folder / "images.npy").stat().st_mtime_ns, (folder / "manifest.json").read_text()) == stamp


def test_array_without_manifest_is_refused_then_reprepared(tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    np.save(folder / "images.npy", np.zeros((1797, 3, 16, 16), dtype=np.uint8))  # e.g. an interrupted writer
    with pytest.raises(StoreError, match=r"manifest\.json does not exist.*specnorm prepare"):
        load("digits", tmp_path)
    prepare("digits", tmp_path)
    assert load("digits", tmp_path).max() == 255


def test_truncated_array_is_refused(tmp_path):
    folder = prepare("digits", tmp_path)
    with open(folder / "images.npy", "r+b") as f:
        f.truncate((folder / "images.npy").stat().st_size - 100)
    with pytest.raises(StoreError, match="images.npy"):
        load("digits", tmp_path)
    prepare("digits", tmp_path)  # an invalid prepared folder is redone
    assert load("digits", tmp_path, verify=True).shape == (1797, 3, 16, 16)


def test_manifest_shape_disagreement_is_refused(tmp_path):
    folder = prepare("digits", tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["shape"] = [1796, 3, 16, 16]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=r"manifest\.json describes digits \[1796"):
        load("digits", tmp_path)


def test_verify_detects_corruption_of_same_size(tmp_path):
    folder = prepare("digits", tmp_path)
    load("digits", tmp_path, verify=True)
    path = folder / "images.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert load("digits", tmp_path).shape == (1797, 3, 16, 16)  # the cheap checks cannot see it
    with pytest.raises(StoreError, match="sha256"):
        load("digits", tmp_path, verify=True)


def test_invalid_manifest_json_is_refused(tmp_path):
    folder = prepare("digits", tmp_path)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        load("digits", tmp_path)


def test_short_source_leaves_no_array(tmp_path):
    dest = tmp_path / "images.npy"
    chunks = [np.zeros((2, 1, 4, 4), dtype=np.uint8)]
    with pytest.raises(StoreError, match="gave 2 images, expected 3"):
        write_images(dest, (3, 1, 4, 4), chunks)
    with pytest.raises(StoreError, match="more than the expected 1"):
        write_images(dest, (1, 1, 4, 4), chunks)
    assert list(tmp_path.iterdir()) == []


def test_write_images_streams_chunks(tmp_path):
    import hashlib

    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 256, (k, 2, 3, 3), dtype=np.uint8) for k in (4, 1, 3)]
    written = write_images(tmp_path / "images.npy", (8, 2, 3, 3), iter(parts))
    assert np.array_equal(np.load(tmp_path / "images.npy"), np.concatenate(parts))
    assert written["sha256"] == hashlib.sha256((tmp_path / "images.npy").read_bytes()).hexdigest()


def test_load_needs_root_except_for_digits():
    with pytest.raises(StoreError, match="root"):
        load("cifar10")
    with pytest.raises(KeyError, match="unknown dataset 'cifar100'"):
        load("cifar100")
