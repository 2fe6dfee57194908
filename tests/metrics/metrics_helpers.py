"""Helpers shared by the metrics tests (imported by name; fixtures live in conftest.py)."""

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)

from specnorm import config


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
