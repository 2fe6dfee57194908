"""The prepared form of a dataset: ``<dir>/images.npy`` (uint8 NCHW) plus ``<dir>/manifest.json``.

Write order makes a half-written dataset unmistakable: the array is streamed into a temp file
(``np.lib.format.open_memmap``, chunk by chunk, hashed on the fly), fsynced and renamed; the
manifest (shape, dtype, size, sha256 of the array file, source checksums, preprocessing) is
written last, also atomically. A reader trusts an array only through a manifest that agrees with it;
its sha256 is recomputed once per version of the file (path, size, mtime_ns), remembered in the
process and in ``.verified.json`` beside the manifest.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from specnorm.data.download import file_digests
from specnorm.data.errors import StoreError
from specnorm.io import atomic_path, atomic_write_text
from specnorm.layout import ARRAY_FILE, MANIFEST_FILE  # the resources/ layout's names

VERIFIED_FILE = ".verified.json"  # cache of the array file's sha256 by (name, size, mtime_ns)
FORMAT = "specnorm-data/1"


def write_images(dest: Path, shape: tuple[int, ...], chunks: Iterable[np.ndarray]) -> dict[str, Any]:
    """Stream uint8 ``chunks`` (consecutive slices along axis 0) into the ``.npy`` file ``dest``.

    The total must be exactly ``shape``; otherwise nothing is left at ``dest``. Returns
    ``{"bytes": file size, "sha256": digest of the file}``.
    """
    with atomic_path(dest) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        with open(tmp, "rb") as f:
            digest = hashlib.sha256(f.read(array.offset))  # the .npy header
        filled = 0
        for chunk in chunks:
            if chunk.dtype != np.uint8 or chunk.shape[1:] != tuple(shape[1:]):
                raise StoreError(f"{dest}: chunk of {chunk.dtype} {chunk.shape[1:]}, expected uint8 {tuple(shape[1:])}")
            if filled + len(chunk) > shape[0]:
                raise StoreError(f"{dest}: the source has more than the expected {shape[0]:,} images")
            chunk = np.ascontiguousarray(chunk)
            array[filled:filled + len(chunk)] = chunk
            digest.update(chunk.data)
            filled += len(chunk)
        if filled != shape[0]:
            raise StoreError(f"{dest}: the source gave {filled:,} images, expected {shape[0]:,}")
        array.flush()
        nbytes = array.offset + array.nbytes
        del array
    return {"bytes": nbytes, "sha256": digest.hexdigest()}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically (call it only after the array file is in place)."""
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def prepare_command(folder: Path, name: str | None = None) -> str:
    """The command that (re)creates the prepared dataset ``folder`` (``<root>/<name>``)."""
    folder = Path(folder)
    return f"specnorm prepare --dataset {name or folder.name} --root {folder.parent}"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The parsed manifest of a prepared folder, or :class:`StoreError` naming what is wrong."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        raise StoreError(
            f"{path} does not exist: {Path(folder) / ARRAY_FILE} is not a complete prepared dataset "
            f"(not prepared, or preparation never finished). Run '{prepare_command(folder)}'."
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StoreError(f"{path} is not valid JSON ({e}); delete it and run 'specnorm prepare' again") from None
    missing = {"format", "name", "shape", "dtype", "array_file", "array_bytes", "array_sha256"} - manifest.keys()
    if missing or manifest["format"] != FORMAT:
        raise StoreError(f"{path} is not a {FORMAT} manifest (missing {sorted(missing)}); run 'specnorm prepare' again")
    return manifest


def check_array(folder: Path, manifest: dict[str, Any], *, verify: bool = False) -> Path:
    """Check the array file against its manifest: header shape/dtype, file size and, with ``verify``, sha256."""
    path = Path(folder) / manifest["array_file"]
    remedy = f"Delete {folder} and run '{prepare_command(folder, manifest.get('name'))}' again."
    if not path.is_file():
        raise StoreError(f"{path} is missing although {folder / MANIFEST_FILE} exists. {remedy}")
    try:
        header = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise StoreError(f"{path} is not a readable .npy array ({e}). {remedy}") from None
    shape, dtype = list(header.shape), str(header.dtype)
    size = path.stat().st_size
    del header
    if shape != list(manifest["shape"]) or dtype != manifest["dtype"] or size != manifest["array_bytes"]:
        raise StoreError(
            f"{path} disagrees with its manifest: array {dtype} {shape}, {size:,} bytes; manifest "
            f"{manifest['dtype']} {manifest['shape']}, {manifest['array_bytes']:,} bytes. {remedy}"
        )
    if verify:
        actual = array_digest(path)
        if actual != manifest["array_sha256"]:
            raise StoreError(f"{path}: sha256 expected {manifest['array_sha256']}, got {actual}; the file is corrupted. {remedy}")
    return path


_digests: dict[tuple[str, int, int], str] = {}
_RACY_NS = 2_000_000_000


def array_digest(path: Path) -> str:
    """sha256 of the array file ``path``, hashed once per (path, size, mtime_ns): remembered in this
    process and in ``VERIFIED_FILE`` beside it (written atomically; skipped on a read-only folder).
    A file modified less than ``_RACY_NS`` ago is always rehashed: a change within the timestamp
    granularity would keep its mtime (git's "racily clean" rule)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if time.time_ns() - st.st_mtime_ns < _RACY_NS:
        return file_digests(path, ("sha256",))["sha256"]
    if key in _digests:
        return _digests[key]
    cache, stamp = path.parent / VERIFIED_FILE, {"file": path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    digest = None
    try:
        rec = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(rec, dict) and all(rec.get(k) == v for k, v in stamp.items()) and isinstance(rec.get("sha256"), str):
            digest = rec["sha256"]
    except (OSError, ValueError):
        pass
    if digest is None:
        digest = file_digests(path, ("sha256",))["sha256"]
        try:
            atomic_write_text(cache, json.dumps({**stamp, "sha256": digest}) + "\n")
        except OSError:
            pass
    _digests[key] = digest
    return digest


def open_images(folder: Path, manifest: dict[str, Any], *, verify: bool = False, mmap: bool = True) -> np.ndarray:
    """The checked array: a read-only memmap (``mmap=True``) or an in-memory copy."""
    path = check_array(folder, manifest, verify=verify)
    return np.load(path, mmap_mode="r" if mmap else None)
