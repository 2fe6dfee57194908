"""The Evaluator on the built-in digits dataset (digits-FID/IS) and, with the stand-in, Inception:
protocol fields in every row, RNG isolation, caching of the reference statistics, sanity of scores."""

import math

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import numpy as np
import pytest
import torch
from torch import nn

from metrics_helpers import digits_cfg
from specnorm.data import load, to_float
from specnorm.metrics import Evaluator, InceptionMissingError, reference
from specnorm.models import build_models

CPU = torch.device("cpu")
ROW_KEYS = {"iteration", "wall_time", "metric", "value", "protocol", "extractor", "extractor_sha256", "n_gen",
            "n_real", "reference", "resize", "seed"}


def tiny_g(cfg) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    G, _ = build_models("cnn", cfg.norm, mg=2, width=0.125, z_dim=cfg.model.z_dim, generator=g)
    return G


class RealDigits(nn.Module):
    """A 'generator' that returns real digits, picked by its latents (a perfect G)."""

    z_dim = 32

    def __init__(self) -> None:
        super().__init__()
        self.images = to_float(torch.from_numpy(load("digits").copy()))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (z[:, :8].abs().sum(1) * 1e4).long() % len(self.images)
        return self.images[idx]


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    return tmp_path_factory.mktemp("resources")


def test_rows_carry_the_protocol_and_restore_g(resources):
    cfg = digits_cfg()
    ev = Evaluator.from_config(cfg, CPU, resources)
    G = tiny_g(cfg).train()
    rng, np_rng = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    rows = ev.evaluate(G, 100, 12.5)
    assert G.training
    assert torch.equal(torch.random.get_rng_state(), rng) and np.array_equal(np.random.get_state()[1], np_rng)
    assert [r["metric"] for r in rows] == ["fid", "is", "is_std", "precision", "recall", "density", "coverage"]
    for r in rows:
        assert ROW_KEYS <= set(r) and r["iteration"] == 100 and r["wall_time"] == 12.5
        assert (r["protocol"], r["extractor"], r["seed"]) == ("paper", "digits", 0)
        assert r["resize"] == "float->none(native 16x16)" and len(r["extractor_sha256"]) == 64
    fid_row, is_row = rows[0], rows[1]
    assert (fid_row["n_gen"], fid_row["n_real"]) == (120, 300)
    assert fid_row["reference"] == "digits-train-subset(300)" and fid_row["label"] == "digits-FID"  # drawn by seed 0
    assert (is_row["n_gen"], is_row["reference"], is_row["label"]) == (120, "none(IS,2 splits)", "digits-IS")
    by = {r["metric"]: r for r in rows}  # k-NN metrics: the FID samples vs the kept real features, k in the key
    assert [(by[m]["n_gen"], by[m]["n_real"], by[m]["reference"], by[m]["label"]) for m in ("recall", "coverage")] == [
        (120, 300, "digits-train-subset(300),k=3", "digits-Recall"),
        (120, 300, "digits-train-subset(300),k=5", "digits-Coverage")]
    assert [r["value"] for r in ev.evaluate(G.eval(), 200, 0.0)] == [r["value"] for r in rows]  # same latents
    assert not G.training


def test_a_perfect_generator_scores_far_better_than_an_untrained_one(resources):
    cfg = digits_cfg(n_gen=300, n_is=300)
    ev = Evaluator.from_config(cfg, CPU, resources)
    real = {r["metric"]: r["value"] for r in ev.evaluate(RealDigits(), 1, 0.0)}
    fake = {r["metric"]: r["value"] for r in ev.evaluate(tiny_g(cfg), 1, 0.0)}
    assert real["is"] > 8.0 and fake["is"] < 3.0
    assert real["fid"] < fake["fid"] / 20
    assert min(real["precision"], real["recall"], real["coverage"]) > 0.6 and real["density"] > 0.6
    assert max(fake["precision"], fake["recall"], fake["coverage"], fake["density"]) < 0.2


