"""Evaluation protocols: how many images, which reference set, which resize — recorded with every score.

A score means nothing without its protocol (docs/design.md#metric-protocol), so every score carries its
:class:`~specnorm.scores.ProtocolKey` (protocol, extractor, sample counts, reference set, resize,
precision: :meth:`Protocol.key`) and its run seed.

- ``paper``: the official BSN code (docs/design.md#metric-protocol). FID on 10k generated vs
  5k real training images (a subset fixed by the run seed; officially an unseeded permutation),
  IS on 50k other generated images in 10 splits; float images, no uint8 quantisation; Inception
  sees the TF1 bilinear resize of the 2015-12-05 graph.
- ``standard``: clean-fid ``clean`` mode: 50k generated images (quantised to uint8, as when saved
  to PNG) vs the whole training set, PIL-bicubic resize; KID as well; IS on the same 50k images.

Precision, recall, density and coverage (``prdc.py``) compare the generated images of FID with the
real features the reference cache keeps: the reference set, or a fixed seeded subset of
:data:`REF_FEATURES_MAX` of it when it is larger (their key's ``n_real`` and ``reference``, with k).

Either protocol runs the metric network in strict fp32 unless ``eval.precision`` says ``tf32`` or
``bf16`` (recorded as the ``precision`` field; docs/deviations.md M10).

Latents: every evaluation of a run uses the same latents (drawn on the CPU from the run seed and
the protocol), so curves are compared on common random numbers and ``specnorm score`` of the best
generator reproduces its in-training value. The official code draws fresh latents per evaluation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from specnorm.config import EvalCfg
from specnorm.metrics.extractor import Extractor
from specnorm.metrics.prdc import NEAREST_K
from specnorm.scores import ProtocolKey
from specnorm.vocab import METRIC_INFO, stream_seed

REF_FEATURES_MAX = 50_000
"""The real features kept beside the reference statistics (KID and precision/recall/density/coverage
compare with them): all of the reference set, or a seeded subset of this many rows of a larger one
(KID draws 100 subsets of ≤ 1000 rows; the k-NN metrics cost O(rows²) per evaluation)."""
REF_FEATURES_SEED = 0
"""The subset of a larger reference is drawn from this fixed seed's ``eval/reference_features`` stream,
not the run's: the reference file (named without the seed when the reference is the whole training
set) is shared by every run seed, and so are its features."""


@dataclass(frozen=True)
class Protocol:
    """One protocol with its sample counts resolved (``n_real`` capped at the dataset size)."""

    name: str  # paper | standard
    n_gen: int  # generated images for FID (and KID)
    n_real: int  # real images of the reference set
    n_is: int  # generated images for IS
    is_splits: int
    kid: bool  # also report KID (clean-fid ``kernel_distance``)
    shared_samples: bool  # IS uses the first n_is of the FID samples (else an independent stream)
    quantize: bool  # generated images are rounded to uint8 before feature extraction
    seed: int  # run seed: fixes the latents and the real subset
    n_dataset: int  # size of the training set the reference is drawn from
    precision: str = "fp32"  # numerics of the metric network's forward (eval.precision; M10)

    def reference(self, dataset: str) -> str:
        """The reference set in words: the whole training set or a subset (drawn by the run seed, which
        each score records beside its key)."""
        if self.n_real >= self.n_dataset:
            return f"{dataset}-train({self.n_real})"
        return f"{dataset}-train-subset({self.n_real})"

    @property
    def n_features(self) -> int:
        """How many real features the reference keeps (:data:`REF_FEATURES_MAX`)."""
        return min(self.n_real, REF_FEATURES_MAX)

    def key(self, metric: str, dataset: str, extractor: Extractor, n_images: int | None = None) -> ProtocolKey:
        """The :class:`~specnorm.scores.ProtocolKey` of a ``metric`` score of ``n_images`` images
        (default: the protocol's count for that metric) by ``extractor``: against the reference set
        (FID, KID), against the kept real features with the metric's k (precision, recall, density,
        coverage: ``cifar10-train-subset(5000),k=3``) or without one (IS, ``n_is`` images in ``is_splits`` splits)."""
        if METRIC_INFO[metric].manifold:
            n, n_real = self.n_gen, self.n_features
            subset = "" if n_real == self.n_real else f"/seeded-subset({n_real})"
            reference = f"{self.reference(dataset)}{subset},k={NEAREST_K[metric]}"
        elif METRIC_INFO[metric].reference:
            n, n_real, reference = self.n_gen, self.n_real, self.reference(dataset)
        else:
            n, n_real, reference = self.n_is, 0, f"none(IS,{self.is_splits} splits)"
        return ProtocolKey(protocol=self.name, extractor=extractor.name, extractor_sha256=extractor.sha256,
                           n_gen=n if n_images is None else n_images, n_real=n_real, reference=reference,
                           resize=f"{'uint8' if self.quantize else 'float'}->{extractor.resize}",
                           precision=self.precision)

    def summary(self, dataset: str, extractor: Extractor) -> dict:
        """Everything that defines a scoring's numbers (``protocol`` of ``scores.json`` and of the
        Real-data file): the FID key's fields and the protocol's own (counts, seed, KID, ...)."""
        own = dataclasses.asdict(self)
        del own["name"]  # the key's ``protocol``
        return {**self.key("fid", dataset, extractor).row(), **own}


DEFAULTS: dict[str, dict] = {
    "paper": dict(n_gen=10_000, n_real=5_000, n_is=50_000, is_splits=10, kid=False, shared_samples=False,
                  quantize=False),
    "standard": dict(n_gen=50_000, n_real=None, n_is=50_000, is_splits=10, kid=True, shared_samples=True,
                     quantize=True),
}


def resolve(eval_cfg: EvalCfg, n_dataset: int, seed: int) -> Protocol:
    """The protocol ``eval_cfg.protocol`` with ``eval_cfg``'s overrides (smoke runs) and ``n_real`` ≤ dataset size."""
    defaults = DEFAULTS[eval_cfg.protocol]
    n_real = eval_cfg.n_real if eval_cfg.n_real is not None else defaults["n_real"]
    n_real = n_dataset if n_real is None else min(n_real, n_dataset)
    p = Protocol(
        name=eval_cfg.protocol,
        n_gen=eval_cfg.n_gen if eval_cfg.n_gen is not None else defaults["n_gen"],
        n_real=n_real,
        n_is=eval_cfg.n_is if eval_cfg.n_is is not None else defaults["n_is"],
        is_splits=eval_cfg.is_splits if eval_cfg.is_splits is not None else defaults["is_splits"],
        kid=defaults["kid"], shared_samples=defaults["shared_samples"], quantize=defaults["quantize"], seed=seed,
        n_dataset=n_dataset, precision=eval_cfg.precision,
    )
    if min(p.n_gen, p.n_real) < 2 or p.n_is < p.is_splits:
        raise ValueError(f"protocol {p.name}: need n_gen, n_real >= 2 and n_is >= is_splits, got n_gen={p.n_gen}, "
                         f"n_real={p.n_real}, n_is={p.n_is}, is_splits={p.is_splits}")
    return p


