"""Inception weights handling (locate, sha256, atomic fetch, clear errors) and both extraction paths,
on a TorchScript stand-in with the real file's interface."""

import os

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import pytest
import torch
import torch.nn.functional as F

from specnorm.metrics import inception
from specnorm.metrics.inception import (ChecksumMismatchError, InceptionExtractor, InceptionMissingError, fetch,
                                        locate, verify)
from specnorm.metrics.resize import resize_clean


def test_missing_weights_error_says_how_to_provide_them(tmp_path):
    with pytest.raises(InceptionMissingError) as e:
        locate(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "inception" / inception.INCEPTION_FILE) in msg
    for hint in ("specnorm fetch-inception --resources", "--from", "eval.inception_path", inception.INCEPTION_SHA256):
        assert hint in msg
    with pytest.raises(InceptionMissingError, match="eval.inception_path"):
        locate(tmp_path, tmp_path / "nope.pt")


def test_sha256_check(standin_file):
    path, sha = standin_file
    assert verify(path, sha) == sha
    with pytest.raises(ChecksumMismatchError, match="expected " + "0" * 64):
        verify(path, "0" * 64)
    with pytest.raises(ChecksumMismatchError, match=inception.INCEPTION_SHA256):
        verify(path)  # the stand-in is not the real file


def test_fetch_copies_a_user_file_atomically_and_idempotently(standin_file, tmp_path):
    path, sha = standin_file
    dest = fetch(tmp_path, path, expected=sha)
    assert dest == tmp_path / "inception" / inception.INCEPTION_FILE and dest.read_bytes() == path.read_bytes()
    mtime = dest.stat().st_mtime_ns
    assert fetch(tmp_path, path, expected=sha) == dest and dest.stat().st_mtime_ns == mtime


def test_fetch_rejects_a_wrong_file_and_leaves_nothing(standin_file, tmp_path):
    path, _ = standin_file
    with pytest.raises(ChecksumMismatchError, match="nothing was written"):
        fetch(tmp_path, path, expected="1" * 64)
    assert os.listdir(tmp_path / "inception") == []


def test_fetch_downloads_from_a_url(standin_file, tmp_path):
    path, sha = standin_file
    dest = fetch(tmp_path, url=path.as_uri(), expected=sha)
    assert dest.read_bytes() == path.read_bytes()
    with pytest.raises(InceptionMissingError, match="could not download") as e:
        fetch(tmp_path / "other", url=(tmp_path / "absent.pt").as_uri(), expected=sha)
    assert "--from" in str(e.value)


def _images(n=5, c=3, seed=0):
    return torch.rand(n, c, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_paper_mode_feeds_the_official_minus_one_one_image_and_uses_the_biased_head(standin):
    net = inception.load(standin, torch.device("cpu"))
    ex = InceptionExtractor(net, "paper", "sha")
    x = _images()
    feats, logits = ex(x)
    # the file maps v -> (v-128)/128, so 128(x+1) reaches the layers as x itself
    assert torch.allclose(feats, net.layers(x).reshape(5, -1), atol=1e-6)
    full = F.linear(feats, net.output.weight, net.output.bias)
    assert logits.shape == (5, 1000) and torch.allclose(logits, full[:, :1000])
    assert torch.allclose(full.softmax(1), net(128.0 * (x + 1.0)), atol=1e-6)  # same head as the file's softmax
    assert ex.resize.startswith("tf1-bilinear")


def test_clean_mode_resizes_like_clean_fid_and_calls_layers(standin):
    net = inception.load(standin, torch.device("cpu"))
    ex = InceptionExtractor(net, "clean", "sha")
    x = _images(3)
    feats, logits = ex(x)
    v = resize_clean((x + 1.0) * 127.5)
    assert torch.allclose(feats, net.layers((v - 128.0) / 128.0).reshape(3, -1), atol=1e-6)
    assert logits.shape == (3, 1000)
    grey = _images(3, c=1)
    assert torch.allclose(ex(grey)[0], ex(grey.expand(-1, 3, -1, -1))[0])


def test_load_rejects_a_file_without_the_inception_parts(tmp_path):
    path = tmp_path / "other.pt"
    with pytest.warns(DeprecationWarning):
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    with pytest.raises(ValueError, match="not the clean-fid Inception"):
        inception.load(path, torch.device("cpu"))
    with pytest.raises(ValueError, match="mode"):
        InceptionExtractor(None, "legacy", "sha")
