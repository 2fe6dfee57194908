"""The FLOPs of one training iteration, counted from the code (``specnorm plan``'s estimates are checked
against them: ``tests/grid/test_grid_throughput.py``; ``bench/gpu_check.py`` turns a measured rate into
a fraction of the device's peak).

The iteration runs on the ``meta`` device (shapes only, nothing computed, seconds even for ImageNet's
ResNet) under a dispatch mode that adds up torch's own FLOP formulas (``torch.utils.flop_counter``:
matmuls, convolutions and their backward passes; elementwise ops are not counted).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from specnorm.catalog import get_info
from specnorm.config import CellConfig


class _Flops(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def iteration_flops(cfg: CellConfig) -> int:
    """FLOPs of one (non-logging) training iteration of ``cfg`` at its shapes."""
    import specnorm.train.state as state_mod
    from specnorm.train.step import iteration

    info = get_info(cfg.dataset.name)
    shapes = np.zeros((8, info.channels, info.resolution, info.resolution), np.uint8)  # only shapes matter
    real, state_mod.load = state_mod.load, lambda *a, **k: shapes
    try:
        st = state_mod.build_state(cfg, torch.device("meta"))
    finally:
        state_mod.load = real
    with _Flops() as counter:
        iteration(st.T, st.images.data, st.plan, False)
    return counter.total
