"""All per-run state of one cell in one object (models, optimizers, RNG streams, counters).

Keeping it in one :class:`RunState` is what lets a step be checkpointed exactly, captured in a CUDA
graph later, and several cells (seeds, scales) share one GPU process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from specnorm.catalog import is_builtin
from specnorm.config import CellConfig, ConfigError
from specnorm.data import BatchSampler, load, to_float
from specnorm.models import build_cell, couples_batch
from specnorm.vocab import stream_seed


def device_generator(device: torch.device, seed: int, stream: str) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(seed, stream))
    return g


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device': {name!r} asks for CUDA, which is not available here; "
                          "use device: cpu (or auto, or --device cpu)")
    return dev


@dataclass
class RunState:
    """Everything that changes during training; ``state_dict`` / ``load_state_dict`` round-trip it."""

    cfg: CellConfig
    device: torch.device
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    sampler: BatchSampler
    z_gen: torch.Generator  # latents of the D and G steps (on device)
    gp_gen: torch.Generator  # WGAN-GP interpolation coefficients (on device)
    fixed_z: torch.Tensor  # latents of the sample grids
    analysis_x: torch.Tensor  # fixed real batch of the analysis (docs/design.md#analysis-quantities)
    fuse_d: bool = True  # real and fake share one D forward (exactly equivalent: D has no BN)
    z_reuse: bool = True  # the G step reuses the last D step's z (official CNN)
    iteration: int = 0  # completed G steps
    wall_time: float = 0.0  # seconds, summed over resumes
    # device-side divergence tracking (no host sync per iteration): first iteration with a
    # non-finite loss, 0 while none
    first_nonfinite: torch.Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))
    iteration_t: torch.Tensor = field(default_factory=lambda: torch.zeros((), dtype=torch.long))
    """The iteration being run, on the device (set by ``train_iteration``; derived, not checkpointed)."""
    best: dict = field(default_factory=dict)
    """Each metric's own best evaluation so far: metric → ``{"iteration", "value"}`` (summary.best)."""
    best_G: dict = field(default_factory=dict)
    """Weights (CPU) of the best IS / FID evaluation: ``"is"``/``"fid"`` → G's state_dict, written to
    ``generator_best_is.pt`` / ``generator_best_fid.pt`` (docs/outputs.md); one shared dict when both
    peaked at the same evaluation."""
    metric_history: list = field(default_factory=list)  # every metrics.csv row so far
    last: dict = field(default_factory=dict)  # device tensors of the last step (logged at cadence)

    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "wall_time": self.wall_time,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sampler": self.sampler.state_dict(),
            "z_gen": self.z_gen.get_state(),
            "gp_gen": self.gp_gen.get_state(),
            "first_nonfinite": self.first_nonfinite.cpu(),
            "best": self.best,
            "best_G": self.best_G,
            "metric_history": self.metric_history,
        }

    def load_state_dict(self, sd: dict) -> None:
        self.iteration = int(sd["iteration"])
        self.wall_time = float(sd["wall_time"])
        self.G.load_state_dict(sd["G"])
        self.D.load_state_dict(sd["D"])
        self.opt_g.load_state_dict(sd["opt_g"])
        self.opt_d.load_state_dict(sd["opt_d"])
        self.sampler.load_state_dict(sd["sampler"])
        self.z_gen.set_state(sd["z_gen"].cpu())
        self.gp_gen.set_state(sd["gp_gen"].cpu())
        self.first_nonfinite = sd["first_nonfinite"].to(self.device)
        self.best, self.best_G = dict(sd["best"]), dict(sd["best_G"])
        self.metric_history = list(sd["metric_history"])


def _dataset(cfg: CellConfig, device: torch.device, data_cache: dict | None) -> tuple:
    """``(images, device copy or None)`` of the cell's dataset; with ``data_cache`` (a pack), loaded,
    verified and placed once for every cell of the pack (one device copy, one placement decision)."""
    name, root = cfg.dataset.name, cfg.dataset.root
    key = (name, None if is_builtin(name) else root, str(device))
    if data_cache is not None and key in data_cache:
        return data_cache[key]
    # a built-in dataset has no files; a prepared one is verified once per file version (docs/design.md#datasets)
    images = load(name, None) if is_builtin(name) else load(name, root, verify=True)
    entry = (images, BatchSampler.device_copy(images, device) if BatchSampler.placement(images, device) else None)
    if data_cache is not None:
        data_cache[key] = entry
    return entry


def build_state(cfg: CellConfig, device: torch.device, data_cache: dict | None = None) -> RunState:
    """Fresh state of a cell: models (official init, seeded), Adam optimizers, data on the device."""
    seed = cfg.train.seed
    init_gen = torch.Generator().manual_seed(stream_seed(seed, "init"))  # CPU: same init on every device
    images, on_device = _dataset(cfg, device, data_cache)
    n, c, h, w = images.shape
    m = cfg.model
    G, D = build_cell(cfg, generator=init_gen)
    if G.resolution != h or h != w:
        per_mg = G.resolution // m.mg  # output size per unit of mg (CNN 8, ResNet 32)
        fix = f"set model.mg: {h // per_mg}" if h == w and h % per_mg == 0 else "choose a model.arch/mg of that size"
        raise ConfigError(
            f"config key 'model.mg': dataset {cfg.dataset.name!r} has {h}x{w} images but model {m.arch} "
            f"with mg={m.mg} generates {G.resolution}x{G.resolution}; {fix}"
        )
    G.to(device).train()
    D.to(device).train()
    o = cfg.optim
    # Official: Adam(lr, beta1, beta2), eps 1e-8, constant lr, no weight decay (docs/design.md#adam)
    # capturable: the step count and bias corrections stay on the device (a captured graph replays them)
    cap = {"capturable": True} if device.type == "cuda" and cfg.train.compile != "none" else {}
    opt_g = torch.optim.Adam(G.parameters(), lr=o.g_lr, betas=(o.beta1, o.beta2), eps=1e-8, **cap)
    opt_d = torch.optim.Adam(D.parameters(), lr=o.d_lr, betas=(o.beta1, o.beta2), eps=1e-8, **cap)
    sampler = BatchSampler(images, device, seed=stream_seed(seed, "data"), on_device=on_device is not None,
                           data=on_device)
    cpu = torch.Generator().manual_seed(stream_seed(seed, "fixed"))
    fixed_z = torch.randn(cfg.log.n_samples, m.z_dim, generator=cpu).to(device)
    idx = torch.randint(0, n, (cfg.log.analysis_batch,), generator=cpu)
    analysis_x = to_float(torch.from_numpy(images[idx.numpy()])).to(device)

    return RunState(
        cfg=cfg, device=device, G=G, D=D, opt_g=opt_g, opt_d=opt_d, sampler=sampler,
        z_gen=device_generator(device, seed, "z"), gp_gen=device_generator(device, seed, "gp"),
        fixed_z=fixed_z, analysis_x=analysis_x, z_reuse=cfg.z_reuse == "reuse",
        first_nonfinite=torch.zeros((), dtype=torch.long, device=device), fuse_d=not couples_batch(D),
        iteration_t=torch.zeros((), dtype=torch.long, device=device),
    )
