"""Freeze generator BatchNorm running stats during D steps (ResNet, docs/design.md#bn-statistics)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def couples_batch(module: nn.Module) -> bool:
    """Whether a layer of ``module`` couples the samples of a batch (BatchNorm in train mode): then
    D(real) and D(fake) may not share one forward (docs/design.md#bn-statistics)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


@contextmanager
def frozen_bn_stats(module: nn.Module) -> Iterator[nn.Module]:
    """Train-mode BatchNorm layers of ``module`` use batch statistics but leave their running
    mean/var and ``num_batches_tracked`` untouched (official ResNet: BN ``UPDATE_OPS`` run only with
    the G step, so D-step G forwards normalize with batch stats and update nothing).

    How: ``track_running_stats`` is set to False for the duration. In train mode PyTorch then
    normalizes with the batch statistics and passes no running buffers to ``F.batch_norm``, so they
    are not read or written at all: bit-exact by construction, with no data-dependent control flow.
    (``momentum = 0`` would still compute ``1·r + 0·b`` — NaN if a batch statistic is non-finite —
    and still increment ``num_batches_tracked``.) Eval mode is unaffected (running stats are used).
    The previous flags are restored on exit, also on exceptions.
    """
    saved = [(m, m.track_running_stats) for m in module.modules() if isinstance(m, _BN)]
    try:
        for m, _ in saved:
            m.track_running_stats = False
        yield module
    finally:
        for m, flag in saved:
            m.track_running_stats = flag
