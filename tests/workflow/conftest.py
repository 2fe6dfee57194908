"""Pipeline tests: registers the ``pipeline`` marker (the end-to-end runs, minutes each)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "pipeline: end-to-end pipeline runs (minutes): the demo locally and on SLURM, kill-and-resume")
