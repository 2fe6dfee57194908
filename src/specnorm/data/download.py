"""Checksummed, atomic downloads and checksum checks of raw dataset files.

A download streams into a temp file in the destination folder, is checked against its md5 and
only then renamed into place (:func:`specnorm.io.atomic_path`), so a truncated or
corrupted transfer never leaves a file that looks complete.
"""

from __future__ import annotations

import hashlib
import http.client
import sys
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from specnorm.data.errors import ChecksumError, DataError
from specnorm.io import atomic_path

CHUNK = 1 << 20
Opener = Callable[..., BinaryIO]


def file_digests(path: Path, algorithms: Sequence[str] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file in one streaming pass, e.g. ``{"md5": ..., "sha256": ...}``."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _mismatch(path: Path, expected: str, actual: str, remedy: str) -> ChecksumError:
    size = path.stat().st_size if path.exists() else 0
    return ChecksumError(
        f"{path}: md5 checksum mismatch: expected {expected}, got {actual} ({size:,} bytes). "
        f"The file is corrupted or truncated. {remedy}"
    )


def verify_md5(path: Path, expected: str, remedy: str = "") -> dict[str, str]:
    """Check ``path`` against ``expected`` md5; return its md5 and sha256 (for the manifest)."""
    digests = file_digests(path)
    if digests["md5"] != expected.lower():
        raise _mismatch(
            path, expected, digests["md5"],
            remedy or "Delete it and run 'specnorm prepare' again to download it afresh, or replace it with a good copy.",
        )
    return digests


def progress(total: int | None, desc: str, unit: str):
    """A tqdm bar on stderr (the pipeline's logs): bytes scaled (``unit="B"``) or counted items; at
    most one line every 5 s when not a terminal."""
    from tqdm import tqdm

    scaled = unit == "B"
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=scaled, unit_divisor=1024 if scaled else 1000,
                file=sys.stderr, mininterval=0.5 if sys.stderr.isatty() else 5.0, disable=False)


def _length(response: BinaryIO) -> int | None:
    """The response's Content-Length, if it says one."""
    try:
        return int(response.headers["Content-Length"])  # type: ignore[attr-defined]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def download(urls: Sequence[str], dest: Path, md5: str, *, opener: Opener = urllib.request.urlopen,
             timeout: float = 60.0) -> Path:
    """Fetch ``dest`` from the first mirror that yields a file with the right md5.

    Each attempt streams into a temp file next to ``dest`` (fsync, rename only after the md5
    matched). Raises :class:`ChecksumError` if every mirror gave a bad or truncated file,
    :class:`DataError` if none could be reached.
    """
    dest = Path(dest)
    failures: list[str] = []
    bad: list[str] = []
    for url in urls:
        try:
            with atomic_path(dest) as tmp:
                h = hashlib.md5()
                with opener(url, timeout=timeout) as response, open(tmp, "wb") as out, \
                        progress(_length(response), dest.name, unit="B") as bar:
                    while block := response.read(CHUNK):
                        h.update(block)
                        out.write(block)
                        bar.update(len(block))
                if h.hexdigest() != md5.lower():
                    size = tmp.stat().st_size
                    raise ChecksumError(f"{url} -> {dest.name}: md5 expected {md5}, got {h.hexdigest()} ({size:,} bytes)")
            return dest
        except ChecksumError as e:
            bad.append(str(e))
        except (OSError, http.client.HTTPException) as e:  # URLError, HTTPError, timeouts, IncompleteRead
            failures.append(f"{url}: {e}")
    if bad:
        raise ChecksumError(
            f"download of {dest} failed: every file received was corrupted or truncated "
            f"(nothing was written to {dest}): " + "; ".join(bad + failures)
            + ". Run again later, or download the file by hand, check its md5 and pass it with --source."
        )
    raise DataError(
        f"could not download {dest.name} (expected md5 {md5}): " + "; ".join(failures)
        + f". Without network access, download it elsewhere and place it at {dest} or pass --source PATH."
    )
