"""The pack driver: one or several cells trained in one process on one device (docs/design.md#packs).

A pack runs its cells in lockstep, one iteration of every unfinished cell per step, through an
engine (:mod:`specnorm.train.engine`): ``serial`` (each cell's own iteration, one after another: a
cell computes bit for bit what it computes alone) or ``fused`` (the cells as one batched
computation). Each cell keeps its own run directory, models, random stream, cadences and
checkpoints (:class:`~specnorm.train.trainer.Trainer`); what the cells share is the dataset's
device copy, the extractor network, the process, the device and the stop signal. The iteration
never touches the process-wide random state, so nothing is swapped between cells.

A cell that diverges ends (``summary.json`` status ``diverged``) and the others go on; a cell that
is already finished is left alone. SIGTERM, SIGUSR1 and SIGINT only set a flag, read once per step
(a Python value: no device sync); the pack finishes the step it is in, checkpoints every unfinished
cell at the iteration it is at and raises :class:`Stopped`; ``specnorm train`` then exits with
:data:`EXIT_STOPPED` and the same command resumes (``docs/pipeline.md``). A lone run is a pack of one.
"""

from __future__ import annotations

import signal
import threading
from contextlib import ExitStack
from pathlib import Path

from specnorm.config import CellConfig, check_packable
from specnorm.train.engine import make_engine
from specnorm.train.trainer import Trainer
from specnorm.vocab import pack_engine

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)
"""Signals that stop a run at the end of its current iteration, checkpointed (SLURM: SIGTERM on
preemption, ``scancel`` and the time limit; ``--signal`` warnings; Ctrl-C)."""
EXIT_STOPPED = 75
"""``specnorm train``'s exit status after a stop signal: EX_TEMPFAIL, "try again" (docs/pipeline.md)."""


class Stopped(Exception):
    """A stop signal ended the run (or pack) after the iterations in ``iterations`` (run dir → the
    iteration checkpointed there); ``iteration`` is the first cell's."""

    def __init__(self, signum: int, iterations: dict[Path, int]) -> None:
        self.signal_name = signal.Signals(signum).name
        self.iterations = dict(iterations)
        self.iteration = next(iter(self.iterations.values()), 0)
        if len(self.iterations) == 1:
            where = f" at iteration {self.iteration}; checkpoint written"
        else:
            where = "; checkpoints written: " + ", ".join(f"{d} at {i}" for d, i in self.iterations.items())
        super().__init__(f"stopped by {self.signal_name}{where}; rerun the same command to resume")


class StopFlag:
    """While entered (in the main thread), :data:`STOP_SIGNALS` set ``signum`` (the first one wins)
    instead of their usual action; the previous handlers come back on exit."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, object] = {}

    def _set(self, signum, frame) -> None:  # a signal handler: record, nothing else
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._set) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}


def run_pack(trainers: list[Trainer], engine: str = "auto") -> list[dict]:
    """Train the cells of ``trainers`` together; their summaries, in order (see the module docstring).

    Each run directory is locked for the whole pack (one writer per run directory).
    """
    if not trainers:
        return []
    dirs = [t.out.resolve() for t in trainers]
    if len(set(dirs)) != len(dirs):
        raise ValueError("two cells of the pack write the same run directory")
    check_packable([t.cfg for t in trainers])
    kind = pack_engine(engine, len(trainers))
    runner = make_engine(kind, trainers[0].cfg.train.compile)
    results: list[dict | None] = [None] * len(trainers)
    with ExitStack() as stack:
        for t in trainers:
            t.out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(t.run_dir.exclusive())
        stop = stack.enter_context(StopFlag())
        data_cache: dict = {}
        active: list[int] = []
        opened: list[Trainer] = []
        try:
            for i, t in enumerate(trainers):
                t.engine = kind
                t.name = t.out.name if len(trainers) > 1 else ""  # console lines name the cell in a pack
                done = t.open(data_cache)
                if done is not None:
                    results[i] = done
                    continue
                opened.append(t)
                active.append(i)
            for i in list(active):  # a resumed cell may have nothing left (a divergence needs a sync)
                if not trainers[i].remaining:
                    results[i] = trainers[i].finish()
                    active.remove(i)
            while active:
                cells = [trainers[i] for i in active]
                logged = runner.step([t.st for t in cells], [t.log_due for t in cells])
                for t, out in zip(cells, logged):
                    t.after_iteration(out)
                for i in list(active):
                    if not trainers[i].remaining:
                        results[i] = trainers[i].finish()
                        active.remove(i)
                if stop.signum is not None and active:
                    raise Stopped(stop.signum, {trainers[i].out: trainers[i].checkpoint_on_stop() for i in active})
        finally:
            for t in opened:
                t.close()
    return results  # type: ignore[return-value]  (every cell finished or was already done)


def train_pack(cfgs: list[CellConfig], out_dirs: list[str | Path], *, resources: str | Path = "resources",
               engine: str = "auto") -> list[dict]:
    """Python API: train (or resume, or recognise as finished) the cells ``cfgs`` in ``out_dirs``
    together in this process (:func:`run_pack`)."""
    if len(cfgs) != len(out_dirs):
        raise ValueError(f"{len(cfgs)} configs but {len(out_dirs)} run directories")
    return run_pack([Trainer(c, d, resources=resources) for c, d in zip(cfgs, out_dirs)], engine)


def train(cfg: CellConfig, out_dir: str | Path, *, resources: str | Path = "resources") -> dict:
    """Python API: train (or resume, or recognise as finished) the cell ``cfg`` in ``out_dir``."""
    return train_pack([cfg], [out_dir], resources=resources)[0]
