"""Files: atomic writes (temp file in the same folder, fsync, rename, fsync the folder), the one
YAML reader, and how an error message shows a value. Torch-free.

A reader never sees a half-written file under the final name (non-negotiable 5: nothing lost); a
write that fails (disk full, file-size limit) is one :class:`WriteError` naming the file. The YAML
reader is bounded (file size, alias expansion, nesting) before anything looks at a value, and every
message that shows a value shows it through :func:`shown`, at most :data:`SHOWN_CHARS` long.
"""

from __future__ import annotations

import errno
import json
import os
import reprlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

SHOWN_CHARS = 80
"""The longest a value is shown in an error message (a 5 MB name is not an error line)."""
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxtuple, _REPR.maxset = 3, 4, 4, 4, 4
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = SHOWN_CHARS - 10


def shown(value: Any) -> str:
    """``repr(value)`` for an error message, cut to :data:`SHOWN_CHARS` with "…" (only the shown part
    of a huge or deeply nested value is ever walked)."""
    text = _REPR.repr(value).replace("...", "…")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


class WriteError(OSError):
    """A file could not be written (disk full, quota, file-size limit…): ``errno`` and ``filename`` (the
    destination) of the failure, whatever layer reported it (``torch.save`` wraps it in a RuntimeError)."""


def _os_error_in(exc: BaseException) -> OSError | None:
    """The OSError that ``exc`` is or was raised over (its ``__cause__``/``__context__`` chain)."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _write_error(exc: BaseException, dest: Path) -> WriteError | None:
    os_err = _os_error_in(exc)
    if os_err is None or isinstance(os_err, WriteError):
        return os_err
    code = os_err.errno if os_err.errno is not None else errno.EIO
    return WriteError(code, os_err.strerror or os.strerror(code), str(dest))


def describe_os_error(e: OSError) -> str:
    """One line for a file-system error, with the fix: disk full or quota names the folder, a
    file-size limit the file, others the file and the system's words."""
    where = Path(e.filename) if e.filename else None
    again = "rerun the same command"
    if e.errno == errno.ENOSPC:
        return f"no space left on {where.parent if where else 'the device'}; free some space and {again}"
    if e.errno == errno.EDQUOT:
        return f"disk quota exceeded on {where.parent if where else 'the device'}; free some space and {again}"
    if e.errno == errno.EFBIG:
        return (f"file too large: {where or 'a file'} (the file-size limit, ulimit -f, or the file system's); "
                f"raise the limit or write elsewhere, then {again}")
    return f"{e.strerror or e} ({where}); fix it and {again}" if where else str(e)


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
        try:
            if durable:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())  # where a full disk shows on some file systems (NFS)
            os.replace(tmp, dest)
        except OSError as e:
            raise _write_error(e, dest) from None
        if durable:
            fsync_dir(dest.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], durable: bool = True) -> Path:
    """Call ``write(f)`` on a temp file beside ``path``, then atomically replace ``path`` with it. A
    failed write (disk full, file-size limit; also when ``write`` reports it as another exception
    raised over the OSError, as ``torch.save`` does) is a :class:`WriteError` naming ``path``."""
    with atomic_path(path, durable) as tmp:
        try:
            with open(tmp, "wb") as f:  # closing flushes: a full disk may show only there
                write(f)
        except Exception as e:
            err = _write_error(e, Path(path))
            if err is None:
                raise
            raise err from None
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


MAX_YAML_BYTES = 1 << 20
"""The largest YAML file read (1 MiB; the pipeline's config.yaml is ~15 kB, a cell config ~1 kB)."""
MAX_YAML_NODES = 100_000
"""The most values a YAML document may hold with every alias expanded (a 'billion laughs' of a few
hundred bytes would otherwise become 10⁹ values as soon as anything walks or prints it)."""


def _unique_key_loader() -> type:
    """A ``yaml.SafeLoader`` whose mappings refuse a repeated key (YAML would keep the last silently)
    and a key that is a sequence or a mapping (a Python dict cannot hold it)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, merged by the SafeLoader
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    kind = "a sequence" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"a key must be a name, not {kind}", key_node.start_mark)
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {shown(key)} (first on line {seen[key] + 1}); keep one", key_node.start_mark)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    return UniqueKeyLoader


def _expanded_size(root: Any) -> tuple[int, Any]:
    """``(values, mark)``: how many values the node graph under ``root`` holds with every alias
    expanded (an alias is the anchored node itself, shared), counted up to just above
    :data:`MAX_YAML_NODES` without expanding anything; ``values`` is -1 (and ``mark`` the place) when
    an alias refers to a node that contains it."""
    import yaml

    size: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if children_done:
            open_.discard(id(node))
            size[id(node)] = min(1 + sum(size[id(k)] for k in kids), MAX_YAML_NODES + 1)
            continue
        if id(node) in open_:
            return -1, node.start_mark
        open_.add(id(node))
        stack.append((node, True))
        for k in kids:
            if id(k) in open_:
                return -1, k.start_mark
            if id(k) not in size:
                stack.append((k, False))
    return size[id(root)], None


def read_yaml(path: str | Path, what: str, error: type[Exception] = ValueError) -> Any:
    """The YAML document in ``path`` (safe loading); a missing, malformed or oversized file (over
    :data:`MAX_YAML_BYTES`, :data:`MAX_YAML_NODES` values with aliases expanded, or nested deeper than
    Python recurses), or a mapping with a repeated or non-scalar key, raises ``error`` naming ``what``
    and the file in one line (e.g. ``cell config x.yaml is not valid YAML: …``)."""
    import yaml

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a folder, not a file") from None
    if len(raw) > MAX_YAML_BYTES:
        raise error(f"{what} {path} is larger than {MAX_YAML_BYTES >> 20} MiB; a YAML config is a few kB")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a text file") from None
    loader = _unique_key_loader()(text)
    try:
        node = loader.get_single_node()
        n, loop = _expanded_size(node) if node is not None else (0, None)
        if n < 0:
            problem = f"line {loop.line + 1}: an alias refers to itself (a recursive value)"
        elif n > MAX_YAML_NODES:
            problem = (f"with its aliases (*name) expanded it holds more than {MAX_YAML_NODES:,} values; "
                       "write the values out")
        else:
            return None if node is None else loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        detail = f"line {mark.line + 1}: {e.problem}" if mark is not None and getattr(e, "problem", None) else str(e)
        problem = " ".join(detail.split())
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as e:  # a value the safe constructors refuse: a 5000-digit integer, a 13th month
        problem = shown(str(e))
    finally:
        loader.dispose()
    raise error(f"{what} {path} is not valid YAML: {problem}")
