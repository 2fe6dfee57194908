"""Registries of the benchmark, by name: datasets, feature extractors and normalizations
(torch-free ground floor).

Everything else asks these registries (docs/design.md#vocabulary): whether a dataset is built in,
its shape and source, its display name, which extractor scores it when ``eval.extractor`` is
``auto`` (the one "auto" rule: :func:`resolve_extractor`), and which normalizations ``norm.mode``
may name and how the report calls them. Like torch-fidelity's registries, an
entry names its implementation as ``"module:function"`` and is imported only when used, so the
workflow, the grid and the report read the catalogue without importing torch.

Dataset download addresses and checksums are those of torchvision's dataset modules (``cifar.py``,
``stl10.py``, ``celeba.py``, ``mnist.py``); every prepared dataset is a uint8 NCHW array
(docs/design.md#datasets).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _import(target: str) -> Callable[..., Any]:
    """The function named by ``"module:function"`` (imported on first use)."""
    module, _, func = target.partition(":")
    return getattr(importlib.import_module(module), func)


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: its prepared shape and its raw source.

    ``reader``: ``"module:function"`` yielding the prepared uint8 chunks from the raw source
    (``specnorm.data.sources``). ``builtin``: shipped with the package (no download, no prepared files, no ``prepare`` job).
    ``source_file``/``md5``: the raw archive (None for a built-in dataset). ``urls``: mirrors tried
    in order (empty: never downloaded automatically). ``source_dir``: the name of an accepted
    extracted folder. ``how_to_get``: printed when the raw data is missing. ``extractor``: the
    feature extractor that ``eval.extractor: auto`` picks. ``label``: the report's display name.
    """

    name: str
    resolution: int
    channels: int
    n_images: int
    description: str
    preprocessing: str
    source_file: str | None = None
    md5: str | None = None
    urls: tuple[str, ...] = ()
    source_dir: str | None = None
    how_to_get: str = ""
    reader: str = ""
    builtin: bool = False
    extractor: str = "inception"
    label: str = ""
    grey: bool = False  # the images are grey (one channel, or grey replicated to three): samples are shown grey

    def read(self, *args: Any, **kwargs: Any) -> Any:
        """Call the dataset's reader (imports ``specnorm.data.sources``)."""
        return _import(self.reader)(*args, **kwargs)

    @property
    def source_kind(self) -> str:
        """``builtin`` (shipped), ``download`` (fetched by ``specnorm prepare``) or ``manual``
        (a local copy must be given: licence or no reliable mirror)."""
        return "builtin" if self.builtin else ("download" if self.urls else "manual")

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """Shape of the prepared array, (N, C, H, W)."""
        return (self.n_images, self.channels, self.resolution, self.resolution)


