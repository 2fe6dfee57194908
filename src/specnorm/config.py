"""Cell configuration: everything one grid cell (one GAN training run) needs, validated up front.

A cell config is a YAML mapping of sections (see ``configs/digits-sn.yaml``). Unknown keys, wrong
types and invalid values raise :class:`ConfigError` naming the dotted key, before anything runs.
Defaults are the official CIFAR-10 CNN setting (docs/design.md#n-dis-and-batch-sizes) except where noted. Torch-free:
the words come from :mod:`specnorm.vocab` and :mod:`specnorm.catalog`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specnorm.catalog import DATASETS, DEFAULT_DATASET, EXTRACTOR_CHOICES, get_norm, norm_names
from specnorm.io import SHOWN_CHARS, read_yaml, shown
from specnorm.layout import Resources
from specnorm.vocab import (ARCHS, COMPILE_MODES, EVAL_PRECISIONS, EXECUTION_KEYS, GAMMAS, INITS, LOSSES,
                            PACK_KEYS, PRECISIONS, PROGRESS, PROTOCOLS, Z_REUSE)


class ConfigError(ValueError):
    """A cell config is invalid; the message names the offending key."""


_NOTHING = object()


def _check(cond: bool, key: str, msg: str, got: Any = _NOTHING) -> None:
    """Raise :class:`ConfigError` for ``key`` unless ``cond``; ``got`` is the offending value, shown
    (truncated, :func:`specnorm.io.shown`) only once the check has failed."""
    if not cond:
        raise ConfigError(f"config key '{key}': {msg}" + ("" if got is _NOTHING else f", got {shown(got)}"))


def _name(key: Any) -> str:
    """A mapping key as a config key's name (a non-string or overlong one :func:`specnorm.io.shown`)."""
    return key if isinstance(key, str) and len(key) <= SHOWN_CHARS else shown(key)


MAX_BATCH = 65_536
MAX_ITERATIONS = 1_000_000_000
MAX_WIDTH = 64.0
MIN_WIDTH = 1 / 64
"""Below it the narrowest layers (64 channels in every architecture) would round up to one channel:
the network built would no longer be the width asked for."""
MAX_Z_DIM = 4096
MAX_SAMPLES = 10_000
MAX_EVAL_SAMPLES = 100_000
"""``eval.n_gen`` / ``eval.n_is`` at most: twice the largest protocol count (50,000); the keys exist to
shorten smoke runs, and a larger count only lengthens every evaluation."""
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def _check_range(obj: Any, key: str, names: tuple[str, ...], low: float, high: float) -> None:
    """Each of ``names`` lies in [low, high] (bounds stated in the message)."""
    for k in names:
        v = getattr(obj, k)
        _check(low <= v <= high, f"{key}.{k}", f"must be between {low:,} and {high:,}", got=v)


@dataclass(frozen=True)
class DatasetCfg:
    name: str = DEFAULT_DATASET
    root: str = str(Resources().data)  # where `specnorm prepare` put <name>/images.npy (unused by digits)

    def validate(self, key: str) -> None:
        _check(self.name in DATASETS, f"{key}.name", f"unknown dataset; known: {sorted(DATASETS)}", got=self.name)


@dataclass(frozen=True)
class ModelCfg:
    arch: str = "cnn"  # cnn | resnet | mlp
    mg: int = 4  # CNN: first feature-map size (4→32², 6→48², 8→64², 2→16²); ResNet: 4→128²
    width: float = 1.0  # channel multiplier (tiny CPU runs)
    z_dim: int = 128
    hidden: int | None = None  # MLP hidden width

    def validate(self, key: str) -> None:
        _check(self.arch in ARCHS, f"{key}.arch", f"must be one of {ARCHS}", got=self.arch)
        _check(1 <= self.mg <= 64, f"{key}.mg", "must be between 1 and 64", got=self.mg)
        _check(MIN_WIDTH <= self.width <= MAX_WIDTH, f"{key}.width",
               f"must be between 1/64 and {MAX_WIDTH:g} (below 1/64 the 64-channel layers would round up to one "
               "channel, not the width asked for)", got=self.width)
        _check_range(self, key, ("z_dim",), 1, MAX_Z_DIM)
        _check(self.hidden is None or 1 <= self.hidden <= MAX_BATCH, f"{key}.hidden",
               f"must be between 1 and {MAX_BATCH} or null", got=self.hidden)


