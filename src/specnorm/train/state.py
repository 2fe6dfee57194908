"""All per-run state of one cell in one object: its modules, the training tensors the iteration
reads and writes (:data:`specnorm.train.step.Tensors`, aliasing the modules' parameters and buffers),
its real images, fixed latents and batches, counters and best results.

Keeping it in one :class:`RunState` is what lets an iteration be checkpointed exactly, captured in a
CUDA graph, and the cells of a pack share one process (serial) or one computation (fused: the
tensors then alias slices of the pack's stacked tensors, ``specnorm.train.fused``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from specnorm.catalog import is_builtin
from specnorm.config import CellConfig, ConfigError
from specnorm.data import RealImages, load, to_float
from specnorm.models import build_cell
from specnorm.train import optim, rng
from specnorm.train.step import Plan, Tensors, make_plan
from specnorm.vocab import stream_seed


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device': {name!r} asks for CUDA, which is not available here; "
                          "use device: cpu (or auto, or --device cpu)")
    return dev


def module_tensors(module: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(parameters, buffers)`` of ``module`` by name: detached aliases of its own tensors (an
    in-place update of one is an update of the module; a shared parameter, e.g. one γ, appears once)."""
    return ({k: p.detach() for k, p in module.named_parameters()}, dict(module.named_buffers()))


def _clone(sd: dict) -> dict:
    """A state dict with its tensors copied to the CPU (module tensors may be views of a larger stack)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in sd.items()}


@dataclass
class RunState:
    """Everything that changes during training; ``state_dict`` / ``load_state_dict`` round-trip it."""

    cfg: CellConfig
    device: torch.device
    G: nn.Module
    D: nn.Module
    T: Tensors  # the iteration's tensors (aliases of G's and D's, Adam state, random stream, counters)
    plan: Plan
    images: RealImages
    fixed_z: torch.Tensor  # latents of the sample grids
    analysis_x: torch.Tensor  # fixed real batch of the analysis (docs/design.md#analysis-quantities)
    iteration: int = 0  # completed G steps (host copy of T["iteration"], no sync needed: both count alike)
    wall_time: float = 0.0  # seconds, summed over resumes
    best: dict = field(default_factory=dict)
    """Each metric's own best evaluation so far: metric → ``{"iteration", "value"}`` (summary.best)."""
    best_G: dict = field(default_factory=dict)
    """Weights (CPU) of the best IS / FID evaluation: ``"is"``/``"fid"`` → G's state_dict, written to
    ``generator_best_is.pt`` / ``generator_best_fid.pt`` (docs/outputs.md); one shared dict when both
    peaked at the same evaluation."""
    metric_history: list = field(default_factory=list)  # every metrics.csv row so far
    last: dict = field(default_factory=dict)  # device tensors of the last logging iteration

    @property
    def first_nonfinite(self) -> torch.Tensor:
        return self.T["first_nonfinite"]

    def real_batches(self) -> torch.Tensor | None:
        """For images kept in host memory: the next iteration's real batches, gathered on the host from
        the indices the device would draw (the same counter stream, recomputed on the CPU: no sync)."""
        if self.images.on_device:
            return None
        host = torch.tensor([rng.key_of(self.cfg.train.seed), self.iteration], dtype=torch.int64)
        c = self.cfg.train
        return self.images.gather(rng.batch_indices(host, c.n_dis, c.d_batch, self.images.n))

    def state_dict(self) -> dict:
        T = self.T
        return {
            "iteration": self.iteration,
            "wall_time": self.wall_time,
            "G": _clone(self.G.state_dict()),
            "D": _clone(self.D.state_dict()),
            "opt_g": _clone(T["opt_g"]),
            "opt_d": _clone(T["opt_d"]),
            "rng": T["rng"].detach().cpu().clone(),
            "first_nonfinite": T["first_nonfinite"].detach().cpu().clone(),
            "best": self.best,
            "best_G": self.best_G,
            "metric_history": self.metric_history,
        }

    def load_state_dict(self, sd: dict) -> None:
        """Restore in place (every tensor of ``T`` keeps its identity: it may alias a fused stack)."""
        T = self.T
        self.iteration = int(sd["iteration"])
        self.wall_time = float(sd["wall_time"])
        self.G.load_state_dict(sd["G"])
        self.D.load_state_dict(sd["D"])
        for key in ("opt_g", "opt_d"):
            if set(sd[key]) != set(T[key]):
                raise ValueError(f"checkpoint {key} holds {sorted(sd[key])[:3]}…, this run has {sorted(T[key])[:3]}…")
            for name, value in sd[key].items():
                T[key][name].copy_(value)
        T["rng"].copy_(sd["rng"])
        T["first_nonfinite"].copy_(sd["first_nonfinite"])
        T["iteration"].fill_(self.iteration)
        self.best, self.best_G = dict(sd["best"]), dict(sd["best_G"])
        self.metric_history = list(sd["metric_history"])


def _images(cfg: CellConfig, device: torch.device, data_cache: dict | None) -> RealImages:
    """The cell's real images where the iteration reads them; with ``data_cache`` (a pack), loaded,
    verified and placed once for every cell of the pack (one device copy, one placement decision)."""
    name, root = cfg.dataset.name, cfg.dataset.root
    key = (name, None if is_builtin(name) else root, str(device))
    if data_cache is not None and key in data_cache:
        return data_cache[key]
    # a built-in dataset has no files; a prepared one is verified once per file version (docs/design.md#datasets)
    images = RealImages(load(name, None) if is_builtin(name) else load(name, root, verify=True), device)
    if data_cache is not None:
        data_cache[key] = images
    return images


def build_state(cfg: CellConfig, device: torch.device, data_cache: dict | None = None) -> RunState:
    """Fresh state of a cell: models (official init, seeded), Adam state, its random stream, data."""
    seed = cfg.train.seed
    init_gen = torch.Generator().manual_seed(stream_seed(seed, "init"))  # CPU: same init on every device
    images = _images(cfg, device, data_cache)
    n, c, h, w = images.images.shape
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
    g_par, g_buf = module_tensors(G)
    d_par, d_buf = module_tensors(D)
    o = cfg.optim
    # Official: Adam(lr, beta1, beta2), eps 1e-8, constant lr, no weight decay (docs/design.md#adam)
    T: Tensors = {
        "G": g_par, "Gb": g_buf, "D": d_par, "Db": d_buf,
        "opt_g": optim.init_state(g_par), "opt_d": optim.init_state(d_par),
        "hyper_g": optim.hyper(o.g_lr, o.beta1, o.beta2, device),
        "hyper_d": optim.hyper(o.d_lr, o.beta1, o.beta2, device),
        "rng": rng.initial_state(seed, device),
        "iteration": torch.zeros((), dtype=torch.int64, device=device),
        "first_nonfinite": torch.zeros((), dtype=torch.int64, device=device),
    }
    cpu = torch.Generator().manual_seed(stream_seed(seed, "fixed"))
    fixed_z = torch.randn(cfg.log.n_samples, m.z_dim, generator=cpu).to(device)
    idx = torch.randint(0, n, (cfg.log.analysis_batch,), generator=cpu)
    analysis_x = to_float(torch.from_numpy(np.asarray(images.images[idx.numpy()]))).to(device)
    plan = make_plan(cfg, G, D, n, host_data=not images.on_device)
    return RunState(cfg=cfg, device=device, G=G, D=D, T=T, plan=plan, images=images, fixed_z=fixed_z,
                    analysis_x=analysis_x)
