"""Precision, recall, density and coverage (``specnorm.metrics.prdc``) against two oracles and one behaviour.

- Peer (``network``): the authors' ``prdc`` package (PyPI ``prdc==0.2``, Naeem et al.'s reference code),
  downloaded once by ``pip download`` into the git-ignored ``.cache/specnorm-tests/``, sha256-checked and
  unpacked there (its one dependency, scikit-learn, is in the environment); ``compute_prdc`` with
  ``nearest_k`` 3 (precision, recall) and 5 (density, coverage) on the same float64 feature arrays, to 1e-6.
- Offline: an independent NumPy/SciPy transcription of the papers' definitions (``cdist``, full sort).
- Behaviour: a generator collapsed onto one digit class keeps its precision while recall and coverage drop.
"""

import json
import sys
import zipfile
from pathlib import Path

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from torch import nn

from metrics_helpers import TEST_CACHE, digits_cfg, pypi_wheel, sha256_of
from specnorm.metrics import Evaluator
from specnorm.metrics.digits_classifier import DigitsExtractor, digits_data, load_classifier
from specnorm.metrics.prdc import NEAREST_K, RealManifold, knn_radii, prdc

CPU = torch.device("cpu")
PRDC_SPEC = "prdc==0.2"
PRDC_WHEEL = "prdc-0.2-py3-none-any.whl"
PRDC_SHA256 = "570ae82fb57a0b0ea3e6a131354a61e23aca79716b77cb9917f3a98465b72120"
SMALL_CHUNK = 8 * 1024 * 37  # a 37-row block of a 1024-column distance matrix: many chunks per pass


def _gaussians(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32) * scale + shift


def _digit_features() -> tuple[np.ndarray, np.ndarray]:
    """The digits classifier's features (what the evaluator compares) of all 1,797 digits, and their labels."""
    images, labels = digits_data()
    with torch.no_grad():
        feats, _ = DigitsExtractor(load_classifier())(images)
    return feats.numpy(), labels.numpy()


def _feature_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(real, fake) float32 feature arrays: digits vs noisy digits, digits vs one class, Gaussians of unequal sizes."""
    feats, labels = _digit_features()
    rng = np.random.default_rng(0)
    real, rest = feats[:900], feats[900:]
    noisy = rest + rng.standard_normal(rest.shape).astype(np.float32) * feats.std() * 0.1
    return {"digits-noisy": (real, noisy), "digits-one-class": (real, rest[labels[900:] == 3]),
            "gaussians": (_gaussians(600, 32, 1), _gaussians(450, 32, 2, shift=0.2, scale=1.3))}


def _ours(real: np.ndarray, fake: np.ndarray, chunk_bytes: int = SMALL_CHUNK) -> dict[str, float]:
    return prdc(torch.from_numpy(fake), RealManifold.of(real, CPU, chunk_bytes), chunk_bytes)


def _definitions(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The four metrics straight from their definitions (Kynkäänniemi et al. 2019 eqs. 1–2, k = 3; Naeem et
    al. 2020 eqs. 3–4, k = 5), with SciPy's distances and a full sort."""
    x, y = real.astype(np.float64), fake.astype(np.float64)
    d_xx, d_yy, d_xy = cdist(x, x), cdist(y, y), cdist(x, y)
    nearest = np.sort(d_xx, axis=1)  # column 0: the point itself
    radius = {k: nearest[:, k] for k in (3, 5)}
    fake_radius = np.sort(d_yy, axis=1)[:, 3]
    return {
        "precision": float(np.mean([np.any(d_xy[:, j] < radius[3]) for j in range(len(y))])),
        "recall": float(np.mean([np.any(d_xy[i, :] < fake_radius) for i in range(len(x))])),
        "density": float(np.mean([np.sum(d_xy[:, j] < radius[5]) for j in range(len(y))]) / 5),
        "coverage": float(np.mean([np.min(d_xy[i, :]) < radius[5][i] for i in range(len(x))])),
    }


@pytest.fixture(scope="module")
def compute_prdc():
    """``prdc.compute_prdc`` from the PyPI wheel (downloaded once into the cache, sha256-checked)."""
    wheel = pypi_wheel(PRDC_SPEC, PRDC_WHEEL, timeout=600)
    assert sha256_of(wheel) == PRDC_SHA256, f"{wheel} is not the known {PRDC_SPEC} wheel"
    unpacked = TEST_CACHE / "prdc-0.2"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(unpacked)
    sys.path.insert(0, str(unpacked))
    try:
        from prdc import compute_prdc as peer
    finally:
        sys.path.remove(str(unpacked))
    assert Path(sys.modules["prdc"].__file__).resolve().is_relative_to(unpacked.resolve())
    return peer


@pytest.mark.network
@pytest.mark.parametrize("pair", ["digits-noisy", "digits-one-class", "gaussians"])
def test_equal_to_the_authors_prdc_package(compute_prdc, pair):
    real, fake = _feature_pairs()[pair]
    ours = _ours(real, fake)
    x, y = real.astype(np.float64), fake.astype(np.float64)  # float64 in: sklearn keeps float64 distances
    peer = {k: compute_prdc(x, y, nearest_k=3)[k] for k in ("precision", "recall")}
    peer |= {k: compute_prdc(x, y, nearest_k=5)[k] for k in ("density", "coverage")}
    assert set(ours) == set(peer) == set(NEAREST_K)
    for metric, value in peer.items():
        assert ours[metric] == pytest.approx(float(value), abs=1e-6), metric
    assert 0 < ours["precision"] < 1 and 0 < ours["coverage"] < 1  # not a degenerate agreement