LATENT_CHUNK = 4096


def eval_seed(seed: int, stream: str) -> int:
    """Seed of one named evaluation stream of a run: the run's ``eval/<stream>`` stream."""
    return stream_seed(seed, f"eval/{stream}")


def real_subset(n_dataset: int, n_real: int, seed: int) -> torch.Tensor:
    """Sorted indices of the real reference images: all of them, or a subset fixed by ``seed``
    (the official code redraws its 5k subset per run, unseeded: docs/deviations.md M2)."""
    if n_real >= n_dataset:
        return torch.arange(n_dataset)
    g = torch.Generator().manual_seed(eval_seed(seed, "real_subset"))
    return torch.randperm(n_dataset, generator=g)[:n_real].sort().values


def latents(count: int, z_dim: int, seed: int, stream: str) -> torch.Tensor:
    """(count, z_dim) standard-normal latents of ``stream``, drawn on the CPU (device independent) in
    fixed chunks of :data:`LATENT_CHUNK` rows, each from its own seed, so a shorter draw is a prefix
    of a longer one (scores with different ``n_gen`` share their first latents)."""
    chunks = []
    for k in range(-(-count // LATENT_CHUNK)):
        g = torch.Generator().manual_seed(eval_seed(seed, f"{stream}/{k}"))
        chunks.append(torch.randn(LATENT_CHUNK, z_dim, generator=g))
    return torch.cat(chunks)[:count] if chunks else torch.zeros(0, z_dim)
