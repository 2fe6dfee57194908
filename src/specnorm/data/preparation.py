"""``prepare`` (raw source → checked uint8 array + manifest, once) and ``load`` (checked array);
the preprocessing itself is docs/design.md#datasets (see :mod:`specnorm.data.sources`).

Raw sources are looked for in this order: ``source=`` (a user-provided file or folder, air-gapped
use), ``<root>/<name>/raw/<source_file>``, ``<root>/<name>/raw/<source_dir>/``, then a checksummed
download into ``<root>/<name>/raw/`` when ``download`` is allowed and the dataset has mirrors.
Every raw file is checked against its md5 before it is read.
"""

from __future__ import annotations

import hashlib
import os
import platform
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from specnorm.data.download import download as fetch_file
from specnorm.data.download import progress, verify_md5
from specnorm.data.errors import SourceMissingError, StoreError
from specnorm.catalog import DatasetInfo, get_info
from specnorm.data.sources import imagenet_files
from specnorm.io import atomic_write_json
from specnorm.layout import SOURCE_RECORD
from specnorm.data.store import ARRAY_FILE, FORMAT, MANIFEST_FILE, check_array, open_images, read_manifest, write_images, write_manifest


def default_workers() -> int:
    """Decoding threads for the JPEG datasets: up to 8, bounded by the CPUs this process may use."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _is_prepared(folder: Path, info: DatasetInfo) -> bool:
    try:
        manifest = read_manifest(folder)
        check_array(folder, manifest)
    except StoreError:
        return False
    return manifest["name"] == info.name and tuple(manifest["shape"]) == info.shape


def _folder_record(path: Path, files: list[Path]) -> dict[str, Any]:
    """A cheap fingerprint of a folder source: file count and sha256 of its sorted (name, size) listing."""
    listing = hashlib.sha256()
    for f in files:
        listing.update(f"{f.relative_to(path).as_posix()}\t{f.stat().st_size}\n".encode())
    return {"kind": "folder", "path": str(path.resolve()), "n_files": len(files), "listing_sha256": listing.hexdigest()}


def _file_record(path: Path, info: DatasetInfo) -> dict[str, Any]:
    digests = verify_md5(
        path, info.md5 or "",
        f"Replace it with a good copy of {info.source_file} (md5 {info.md5}), or delete it and run "
        f"'specnorm prepare --dataset {info.name}' again to re-download it."
        + (f" {info.how_to_get}" if not info.urls and info.how_to_get else ""),
    )
    return {"kind": "file", "path": str(path.resolve()), "md5": digests["md5"], "sha256": digests["sha256"]}


def _resolve_source(info: DatasetInfo, raw: Path, source: Path | None, download: bool) -> tuple[Path, dict[str, Any]]:
    """Find (or download) the raw source and check it; returns its path and its manifest record."""
    if source is not None:
        if not source.exists():
            raise SourceMissingError(f"--source {source} does not exist")
        if source.is_file():
            if info.md5 is None:
                raise SourceMissingError(f"{source}: {info.name} is read from a folder, not a file. {info.how_to_get}")
            return source, _file_record(source, info)
        if info.source_dir is None:
            raise SourceMissingError(f"{source} is a folder; {info.name} needs the file {info.source_file}")
        return source, _folder_source(info, source)
    if info.source_file is not None and (raw / info.source_file).is_file():
        return raw / info.source_file, _file_record(raw / info.source_file, info)
    if info.source_dir is not None and (raw / info.source_dir).is_dir():
        return raw / info.source_dir, _folder_source(info, raw / info.source_dir)
    if download and info.urls and info.source_file is not None and info.md5 is not None:
        path = fetch_file(info.urls, raw / info.source_file, info.md5)
        return path, _file_record(path, info)
    expected = raw / (info.source_file or info.source_dir or "")
    why = "downloads are disabled (--no-download)" if info.urls and not download else "it cannot be downloaded automatically"
    raise SourceMissingError(
        f"{info.name}: no raw data at {expected} and {why}. "
        + (info.how_to_get or f"Place {info.source_file} (md5 {info.md5}) there or pass --source PATH.")
    )


def _folder_source(info: DatasetInfo, path: Path) -> dict[str, Any]:
    if info.name == "imagenet":
        return _folder_record(path, imagenet_files(path))
    folder = path / info.source_dir if info.source_dir and (path / info.source_dir).is_dir() else path
    return _folder_record(folder, sorted(p for p in folder.iterdir() if p.is_file()))


def prepare(name: str, root: str | Path, *, download: bool = True, source: str | Path | None = None,
            workers: int | None = None) -> Path:
    """Prepare dataset ``name`` under ``<root>/<name>/`` once; return that folder.

    Idempotent: returns at once when a valid manifest exists. ``source``: a local raw file or folder
    used instead of downloading (checked against the md5). ``workers``: JPEG decoding threads.
    """
    info = get_info(name)
    if info.builtin and source is not None:
        raise SourceMissingError(f"{name} is built in; it takes no --source")
    folder = Path(root) / name
    if _is_prepared(folder, info):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST_FILE).unlink(missing_ok=True)  # a stale manifest must never vouch for the new array
    if info.builtin:
        raw_path, record = folder, _builtin_record(info)
    else:
        raw_path, record = _resolve_source(info, folder / "raw", None if source is None else Path(source), download)
    chunks = _counted(info.read(raw_path, info, workers or default_workers()), info)
    written = write_images(folder / ARRAY_FILE, info.shape, chunks)
    write_manifest(folder, {
        "format": FORMAT,
        "name": name,
        "array_file": ARRAY_FILE,
        "shape": list(info.shape),
        "dtype": "uint8",
        "layout": "NCHW",
        "value_range": [0, 255],
        "array_bytes": written["bytes"],
        "array_sha256": written["sha256"],
        "source": record,
        "preprocessing": info.preprocessing,
        "description": info.description,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    })
    return folder




def fetch(name: str, root: str | Path, *, download: bool = True, source: str | Path | None = None) -> Path:
    """The download half of :func:`prepare`, for the login node (docs/pipeline.md#downloads): find or
    download (md5-checked) the raw source of ``name``, decode nothing, and record it in
    ``<root>/<name>/raw/source.json`` (returned), so a compute job can then prepare without network."""
    info = get_info(name)
    if info.builtin and source is not None:
        raise SourceMissingError(f"{name} is built in; it takes no --source")
    raw = Path(root) / name / "raw"
    if info.builtin:
        record = _builtin_record(info)
    else:
        record = _resolve_source(info, raw, None if source is None else Path(source), download)[1]
    raw.mkdir(parents=True, exist_ok=True)
    return atomic_write_json(raw / SOURCE_RECORD, record)


def _counted(chunks: Iterable[np.ndarray], info: DatasetInfo) -> Iterator[np.ndarray]:
    """``chunks`` with a progress bar of the images decoded so far."""
    with progress(info.shape[0], f"decode {info.name}", unit="img") as bar:
        for chunk in chunks:
            bar.update(len(chunk))
            yield chunk


def builtin_images(info: DatasetInfo) -> np.ndarray:
    """A built-in dataset's whole uint8 array, built in memory by its reader (no files)."""
    chunks = list(info.read(None, info))
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def _builtin_record(info: DatasetInfo) -> dict[str, Any]:
    from importlib import metadata

    return {"kind": "builtin", "path": info.reader, "scikit_learn": metadata.version("scikit-learn"),
            "sha256": hashlib.sha256(builtin_images(info).tobytes()).hexdigest()}


def _versions() -> dict[str, str]:
    import PIL

    from specnorm import __version__

    return {"specnorm": __version__, "numpy": np.__version__, "pillow": PIL.__version__, "python": platform.python_version()}


def load(name: str, root: str | Path | None = None, *, verify: bool = False, mmap: bool = True) -> np.ndarray:
    """The prepared uint8 NCHW array of ``name``, checked against its manifest.

    A built-in dataset with ``root=None`` is built in memory (deterministic, read-only, no files). ``verify``
    recomputes the array file's sha256. ``mmap``: a read-only memory map instead of a copy in RAM.
    """
    info = get_info(name)
    if root is None:
        if info.builtin:
            return builtin_images(info)
        raise StoreError(f"load({name!r}) needs the root folder it was prepared in (it is not built in)")
    folder = Path(root) / name
    manifest = read_manifest(folder)
    if manifest["name"] != name or tuple(manifest["shape"]) != info.shape:
        raise StoreError(
            f"{folder / MANIFEST_FILE} describes {manifest['name']} {manifest['shape']}, expected {name} "
            f"{list(info.shape)}. Delete {folder} and run 'specnorm prepare --dataset {name}' again."
        )
    return open_images(folder, manifest, verify=verify, mmap=mmap)