@pytest.mark.parametrize("pair", ["digits-noisy", "gaussians"])
def test_equal_to_the_papers_definitions(pair):
    real, fake = _feature_pairs()[pair]
    want = _definitions(real, fake)
    for chunk in (SMALL_CHUNK, 1 << 30):  # many row chunks or one: the same numbers
        got = _ours(real, fake, chunk)
        for metric in NEAREST_K:
            assert got[metric] == pytest.approx(want[metric], abs=1e-12), (metric, chunk)


def test_radii_exclude_the_point_itself_and_need_k_plus_one_rows():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]], dtype=torch.float64)
    assert knn_radii(x, (1, 3))[1].tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x, (1, 3))[3].tolist() == [7.0, 6.0, 4.0, 7.0]
    with pytest.raises(ValueError, match="at least 6 samples"):
        knn_radii(x, (5,))


def test_identical_sets_score_one_and_disjoint_sets_zero():
    real = _gaussians(300, 8, 3)
    same = _ours(real, real)
    assert (same["precision"], same["recall"], same["coverage"]) == (1.0, 1.0, 1.0)
    assert same["density"] == pytest.approx(1.0, abs=0.01)  # exactly 1 but for rounding ties at the 5th neighbour
    far = _ours(real, _gaussians(200, 8, 4, shift=100.0))
    assert far == dict.fromkeys(NEAREST_K, 0.0)


class OneClassDigits(nn.Module):
    """A 'generator' returning real digits (plus small noise) picked by its latents: of every class, or of
    one class only (collapsed)."""

    z_dim = 32

    def __init__(self, only: int | None = None) -> None:
        super().__init__()
        images, labels = digits_data()
        self.images = images if only is None else images[labels == only]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (z[:, :8].abs().sum(1) * 1e4).long() % len(self.images)
        return (self.images[idx] + 0.05 * z[:, 8:9, None, None]).clamp(-1, 1)


def test_a_collapsed_generator_keeps_precision_but_loses_recall_and_coverage(tmp_path):
    ev = Evaluator.from_config(digits_cfg(n_gen=400, n_real=600, n_is=400), CPU, tmp_path)
    full = {r["metric"]: r["value"] for r in ev.evaluate(OneClassDigits(), 1, 0.0)}
    collapsed = {r["metric"]: r["value"] for r in ev.evaluate(OneClassDigits(only=3), 1, 0.0)}
    assert full["precision"] > 0.8 and collapsed["precision"] > 0.8  # every sample looks real
    assert full["recall"] > 0.7 and full["coverage"] > 0.8
    assert collapsed["recall"] < 0.25 and collapsed["coverage"] < 0.25  # about one class in ten is reached
    assert collapsed["is"] < full["is"] / 3


def test_the_real_radii_are_computed_once_per_reference(tmp_path, monkeypatch):
    from specnorm.metrics import prdc as prdc_module

    calls = []
    real_knn = prdc_module.knn_radii
    monkeypatch.setattr(prdc_module, "knn_radii", lambda feats, ks, *a: calls.append((len(feats), ks))
                        or real_knn(feats, ks, *a))
    ev = Evaluator.from_config(digits_cfg(n_gen=100, n_real=250), CPU, tmp_path)
    first = ev.evaluate(OneClassDigits(), 1, 0.0)
    second = ev.evaluate(OneClassDigits(only=7), 2, 0.0)
    assert calls == [(250, (3, 5)), (100, (3,)), (100, (3,))]  # the real set's once, each generated set's
    assert first != second and ev.reference.feats.shape == (250, 64)


def test_a_format_1_reference_file_is_rebuilt_with_its_features(tmp_path):
    from specnorm.metrics import reference

    cfg = digits_cfg(n_real=200)
    path = Evaluator.from_config(cfg, CPU, tmp_path).reference.path
    with np.load(path) as z:  # as format 1 wrote it under the paper protocol: no real features
        meta = {**json.loads(str(z["meta"])), "format": 1}
        stats = reference.Stats(z["mu"], z["sigma"])
    meta.pop("n_features")
    reference.save(path, meta, stats, None)
    with pytest.warns(RuntimeWarning, match="cache format 1, this version reads format 2.*rebuilding"):
        ev = Evaluator.from_config(cfg, CPU, tmp_path)
    assert not ev.reference.from_cache and ev.reference.feats.shape == (200, 64)
    assert Evaluator.from_config(cfg, CPU, tmp_path).reference.from_cache


def test_a_reference_above_the_cap_keeps_one_seeded_subset_for_every_run_seed(tmp_path, monkeypatch):
    from specnorm.metrics import protocol

    monkeypatch.setattr(protocol, "REF_FEATURES_MAX", 500)  # the digits' 1,797 stand in for a large reference
    evs = [Evaluator.from_config(digits_cfg(seed=s, protocol="standard", n_real=None, n_gen=100, n_is=100), CPU,
                                 tmp_path) for s in (0, 1)]
    assert evs[0].reference.path == evs[1].reference.path and evs[1].reference.from_cache
    assert evs[0].reference.feats.shape == (500, 64)
    rows = {r["metric"]: r for r in evs[1].evaluate(OneClassDigits(), 1, 0.0)}
    assert (rows["coverage"]["n_real"], rows["coverage"]["reference"]) == (
        500, "digits-train(1797)/seeded-subset(500),k=5")
    assert (rows["fid"]["n_real"], rows["fid"]["reference"]) == (1797, "digits-train(1797)")