_RESIZE = (
    "2x2 box average, uint8 result floor((a+b+c+d+2)/4) (round half up), which is what "
    "cv2.resize INTER_LINEAR computes on an exact halving"
)

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        reader="specnorm.data.sources:read_digits",
        label="digits (built-in)",
        builtin=True,
        grey=True,
        extractor="digits",
        resolution=16,
        channels=3,
        n_images=1797,
        description="scikit-learn's 1,797 real 8x8 handwritten digits; built in, no download (the pipeline default)",
        preprocessing=(
            "sklearn.datasets.load_digits().images (0..16) -> uint8 floor(v*255/16 + 0.5) -> 8x8 to 16x16 "
            "bilinear like cv2 INTER_LINEAR (half-pixel centres, edge replicated, 11-bit fixed-point weights) "
            "-> grey replicated to 3 channels"
        ),
    ),
    "cifar10": DatasetInfo(
        name="cifar10",
        reader="specnorm.data.sources:read_cifar10",
        label="CIFAR10",
        resolution=32,
        channels=3,
        n_images=50_000,
        description="CIFAR-10 training set (data_batch_1..5), 32x32 RGB (docs/design.md#datasets)",
        preprocessing="data_batch_1..5 in order, rows reshaped to (N, 3, 32, 32); no resizing",
        source_file="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    ),
    "stl10": DatasetInfo(
        name="stl10",
        reader="specnorm.data.sources:read_stl10",
        label="STL10",
        resolution=48,
        channels=3,
        n_images=100_000,
        description="STL-10 unlabeled split (unlabeled_X.bin), 96x96 resized to 48x48 (docs/design.md#datasets)",
        preprocessing=(
            "stl10_binary/unlabeled_X.bin -> reshape (-1, 3, 96, 96) -> column-major planes transposed to "
            f"(N, 3, row, col) (the official transpose(0, 3, 2, 1), kept NCHW) -> 96 to 48 by {_RESIZE}"
        ),
        source_file="stl10_binary.tar.gz",
        md5="91f7769df0f17e558f3565bffb0c7dfb",
        urls=("http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",),
    ),
    "celeba": DatasetInfo(
        name="celeba",
        reader="specnorm.data.sources:read_celeba",
        label="CelebA",
        resolution=64,
        channels=3,
        n_images=202_599,
        description="CelebA img_align_celeba, all 202,599 images, center crop 128, resized to 64x64 (docs/design.md#datasets)",
        preprocessing=(
            "img_align_celeba/000001.jpg..202599.jpg decoded with PIL (RGB) -> center crop 128x128 starting at "
            f"((h-128)//2, (w-128)//2) = rows 45:173, cols 25:153 for 178x218 -> 128 to 64 by {_RESIZE}"
        ),
        source_file="img_align_celeba.zip",
        md5="00d2c5bc6d35e252742224ab0c1e8fcb",
        source_dir="img_align_celeba",
        how_to_get=(
            "CelebA is only distributed through Google Drive, which cannot be downloaded reliably. Download "
            "'img_align_celeba.zip' (md5 00d2c5bc6d35e252742224ab0c1e8fcb) from "
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html ('Align&Cropped Images') and either place it at "
            "<root>/celeba/raw/img_align_celeba.zip, or extract it to <root>/celeba/raw/img_align_celeba/, "
            "or pass --source PATH (the zip or the extracted img_align_celeba folder)."
        ),
    ),
    "imagenet": DatasetInfo(
        name="imagenet",
        reader="specnorm.data.sources:read_imagenet",
        label="ILSVRC2012",
        resolution=128,
        channels=3,
        n_images=1_281_167,
        description="ILSVRC2012 training set, all 1,281,167 images, center square crop, resized to 128x128 (docs/design.md#datasets)",
        preprocessing=(
            "<class>/<image> in sorted order, decoded with PIL (RGB) -> center square crop of side min(h, w) "
            "starting at ((h-s)//2, (w-s)//2) -> resized to 128x128 like cv2 INTER_LINEAR (bilinear, half-pixel "
            "centres, no antialiasing, 11-bit fixed-point weights as in OpenCV's vectorised 8-bit path)"
        ),
        source_dir="train",
        how_to_get=(
            "ILSVRC2012 cannot be downloaded automatically (licence). Obtain the training set from "
            "https://image-net.org, extract it into one folder of 1,000 class sub-folders of JPEGs "
            "(ILSVRC2012_img_train.tar holds one tar per class), and place it at <root>/imagenet/raw/train/ "
            "or pass --source PATH."
        ),
    ),
    "mnist": DatasetInfo(
        name="mnist",
        reader="specnorm.data.sources:read_mnist",
        label="MNIST",
        resolution=28,
        channels=1,
        n_images=60_000,
        description="MNIST training images, 1x28x28 (the MLP analysis runs, paper Figs. 2-3)",
        preprocessing="train-images-idx3-ubyte.gz idx3 payload reshaped to (N, 1, 28, 28); no resizing",
        source_file="train-images-idx3-ubyte.gz",
        md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
        urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
            "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz",
        ),
    ),
}


def get_info(name: str) -> DatasetInfo:
    """The registry entry for ``name`` (looked up at call time), with a clear error if unknown."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}") from None


def is_builtin(name: str) -> bool:
    """Whether dataset ``name`` ships with the package (unknown names: False)."""
    info = DATASETS.get(name)
    return info is not None and info.builtin


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add (or replace) a dataset; its source reader must be registered in ``specnorm.data.sources``."""
    DATASETS[info.name] = info
    return info


# -- feature extractors ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExtractorInfo:
    """One feature extractor for FID/KID/IS.

    ``builder``: ``"module:function"`` returning the extractor object (``specnorm.metrics.extractor.
    Extractor``), called as ``builder(device, resources=…, protocol=…, inception_path=…)``.
    ``resolution``: the image size it takes (None: any, it resizes). ``weights_file``: where under the
    resources folder its weights live when they are not shipped (the pipeline fetches them first).
    """

    name: str
    builder: str
    description: str
    resolution: int | None = None
    weights_file: str | None = None  # under the resources folder, fetched before any job uses it
    trained_on: str | None = None  # the dataset a shipped extractor was trained on

    def build(self, *args: Any, **kwargs: Any) -> Any:
        """Import the implementation and build the extractor (imports torch)."""
        return _import(self.builder)(*args, **kwargs)


