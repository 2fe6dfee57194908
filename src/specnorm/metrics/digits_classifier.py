"""The feature extractor of the built-in ``digits`` dataset: a small CNN trained once, deterministically,
on all 1,797 scikit-learn digits (our design; the paper has no such dataset).

Scores computed with it are *digits-FID / digits-KID / digits-IS* (penultimate 64-d features, taken
before the ReLU so that no dead unit makes the covariance singular;
softmax over the 10 classes), never comparable to Inception scores. The weights ship as
``specnorm/resources/digits_classifier.pt`` (a plain state_dict) and are checked against
:data:`DIGITS_SHA256` on load. ``python -m specnorm.metrics.digits_classifier`` retrains them and
prints the new sha256 (bit-identical on the same CPU build and thread count; elsewhere the low
bits may differ, so the shipped file is the reference).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from specnorm.catalog import EXTRACTORS
from specnorm.io import atomic_write

INFO = next(e for e in EXTRACTORS.values() if e.builder.startswith(f"{__name__}:"))
NAME = INFO.name  # the registry's name of this extractor (specnorm.catalog)
DIGITS_SHA256 = "bdf83a9d038c11042e29b71ad1d23f603a3edbb02afde61fc7ebdd790d666c44"
SEED = 0
EPOCHS = 30
FEATURE_SCALE = 0.1
"""Multiplies the extracted features: real digits then have x·y/d ≈ 0.6, the magnitude Inception
pool3 features give clean-fid's KID kernel (x·y/d + 1)³ (unscaled it would be ≈ 60)."""


class DigitsNet(nn.Module):
    """conv3×3(16) → pool → conv3×3(24) → pool → fc(64) = features → ReLU → fc(10) = logits.

    Input: 3×16×16 digits in [−1, 1] (``specnorm.data.to_float``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 24, 3, padding=1)
        self.fc = nn.Linear(24 * 4 * 4, 64)
        self.head = nn.Linear(64, 10)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        feats = self.fc(h.flatten(1))  # pre-activation: no dead ReLU units, full-rank covariance
        return feats, self.head(F.relu(feats))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[1]


def weights_path() -> Path:
    """The shipped weights file inside the installed package."""
    return Path(str(resources.files("specnorm").joinpath("resources", "digits_classifier.pt")))


def digits_data() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float [−1, 1] (N, 3, 16, 16) (``specnorm.data``) and their labels."""
    from specnorm.data import load, to_float
    from specnorm.data.sources import sklearn_digits

    images = to_float(torch.from_numpy(load(INFO.trained_on).copy()))
    labels = torch.from_numpy(sklearn_digits()[1]).long()
    if len(images) != len(labels):
        raise ValueError(f"digits: {len(images)} images but {len(labels)} labels")
    return images, labels


@contextlib.contextmanager
def _deterministic_cpu(seed: int) -> Iterator[None]:
    """Seeded, single-threaded CPU work that leaves the global RNG and thread count as they were."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random translation by up to ±1 pixel (background padding), one offset per image."""
    n, _, h, w = x.shape
    padded = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dy, dx = torch.randint(0, 3, (2, n), generator=g)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, x.shape[1], h, w + 2)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def train(epochs: int = EPOCHS, seed: int = SEED, batch_size: int = 64) -> DigitsNet:
    """Train :class:`DigitsNet` on all digits (Adam 2e-3, ±1 px shifts), deterministically on the CPU."""
    images, labels = digits_data()
    with _deterministic_cpu(seed):
        net = DigitsNet()
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3)
        for _ in range(epochs):
            order = torch.randperm(len(images), generator=g)
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                loss = F.cross_entropy(net(_shift(images[idx], g)), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return net.eval()


def accuracy(net: DigitsNet) -> float:
    """Training-set accuracy on the 1,797 digits."""
    images, labels = digits_data()
    with torch.no_grad():
        return float((net(images).argmax(1) == labels).float().mean())


def save(net: DigitsNet, path: str | Path) -> str:
    """Write the state_dict atomically; return the file's sha256."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, buf)
    data = buf.getvalue()
    atomic_write(path, lambda f: f.write(data))
    return hashlib.sha256(data).hexdigest()


def load_classifier(device: torch.device | str = "cpu", path: str | Path | None = None,
                    expected: str = DIGITS_SHA256) -> DigitsNet:
    """Load the (shipped) weights after checking their sha256."""
    path = Path(path) if path is not None else weights_path()
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise ValueError(f"{path}: sha256 is {actual}, expected {expected}; the digits classifier file is "
                         "corrupted or stale (retrain: python -m specnorm.metrics.digits_classifier)")
    net = DigitsNet()
    net.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    return net.to(device).eval()


def build_extractor(device: torch.device | None = None, **_: object) -> "DigitsExtractor":
    """The registry's builder (``specnorm.catalog``): the shipped classifier, checked, on ``device``
    (the protocol and weights-file arguments of other extractors do not apply)."""
    return DigitsExtractor(load_classifier(device))


class DigitsExtractor:
    """digits-FID/KID features (64-d penultimate layer, pre-ReLU, × :data:`FEATURE_SCALE`) and
    digits-IS logits (10 classes); the images are fed at their native 16×16, no resize."""

    name = NAME
    resize = "none(native 16x16)"
    features = f"fc(64),pre-relu,x{FEATURE_SCALE}"

    def __init__(self, net: DigitsNet, sha256: str = DIGITS_SHA256) -> None:
        self.net, self.sha256 = net, sha256

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        feats, logits = self.net.features(x)
        return feats * FEATURE_SCALE, logits


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m specnorm.metrics.digits_classifier",
                                description="Retrain the digits classifier (deterministic, CPU) and print its sha256.")
    p.add_argument("--out", type=Path, default=weights_path(),
                   help="where to write the state_dict (default: the shipped file)")
    p.add_argument("--epochs", type=int, default=EPOCHS)
    args = p.parse_args(argv)
    net = train(args.epochs)
    digest = save(net, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes), training accuracy {accuracy(net):.4f}")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
