"""Protocols: defaults, overrides recorded as actual numbers, the seeded real subset and latents."""

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch

from specnorm.config import EvalCfg
from specnorm.metrics import DEFAULTS, resolve
from specnorm.metrics.protocol import latents, real_subset


def test_paper_defaults_are_the_official_counts():
    p = resolve(EvalCfg(protocol="paper"), n_dataset=50_000, seed=3)
    assert (p.n_gen, p.n_real, p.n_is, p.is_splits) == (10_000, 5_000, 50_000, 10)
    assert not p.kid and not p.quantize and not p.shared_samples
    assert p.reference("cifar10") == "cifar10-train-subset(5000)"  # drawn by the seed, recorded beside the key


def test_standard_uses_the_whole_training_set_and_kid():
    p = resolve(EvalCfg(protocol="standard"), n_dataset=50_000, seed=0)
    assert (p.n_gen, p.n_real, p.n_is) == (50_000, 50_000, 50_000)
    assert p.kid and p.quantize and p.shared_samples
    assert p.reference("cifar10") == "cifar10-train(50000)"


def test_overrides_and_cap_at_dataset_size():
    p = resolve(EvalCfg(protocol="paper", n_gen=100, n_real=10_000, n_is=60, is_splits=3), n_dataset=1797, seed=0)
    assert (p.n_gen, p.n_real, p.n_is, p.is_splits) == (100, 1797, 60, 3)
    assert p.reference("digits") == "digits-train(1797)"
    assert set(DEFAULTS) == {"paper", "standard"}


def test_paper_real_subset_is_fixed_by_the_seed():
    a, b, c = real_subset(2000, 500, seed=0), real_subset(2000, 500, seed=0), real_subset(2000, 500, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a.unique()) == 500 and torch.equal(a, a.sort().values) and int(a.max()) < 2000
    assert torch.equal(real_subset(300, 500, seed=0), torch.arange(300))


def test_latents_are_deterministic_per_seed_and_stream():
    z = latents(10, 4, seed=0, stream="paper/fid")
    assert torch.equal(z, latents(10, 4, seed=0, stream="paper/fid"))
    assert not torch.equal(z, latents(10, 4, seed=0, stream="paper/is"))
    assert not torch.equal(z, latents(10, 4, seed=1, stream="paper/fid"))
    assert torch.equal(latents(25, 4, seed=0, stream="paper/fid")[:10], z)


def test_unknown_protocol_or_too_few_samples_are_rejected():
    with pytest.raises(ValueError):
        EvalCfg(protocol="fancy").validate("eval")
    with pytest.raises(ValueError, match="is_splits"):
        resolve(EvalCfg(n_is=5, is_splits=10), n_dataset=100, seed=0)
