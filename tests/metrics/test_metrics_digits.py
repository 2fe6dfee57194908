"""The shipped digits classifier: checksum, size, accuracy, deterministic retraining."""

import hashlib

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch

from specnorm.metrics import digits_classifier as dc


def test_shipped_weights_match_the_checksum_constant_and_are_small():
    path = dc.weights_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dc.DIGITS_SHA256
    assert path.stat().st_size < 200_000
    state = torch.load(path, weights_only=True)
    assert set(state) == set(dc.DigitsNet().state_dict())


def test_training_set_accuracy_above_95_percent():
    assert dc.accuracy(dc.load_classifier()) > 0.95


def test_a_tampered_file_is_refused(tmp_path):
    bad = tmp_path / "digits_classifier.pt"
    bad.write_bytes(dc.weights_path().read_bytes() + b"x")
    with pytest.raises(ValueError, match="sha256"):
        dc.load_classifier(path=bad)


def test_extractor_gives_64d_features_and_10_logits():
    ex = dc.DigitsExtractor(dc.load_classifier())
    feats, logits = ex(torch.zeros(4, 1, 16, 16))
    assert feats.shape == (4, 64) and logits.shape == (4, 10)
    assert ex.name == "digits" and ex.sha256 == dc.DIGITS_SHA256


def test_retraining_is_deterministic_and_leaves_global_state_alone(tmp_path):
    threads, rng = torch.get_num_threads(), torch.random.get_rng_state()
    a, b = dc.train(epochs=1), dc.train(epochs=1)
    assert torch.equal(torch.random.get_rng_state(), rng) and torch.get_num_threads() == threads
    assert all(torch.equal(a.state_dict()[k], v) for k, v in b.state_dict().items())
    assert dc.save(a, tmp_path / "a.pt") == dc.save(b, tmp_path / "b.pt")
