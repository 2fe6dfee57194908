"""Evaluation speed: feature-extraction images/s and seconds per evaluation for each protocol.

    python bench/eval_speed.py                                   # CPU-sized counts
    python bench/eval_speed.py --device cuda --full --inception resources/inception/inception-2015-12-05.pt

Parts timed (medians after warm-up; CUDA timings synchronise before reading the clock):

- extraction: images/s of each extractor path on a batch of CIFAR-sized (32×32) or digits (16×16)
  images in [−1, 1]: Inception ``paper`` (in-network TF1 bilinear resize), Inception ``clean``
  (our batched PIL-bicubic resize + ``layers``), the resize alone, clean-fid's own per-image PIL
  resizer (what ``cleanfid.fid.compute_fid(gen=...)`` does per image on the CPU), and the digits
  classifier.
- arithmetic: FID on 2048-d statistics, old route (clean-fid ``frechet_distance``: scipy ``sqrtm``,
  CPU) vs ours (``specnorm.metrics.fid``: ``eigh`` in float64 on ``--device``; the first FID of a run
  also computes the reference's √Σ, later ones reuse it), and KID (100 subsets of 1000, 2048-d),
  clean-fid ``kernel_distance`` vs ours.
- analysis: σ_conv of the 7 conv layers of the official CIFAR discriminator (mg 4, full width), old
  route (ARPACK ``svds`` in float64 on the host, ``specnorm.analysis.linalg.arpack_conv_operator_norm``, maxiter 200 as
  the analysis used) vs ours (``specnorm.analysis.linalg.conv_operator_norm``: Lanczos on
  ``--device``, float32, relative tolerance 1e-5), cold and warm-started after a small weight change.
- evaluation: one :meth:`Evaluator.evaluate` of the official CIFAR CNN generator (mg 4, full width)
  under ``paper`` and ``standard``, and of the digits demo generator under its protocols.

``--parts`` picks a subset (e.g. ``--parts arithmetic,analysis``: the FID/KID and σ_conv routes only).
Without ``--inception`` the Inception network is an architecture stand-in: torchvision's
Inception-v3 with random weights behind the same interface (``layers`` → 2048-d pool3, ``output``
Linear 2048 → 1008, TF1-style ``grid_sample`` resize in ``forward``): the same FLOPs, so the same
speed, but meaningless scores. Without ``--full`` the Inception evaluations use ``--cpu-counts``
sample counts and the full-protocol time is projected from the measured rates and the new FID/KID
times (labelled so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from _timing import median_time, sync  # bench/ is on sys.path when run as a script

import specnorm
from specnorm.metrics import inception
from specnorm.metrics.digits_classifier import DigitsExtractor, load_classifier
from specnorm.metrics.evaluator import Evaluator, real_reference
from specnorm.analysis.linalg import arpack_conv_operator_norm, conv_operator_norm
from specnorm.config import EvalCfg, NormCfg
from specnorm.metrics.fid import Stats, fid, kid
from specnorm.metrics.protocol import resolve
from specnorm.metrics.resize import resize_clean
from specnorm.models import build_models
from specnorm.nn import raw_weight


class InceptionArch(nn.Module):
    """torchvision Inception-v3 (random weights) with the interface of ``inception-2015-12-05.pt``."""

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        tv = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        blocks = [m for name, m in tv.named_children() if name not in ("dropout", "fc")]
        self.layers = nn.Sequential(*blocks)
        self.output = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        n, c, h, w = img.shape
        theta = torch.eye(2, 3, device=img.device)
        theta[0, 2] += 1.0 / w - 1.0 / 299
        theta[1, 2] += 1.0 / h - 1.0 / 299
        grid = F.affine_grid(theta.unsqueeze(0).repeat(n, 1, 1), [n, c, 299, 299], align_corners=False)
        x = F.grid_sample(img.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        feats = self.layers((x - 128.0) / 128.0).reshape(n, 2048)
        if return_features:
            return feats
        return F.softmax(self.output(feats), dim=1)


def _inception(path: str | None, device: torch.device) -> tuple[nn.Module, str, str]:
    if path:
        return inception.load(path, device), inception.verify(path), "inception-2015-12-05.pt"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return InceptionArch().to(device).eval(), "architecture-stand-in", "torchvision Inception-v3 (random weights)"


def extraction_rates(net: nn.Module, sha: str, digits: DigitsExtractor, device: torch.device, batch: int) -> dict:
    """images/s of every extraction path."""
    g = torch.Generator().manual_seed(0)
    big = max(batch, 256)  # the cheap paths are timed on larger batches
    cifar = (torch.rand(big, 3, 32, 32, generator=g) * 2 - 1).to(device)
    small = (torch.rand(big, 3, 16, 16, generator=g) * 2 - 1).to(device)
    rates = {}
    with torch.no_grad():
        for mode in ("paper", "clean"):
            ex = inception.InceptionExtractor(net, mode, sha)
            rates[f"inception_{mode}"] = batch / median_time(lambda: ex(cifar[:batch]), device)
        rates["resize_clean_batched"] = big / median_time(lambda: resize_clean((cifar + 1) * 127.5), device)
        from cleanfid.resize import make_resizer

        pil = make_resizer("PIL", False, "bicubic", (299, 299))
        imgs = ((cifar[:16] + 1) * 127.5).permute(0, 2, 3, 1).cpu().numpy()
        rates["resize_clean_fid_per_image_cpu"] = 16 / median_time(lambda: [pil(im) for im in imgs],
                                                                     torch.device("cpu"), 0, 1)
        rates["digits"] = big / median_time(lambda: digits(small), device)
    return rates


def arithmetic_times(device: torch.device) -> dict:
    """FID (2048-d) and KID (2048-d, 100 × 1000 subsets) seconds: clean-fid (CPU) vs ours (``device``)."""
    from cleanfid.fid import frechet_distance, kernel_distance

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4096, 2048)), rng.standard_normal((4096, 2048))
    mu_a, cov_a, mu_b, cov_b = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    out = {}
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # clean-fid passes sqrtm(disp=...)
        old = float(frechet_distance(mu_a, cov_a, mu_b, cov_b))
    out["fid_old_sqrtm_s"] = time.perf_counter() - t
    ref = Stats(torch.from_numpy(mu_b).to(device), torch.from_numpy(cov_b).to(device))
    gen = Stats(torch.from_numpy(mu_a).to(device), torch.from_numpy(cov_a).to(device))
    sync(device)
    t = time.perf_counter()
    new = fid(gen, ref)  # computes and caches the reference's square root
    sync(device)
    out["fid_new_first_s"] = time.perf_counter() - t
    out["fid_new_cached_s"] = median_time(lambda: fid(gen, ref), device, warmup=0, iters=3)
    out["fid_rel_diff"] = abs(new - old) / abs(old)
    fa, fb = a[:2000].astype(np.float32), b[:2000].astype(np.float32)
    state = np.random.get_state()
    np.random.seed(0)
    t = time.perf_counter()
    k_old = kernel_distance(fa, fb)
    out["kid_old_s"] = time.perf_counter() - t
    np.random.set_state(state)
    ta, tb = torch.from_numpy(fa).to(device), torch.from_numpy(fb).to(device)
    sync(device)
    t = time.perf_counter()
    k_new = kid(ta, tb, seed=0)
    sync(device)
    out["kid_new_s"] = time.perf_counter() - t
    out["kid_old"], out["kid_new"] = k_old, k_new  # near 0: the sets share one distribution
    return out


def analysis_times(device: torch.device) -> dict:
    """σ_conv of the CIFAR discriminator's conv layers: ARPACK (old) vs Lanczos on ``device`` (cold, warm)."""
    g = torch.Generator().manual_seed(0)
    D = build_models("cnn", NormCfg("none"), mg=4, generator=g)[1].to(device)
    convs = [(raw_weight(layer).detach(), size, layer) for _, layer, size in D.weighted_layers() if size is not None]
    moved = [w + 0.01 * w.std() * torch.randn(w.shape, generator=g).to(device) for w, _, _ in convs]
    out = {"layers": [], "old_arpack_s": 0.0, "new_cold_s": 0.0, "new_warm_s": 0.0}
    for (w, size, layer), w2 in zip(convs, moved):
        geo = (layer.stride, layer.padding, layer.dilation)
        t = time.perf_counter()
        old = arpack_conv_operator_norm(w, size, *geo, n_iter=200)
        t_old = time.perf_counter() - t
        sync(device)
        t = time.perf_counter()
        cold = conv_operator_norm(w, size, *geo)
        sync(device)
        t_cold = time.perf_counter() - t
        t = time.perf_counter()
        warm = conv_operator_norm(w2, size, *geo, v0=cold.vector)
        sync(device)
        t_warm = time.perf_counter() - t
        out["old_arpack_s"] += t_old
        out["new_cold_s"] += t_cold
        out["new_warm_s"] += t_warm
        out["layers"].append({"shape": list(w.shape), "input": list(size), "stride": list(layer.stride),
                              "sigma_arpack": old, "sigma_new": cold.sigma, "rel_diff": abs(cold.sigma - old) / old,
                              "cold_iterations": cold.iterations, "warm_iterations": warm.iterations,
                              "old_s": t_old, "cold_s": t_cold, "warm_s": t_warm})
    return out


