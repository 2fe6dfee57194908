"""Training engine: grid cells end to end with the official loop semantics (docs/design.md#training-loop),
alone or several in one process (a pack: ``pack``, ``engine``; docs/design.md#packs)."""

from specnorm.train.pack import EXIT_STOPPED, Stopped, run_pack, train, train_pack
from specnorm.train.state import RunState, build_state
from specnorm.train.step import iteration
from specnorm.train.trainer import ResumeRefused, Trainer

__all__ = ["EXIT_STOPPED", "ResumeRefused", "RunState", "Stopped", "Trainer", "build_state", "iteration",
           "run_pack", "train", "train_pack"]
