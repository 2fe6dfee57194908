"""In-training and post-hoc evaluation of a generator under one protocol (``protocol.py``).

Construction does the one-off work: load the extractor, fix the latents and the real subset,
load or compute the cached reference statistics (so repeated evaluations re-load neither the
network nor the dataset). :meth:`Evaluator.records` samples G in eval mode in batches on the device
(strict fp32), extracts features and logits in the same batches under ``eval.precision``
(docs/deviations.md M10), and returns one score record per metric with its protocol key: FID (KID),
IS, and precision/recall/density/coverage of the FID samples against the reference's kept real
features, whose k-NN radii are computed once per :class:`Reference` (``prdc.py``)
(``specnorm.scores``); :meth:`Evaluator.evaluate` gives them as ``metrics.csv`` rows. It draws no
random number from any global or training RNG.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from specnorm.catalog import get_extractor, is_builtin, resolve_extractor
from specnorm.config import CellConfig, EvalCfg
from specnorm.metrics import reference
from specnorm.metrics.extractor import Extractor, extract, quantize_uint8, strict_fp32
from specnorm.metrics.fid import Stats, StatsAccumulator, feature_stats, fid, kid
from specnorm.metrics.inception_score import inception_score
from specnorm.metrics.prdc import NEAREST_K, RealManifold, prdc
from specnorm.metrics.protocol import REF_FEATURES_SEED, Protocol, eval_seed, latents, real_subset, resolve
from specnorm.scores import ScoreRecord


def build_extractor(kind: str, dataset: str, protocol: str, device: torch.device, resources: str | Path,
                    inception_path: str | None = None) -> Extractor:
    """The registered extractor ``kind`` (``auto``: the dataset's own, ``specnorm.catalog``), built."""
    try:
        info = get_extractor(resolve_extractor(kind, dataset))
    except KeyError as e:
        raise ValueError(e.args[0]) from None
    return info.build(device, resources=resources, protocol=protocol, inception_path=inception_path)


@dataclass
class Reference:
    """The real side: FID statistics, the kept real features (KID; precision, recall, density,
    coverage), and where they came from."""

    stats: Stats
    feats: np.ndarray | None
    path: Path
    from_cache: bool
    _manifolds: dict = field(default_factory=dict, init=False, repr=False)

    def manifold(self, device: torch.device) -> RealManifold:
        """The kept features and their k-NN radii on ``device``, computed there once."""
        key = str(torch.device(device))
        if key not in self._manifolds:
            if self.feats is None:
                raise ValueError(f"reference {self.path.name} keeps no real features")
            self._manifolds[key] = RealManifold.of(self.feats, device)
        return self._manifolds[key]

    def scores(self, fake: torch.Tensor) -> dict[str, float]:
        """Precision, recall, density and coverage of generated features ``fake`` (``prdc.prdc``)
        on their device; NaN, with a warning, when either set is too small for its k."""
        try:
            return prdc(fake, self.manifold(fake.device))
        except ValueError as e:
            warnings.warn(f"precision/recall/density/coverage undefined ({e}); recorded as NaN", RuntimeWarning,
                          stacklevel=2)
            return dict.fromkeys(NEAREST_K, math.nan)


def real_reference(images: np.ndarray, dataset: str, extractor: Extractor, protocol: Protocol,
                   device: torch.device, batch_size: int, resources: str | Path) -> Reference:
    """Load or compute the reference statistics of ``protocol``'s real images (uint8 NCHW array)."""
    from specnorm.data import to_float

    idx = real_subset(len(images), protocol.n_real, protocol.seed)
    subset = protocol.n_real < len(images)
    path = reference.cache_file(resources, dataset, extractor.name, extractor.sha256, protocol.name,
                                protocol.n_real, protocol.seed if subset else None, protocol.precision)
    meta = {
        "dataset": dataset, "extractor": extractor.name, "extractor_sha256": extractor.sha256,
        "features": extractor.features, "protocol": protocol.name, "resize": extractor.resize,
        "n_real": protocol.n_real, "n_dataset": len(images), "seed": protocol.seed if subset else None,
        "data_fingerprint": reference.fingerprint(images), "kid": protocol.kid,
        "n_features": protocol.n_features,
    }
    if protocol.precision != "fp32":  # absent means fp32: caches written before eval.precision stay valid
        meta["precision"] = protocol.precision

    def build() -> tuple[Stats, np.ndarray | None]:
        keep = torch.ones(len(idx), dtype=torch.bool)
        if protocol.n_features < len(idx):  # one fixed subset for every run seed, like the file it is kept in
            g = torch.Generator().manual_seed(eval_seed(REF_FEATURES_SEED, "reference_features"))
            keep = torch.zeros(len(idx), dtype=torch.bool)
            keep[torch.randperm(len(idx), generator=g)[:protocol.n_features]] = True
        acc, kept = StatsAccumulator(), []
        with torch.no_grad(), strict_fp32():
            for i in range(0, len(idx), batch_size):
                x = to_float(torch.from_numpy(images[idx[i:i + batch_size].numpy()])).to(device)
                f, _ = extract(extractor, x, protocol.precision)
                acc.update(f)
                kept.append(f[keep[i:i + batch_size].to(f.device)].float().cpu())
        return acc.result(), torch.cat(kept).numpy()

    stats, feats, cached = reference.load_or_build(path, meta, build)
    return Reference(stats, feats, path, cached)


def setup(dataset: str, root: str | Path, eval_cfg: EvalCfg, seed: int, device: torch.device, resources: str | Path,
          cache: dict | None = None) -> tuple[np.ndarray, Protocol, Extractor, Reference]:
    """The one-off work of scoring ``dataset`` under ``eval_cfg`` (an ``EvalCfg``): its real images, the
    resolved protocol (``seed`` fixes the real subset and latents), the extractor (from ``cache``
    when a pack already loaded it) and the reference statistics."""
    from specnorm.data import load

    images = load(dataset, None if is_builtin(dataset) else root)
    protocol = resolve(eval_cfg, len(images), seed)
    info = get_extractor(resolve_extractor(eval_cfg.extractor, dataset))
    if info.resolution is not None and images.shape[2:] != (info.resolution, info.resolution):
        raise ValueError(f"the {info.name} extractor takes {info.resolution}x{info.resolution} images; "
                         f"dataset {dataset!r} has {images.shape[2]}x{images.shape[3]}")
    key = ("extractor", info.name, protocol.name == "paper", str(device), str(resources), eval_cfg.inception_path)
    if cache is not None and key in cache:
        extractor = cache[key]
    else:
        extractor = build_extractor(eval_cfg.extractor, dataset, protocol.name, device, resources,
                                    eval_cfg.inception_path)
        if cache is not None:
            cache[key] = extractor
    ref = real_reference(images, dataset, extractor, protocol, device, eval_cfg.batch_size, resources)
    return images, protocol, extractor, ref


class Evaluator:
    """Scores generators under one protocol; see the module docstring and ``docs/outputs.md``."""

    def __init__(self, extractor: Extractor, protocol: Protocol, ref: Reference, dataset: str, z_dim: int,
                 device: torch.device, batch_size: int) -> None:
        self.extractor, self.protocol, self.reference = extractor, protocol, ref
        self.dataset, self.z_dim, self.device, self.batch_size = dataset, z_dim, device, batch_size
        p = protocol
        n_main = max(p.n_gen, p.n_is) if p.shared_samples else p.n_gen
        self._z_fid = latents(n_main, z_dim, p.seed, f"{p.name}/fid").to(device)
        self._z_is = None if p.shared_samples else latents(p.n_is, z_dim, p.seed, f"{p.name}/is").to(device)

    @classmethod
    def from_config(cls, cfg: CellConfig, device: torch.device, resources: str | Path = "resources",
                    cache: dict | None = None) -> "Evaluator":
        """Build from a cell config: real set ``specnorm.data.load``, protocol and extractor from ``cfg.eval``.
        ``cache``: shared by the cells of a pack, so the extractor network is loaded once per process."""
        images, protocol, extractor, ref = setup(cfg.dataset.name, cfg.dataset.root, cfg.eval, cfg.train.seed,
                                                 device, resources, cache)
        return cls(extractor, protocol, ref, cfg.dataset.name, cfg.model.z_dim, device, cfg.eval.batch_size)

    # -- scoring -----------------------------------------------------------------------------
    def _extract(self, G: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, logits = [], []
        for i in range(0, len(z), self.batch_size):
            x = G(z[i:i + self.batch_size]).float()
            if self.protocol.quantize:
                x = quantize_uint8(x)
            f, lg = extract(self.extractor, x, self.protocol.precision)
            feats.append(f)
            logits.append(lg)
        return torch.cat(feats), torch.cat(logits)

    def protocol_fields(self) -> dict:
        """Everything that defines the numbers (``scores.json``'s ``protocol``: :meth:`Protocol.summary`)."""
        return self.protocol.summary(self.dataset, self.extractor)

    def records(self, G: nn.Module, iteration: int | None = None, wall_time: float | None = None) -> list[ScoreRecord]:
        """Score G (restoring its train/eval mode): one :class:`~specnorm.scores.ScoreRecord` per
        metric, each with its protocol key and the run seed."""
        if getattr(G, "z_dim", self.z_dim) != self.z_dim:
            raise ValueError(f"generator z_dim {G.z_dim} != evaluator z_dim {self.z_dim}")
        p = self.protocol
        was_training = G.training
        G.eval()
        try:
            with torch.no_grad(), strict_fp32():
                feats, logits = self._extract(G, self._z_fid)
                if self._z_is is not None:
                    _, logits = self._extract(G, self._z_is)
        finally:
            G.train(was_training)
        feats, logits = feats[:p.n_gen], logits[:p.n_is]
        finite_f, finite_l = bool(torch.isfinite(feats).all()), bool(torch.isfinite(logits).all())
        values = {"fid": self._fid(feats) if finite_f else math.nan}
        if p.kid:
            values["kid"] = kid(feats.float(), self.reference.feats, eval_seed(p.seed, "kid")) \
                if finite_f else math.nan
        values["is"], values["is_std"] = inception_score(logits, p.is_splits) if finite_l else (math.nan, math.nan)
        values.update(self.reference.scores(feats) if finite_f else dict.fromkeys(NEAREST_K, math.nan))
        return [ScoreRecord(metric, float(value), p.key(metric, self.dataset, self.extractor), p.seed, iteration,
                            wall_time) for metric, value in values.items()]

    def evaluate(self, G: nn.Module, iteration: int, wall_time: float) -> list[dict]:
        """Score G: the rows of ``metrics.csv`` (:meth:`records` as rows, with each metric's ``label``)."""
        return [r.row() for r in self.records(G, iteration, wall_time)]

    def _fid(self, feats: torch.Tensor) -> float:
        try:
            return fid(feature_stats(feats), self.reference.stats)
        except (ValueError, torch.linalg.LinAlgError) as e:  # eigh did not converge
            warnings.warn(f"FID undefined for these samples ({e}); recorded as NaN", RuntimeWarning, stacklevel=2)
            return math.nan
