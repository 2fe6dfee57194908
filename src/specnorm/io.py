"""Files: atomic writes (temp file in the same folder, fsync, rename, fsync the folder) and the one
YAML reader. Torch-free.

A reader never sees a half-written file under the final name (non-negotiable 5: nothing lost).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: str | Path) -> None:
    """Persist a rename: fsync the folder entry (no-op where folders cannot be opened)."""
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``dest`` to write by name (e.g. a memmap); on success fsync it and
    rename it to ``dest``. On an exception the temp file is removed and ``dest`` is untouched."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temp file beside ``path``, then atomically replace ``path`` with it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def read_yaml(path: str | Path, what: str, error: type[Exception] = ValueError) -> Any:
    """The YAML document in ``path`` (``yaml.safe_load``); a missing or malformed file raises
    ``error`` naming ``what`` and the file (e.g. ``cell config x.yaml is not valid YAML: …``)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a text file") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{what} {path} is not valid YAML: {e}") from None
