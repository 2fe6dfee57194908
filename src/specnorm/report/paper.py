"""The paper's numbers and settings that the report puts beside ours.

Table 1 of Lin, Sekar & Fanti (NeurIPS 2021), transcribed from the main body (docs/design.md#paper-targets):
IS ↑ / FID ↓, mean ± standard error over 5 seeds (3 for SSN/BSN/BSSN on ILSVRC2012), FID on 10k
generated vs 5k real training images and IS on 50k images (docs/design.md#metric-protocol). The paper omits
IS on CelebA ("the inception network is pretrained on ImageNet").
"""

from __future__ import annotations

from typing import Any

from specnorm.catalog import DATASETS
from specnorm.vocab import BSN, BSSN, REAL_DATA, SN, SSN


TABLE1_ROWS: tuple[str, ...] = (REAL_DATA, SN, SSN, BSN, BSSN)
"""Row order of Table 1."""

TABLE1_METRICS: dict[str, tuple[str, ...]] = {
    "cifar10": ("is", "fid"),
    "stl10": ("is", "fid"),
    "celeba": ("fid",),
    "imagenet": ("is", "fid"),
}
"""Table 1's columns per dataset, in the paper's order (no IS on CelebA)."""

TABLE1_ADDED: tuple[str, ...] = ("recall",)
"""Our columns after the paper's on every dataset (no paper value): recall, the k-NN measure of how much
of the real manifold the generator reaches (Kynkäänniemi et al. 2019; docs/design.md#metric-protocol)."""

TABLE1: dict[tuple[str, str], dict[str, tuple[float, float | None]]] = {
    column: dict(zip(TABLE1_ROWS, cells)) for column, cells in [  # cells: Real data, SN, SSN, BSN, BSSN
        (("cifar10", "is"), ((11.26, None), (7.12, 0.07), (7.38, 0.06), (7.54, 0.04), (7.54, 0.04))),
        (("cifar10", "fid"), ((9.70, None), (31.43, 0.90), (29.31, 0.23), (26.94, 0.58), (26.94, 0.58))),
        (("stl10", "is"), ((26.70, None), (9.05, 0.05), (9.28, 0.03), (9.25, 0.01), (9.25, 0.01))),
        (("stl10", "fid"), ((10.17, None), (44.35, 0.54), (43.52, 0.26), (42.98, 0.54), (42.90, 0.17))),
        (("celeba", "fid"), ((4.44, None), (9.43, 0.09), (8.50, 0.20), (9.05, 0.13), (9.05, 0.13))),
        (("imagenet", "is"), ((197.37, None), (12.84, 0.33), (12.84, 0.33), (1.77, 0.13), (13.23, 0.16))),
        (("imagenet", "fid"), ((15.62, None), (75.06, 2.38), (73.21, 1.92), (265.20, 19.01), (69.04, 1.46))),
    ]}
"""``TABLE1[(dataset, metric)][row] = (mean, s.e.m.)`` in :data:`TABLE1_ROWS` order; the Real-data row has no s.e.m."""

DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    **{d: {"optim.g_lr": 1e-4, "optim.d_lr": 1e-4, "optim.beta1": 0.5, "optim.beta2": 0.999, "train.n_dis": 1}
       for d in ("cifar10", "stl10", "celeba")},
    "imagenet": {"optim.g_lr": 2e-4, "optim.d_lr": 2e-4, "optim.beta1": 0.0, "optim.beta2": 0.9, "train.n_dis": 5},
}
"""The hyper-parameters of Table 1 per dataset (docs/design.md#table1-scale-rule); other datasets use the
setting that has the most SN/BSN cells."""

PAPER_PROTOCOL = {
    "fid": "FID: 10k generated vs 5k real training images, Inception 2015-12-05 pool3 (docs/design.md#metric-protocol)",
    "is": "IS: 50k generated images, 10 splits, softmax over the first 1000 logits (docs/design.md#metric-protocol)",
}
"""How the paper's numbers were obtained."""

SN_CONV_FIX_SCALE = 1.75
"""The scale s at which SN_Conv×s matches SN_w (paper §4, Figs. 4–6)."""


def dataset_label(dataset: str) -> str:
    """A dataset's display name as the paper writes it (``specnorm.catalog``); an unknown one by its name."""
    info = DATASETS.get(dataset)
    return info.label if info is not None else dataset


def paper_value(dataset: str, metric: str, row: str) -> tuple[float, float | None] | None:
    """The paper's ``(mean, s.e.m.)`` for a Table 1 cell, or None when the paper has no such cell."""
    return TABLE1.get((dataset, metric), {}).get(row)

MODE_RANGES: dict[str, tuple[float, float]] = {"SN": (0.7, 4.0), "LeCun": (0.2, 1.2)}
"""The range of s a sweep must cover before a single mode refutes Fig. 8's two (docs/design.md#claim-rules):
SSN, the official CIFAR10 sweep (block 1, 0.7–4.0); LeCun×s, the span of the paper's two modes (≈ 0.2 and
≈ 1.2; its sweep is not published). Keyed by the family's vocabulary name."""