@dataclass(frozen=True)
class NormCfg:
    """How D's layers are normalized (paper §2, §4, §5): the one description of a normalization, from
    config to layer (``specnorm.nn.apply_norm``); validated here, once."""

    mode: str = "sn"  # a registered normalization (specnorm.catalog.NORMALIZATIONS): none | sn | bsn | sn_conv
    scale: float = 1.0  # s of SSN/BSSN/SN_Conv×s; with init=lecun, the LeCun multiplier
    gamma: str = "none"  # none | same | diff (learned γ, official same_gamma / diff_gamma)
    grad_through_uv: bool = True  # official: gradient flows through u and v (docs/design.md#grad-through-uv)
    clamp: bool = False  # an option of sn_conv only: Farnia's max(σ, 1)
    init: str = "official"  # official | lecun (Fig. 8 baseline: mode none, std = scale/√fan_in)

    def validate(self, key: str) -> "NormCfg":
        _check(self.mode in norm_names(), f"{key}.mode", f"must be one of {norm_names()}", got=self.mode)
        info = get_norm(self.mode)
        _check(self.gamma in GAMMAS, f"{key}.gamma", f"must be one of {GAMMAS}", got=self.gamma)
        _check(self.scale > 0, f"{key}.scale", "must be > 0")
        _check(self.init in INITS, f"{key}.init", f"must be one of {INITS}", got=self.init)
        _check(self.init != "lecun" or info.impl is None, f"{key}.init",
               "lecun init is the un-normalized baseline: it needs norm.mode: none")
        _check(info.impl is not None or self.gamma == "none", f"{key}.gamma", "a learned gamma needs a normalization")
        for f in dataclasses.fields(self):  # a normalization's own options (NormInfo.options): set only for it
            if f.name not in _COMMON_NORM_KEYS and getattr(self, f.name) != f.default:
                _check(f.name in info.options, f"{key}.{f.name}", f"is not an option of norm.mode {self.mode!r}"
                       + (f" (its options: {', '.join(info.options)})" if info.options else " (it has none)"))
        return self


_COMMON_NORM_KEYS = frozenset({"mode", "scale", "gamma", "grad_through_uv", "init"})


@dataclass(frozen=True)
class LossCfg:
    name: str = "hinge"  # hinge | wgan_gp
    gp_weight: float = 10.0  # WGAN-GP λ (official d_gp_coe)

    def validate(self, key: str) -> None:
        _check(self.name in LOSSES, f"{key}.name", f"must be one of {LOSSES}", got=self.name)
        _check(self.gp_weight >= 0, f"{key}.gp_weight", "must be >= 0")


@dataclass(frozen=True)
class OptimCfg:
    g_lr: float = 1e-4
    d_lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def validate(self, key: str) -> None:
        for k in ("g_lr", "d_lr"):
            _check(getattr(self, k) > 0, f"{key}.{k}", "must be > 0")
        for k in ("beta1", "beta2"):
            _check(0 <= getattr(self, k) < 1, f"{key}.{k}", "must be in [0, 1)")


@dataclass(frozen=True)
class TrainCfg:
    iterations: int = 400_000  # G steps
    n_dis: int = 1  # D steps per G step
    d_batch: int = 64
    g_batch: int = 64  # ResNet official: D 16, G 32
    z_reuse: str = "auto"  # auto (CNN/MLP: reuse the last D step's z; ResNet: fresh) | reuse | fresh
    seed: int = 0
    precision: str = "fp32"  # fp32 (TF32 off: the official numerics) | tf32 (faster convs/matmuls on Ampere+)
    compile: str = "none"  # execution only: none (eager) | compile (torch.compile) | graph (CUDA graphs)

    def validate(self, key: str) -> None:
        _check_range(self, key, ("iterations",), 1, MAX_ITERATIONS)
        _check_range(self, key, ("n_dis",), 1, 1000)
        _check_range(self, key, ("d_batch", "g_batch"), 1, MAX_BATCH)
        _check(self.z_reuse in Z_REUSE, f"{key}.z_reuse", f"must be one of {Z_REUSE}")
        _check(self.seed >= 0, f"{key}.seed", "must be >= 0")
        _check(self.precision in PRECISIONS, f"{key}.precision", f"must be one of {PRECISIONS}")
        _check(self.compile in COMPILE_MODES, f"{key}.compile", f"must be one of {COMPILE_MODES}")


