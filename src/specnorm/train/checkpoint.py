"""Atomic, self-validating checkpoints (``checkpoints/ckpt_NNNNNNN.pt``), the last N kept (docs/outputs.md).

A checkpoint file is ``{"format", "sha256", "payload"}``: ``payload`` is the ``torch.save`` bytes of
the run's state and ``sha256`` their digest, so a flipped byte anywhere is detected, not resumed.
Both levels are read with ``torch.load(weights_only=True)``: only tensors and plain Python
containers/scalars. The newest checkpoint that verifies wins; a corrupt one is reported, skipped
and (by the trainer) moved aside as ``*.corrupt``; pruning keeps the newest N that verified.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from pathlib import Path

import torch

from specnorm.io import atomic_torch_save

_NAME = re.compile(r"^ckpt_(\d{7,})\.pt$")
REQUIRED = ("format", "iteration", "config", "rng", "run")
FORMAT = 3  # 1: the bare payload, without a digest; 2: torch.optim and torch.Generator states
CORRUPT_SUFFIX = ".corrupt"
_verified: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) of files this process wrote or verified


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the file and the problem."""


def path_for(ckpt_dir: Path, iteration: int) -> Path:
    return ckpt_dir / f"ckpt_{iteration:07d}.pt"


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(iteration, path) of every checkpoint file, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def save(ckpt_dir: Path, iteration: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` atomically with its sha256, then prune to the newest ``keep`` that verify."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    path = atomic_torch_save(path_for(ckpt_dir, iteration),
                             {"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(), "payload": data})
    _verified[str(path)] = _stamp(path)
    prune(ckpt_dir, keep)
    return path


def prune(ckpt_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints that verify; move unreadable ones aside.

    A checkpoint that does not verify never counts toward ``keep`` (it would push out good ones).
    """
    good = 0
    for _, path in reversed(list_checkpoints(ckpt_dir)):
        if not _is_verified(path):
            try:
                load(path)
            except CheckpointError as e:
                quarantine(path, e)
                continue
        good += 1
        if good > keep:
            path.unlink(missing_ok=True)
            _verified.pop(str(path), None)


def _is_verified(path: Path) -> bool:
    try:
        return _verified.get(str(path)) == _stamp(path)
    except OSError:
        return False


def quarantine(path: Path, error: Exception) -> Path:
    """Rename an unreadable checkpoint to ``<name>.corrupt`` (out of the rotation, kept for inspection)."""
    dest = path.with_name(path.name + CORRUPT_SUFFIX)
    print(f"warning: {error}; moved it aside to {dest.name}", file=sys.stderr)
    os.replace(path, dest)
    _verified.pop(str(path), None)
    return dest


def load(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """The payload of a checkpoint file, after checking its format and sha256."""
    try:
        stamp = _stamp(path)
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt, or not a weights-only checkpoint
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(outer, dict) or outer.get("format") != FORMAT or not isinstance(outer.get("payload"), bytes):
        fmt = outer.get("format") if isinstance(outer, dict) else None
        raise CheckpointError(f"checkpoint {path} has format {fmt}, this version reads {FORMAT}")
    actual = hashlib.sha256(outer["payload"]).hexdigest()
    if actual != outer.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is corrupted (sha256 {actual}, recorded {outer.get('sha256')})")
    try:
        obj = torch.load(io.BytesIO(outer["payload"]), map_location=map_location, weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(obj, dict) or k not in obj]
        raise CheckpointError(f"checkpoint {path} is not a specnorm checkpoint (missing {missing})")
    _verified[str(path)] = stamp
    return obj


def load_latest(ckpt_dir: Path, map_location: torch.device | str = "cpu", *, move_aside: bool = False) -> dict | None:
    """The newest checkpoint that verifies, or None; unreadable ones are reported (and, with
    ``move_aside``, renamed to ``*.corrupt`` so that they leave the rotation)."""
    for it, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            return load(path, map_location)
        except CheckpointError as e:
            if move_aside:
                quarantine(path, e)
            else:
                print(f"warning: skipping {e}", file=sys.stderr)
    return None
