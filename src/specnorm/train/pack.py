"""Several cells in one process on one device: a pack (docs/design.md#packs).

The pack interleaves its cells iteration by iteration: each cell runs its own, unchanged iteration
(its own models, optimizers, per-run random streams and run directory), so a cell trained in a pack
computes bit for bit what it computes alone (on CPU; on a GPU as far as the kernels are
deterministic). What the cells share is what costs memory or start-up time: the dataset's device
copy, the process, the device and the stop signal. The process-wide random state (seeded per cell
and saved in its checkpoints) is swapped in and out around each cell's work, so that a cell that
resumes inside a pack never disturbs another.

A cell that diverges ends (``summary.json`` status ``diverged``) and the others go on; a cell that
is already finished is left alone; a stop signal (SIGTERM, SIGUSR1, SIGINT) checkpoints every
unfinished cell at the iteration it is at and raises :class:`~specnorm.train.trainer.Stopped`.
"""

from __future__ import annotations

import contextlib
import random
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import torch

from specnorm.config import CellConfig, check_packable
from specnorm.train.trainer import StopFlag, Stopped, Trainer


class _RngSlot:
    """One cell's copy of the process-wide random state (torch CPU and CUDA, numpy, Python)."""

    def __init__(self) -> None:
        self.state: tuple | None = None

    @staticmethod
    def _get() -> tuple:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return torch.get_rng_state(), np.random.get_state(), random.getstate(), cuda

    def save(self) -> None:
        self.state = self._get()

    def __enter__(self) -> None:
        self._outer = self._get()
        self._load(self.state)

    def __exit__(self, *exc) -> None:
        self.state = self._get()
        self._load(self._outer)

    @staticmethod
    def _load(state: tuple) -> None:
        cpu, np_state, py_state, cuda = state
        torch.set_rng_state(cpu)
        np.random.set_state(np_state)
        random.setstate(py_state)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def run_pack(trainers: list[Trainer]) -> list[dict]:
    """Train the cells of ``trainers`` together; their summaries, in order (see the module docstring).

    Each run directory is locked for the whole pack (one writer per run directory). A pack of one
    is exactly a lone run: no state is swapped.
    """
    if not trainers:
        return []
    dirs = [t.out.resolve() for t in trainers]
    if len(set(dirs)) != len(dirs):
        raise ValueError("two cells of the pack write the same run directory")
    check_packable([t.cfg for t in trainers])
    if trainers[0].cfg.train.compile != "none":
        _allow_recompiles(len(trainers))
    results: list[dict | None] = [None] * len(trainers)
    swap = len(trainers) > 1
    slots = [_RngSlot() for _ in trainers]
    with ExitStack() as stack:
        for t in trainers:
            t.out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(t.run_dir.exclusive())
        stop = stack.enter_context(StopFlag())
        data_cache: dict = {}
        active: list[int] = []
        opened: list[Trainer] = []
        try:
            outer = _RngSlot._get() if swap else None
            for i, t in enumerate(trainers):
                done = t.open(data_cache)  # seeds (fresh) or restores (resume) the process-wide RNG
                if done is not None:
                    results[i] = done
                    continue
                opened.append(t)
                slots[i].save()
                active.append(i)
            if outer is not None:
                _RngSlot._load(outer)
            while active:
                for i in list(active):
                    t = trainers[i]
                    with slots[i] if swap else _NO_SWAP:
                        if t.remaining:
                            t.advance()
                        if not t.remaining:
                            results[i] = t.finish()
                            active.remove(i)
                if stop.signum is not None and active:
                    stopped = {}
                    for i in active:
                        with slots[i] if swap else _NO_SWAP:
                            stopped[trainers[i].out] = trainers[i].checkpoint_on_stop()
                    raise Stopped(stop.signum, stopped)
        finally:
            for t in opened:
                t.close()
    return results  # type: ignore[return-value]  (every cell finished or was already done)


def _allow_recompiles(cells: int) -> None:
    """Each cell's modules are their own classes (``parametrize``), so ``torch.compile`` traces the
    iteration once per cell and logging flag; without room for that, dynamo silently falls back to
    eager after 8 traces (measured with a pack of 10)."""
    import torch._dynamo.config as dyn

    need = 2 * cells + 2
    dyn.recompile_limit = max(dyn.recompile_limit, need)
    dyn.accumulated_recompile_limit = max(dyn.accumulated_recompile_limit, 4 * need)


_NO_SWAP = contextlib.nullcontext()  # a pack of one keeps the process-wide RNG as it is


def train_pack(cfgs: list[CellConfig], out_dirs: list[str | Path], *, resources: str | Path = "resources") -> list[dict]:
    """Python API: train (or resume, or recognise as finished) the cells ``cfgs`` in ``out_dirs``
    together in this process (:func:`run_pack`)."""
    if len(cfgs) != len(out_dirs):
        raise ValueError(f"{len(cfgs)} configs but {len(out_dirs)} run directories")
    return run_pack([Trainer(c, d, resources=resources) for c, d in zip(cfgs, out_dirs)])
