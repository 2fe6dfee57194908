"""Inception Score arithmetic on hand-computed cases (docs/design.md#metric-protocol)."""

import math

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch

from specnorm.metrics import inception_score


def _logits(p: list[list[float]]) -> torch.Tensor:
    return torch.tensor(p, dtype=torch.float64).log()


def test_uniform_classifier_scores_one():
    mean, std = inception_score(torch.zeros(100, 1000), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 10, 1000])
def test_confident_balanced_classifier_scores_number_of_classes(k):
    labels = torch.arange(4 * k) % k
    logits = torch.full((4 * k, k), -1e4).scatter_(1, labels[:, None], 0.0)  # one-hot after softmax
    mean, std = inception_score(logits, splits=2)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_confident_but_collapsed_classifier_scores_one():
    logits = torch.full((50, 10), -1e4)
    logits[:, 3] = 0.0
    assert inception_score(logits, splits=5)[0] == pytest.approx(1.0, abs=1e-12)


def test_two_soft_predictions_by_hand():
    # p(y) = [0.5, 0.5]; KL per sample = 0.9 ln 1.8 + 0.1 ln 0.2; IS = exp(KL)
    kl = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    mean, _ = inception_score(_logits([[0.9, 0.1], [0.1, 0.9]]), splits=1)
    assert mean == pytest.approx(math.exp(kl), rel=1e-12)
    assert mean == pytest.approx(1.444935, rel=1e-6)


def test_splits_are_contiguous_and_std_is_population_std():
    # split 1: confident & balanced (IS 2); split 2: uniform (IS 1) -> mean 1.5, population std 0.5
    logits = _logits([[1 - 1e-15, 1e-15], [1e-15, 1 - 1e-15], [0.5, 0.5], [0.5, 0.5]])
    mean, std = inception_score(logits, splits=2)
    assert mean == pytest.approx(1.5, rel=1e-9) and std == pytest.approx(0.5, rel=1e-9)


def test_logit_shift_invariance_and_bad_splits():
    logits = torch.randn(40, 7, generator=torch.Generator().manual_seed(0))
    assert inception_score(logits, 4) == pytest.approx(inception_score(logits + 3.0, 4))
    with pytest.raises(ValueError, match="splits"):
        inception_score(logits, 41)
