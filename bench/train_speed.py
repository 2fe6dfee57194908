"""Training throughput: our step vs a plain eager loop with PyTorch's spectral_norm, same run, same device.

    python bench/train_speed.py                       # CPU-sized defaults
    python bench/train_speed.py --device cuda --preset gpu

For each (architecture, mode) it times ``specnorm.train.step.train_iteration`` (official semantics:
u updated once per D step, fused real/fake D forward, D frozen in the G step) and a plain loop over
the same architecture whose discriminator uses ``torch.nn.utils.parametrizations.spectral_norm``
(u updated on every train-mode forward, separate real and fake forwards). The plain loop has no
BSN or SN_Conv, so it always runs PyTorch's SN: the ratio for ``bsn``/``sn_conv`` is the cost of
those normalizations relative to plain SN. Medians of per-iteration times after warm-up; CUDA timings
synchronise before reading the clock. Results go to stdout as a table and, with --json, to a file.
"""

from __future__ import annotations

import argparse
import json
import platform

import torch
import torch.nn.functional as F

from _timing import median_time  # bench/ is on sys.path when run as a script

import specnorm
from specnorm import config
from specnorm.nn import NormSpec
from specnorm.train.state import build_state

PRESETS = {
    # arch, mg, width, batch (D) — CPU: the paper's CIFAR CNN at full size is ~1 s/it on 2 cores
    "cpu": [("cnn", 4, 1.0, 64), ("cnn", 2, 0.125, 64), ("resnet", 1, 0.125, 16)],
    "gpu": [("cnn", 4, 1.0, 64), ("cnn", 6, 1.0, 64), ("cnn", 8, 1.0, 64), ("resnet", 4, 1.0, 16)],
}


def _cell(arch: str, mg: int, width: float, batch: int, mode: str, device: str) -> config.CellConfig:
    """Official batch shapes: CNN D/G 64/64, n_dis 1; ResNet D 16, G 32, n_dis 5."""
    g_batch = batch if arch == "cnn" else 2 * batch
    return config.from_dict({
        "model": {"arch": arch, "mg": mg, "width": width},
        "norm": {"mode": mode},
        "train": {"d_batch": batch, "g_batch": g_batch, "n_dis": 1 if arch == "cnn" else 5},
        "log": {"analysis_batch": 4, "n_samples": 4}, "eval": {"every": 0}, "device": device,
    })


def _random_images(res: int, n: int = 512):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, res, res), generator=g, dtype=torch.uint8).numpy()


def ours(cfg: config.CellConfig, device: torch.device, images):
    import specnorm.train.state as state_mod
    from specnorm.train.step import train_iteration

    real_load = state_mod.load
    state_mod.load = lambda name, root: images  # benchmark on random images of the right size
    try:
        st = build_state(cfg, device)
    finally:
        state_mod.load = real_load
    counter = iter(range(1, 10**9))
    return lambda: train_iteration(st, next(counter), False)


def plain(cfg: config.CellConfig, device: torch.device, images):
    """The usual eager SNGAN loop with torch.nn.utils.parametrizations.spectral_norm on D."""
    from specnorm.models import build_models

    m = cfg.model
    G, D = build_models(m.arch, NormSpec("none"), mg=m.mg, width=m.width, z_dim=m.z_dim)
    for _, layer, _ in D.weighted_layers():
        torch.nn.utils.parametrizations.spectral_norm(layer)
    G.to(device).train()
    D.to(device).train()
    o = cfg.optim
    opt_g = torch.optim.Adam(G.parameters(), o.g_lr, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(D.parameters(), o.d_lr, betas=(o.beta1, o.beta2))
    data = torch.from_numpy(images).to(device)
    t = cfg.train

    def step():
        for _ in range(t.n_dis):
            real = data[torch.randint(0, data.shape[0], (t.d_batch,), device=device)].float() / 127.5 - 1
            with torch.no_grad():
                fake = G(torch.randn(t.d_batch, m.z_dim, device=device))
            loss = F.relu(1 - D(real)).mean() + F.relu(1 + D(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            opt_d.step()
        loss_g = -D(G(torch.randn(t.g_batch, m.z_dim, device=device))).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None)
    p.add_argument("--modes", default="sn,bsn,sn_conv")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    preset = a.preset or ("gpu" if device.type == "cuda" else "cpu")
    header = (f"specnorm {specnorm.__version__} | torch {torch.__version__} | device "
              f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'} "
              f"({torch.get_num_threads()} threads)")
    print(header)
    print(f"{'arch':7} {'res':>4} {'width':>6} {'batch':>5} {'mode':8} {'ours it/s':>10} {'plain SN it/s':>14} {'ratio':>6}")
    results = []
    for arch, mg, width, batch in PRESETS[preset]:
        res = 8 * mg if arch == "cnn" else 32 * mg
        images = _random_images(res)
        t_plain = None
        for mode in a.modes.split(","):
            cfg = _cell(arch, mg, width, batch, mode, a.device)
            torch.manual_seed(0)
            t_ours = median_time(ours(cfg, device, images), device, a.warmup, a.iters)
            if t_plain is None:
                t_plain = median_time(plain(cfg, device, images), device, a.warmup, a.iters)
            row = {"arch": arch, "res": res, "width": width, "batch": batch, "mode": mode,
                   "ours_it_s": 1 / t_ours, "plain_sn_it_s": 1 / t_plain, "ratio": t_plain / t_ours}
            results.append(row)
            print(f"{arch:7} {res:>4} {width:>6} {batch:>5} {mode:8} {row['ours_it_s']:>10.2f} "
                  f"{row['plain_sn_it_s']:>14.2f} {row['ratio']:>6.2f}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"header": header, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
