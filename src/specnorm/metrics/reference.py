"""Reference statistics of the real images, computed by our pipeline and cached under
``<resources>/fid_stats/`` (never in clean-fid's package folder; docs/deviations.md M3).

One ``.npz`` per (dataset, extractor and its weights, protocol, n_real, seed when a subset is
used, the metric network's precision when it is not fp32: older fp32 files stay valid). It holds
``mu``, ``sigma`` (float64), ``feats`` (float32: the reference's features, or a seeded subset of
``protocol.REF_FEATURES_MAX`` of a larger reference, for KID and precision/recall/density/coverage),
``meta`` (JSON: everything the file depends on, including a fingerprint of the image array) and
``checksum`` (sha256 of the rest).
Writes are atomic. A file that does not load, fails its checksum, has another :data:`FORMAT` (format
1 kept features for KID protocols only) or describes other inputs is reported with a warning and
rebuilt. The loaded :class:`~specnorm.metrics.fid.Stats` caches its device copy and √Σ, so a run
computes the reference's square root for FID once.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from specnorm.io import atomic_write
from specnorm.layout import Resources
from specnorm.metrics.fid import Stats

FORMAT = 2
"""Version of the file's contents: 2 keeps the real features for every protocol (1: KID protocols only)."""
_FINGERPRINT_IMAGES = 4096


def cache_file(resources: str | Path, dataset: str, extractor: str, extractor_sha256: str, protocol: str,
               n_real: int, seed: int | None, precision: str = "fp32") -> Path:
    """``<resources>/fid_stats/<dataset>_<extractor>-<sha8>_<protocol>_n<n_real>[_seed<seed>][_<precision>].npz``
    (no precision suffix for fp32)."""
    name = f"{dataset}_{extractor}-{extractor_sha256[:8]}_{protocol}_n{n_real}"
    if seed is not None:
        name += f"_seed{seed}"
    if precision != "fp32":
        name += f"_{precision}"
    return Resources(resources).fid_stats / f"{name}.npz"


def fingerprint(images: np.ndarray) -> str:
    """sha256 of the array's shape, dtype and an evenly strided sample of ≤4096 images (cheap even
    for a memory-mapped ImageNet; the whole array when it is small)."""
    h = hashlib.sha256(f"{images.shape}|{images.dtype}".encode())
    step = max(1, -(-len(images) // _FINGERPRINT_IMAGES))
    h.update(np.ascontiguousarray(images[::step]).tobytes())
    return h.hexdigest()


def _checksum(meta_json: str, mu: np.ndarray, sigma: np.ndarray, feats: np.ndarray) -> str:
    h = hashlib.sha256(meta_json.encode())
    for a in (mu, sigma, feats):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _host(a) -> np.ndarray:
    """A float64 NumPy copy of statistics held as an array or a (device) tensor."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def save(path: Path, meta: dict, stats: Stats, feats: np.ndarray | None) -> None:
    mu, sigma = _host(stats.mu), _host(stats.sigma)
    feats = np.zeros((0, mu.shape[0]), np.float32) if feats is None else feats.astype(np.float32)
    meta_json = json.dumps(meta, sort_keys=True)
    checksum = _checksum(meta_json, mu, sigma, feats)
    atomic_write(path, lambda f: np.savez(f, mu=mu, sigma=sigma, feats=feats,
                                          meta=np.array(meta_json), checksum=np.array(checksum)))


def load(path: Path, meta: dict) -> tuple[Stats, np.ndarray | None]:
    """Read a cache file; raise ``ValueError`` naming the problem if it is unusable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            mu, sigma, feats = z["mu"], z["sigma"], z["feats"]
            meta_json, checksum = str(z["meta"]), str(z["checksum"])
    except Exception as e:  # truncated zip, missing key, bad header, ...
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from None
    if _checksum(meta_json, mu, sigma, feats) != checksum:
        raise ValueError("checksum mismatch (corrupted)")
    stored = json.loads(meta_json)
    if stored.get("format") != meta.get("format"):
        raise ValueError(f"cache format {stored.get('format')}, this version reads format {meta.get('format')} "
                         "(format 2 keeps the real features of precision/recall/density/coverage for every protocol)")
    if stored != meta:
        keys = sorted(k for k in set(stored) | set(meta) if stored.get(k) != meta.get(k))
        raise ValueError(f"describes other inputs (differs in {', '.join(keys)})")
    return Stats(mu, sigma), (feats if len(feats) else None)


def load_or_build(path: Path, meta: dict, build: Callable[[], tuple[Stats, np.ndarray | None]]
                  ) -> tuple[Stats, np.ndarray | None, bool]:
    """The cached reference at ``path`` if valid, else ``build()`` written there. Returns
    ``(stats, real_feats, loaded_from_cache)``."""
    meta = {"format": FORMAT, **meta}
    if path.exists():
        try:
            stats, feats = load(path, meta)
            return stats, feats, True
        except ValueError as e:
            warnings.warn(f"reference statistics {path}: {e}; rebuilding it", RuntimeWarning, stacklevel=2)
    stats, feats = build()
    save(path, meta, stats, feats)
    return stats, feats, False
