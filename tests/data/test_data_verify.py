"""A prepared dataset is verified (sha256) before training, hashed once per file version."""

import json
import os

import numpy as np
import pytest

from specnorm import config
from specnorm.data import StoreError, load, prepare
from specnorm.data import store
from specnorm.train import state as state_mod


def _age(path, seconds=3600):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def test_a_wrong_manifest_digest_fails_naming_the_file_and_the_command(tmp_path):
    folder = prepare("digits", tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["array_sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError) as e:
        load("digits", tmp_path, verify=True)
    msg = str(e.value)
    assert str(folder / "images.npy") in msg and f"specnorm prepare --dataset digits --root {tmp_path}" in msg


def test_the_digest_is_computed_once_per_file_version(tmp_path, monkeypatch):
    folder = prepare("digits", tmp_path)
    array = folder / "images.npy"
    _age(array)
    load("digits", tmp_path, verify=True)
    cache = json.loads((folder / store.VERIFIED_FILE).read_text())
    assert cache["sha256"] == json.loads((folder / "manifest.json").read_text())["array_sha256"]

    store._digests.clear()  # a new process: the sidecar answers, nothing is rehashed
    monkeypatch.setattr(store, "file_digests", lambda *a: pytest.fail("rehashed an unchanged file"))
    load("digits", tmp_path, verify=True)

    data = bytearray(array.read_bytes())  # a flipped byte changes the file's mtime: hashed again
    data[-7] ^= 0xFF
    array.write_bytes(bytes(data))
    _age(array, 60)
    monkeypatch.undo()
    with pytest.raises(StoreError, match="sha256.*corrupted"):
        load("digits", tmp_path, verify=True)


def test_training_verifies_a_prepared_dataset_but_not_a_builtin_one(monkeypatch):
    calls = []

    def fake_load(name, root, *, verify=False, mmap=True):
        calls.append((name, root, verify))
        raise StoreError("stop here")

    monkeypatch.setattr(state_mod, "load", fake_load)
    for name in ("cifar10", "digits"):
        with pytest.raises(StoreError):
            state_mod.build_state(config.from_dict({"dataset": {"name": name, "root": "r"}}), "cpu")
    assert calls == [("cifar10", "r", True), ("digits", None, False)]
    assert np.asarray(load("digits")).shape[0] == 1797
