"""Atomic, self-validating checkpoints (``checkpoints/ckpt_NNNNNNN.pt``), the last N kept, and the
kept generators (``generator_*.pt``) sealed the same way (docs/outputs.md).

A checkpoint file is ``{"format", "sha256", "payload"}``: ``payload`` is the ``torch.save`` bytes of
the run's state and ``sha256`` their digest, so a flipped byte anywhere is detected, not resumed.
Both levels are read with ``torch.load(weights_only=True)``: only tensors and plain Python
containers/scalars. The newest checkpoint that verifies wins; a corrupt one is reported, skipped
and (by the trainer) moved aside as ``*.corrupt``; pruning keeps the newest N that verified.
A generator file is sealed alike (:func:`save_generator`) and verified before it is scored
(:func:`load_generator`): a flipped byte is an error, never a silent score.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
from pathlib import Path

import torch

from specnorm.io import atomic_write

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


def _torch_bytes(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _save_sealed(path: Path, payload: dict) -> Path:
    """Write ``{"format", "sha256", "payload"}`` atomically: the whole file is serialised in memory
    first, so a full disk or a file-size limit is a plain :class:`specnorm.io.WriteError`."""
    data = _torch_bytes(payload)
    sealed = _torch_bytes({"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(), "payload": data})
    return atomic_write(path, lambda f: f.write(sealed))


def save(ckpt_dir: Path, iteration: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` atomically with its sha256, then prune to the newest ``keep`` that verify."""
    path = _save_sealed(path_for(ckpt_dir, iteration), payload)
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


def _torch_load(data: Path | bytes, what: str, path: Path, map_location: torch.device | str) -> object:
    try:
        return torch.load(io.BytesIO(data) if isinstance(data, bytes) else data, map_location=map_location,
                          weights_only=True)
    except Exception as e:  # truncated, corrupt, or not weights-only (a pickle that would run code)
        first = str(e).splitlines()[0] if str(e) else ""
        raise CheckpointError(f"{what} {path} cannot be read ({type(e).__name__}: {first})") from None


def _is_sealed(outer: object) -> bool:
    return isinstance(outer, dict) and outer.get("format") == FORMAT and isinstance(outer.get("payload"), bytes)


def _unseal(outer: dict, what: str, path: Path, map_location: torch.device | str) -> tuple[object, str]:
    """The object sealed in ``outer`` and its sha256, after checking the digest."""
    actual = hashlib.sha256(outer["payload"]).hexdigest()
    if actual != outer.get("sha256"):
        raise CheckpointError(f"{what} {path} is corrupted (sha256 {actual}, recorded {outer.get('sha256')})")
    return _torch_load(outer["payload"], what, path, map_location), actual


def load(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """The payload of a checkpoint file, after checking its format and sha256."""
    try:
        stamp = _stamp(path)
    except OSError as e:
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    outer = _torch_load(path, "checkpoint", path, "cpu")
    if not _is_sealed(outer):
        fmt = outer.get("format") if isinstance(outer, dict) else None
        raise CheckpointError(f"checkpoint {path} has format {fmt}, this version reads {FORMAT}")
    obj, _ = _unseal(outer, "checkpoint", path, map_location)  # type: ignore[arg-type]
    if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(obj, dict) or k not in obj]
        raise CheckpointError(f"checkpoint {path} is not a specnorm checkpoint (missing {missing})")
    _verified[str(path)] = stamp
    return obj


def thread_history(data: dict | None, now: int) -> list[int]:
    """The CPU thread counts a run has trained with (checkpoint and ``summary.json`` ``threads``: each
    count once per change), continued with ``now``. A resume with another count than the last one
    warns naming both: CPU kernels split their sums by thread, so the resumed numbers differ from an
    uninterrupted run's in the last bits (docs/deviations.md)."""
    before = [int(n) for n in (data or {}).get("threads") or []]
    if before and before[-1] != now:
        print(f"warning: resuming with {now} CPU threads; the run trained with {before[-1]} until now, so its "
              f"numbers will differ from an uninterrupted run's in the last bits (SPECNORM_THREADS={before[-1]} "
              "matches it)", file=sys.stderr)
    return before if before and before[-1] == now else [*before, now]


# -- kept generators ------------------------------------------------------------------------------
GENERATOR_KEYS = ("state_dict", "iteration", "config")
"""Keys every generator payload holds (and ``selection``: None for the final one)."""


def save_generator(path: Path, payload: dict) -> Path:
    """Write a kept generator (``{"state_dict", "iteration", "selection", "config"}``) atomically,
    sealed with its sha256 like a checkpoint."""
    return _save_sealed(path, payload)


def load_generator(path: Path, map_location: torch.device | str = "cpu") -> dict:
    """The payload of a generator file after checking its sha256, with ``sha256`` added (the digest
    verified). :class:`CheckpointError` names the file: unreadable, corrupted, not sealed (not written
    by this version) or not a generator."""
    outer = _torch_load(path, "generator", path, "cpu")
    if not _is_sealed(outer):
        raise CheckpointError(f"generator {path} is not a sealed specnorm generator file of this version")
    obj, digest = _unseal(outer, "generator", path, map_location)  # type: ignore[arg-type]
    if not isinstance(obj, dict) or any(k not in obj for k in GENERATOR_KEYS):
        raise CheckpointError(f"generator {path} is not a specnorm generator file")
    return {**obj, "sha256": digest}


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
