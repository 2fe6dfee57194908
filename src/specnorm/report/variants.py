"""Which paper variant a cell is, and which cells are seeds of one another.

Names follow the paper: SN (= SN_w), BSN, SN_Conv, their scale s (SSN / BSSN / SN_Conv×s are the
same families at s ≠ 1), LeCun×s (un-normalized D, LeCun init × s, Fig. 8), no-SN (App. L.2) and
SN with a learned γ (official ``same_gamma`` / ``diff_gamma``, docs/design.md#learned-gamma).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from specnorm.catalog import get_norm
from specnorm.vocab import EXECUTION_KEYS, FAMILY_ORDER, GAMMAS, LECUN, NO_SN, gamma_family

__all__ = ["base_family", "family", "family_rank", "group_key", "learned_gamma", "setting_key", "setting_label"]

ABLATION = " ["
"""Opens the suffix of a non-official choice in a family name (``SN [u,v const]``)."""


def family(cfg: dict[str, Any]) -> str:
    """The variant family of a flat (dotted-key) cell config, independent of the scale s.

    ``sn``/``bsn``/``sn_conv`` → SN / BSN / SN_Conv; ``none`` → LeCun (init lecun) or no-SN; a learned
    γ adds ``+γ(same|diff)``; non-official choices are suffixed (loss, u/v held constant, clamp).
    """
    mode = cfg["norm.mode"]
    name = (LECUN if cfg["norm.init"] == "lecun" else NO_SN) if mode == "none" else get_norm(mode).label
    if cfg["norm.gamma"] != "none":
        name = gamma_family(name, cfg["norm.gamma"])
    if cfg["loss.name"] != "hinge" and cfg["norm.gamma"] == "none":
        name += f"{ABLATION}{cfg['loss.name']}]"
    if mode != "none" and not cfg["norm.grad_through_uv"]:
        name += f"{ABLATION}u,v const]"
    if cfg["norm.clamp"]:
        name += f"{ABLATION}max(σ,1)]"
    return name


def base_family(name: str) -> str:
    """A family name without its ablation suffixes: ``SN [u,v const]`` → ``SN``."""
    return name.split(ABLATION)[0]


def learned_gamma(name: str) -> bool:
    """Whether the family trains a γ (``SN+γ(same)`` …)."""
    return base_family(name).endswith(tuple(gamma_family("", g) for g in GAMMAS if g != "none"))


def family_rank(name: str) -> tuple[int, str]:
    """Sort key that puts families in :data:`FAMILY_ORDER`, unknown ones after, by name."""
    base = base_family(name)
    return (FAMILY_ORDER.index(base) if base in FAMILY_ORDER else len(FAMILY_ORDER), name)


def _digest(items: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:12]


def group_key(cfg: dict[str, Any]) -> str:
    """Identity of a cell up to its seed: the config without ``train.seed`` and execution keys."""
    return _digest({k: v for k, v in cfg.items() if k != "train.seed" and k not in EXECUTION_KEYS})


def setting_key(cfg: dict[str, Any]) -> str:
    """Identity of the experimental setting the variants are compared in: the group key without the
    normalization (``norm.*``) and the loss name (learned-γ runs use WGAN-GP in the same settings)."""
    return _digest({k: v for k, v in cfg.items() if k not in ("train.seed", "loss.name")
                    and k not in EXECUTION_KEYS and not k.startswith("norm.")})


def _num(x: float) -> str:
    return f"{x:g}"


def setting_label(cfg: dict[str, Any]) -> str:
    """A short human-readable label of a setting (App. N's hyper-parameters and the run length)."""
    it = cfg["train.iterations"]
    its = f"{it // 1000}k" if it >= 1000 and it % 1000 == 0 else str(it)
    return (f"α_g={_num(cfg['optim.g_lr'])}, α_d={_num(cfg['optim.d_lr'])}, "
            f"β=({_num(cfg['optim.beta1'])}, {_num(cfg['optim.beta2'])}), n_dis={cfg['train.n_dis']}, {its} it")