@dataclass(frozen=True)
class LogCfg:
    every: int = 100  # train_log.csv row (losses, D outputs, σ's, input-gradient norms): the only host sync
    analysis_every: int = 1000  # analysis.csv rows (per-layer gradient norms, variances, σ_w vs σ_conv)
    analysis_batch: int = 64  # fixed real batch for the analysis (docs/design.md#analysis-quantities)
    sample_every: int = 200  # sample grid from fixed latents (official vis_freq)
    n_samples: int = 100  # 10×10 grid
    progress: str = "auto"  # auto (tqdm on a terminal, plain lines otherwise) | bar | lines | none
    progress_every: int = 0  # plain-line period; 0 = iterations/100

    def validate(self, key: str) -> None:
        for k in ("every", "analysis_every", "sample_every"):
            _check(getattr(self, k) >= 0, f"{key}.{k}", "must be >= 0 (0 disables)")
        _check_range(self, key, ("analysis_batch",), 1, MAX_BATCH)
        _check_range(self, key, ("n_samples",), 1, MAX_SAMPLES)
        _check(self.progress in PROGRESS, f"{key}.progress", f"must be one of {PROGRESS}")
        _check(self.progress_every >= 0, f"{key}.progress_every", "must be >= 0")


@dataclass(frozen=True)
class CheckpointCfg:
    every: int = 10_000  # official save_checkpoint_freq
    keep: int = 5  # official TF Saver keeps the last 5

    def validate(self, key: str) -> None:
        _check(self.every >= 1, f"{key}.every", "must be >= 1")
        _check(self.keep >= 1, f"{key}.keep", "must be >= 1")


_SAMPLES_WHY = " (twice the largest protocol count, 50,000: the key exists to shorten smoke runs)"


@dataclass(frozen=True)
class EvalCfg:
    every: int = 10_000  # official metric_freq; 0 disables in-training evaluation
    protocol: str = "paper"  # paper | standard (see specnorm.metrics)
    extractor: str = "auto"  # auto (the dataset's own: specnorm.catalog.resolve_extractor) or a registered name
    n_gen: int | None = None  # override the protocol's sample counts (smoke runs)
    n_real: int | None = None
    n_is: int | None = None
    is_splits: int | None = None
    batch_size: int = 250
    inception_path: str | None = None  # a local TorchScript Inception file (air-gapped nodes)
    precision: str = "fp32"  # the metric network's numerics: fp32 | tf32 | bf16 (part of the protocol, M10)

    def validate(self, key: str) -> None:
        _check(self.every >= 0, f"{key}.every", "must be >= 0 (0 disables)")
        _check(self.protocol in PROTOCOLS, f"{key}.protocol", f"must be one of {PROTOCOLS}", got=self.protocol)
        _check(self.extractor in EXTRACTOR_CHOICES, f"{key}.extractor", f"must be one of {EXTRACTOR_CHOICES}")
        _check(self.precision in EVAL_PRECISIONS, f"{key}.precision",
               f"must be one of {EVAL_PRECISIONS}", got=self.precision)
        for k, high, why in (("n_gen", MAX_EVAL_SAMPLES, _SAMPLES_WHY), ("n_is", MAX_EVAL_SAMPLES, _SAMPLES_WHY),
                             ("n_real", 10_000_000, ""), ("is_splits", 1000, "")):
            v = getattr(self, k)
            _check(v is None or 1 <= v <= high, f"{key}.{k}", f"must be between 1 and {high:,} or null{why}", got=v)
        _check_range(self, key, ("batch_size",), 1, MAX_BATCH)