EXTRACTORS: dict[str, ExtractorInfo] = {}


def register_extractor(info: ExtractorInfo) -> ExtractorInfo:
    """Add (or replace) a feature extractor by name."""
    EXTRACTORS[info.name] = info
    return info


register_extractor(ExtractorInfo(
    "inception", "specnorm.metrics.inception:build_extractor",
    "Inception 2015-12-05 (TorchScript, clean-fid's copy): pool3 features, 1008 logits",
    weights_file="inception/inception-2015-12-05.pt"))
register_extractor(ExtractorInfo(
    "digits", "specnorm.metrics.digits_classifier:build_extractor",
    "the built-in digits classifier shipped with the package (digits-FID/KID/IS)", resolution=16,
    trained_on="digits"))

EXTRACTOR_CHOICES = ("auto", *EXTRACTORS)
DEFAULT_DATASET = "digits"
"""The dataset of a cell config that names none: the built-in one (the demo runs without a download)."""


def resolve_extractor(requested: str, dataset: str) -> str:
    """The extractor that scores ``dataset``: ``requested``, or for ``auto`` the dataset's own
    (its catalogue entry's ``extractor``). The one place the "auto" rule lives."""
    if requested == "auto":
        return get_info(dataset).extractor
    if requested not in EXTRACTORS:
        raise KeyError(f"unknown extractor {requested!r}; known: auto, {', '.join(EXTRACTORS)}")
    return requested


def get_extractor(name: str) -> ExtractorInfo:
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise KeyError(f"unknown extractor {name!r}; known: {', '.join(EXTRACTORS)}") from None



# -- normalizations of D -------------------------------------------------------------------------
@dataclass(frozen=True)
class NormInfo:
    """One normalization of the discriminator's weights (paper §2–§5), by its ``norm.mode`` name.

    ``impl``: ``"module:Class"`` of its :class:`specnorm.nn.Normalization` subclass, imported on
    use (None: the layers are left as they are). ``label``: the variant family's display name in the
    report (its scaled versions are the same family at s ≠ 1: SSN is SN ×s). ``options``: the
    ``norm.*`` keys beyond ``scale``, ``gamma`` and ``grad_through_uv`` that apply to it.
    """

    name: str
    label: str
    impl: str | None
    about: str = ""
    options: tuple[str, ...] = ()

    def load(self) -> type:
        """The implementing class (imports torch)."""
        if self.impl is None:
            raise ValueError(f"normalization {self.name!r} has no implementation (it leaves the layers as they are)")
        return _import(self.impl)


NORMALIZATIONS: dict[str, NormInfo] = {}


def register_norm(info: NormInfo) -> NormInfo:
    """Add (or replace) a normalization; cell configs accept ``norm.mode: <name>`` at once
    (README, "Adding a new normalization")."""
    NORMALIZATIONS[info.name] = info
    return info


def get_norm(name: str) -> NormInfo:
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise KeyError(f"unknown normalization {name!r}; known: {', '.join(NORMALIZATIONS)}") from None


def norm_names() -> tuple[str, ...]:
    """The registered ``norm.mode`` values, in registration order (read at call time)."""
    return tuple(NORMALIZATIONS)


register_norm(NormInfo("none", "no-SN", None, "no normalization (the un-normalized baselines: no SN, LeCun×s)"))
register_norm(NormInfo("sn", "SN", "specnorm.nn.spectral:SN",
                       "SN_w (Miyato): sigma of the c_out x c_in*k*k kernel matrix; SSN with a scale s"))
register_norm(NormInfo("bsn", "BSN", "specnorm.nn.spectral:BSN",
                       "BSN (paper §5): mean of the sigmas of both kernel unfoldings; BSSN with a scale s"))
register_norm(NormInfo("sn_conv", "SN_Conv", "specnorm.nn.spectral:SNConv",
                       "SN_Conv (paper §4): sigma of the convolution operator at the layer's input size",
                       options=("clamp",)))
