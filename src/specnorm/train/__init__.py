"""Training engine: one grid cell end to end with the official loop semantics (docs/design.md#training-loop)."""

from specnorm.train.state import RunState, build_state
from specnorm.train.step import train_iteration
from specnorm.train.trainer import ResumeRefused, Trainer, train

__all__ = ["ResumeRefused", "RunState", "Trainer", "build_state", "train", "train_iteration"]
