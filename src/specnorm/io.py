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


def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where it is listed (Linux ≥ 4.7); elsewhere
    by setting and restoring it (a moment in which another thread would create files with umask 0o022)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(dest: str | Path, durable: bool = True) -> Iterator[Path]:
    """Yield a temp path beside ``dest`` to write by name (e.g. a memmap); on success fsync it and
    rename it to ``dest``. On an exception the temp file is removed and ``dest`` is untouched.
    ``durable=False`` skips the two fsyncs (still atomic for readers; after a power loss the file
    may be empty or absent): for outputs that are cheap to lose, such as sample grids.

    The file gets the mode a plain ``open()`` would give it (0o666 less the umask), also when it
    replaces one: ``mkstemp``'s owner-only 0o600 would hide every output from the group."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
    finally:
        os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dest)
        if durable:
            fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], durable: bool = True) -> Path:
    """Call ``write(f)`` on a temp file beside ``path``, then atomically replace ``path`` with it."""
    with atomic_path(path, durable) as tmp, open(tmp, "wb") as f:
        write(f)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def _unique_key_loader() -> type:
    """A ``yaml.SafeLoader`` whose mappings refuse a repeated key (YAML would keep the last silently)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {key!r} (first on line {seen[key] + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def read_yaml(path: str | Path, what: str, error: type[Exception] = ValueError) -> Any:
    """The YAML document in ``path`` (safe loading); a missing or malformed file, or a mapping with a
    repeated key, raises ``error`` naming ``what`` and the file (e.g. ``cell config x.yaml is not valid YAML: …``)."""
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
        return yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        detail = f"line {mark.line + 1}: {e.problem}" if mark is not None and getattr(e, "problem", None) else str(e)
        raise error(f"{what} {path} is not valid YAML: {' '.join(detail.split())}") from None
