"""Training engine: grid cells end to end with the official loop semantics (docs/design.md#training-loop),
alone or several in one process (``pack``, docs/design.md#packs)."""

from specnorm.train.pack import run_pack, train_pack
from specnorm.train.state import RunState, build_state
from specnorm.train.step import train_iteration
from specnorm.train.trainer import ResumeRefused, Stopped, Trainer, train

__all__ = ["ResumeRefused", "RunState", "Stopped", "Trainer", "build_state", "run_pack", "train", "train_iteration",
           "train_pack"]
