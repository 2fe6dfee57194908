"""The cell's vocabulary: every word a cell config, the grid, the workflow and the report share.

Torch-free ground floor (docs/design.md#vocabulary): the modes and options of a cell, the metric
and variant display names, and the derivation of a run's random streams. Registries of things with
more to them (datasets, feature extractors) are in :mod:`specnorm.catalog`; the files of a run
directory in :mod:`specnorm.rundir`. Each word is said here once; the modules that implement a word
(``specnorm.nn``, ``models``, ``losses``, ``train``, ``metrics``) import it from here.
"""

from __future__ import annotations

import hashlib

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
METRICS = ("is", "fid", "kid")
HIGHER_IS_BETTER = {"is": True, "fid": False, "kid": False}
_METRIC_NAMES = {"is": "IS", "fid": "FID", "kid": "KID", "is_std": "IS std"}


def metric_label(metric: str, extractor: object) -> str:
    """``IS``/``FID`` for the Inception extractor, ``digits-IS``/``digits-FID`` for another extractor
    (a score of another network is never called an Inception score)."""
    name = _METRIC_NAMES.get(metric, metric.upper())
    ext = str(extractor or "").lower()
    return name if ext.startswith("inception") else f"{extractor}-{name}"


# -- variants (paper names) ----------------------------------------------------------------------
FAMILY_ORDER = ("SN", "BSN", "SN_Conv", "LeCun", "no-SN", "SN+γ(same)", "SN+γ(diff)")
"""Display order of the variant families (ablation suffixes sort after their base)."""


def variant_label(family: str, scale: float) -> str:
    """``SN``, ``SN ×1.75``, ``LeCun ×0.2`` … (LeCun always shows its multiplier)."""
    return family if scale == 1.0 and family != "LeCun" else f"{family} ×{scale:g}"


# -- random streams ------------------------------------------------------------------------------
def stream_seed(seed: int, stream: str) -> int:
    """Independent, stable 63-bit seed of one named random stream of a run (``init``, ``data``,
    ``z``, ``eval/kid`` …): the same cell draws the same numbers on every machine and resume."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{stream}".encode()).digest()[:8], "little") >> 1
