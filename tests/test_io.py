"""Atomic writes: a reader never sees a half-written file, and the file gets the mode a plain
``open()`` would (0o666 less the umask), not ``mkstemp``'s owner-only 0o600 (docs/outputs.md)."""

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from specnorm import io as sio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_honour_the_umask_like_open(tmp_path, umask, mask, mode):
    umask(mask)
    assert sio.current_umask() == mask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == mode  # what open() gives: the reference
    assert _mode(sio.atomic_write_text(tmp_path / "a.txt", "hello")) == mode
    assert _mode(sio.atomic_write_json(tmp_path / "sub" / "s.json", {"a": 1})) == mode
    with sio.atomic_path(tmp_path / "arr.npy") as tmp:  # written by name, as prepared datasets are
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(4,))[:] = 7
    assert _mode(tmp_path / "arr.npy") == mode
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_a_replaced_file_gets_the_umask_mode_too(tmp_path, umask, mask, mode):
    umask(mask)
    dest = tmp_path / "summary.json"
    dest.write_text("{}")
    dest.chmod(0o600)
    sio.atomic_write_json(dest, {"status": "completed"})
    assert _mode(dest) == mode and dest.read_text().startswith("{\n")


def test_umask_is_read_without_proc_too(umask, monkeypatch):
    umask(0o027)
    real_open = open

    def no_proc(path, *a, **k):
        if str(path).startswith("/proc/"):
            raise FileNotFoundError(path)
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", no_proc)
    assert sio.current_umask() == 0o027
    monkeypatch.undo()
    assert sio.current_umask() == 0o027  # restored after reading


def test_a_failed_write_leaves_the_destination_and_no_temp_file(tmp_path):
    dest = sio.atomic_write_text(tmp_path / "f.txt", "old")

    def boom(f):
        f.write(b"new, half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        sio.atomic_write(dest, boom)
    assert dest.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]
