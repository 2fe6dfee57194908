"""Helpers shared by the training tests (imported by name)."""

from specnorm.train import checkpoint as ckpt


def die_at_checkpoint(monkeypatch, iteration: int):
    """The process dies (KeyboardInterrupt) as it would write checkpoint ``iteration``: everything
    before that save has happened, the checkpoint itself does not exist. Returns the real
    ``checkpoint.save``, to put back for the resume."""
    real_save = ckpt.save

    def save(d, it, payload, keep):
        if it == iteration:
            raise KeyboardInterrupt
        return real_save(d, it, payload, keep)

    monkeypatch.setattr(ckpt, "save", save)
    return real_save
