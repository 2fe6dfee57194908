"""Fixtures of the metrics tests: a tiny TorchScript stand-in for clean-fid's Inception file (same
forward signature and submodules, no real weights needed), accepted in place of the real one."""

import hashlib
from pathlib import Path

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from specnorm.metrics import inception

FEAT_DIM = 16


class InceptionStandIn(nn.Module):
    """Same interface as ``inception-2015-12-05.pt``: ``layers`` → features, ``output`` Linear → 1008."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(12, FEAT_DIM), nn.Tanh())
        self.output = nn.Linear(FEAT_DIM, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        x = (img.to(torch.float32) - 128.0) / 128.0
        features = self.layers(x).reshape(img.shape[0], -1)
        if return_features:
            return features
        if no_output_bias:
            logits = F.linear(features, self.output.weight)
        else:
            logits = self.output(features)
        return F.softmax(logits, dim=1)


@pytest.fixture(scope="session")
def standin_file(tmp_path_factory) -> tuple[Path, str]:
    """(path, sha256) of a scripted stand-in saved once per session."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = InceptionStandIn()
    with pytest.warns(DeprecationWarning):  # torch.jit.script is deprecated in torch 2.13 but still works
        scripted = torch.jit.script(module)
    path = tmp_path_factory.mktemp("standin") / inception.INCEPTION_FILE
    scripted.save(str(path))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def standin(standin_file, monkeypatch) -> Path:
    """The stand-in file, accepted as *the* Inception file (its sha256 patched in)."""
    path, sha = standin_file
    monkeypatch.setattr(inception, "INCEPTION_SHA256", sha)
    return path
