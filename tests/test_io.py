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


# -- hostile YAML: bounded before anything reads a value (issue 21) ------------------------------
def _bomb(levels: int = 9) -> str:
    """A 'billion laughs': each level a list of nine aliases of the one before (9⁹ leaves in 400 bytes)."""
    lines = ["a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    assert len(path.read_bytes()) < 420
    with pytest.raises(ValueError) as e:
        sio.read_yaml(path, "cell config")
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 300 and "aliases" in msg and f"{sio.MAX_YAML_NODES:,}" in msg


def test_aliases_that_stay_small_are_read(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(_bomb(levels=3) + "b: *a2\n")  # 9 + 81 + 729 leaves, well below the bound
    data = sio.read_yaml(path, "cell config")
    assert len(data["b"]) == 9 and data["b"][0][0] == ["lol"] * 9
    path.write_text("base: &base {a: 1, b: 2}\ncell:\n  <<: *base\n  b: 3\n")  # a merge key is no duplicate
    assert sio.read_yaml(path, "cell config")["cell"] == {"a": 1, "b": 3}


def test_a_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(ValueError, match="refers to itself"):
        sio.read_yaml(path, "cell config")


def test_a_huge_file_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("dataset:\n  name: " + "x" * (5 << 20) + "\n")
    with pytest.raises(ValueError) as e:
        sio.read_yaml(path, "cell config")
    assert "larger than" in str(e.value) and len(str(e.value)) < 300


def test_deep_nesting_is_a_one_line_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 20_000 + "]" * 20_000 + "\n")
    with pytest.raises(ValueError) as e:
        sio.read_yaml(path, "cell config")
    assert "nested" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("text", ["a: " + "1" * 5000 + "\n", "a: 2001-13-45\n"])
def test_a_value_the_safe_loader_cannot_build_is_a_one_line_error(tmp_path, text):
    path = tmp_path / "v.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        sio.read_yaml(path, "cell config")
    assert str(e.value).startswith(f"cell config {path} is not valid YAML: ") and len(str(e.value)) < 300


@pytest.mark.parametrize("text,what", [("? [a, b]\n: 1\n", "a sequence"), ("? {a: 1}\n: 1\n", "a mapping"),
                                       ("x:\n  ? [a]\n  : 1\n", "a sequence")])
def test_a_list_or_mapping_as_a_key_is_a_one_line_error(tmp_path, text, what):
    path = tmp_path / "key.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as e:
        sio.read_yaml(path, "cell config")
    msg = str(e.value)
    assert "\n" not in msg and f"{path}" in msg and "key" in msg and what in msg


def test_shown_truncates_long_values_to_a_readable_length():
    assert sio.shown("digits") == "'digits'" and sio.shown(1e-300) == "1e-300" and sio.shown(None) == "None"
    long = sio.shown("x" * 5_000_000)
    assert len(long) <= sio.SHOWN_CHARS and long.startswith("'xxx") and "…" in long
    nested = [[list(range(1000))] * 1000] * 1000  # a billion leaves: shown without walking them
    assert len(sio.shown(nested)) <= sio.SHOWN_CHARS


# -- a write that fails (disk full, file-size limit) is one OSError naming the file ---------------
def test_a_write_failure_under_another_exception_becomes_one_os_error(tmp_path):
    import errno

    dest = sio.atomic_write_text(tmp_path / "ckpt.pt", "old")

    def torch_like(f):  # torch.save reports a failed write as a RuntimeError over the OSError
        try:
            raise OSError(errno.EFBIG, "File too large")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0") from None

    with pytest.raises(sio.WriteError) as e:
        sio.atomic_write(dest, torch_like)
    assert isinstance(e.value, OSError) and e.value.errno == errno.EFBIG and e.value.filename == str(dest)
    assert dest.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    assert sio.describe_os_error(e.value) == f"file too large: {dest} (the file-size limit, ulimit -f, or the file " \
                                             "system's); raise the limit or write elsewhere, then rerun the same command"


def test_a_real_file_size_limit_ends_in_one_line(tmp_path):
    """RLIMIT_FSIZE with SIGXFSZ ignored: the write returns EFBIG (what `ulimit -f` does to a job)."""
    import subprocess
    import sys

    script = ("import resource, signal, sys\n"
              "from specnorm import io\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
              "try:\n"
              "    io.atomic_write(sys.argv[1], lambda f: f.write(b'x' * 100_000))\n"
              "except OSError as e:\n"
              "    print(io.describe_os_error(e)); sys.exit(5)\n")
    dest = tmp_path / "big.bin"
    res = subprocess.run([sys.executable, "-c", script, str(dest)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 5, res.stderr
    assert res.stdout.startswith(f"file too large: {dest}") and not res.stderr
    assert list(tmp_path.iterdir()) == []


def test_disk_full_names_the_folder_and_quota_too():
    import errno

    full = OSError(errno.ENOSPC, "No space left on device", "/r/run/checkpoints/.ckpt.x.part")
    assert sio.describe_os_error(full) == ("no space left on /r/run/checkpoints; free some space and rerun the "
                                           "same command")
    quota = OSError(errno.EDQUOT, "Disk quota exceeded", "/r/run/summary.json")
    assert sio.describe_os_error(quota).startswith("disk quota exceeded on /r/run;")
