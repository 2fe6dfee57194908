"""Where a result came from: the code's git commit and the package versions (torch-free: versions are
read from the installed distributions' metadata, so the report and the plan need not import torch)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

DIRTY = "-dirty"


def git_commit() -> str:
    """``<sha>`` of the checkout the package runs from, ``<sha>-dirty`` with uncommitted changes to
    tracked files, ``$SPECNORM_GIT_COMMIT`` when set (e.g. an installed copy on a cluster), else
    ``unknown``."""
    if os.environ.get("SPECNORM_GIT_COMMIT"):
        return os.environ["SPECNORM_GIT_COMMIT"]
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + (DIRTY if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions(*packages: str) -> dict[str, str]:
    """``{"python": …, "specnorm": …, <package>: …}`` for the named distributions (``not installed``
    for a missing one)."""
    from specnorm import __version__

    out = {"python": platform.python_version(), "specnorm": __version__}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
