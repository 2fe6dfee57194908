"""The cell's vocabulary: every word a cell config, the grid, the workflow and the report share.

Torch-free ground floor (docs/design.md#vocabulary): the modes and options of a cell, the metric
and variant display names, and the derivation of a run's random streams. Registries of things with
more to them (datasets, feature extractors) are in :mod:`specnorm.catalog`; the files of a run
directory in :mod:`specnorm.rundir`. Each word is said here once; the modules that implement a word
(``specnorm.nn``, ``models``, ``losses``, ``train``, ``metrics``) import it from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from specnorm.catalog import get_norm

# -- what a cell is ------------------------------------------------------------------------------
GAMMAS = ("none", "same", "diff")
"""Learned γ (docs/design.md#learned-gamma): none, one shared by all layers, one per layer."""
INITS = ("official", "lecun")
"""D initialisation: the official one, or LeCun × s for the un-normalized baseline (Fig. 8)."""
ARCHS = ("cnn", "resnet", "mlp")
LOSSES = ("hinge", "wgan_gp")
Z_REUSE = ("auto", "reuse", "fresh")
"""G-step latents: auto (CNN/MLP reuse the last D step's z, ResNet draws fresh; docs/design.md#z-reuse)."""
PRECISIONS = ("fp32", "tf32", "bf16")
"""Training numerics (part of a cell's identity): fp32 (TF32 off, the official numerics), tf32
(faster convs/matmuls on Ampere+) or bf16 (autocast of convs/matmuls; σ in fp32). Paper presets: fp32."""
COMPILE_MODES = ("none", "compile", "graph")
"""How the iteration runs (an execution setting): eager, ``torch.compile``, or replayed CUDA graphs."""
PACK_ENGINES = ("auto", "serial", "fused")
"""How a pack's iterations run (an execution setting, docs/design.md#packs): ``serial`` (each cell's own
iteration, bit for bit as alone), ``fused`` (the cells as one batched computation) or ``auto`` (fused for
several cells, serial for one)."""


def pack_engine(kind: str, cells: int) -> str:
    """The engine ``kind`` (:data:`PACK_ENGINES`) runs a pack of ``cells`` cells on: ``auto`` is fused
    for several cells, serial for one."""
    if kind not in PACK_ENGINES:
        raise ValueError(f"pack engine {kind!r} is not one of {PACK_ENGINES}")
    return ("fused" if cells > 1 else "serial") if kind == "auto" else kind
PROTOCOLS = ("paper", "standard")
"""Metric protocols (docs/design.md#metric-protocol)."""
EVAL_PRECISIONS = PRECISIONS
"""Numerics of the metric network's forward (``eval.precision``, part of the protocol): fp32 (TF32
off, the default and the paper's), tf32 or bf16 (autocast); generator forwards stay fp32
(docs/deviations.md M10)."""
PROGRESS = ("auto", "bar", "lines", "none")

EXECUTION_KEYS = frozenset({"device", "log.progress", "log.progress_every", "eval.inception_path",
                            "eval.batch_size", "dataset.root", "train.compile"})
"""Dotted keys that change how a run executes or is displayed, not what it computes: a resumed run
may differ in them, and they are not part of a cell's identity (docs/design.md#grid-dedup)."""

PACK_KEYS = ("dataset.name", "model.arch", "model.mg", "model.width", "model.z_dim", "model.hidden",
             "norm.mode", "norm.gamma", "norm.init", "norm.grad_through_uv", "norm.clamp", "loss.name",
             "train.n_dis", "train.d_batch", "train.g_batch", "train.z_reuse", "train.precision",
             "train.compile", "device")
"""Dotted keys on which the cells of one pack (one process, one device) must agree: everything that
shapes the computation. They may differ in seed, scale, learning rates, betas, γ's start, lengths
and cadences (docs/design.md#packs)."""

# -- metrics -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One score a run records. Adding a metric is one entry of :data:`METRIC_INFO` and its
    computation (``specnorm.metrics.evaluator``); its records, files and tables follow
    (``specnorm.scores``)."""

    name: str
    label: str  # display name under the Inception extractor (another extractor prefixes its own: metric_label)
    higher_is_better: bool | None  # None: a companion number that is never ranked (IS's spread over splits)
    reference: bool  # compares the scored images with the real reference set (FID, KID) or not (IS)
    kept_by: str  # the metric whose kept best generator ``specnorm score`` rescores it on (docs/outputs.md)
    manifold: bool = False  # a k-NN manifold metric (precision/recall/density/coverage: specnorm.metrics.prdc)


METRIC_INFO: dict[str, Metric] = {m.name: m for m in (
    Metric("is", "IS", True, reference=False, kept_by="is"),
    Metric("is_std", "IS std", None, reference=False, kept_by="is"),
    Metric("fid", "FID", False, reference=True, kept_by="fid"),
    Metric("kid", "KID", False, reference=True, kept_by="fid"),
    Metric("precision", "Precision", True, reference=True, kept_by="fid", manifold=True),
    Metric("recall", "Recall", True, reference=True, kept_by="fid", manifold=True),
    Metric("density", "Density", True, reference=True, kept_by="fid", manifold=True),
    Metric("coverage", "Coverage", True, reference=True, kept_by="fid", manifold=True),
)}
"""Every metric a run records, by name, in display order."""
METRICS = tuple(name for name, m in METRIC_INFO.items() if m.higher_is_better is not None)
"""The ranked metrics (each has a best over the in-training evaluations): is, fid, kid, precision, recall,
density, coverage."""
MANIFOLD_METRICS = tuple(name for name in METRICS if METRIC_INFO[name].manifold)
"""Precision, recall (Kynkäänniemi et al. 2019) and density, coverage (Naeem et al. 2020): k-NN estimates
against the real features (docs/design.md#metric-protocol), shown in their own sweep figure."""
HIGHER_IS_BETTER = {name: METRIC_INFO[name].higher_is_better for name in METRICS}


def metric_label(metric: str, extractor: object) -> str:
    """``IS``/``FID`` for the Inception extractor, ``digits-IS``/``digits-FID`` for another extractor
    (a score of another network is never called an Inception score)."""
    name = METRIC_INFO[metric].label if metric in METRIC_INFO else metric.upper()
    ext = str(extractor or "").lower()
    return name if ext.startswith("inception") else f"{extractor}-{name}"


# -- variants (paper names) ----------------------------------------------------------------------
SN, BSN, SN_CONV, NO_SN = (get_norm(mode).label for mode in ("sn", "bsn", "sn_conv", "none"))
"""The normalizations' families, by their display labels in the registry (``specnorm.catalog``)."""
LECUN = "LeCun"
"""``norm.mode: none`` with ``norm.init: lecun``: the un-normalized D with LeCun init × s (Fig. 8)."""
SSN, BSSN = "SSN", "BSSN"
"""Table 1's scaled rows: the best scale s of the SN and of the BSN sweep (docs/design.md#table1-scale-rule)."""
REAL_DATA = "Real data"
"""Table 1's row of real training images scored like a generator (docs/deviations.md P5)."""
SCALED = {SSN: SN, BSSN: BSN}
"""Scaled row → the family it sweeps."""


def gamma_family(family: str, gamma: str) -> str:
    """``SN+γ(same)``: a family with a learned γ (docs/design.md#learned-gamma)."""
    return f"{family}+γ({gamma})"


GAMMA_FAMILIES = tuple(gamma_family(SN, g) for g in GAMMAS if g != "none")
"""SN with a learned γ, shared by all layers or one per layer (the official same_gamma / diff_gamma)."""
FAMILY_ORDER = (SN, BSN, SN_CONV, LECUN, NO_SN, *GAMMA_FAMILIES)
"""Display order of the variant families (ablation suffixes sort after their base)."""


def variant_label(family: str, scale: float) -> str:
    """``SN``, ``SN ×1.75``, ``LeCun ×0.2`` … (LeCun always shows its multiplier)."""
    return family if scale == 1.0 and family != LECUN else f"{family} ×{scale:g}"


# -- random streams ------------------------------------------------------------------------------
def stream_seed(seed: int, stream: str) -> int:
    """Independent, stable 63-bit seed of one named random stream of a run (``init``, ``data``,
    ``z``, ``eval/kid`` …): the same cell draws the same numbers on every machine and resume."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{stream}".encode()).digest()[:8], "little") >> 1
