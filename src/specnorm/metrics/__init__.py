"""FID / KID (clean-fid arithmetic), Inception Score and digits-FID/IS under recorded protocols.

``Evaluator`` scores a generator under the ``paper`` (official BSN: 10k vs 5k FID, 50k IS) or
``standard`` (clean-fid ``clean``: 50k vs the training set, KID) protocol, with precision, recall,
density and coverage beside them (``prdc``); every score row holds its protocol fields.
``inception`` handles the TorchScript weights (fetch, sha256, clear errors); ``digits_classifier``
is the extractor of the built-in ``digits`` dataset. Commands:
``specnorm score`` and ``specnorm fetch-inception`` (``metrics.cli``). Importing this package first
makes the PyPI torchvision wheel importable on CPU torch (the one package that imports torchvision,
through clean-fid).
"""

from specnorm.metrics._tvcompat import ensure_torchvision_importable as _ensure_tv

TV_SHIMMED = _ensure_tv()
"""Whether the torchvision CPU shim was applied (clean-fid imports torchvision; see ``_tvcompat``)."""

from specnorm.metrics.evaluator import Evaluator, build_extractor
from specnorm.metrics.fid import Stats, feature_stats, fid, kid
from specnorm.metrics.inception import ChecksumMismatchError, InceptionMissingError
from specnorm.metrics.inception_score import inception_score
from specnorm.metrics.protocol import DEFAULTS, Protocol, resolve

__all__ = [
    "DEFAULTS", "TV_SHIMMED", "ChecksumMismatchError", "Evaluator", "InceptionMissingError", "Protocol", "Stats",
    "build_extractor", "feature_stats", "fid", "inception_score", "kid", "resolve",
]