@dataclass(frozen=True)
class CellConfig:
    """One grid cell. Sections map to the YAML mapping's top-level keys."""

    dataset: DatasetCfg = field(default_factory=DatasetCfg)
    model: ModelCfg = field(default_factory=ModelCfg)
    norm: NormCfg = field(default_factory=NormCfg)
    loss: LossCfg = field(default_factory=LossCfg)
    optim: OptimCfg = field(default_factory=OptimCfg)
    train: TrainCfg = field(default_factory=TrainCfg)
    log: LogCfg = field(default_factory=LogCfg)
    checkpoint: CheckpointCfg = field(default_factory=CheckpointCfg)
    eval: EvalCfg = field(default_factory=EvalCfg)
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    def validate(self) -> "CellConfig":
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v):
                v.validate(f.name)
        _check(bool(_DEVICE.match(self.device)), "device", "must be auto, cpu, cuda or cuda:N", got=self.device)
        if self.z_reuse == "reuse":
            _check(self.train.g_batch == self.train.d_batch, "train.g_batch",
                   "with z reuse (CNN default) the G step uses the last D step's z, so g_batch must equal d_batch")
        return self

    @property
    def z_reuse(self) -> str:
        """Resolved z policy: official CNN reuses the last D step's z, ResNet draws fresh z (docs/design.md#z-reuse)."""
        if self.train.z_reuse != "auto":
            return self.train.z_reuse
        return "fresh" if self.model.arch == "resnet" else "reuse"

    # -- (de)serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        import yaml  # imported on use: building a config needs no PyYAML (bench/gpu_check.py on a bare machine)

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def flat(self) -> dict[str, Any]:
        """Dotted-key view, e.g. ``{'norm.mode': 'sn', ...}``."""
        out: dict[str, Any] = {}
        for sec, val in self.to_dict().items():
            if isinstance(val, dict):
                out.update({f"{sec}.{k}": v for k, v in val.items()})
            else:
                out[sec] = val
        return out

    def digest(self) -> str:
        """Short hash of the resolved config, execution keys included."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def identity(self) -> "CellConfig":
        """This config with the execution-only keys (``EXECUTION_KEYS``) reset to their defaults:
        what the cell computes (docs/design.md#grid-dedup)."""
        defaults, cfg = CellConfig(), self
        for key in sorted(EXECUTION_KEYS):
            section, _, leaf = key.partition(".")
            if leaf:
                value = getattr(getattr(defaults, section), leaf)
                cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **{leaf: value})})
            else:
                cfg = dataclasses.replace(cfg, **{section: getattr(defaults, section)})
        return cfg

    def identity_digest(self) -> str:
        """Digest of :meth:`identity`: equal for two configs that may resume each other."""
        return self.identity().digest()


RESUME_TOLERANT = EXECUTION_KEYS
"""Keys that change how a run is executed or logged but not what it computes; a resumed run may differ in them."""


def check_packable(cfgs: list[CellConfig]) -> None:
    """Raise :class:`ConfigError` naming the first ``PACK_KEYS`` key on which cells differ: the cells
    of one pack share a process and a device and must shape their computation alike."""
    first = cfgs[0].flat()
    for i, cfg in enumerate(cfgs[1:], start=2):
        flat = cfg.flat()
        for key in PACK_KEYS:
            if flat.get(key) != first.get(key):
                raise ConfigError(f"config key '{key}': cells 1 and {i} of the pack differ ({shown(first.get(key))} vs "
                                  f"{shown(flat.get(key))}); a pack shares one process and device, so its cells may "
                                  "differ only in seed, scale, learning rates, betas, lengths and cadences")


def diff_for_resume(old: CellConfig, new: CellConfig) -> list[str]:
    """Dotted keys whose values differ in a way that forbids resuming ``old`` as ``new``."""
    a, b = old.flat(), new.flat()
    return [f"{k}: {shown(a.get(k))} -> {shown(b.get(k))}" for k in sorted(set(a) | set(b))
            if k not in RESUME_TOLERANT and a.get(k) != b.get(k)]


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if tp is bool:
        _check(isinstance(value, bool), key, "must be true or false", got=value)
        return value
    if tp is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, "must be an integer", got=value)
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key, "must be a number", got=value)
        _check(math.isfinite(value), key, "must be a finite number", got=value)
        return float(value)
    if tp is str:
        _check(isinstance(value, str), key, "must be a string", got=value)
        return value
    raise TypeError(tp)  # pragma: no cover


def _build(cls: type, data: Any, prefix: str) -> Any:
    where = prefix or "top level"
    _check(isinstance(data, dict), where, f"must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in data if not isinstance(k, str) or k not in names]
    if unknown:
        key = f"{prefix}.{_name(unknown[0])}" if prefix else _name(unknown[0])
        raise ConfigError(f"config key '{key}': unknown key (allowed here: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value if value is not None else {}, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def from_dict(data: dict[str, Any]) -> CellConfig:
    """Build and validate a :class:`CellConfig`; missing keys take their defaults."""
    return _build(CellConfig, data if data is not None else {}, "").validate()


def load(path: str | Path) -> CellConfig:
    """Read a cell config file (YAML); errors name the file and the key. An empty file (or ``null``,
    ``{}``) is refused: all defaults is no cell anyone wrote on purpose."""
    data = read_yaml(path, "cell config", ConfigError)
    if data is None or data == {}:
        raise ConfigError(f"{path}: no settings (the file is empty, null or {{}}); a cell config sets at least "
                          "its dataset and model, see configs/digits-sn.yaml")
    try:
        return from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