def evaluation_time(extractor, protocol_name: str, counts: dict, G: nn.Module, images: np.ndarray,
                    device: torch.device, batch: int, tmp: str, precision: str = "fp32") -> tuple[float, dict]:
    """Seconds of one evaluate() (reference statistics prepared beforehand, as in training), the
    metric network at ``precision`` (``eval.precision``)."""
    protocol = resolve(EvalCfg(protocol=protocol_name, batch_size=batch, precision=precision, **counts), len(images),
                       seed=0)
    ref = real_reference(images, "bench", extractor, protocol, device, batch, tmp)
    ev = Evaluator(extractor, protocol, ref, "bench", G.z_dim, device, batch)
    if device.type == "cuda":
        ev.evaluate(G, 0, 0.0)  # warm-up (cuDNN autotuning, allocator)
        sync(device)
    t = time.perf_counter()
    ev.evaluate(G, 0, 0.0)
    sync(device)
    return time.perf_counter() - t, {"n_gen": protocol.n_gen, "n_real": protocol.n_real, "n_is": protocol.n_is}


PARTS = ("extraction", "arithmetic", "analysis", "evaluation")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--inception", help="the real inception-2015-12-05.pt (default: architecture stand-in)")
    p.add_argument("--batch-size", type=int, default=None, help="default: 250 on CUDA, 16 on CPU")
    p.add_argument("--full", action="store_true", help="time Inception evaluations at full protocol counts")
    p.add_argument("--cpu-counts", type=int, default=32, help="Inception sample counts without --full")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    parts = set(a.parts.split(","))
    if not parts <= set(PARTS):
        p.error(f"unknown parts {sorted(parts - set(PARTS))}")
    device = torch.device(a.device)
    batch = a.batch_size or (250 if device.type == "cuda" else 16)
    res = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
           "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0], "torch": torch.__version__,
           "specnorm": specnorm.__version__, "batch": batch}
    if parts & {"extraction", "evaluation"}:
        net, sha, net_name = _inception(a.inception, device)
        digits = DigitsExtractor(load_classifier(device))
        res["inception"] = net_name
    if "extraction" in parts:
        res["images_per_s"] = extraction_rates(net, sha, digits, device, batch)
    if "arithmetic" in parts:
        res["arithmetic"] = arithmetic_times(device)
    if "analysis" in parts:
        res["analysis"] = analysis_times(device)
    if "evaluation" in parts:
        res["evaluation_s"] = evaluations(a, res, net, sha, digits, device, batch)

    print(f"device {res['device']} ({res['threads']} threads, load {res['load_avg_1min']:.1f}), "
          f"torch {res['torch']}, Inception: {res.get('inception', '-')}, batch {batch}")
    if "images_per_s" in res:
        print("\n| extraction path | images/s |\n|---|---|")
        for k, v in res["images_per_s"].items():
            print(f"| {k} | {v:,.0f} |")
    if "arithmetic" in res:
        ar = res["arithmetic"]
        print("\n| 2048-d arithmetic | old (clean-fid, CPU) s | new (device) s |\n|---|---|---|")
        print(f"| FID, first of a run (new: + reference √Σ) | {ar['fid_old_sqrtm_s']:.2f} | {ar['fid_new_first_s']:.2f} |")
        print(f"| FID, each later evaluation | {ar['fid_old_sqrtm_s']:.2f} | {ar['fid_new_cached_s']:.2f} |")
        print(f"| KID, 100 × 1000 | {ar['kid_old_s']:.2f} | {ar['kid_new_s']:.2f} |")
        print(f"new vs old: FID relative difference {ar['fid_rel_diff']:.1e}; KID {ar['kid_new']:.4e} vs "
              f"{ar['kid_old']:.4e} (clean-fid sums in float32), difference {ar['kid_new'] - ar['kid_old']:.1e}")
    if "analysis" in res:
        an = res["analysis"]
        print("\n| CIFAR D conv | input | ARPACK s | Lanczos cold s (its) | warm s (its) | rel diff |\n|---|---|---|---|---|---|")
        for r in an["layers"]:
            print(f"| {'×'.join(map(str, r['shape']))} s{r['stride'][0]} | {r['input'][0]}² | {r['old_s']:.2f} | "
                  f"{r['cold_s']:.2f} ({r['cold_iterations']}) | {r['warm_s']:.2f} ({r['warm_iterations']}) | "
                  f"{r['rel_diff']:.1e} |")
        print(f"| all 7 | | {an['old_arpack_s']:.2f} | {an['new_cold_s']:.2f} | {an['new_warm_s']:.2f} | |")
    if "evaluation_s" in res:
        print("\n| evaluation | n_gen / n_real / n_is | seconds | projected full protocol (s) |\n|---|---|---|---|")
        for k, v in res["evaluation_s"].items():
            proj = f"{v['projected_full_s']:.0f}" if "projected_full_s" in v else ""
            print(f"| {k} | {v['n_gen']} / {v['n_real']} / {v['n_is']} | {v['seconds']:.2f} | {proj} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def evaluations(a: argparse.Namespace, res: dict, net: nn.Module, sha: str, digits: DigitsExtractor,
                device: torch.device, batch: int) -> dict:
    """Seconds of whole evaluations (Inception at reduced or full counts, digits at demo and full counts)."""
    tmp = tempfile.mkdtemp(prefix="eval_speed_")
    g = torch.Generator().manual_seed(0)
    cifar_G = build_models("cnn", NormCfg("sn"), mg=4, generator=g)[0].to(device).eval()
    digits_G = build_models("cnn", NormCfg("sn"), mg=2, width=0.125, z_dim=32, generator=g)[0].to(device).eval()
    cifar_real = np.random.default_rng(0).integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8)
    from specnorm.data import load

    digits_real = load("digits")
    out = {}
    for proto in ("paper", "standard"):
        ex = inception.InceptionExtractor(net, proto if proto == "paper" else "clean", sha)
        if a.full:
            counts, real = {}, cifar_real
        else:
            n = a.cpu_counts
            counts, real = {"n_gen": n, "n_is": n, "n_real": n, "is_splits": 2}, cifar_real[:4 * n]
        secs, used = evaluation_time(ex, proto, counts, cifar_G, real, device, batch, tmp)
        entry = {"seconds": secs, **used, "measured_at": "full" if a.full else "reduced counts"}
        if not a.full and "images_per_s" in res and "arithmetic" in res:
            rate = res["images_per_s"]["inception_paper" if proto == "paper" else "inception_clean"]
            n_fwd = 60_000 if proto == "paper" else 50_000
            entry["projected_full_s"] = n_fwd / rate + res["arithmetic"]["fid_new_cached_s"] + (
                res["arithmetic"]["kid_new_s"] if proto == "standard" else 0.0)
        out[f"inception_{proto}"] = entry
        for label, counts in (("demo(1k)", {"n_gen": 1000, "n_real": 1000, "n_is": 1000}), ("full", {})):
            secs, used = evaluation_time(digits, proto, counts, digits_G, digits_real, device, batch * 4, tmp)
            out[f"digits_{proto}_{label}"] = {"seconds": secs, **used}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
