"""A new normalization through the README's recipe: one class, one registry entry (name and display
name), one config block; nothing else changes (docs/design.md#normalizations)."""

import pytest
import torch

from specnorm import catalog, config
from specnorm.nn import Normalization, normalized_layers


class ToyNorm(Normalization):
    """W / max|W| with a step counter as its state: the trainer must advance it once per D step."""

    state = ("steps",)
    logs = ("max_abs",)

    def __init__(self, layer, **kw):
        super().__init__(layer, **kw)
        self.register_buffer("steps", torch.zeros((), device=layer.weight.device))

    def step(self, weight, state, detach):
        sigma = weight.abs().amax()
        return sigma, {"steps": state["steps"] + 1}, {"max_abs": sigma.detach()}


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(catalog, "NORMALIZATIONS", dict(catalog.NORMALIZATIONS))
    return catalog.register_norm(catalog.NormInfo("toy", "Toy", f"{__name__}:ToyNorm", "max-abs toy"))


def test_a_toy_normalization_trains_and_reports_through_the_registry(toy, tmp_path):
    from specnorm.report.variants import family
    from specnorm.rundir import RunDir
    from specnorm.train import train

    cfg = config.from_dict({
        "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
        "norm": {"mode": "toy", "scale": 1.5},
        "train": {"iterations": 4, "n_dis": 2, "d_batch": 8, "g_batch": 8},
        "log": {"every": 2, "analysis_every": 0, "sample_every": 0, "n_samples": 4, "analysis_batch": 4},
        "checkpoint": {"every": 2}, "eval": {"every": 0}, "device": "cpu",
    })
    summary = train(cfg, tmp_path / "run")
    assert summary["status"] == "completed"
    from specnorm.train import checkpoint

    ckpt = checkpoint.load_latest(tmp_path / "run" / "checkpoints")
    steps = [v for k, v in ckpt["run"]["D"].items() if k.endswith(".steps")]
    assert steps and all(float(v) == 8.0 for v in steps)  # advanced once per D step: 4 iterations × n_dis 2
    log, _ = RunDir(tmp_path / "run").read_csv("train_log.csv")
    assert any(c.startswith("max_abs/") for c in log.columns) and any(c.startswith("sigma/") for c in log.columns)
    assert family(cfg.flat()) == "Toy"


def test_the_registry_is_the_one_validator(toy):
    from specnorm.models import build_models

    cfg = config.NormCfg("toy", scale=2.0)
    assert cfg.validate("norm") is cfg
    _, D = build_models("cnn", cfg, mg=2, width=0.0625, z_dim=8)
    layers = list(normalized_layers(D))
    assert layers and all(type(n) is ToyNorm and float(n.scale) == 2.0 for _, _, n in layers)
    with pytest.raises(config.ConfigError, match="norm.clamp"):
        config.NormCfg("toy", clamp=True).validate("norm")
    with pytest.raises(config.ConfigError, match="norm.mode"):
        config.from_dict({"norm": {"mode": "toy2"}})
