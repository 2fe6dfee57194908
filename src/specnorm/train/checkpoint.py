"""Atomic, self-validating checkpoints (``checkpoints/ckpt_NNNNNNN.pt``), the last N kept.

Loaded with ``torch.load(weights_only=True)``: a checkpoint holds only tensors and plain Python
containers/scalars. The newest checkpoint that loads and carries the expected keys wins; a
corrupt one is reported and skipped.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from specnorm.io import atomic_torch_save

_NAME = re.compile(r"^ckpt_(\d{7,})\.pt$")
REQUIRED = ("format", "iteration", "config", "rng", "run")
FORMAT = 1


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


def save(ckpt_dir: Path, iteration: int, payload: dict, keep: int) -> Path:
    """Write ``payload`` atomically, then delete all but the newest ``keep`` checkpoints."""
    path = atomic_torch_save(path_for(ckpt_dir, iteration), payload)
    for _, old in list_checkpoints(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load(path: Path, map_location: torch.device | str = "cpu") -> dict:
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, corrupt, or not a weights-only checkpoint
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict) or any(k not in obj for k in REQUIRED):
        missing = [k for k in REQUIRED if not isinstance(obj, dict) or k not in obj]
        raise CheckpointError(f"checkpoint {path} is not a specnorm checkpoint (missing {missing})")
    if obj["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {obj['format']}, this version reads {FORMAT}")
    return obj


def load_latest(ckpt_dir: Path, map_location: torch.device | str = "cpu") -> dict | None:
    """The newest readable checkpoint, or None when there is none; unreadable ones are reported."""
    for it, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            return load(path, map_location)
        except CheckpointError as e:
            print(f"warning: skipping {e}", file=sys.stderr)
    return None


# -- RNG state ------------------------------------------------------------------------------------
def global_rng_state() -> dict:
    """torch (CPU and every CUDA device), numpy and Python RNG states, as weights-only-safe objects."""
    np_state = np.random.get_state(legacy=True)
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": _py_state_to_tensor(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_global_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate(_py_state_from_tensor(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _py_state_to_tensor(st: tuple) -> dict:
    version, internal, gauss = st
    return {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
            "gauss": None if gauss is None else float(gauss)}


def _py_state_from_tensor(d: dict) -> tuple:
    return (d["version"], tuple(int(x) for x in d["internal"].tolist()), d["gauss"])