def test_standard_protocol_adds_kid_and_quantises(resources):
    ev = Evaluator.from_config(digits_cfg(protocol="standard", n_real=None), CPU, resources)
    by = {r["metric"]: r for r in ev.evaluate(RealDigits(), 5, 0.0)}
    assert set(by) == {"fid", "kid", "is", "is_std", "precision", "recall", "density", "coverage"}
    assert by["kid"]["reference"] == "digits-train(1797)" and by["kid"]["n_real"] == 1797
    assert by["fid"]["resize"] == "uint8->none(native 16x16)" and by["kid"]["label"] == "digits-KID"
    bad = {r["metric"]: r["value"] for r in ev.evaluate(tiny_g(digits_cfg()), 5, 0.0)}
    assert abs(by["kid"]["value"]) < bad["kid"] / 20
    assert ev.protocol_fields()["kid"] is True


def test_reference_statistics_are_cached_and_a_corrupted_cache_is_rebuilt(tmp_path):
    cfg = digits_cfg(n_real=200)
    first = Evaluator.from_config(cfg, CPU, tmp_path)
    path = first.reference.path
    assert not first.reference.from_cache and path.parent == tmp_path / "fid_stats"
    assert path.name == f"digits_digits-{first.extractor.sha256[:8]}_paper_n200_seed0.npz"
    second = Evaluator.from_config(cfg, CPU, tmp_path)
    assert second.reference.from_cache
    np.testing.assert_array_equal(second.reference.stats.sigma, first.reference.stats.sigma)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        third = Evaluator.from_config(cfg, CPU, tmp_path)
    assert not third.reference.from_cache
    np.testing.assert_allclose(third.reference.stats.sigma, first.reference.stats.sigma)
    assert Evaluator.from_config(cfg, CPU, tmp_path).reference.from_cache
    with pytest.raises(ValueError, match="other inputs"):
        reference.load(path, {"format": reference.FORMAT, "dataset": "cifar10"})


def test_the_real_subset_and_its_cache_file_follow_the_run_seed(resources):
    a = Evaluator.from_config(digits_cfg(n_real=200), CPU, resources)
    b = Evaluator.from_config(digits_cfg(seed=1, n_real=200), CPU, resources)
    assert a.reference.path.name.endswith("_seed0.npz") and b.reference.path.name.endswith("_seed1.npz")
    assert not np.allclose(a.reference.stats.mu, b.reference.stats.mu)
    again = Evaluator.from_config(digits_cfg(n_real=200), CPU, resources)
    assert again.reference.from_cache and np.array_equal(again.reference.stats.mu, a.reference.stats.mu)


def test_a_diverged_generator_gives_nan_scores_not_a_crash(resources):
    class NanG(nn.Module):
        z_dim = 32

        def forward(self, z):
            return torch.full((len(z), 3, 16, 16), math.nan)

    rows = Evaluator.from_config(digits_cfg(), CPU, resources).evaluate(NanG(), 1, 0.0)
    assert all(math.isnan(r["value"]) for r in rows)


def test_inception_extractor_through_the_evaluator(standin, tmp_path):
    cfg = digits_cfg(extractor="inception", inception_path=str(standin), n_real=50, n_gen=40, n_is=40, batch_size=20)
    rows = Evaluator.from_config(cfg, CPU, tmp_path).evaluate(RealDigits(), 1, 0.0)
    assert {r["extractor"] for r in rows} == {"inception-2015-12-05"}
    assert rows[0]["resize"] == "float->tf1-bilinear(in-network)" and rows[0]["label"] == "FID"
    std = digits_cfg(protocol="standard", extractor="inception", inception_path=str(standin), n_real=30, n_gen=30,
                     n_is=30, batch_size=15)
    srows = Evaluator.from_config(std, CPU, tmp_path).evaluate(RealDigits(), 1, 0.0)
    assert srows[0]["resize"] == "uint8->pil-bicubic(clean,torch-exact)"
    assert all(math.isfinite(r["value"]) for r in srows)


def test_missing_inception_is_a_clear_error(tmp_path):
    with pytest.raises(InceptionMissingError, match="specnorm fetch-inception"):
        Evaluator.from_config(digits_cfg(extractor="inception"), CPU, tmp_path)


def test_a_changed_feature_definition_invalidates_the_cache(tmp_path, monkeypatch):
    from specnorm.metrics import digits_classifier

    cfg = digits_cfg(n_real=100)
    assert not Evaluator.from_config(cfg, CPU, tmp_path).reference.from_cache
    monkeypatch.setattr(digits_classifier.DigitsExtractor, "features", "something else")
    with pytest.warns(RuntimeWarning, match="features"):
        assert not Evaluator.from_config(cfg, CPU, tmp_path).reference.from_cache
