"""Evaluation speed: feature-extraction images/s and seconds per evaluation for each protocol.

    python bench/eval_speed.py                                   # CPU-sized counts
    python bench/eval_speed.py --device cuda --full --inception resources/inception/inception-2015-12-05.pt

Parts timed (medians after warm-up; CUDA timings synchronise before reading the clock):

- extraction: images/s of each extractor path on a batch of CIFAR-sized (32×32) or digits (16×16)
  images in [−1, 1]: Inception ``paper`` (in-network TF1 bilinear resize), Inception ``clean``
  (our batched PIL-bicubic resize + ``layers``), the resize alone, clean-fid's own per-image PIL
  resizer (what ``cleanfid.fid.compute_fid(gen=...)`` does per image on the CPU), and the digits
  classifier.
- arithmetic: clean-fid ``frechet_distance`` on 2048-d statistics (scipy ``sqrtm``, CPU) and
  ``kernel_distance`` (100 subsets of 1000, 2048-d).
- evaluation: one :meth:`Evaluator.evaluate` of the official CIFAR CNN generator (mg 4, full width)
  under ``paper`` and ``standard``, and of the digits demo generator under its protocols.

Without ``--inception`` the Inception network is an architecture stand-in: torchvision's
Inception-v3 with random weights behind the same interface (``layers`` → 2048-d pool3, ``output``
Linear 2048 → 1008, TF1-style ``grid_sample`` resize in ``forward``): the same FLOPs, so the same
speed, but meaningless scores. Without ``--full`` the Inception evaluations use ``--cpu-counts``
sample counts and the full-protocol time is projected from the measured rates (labelled so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from _timing import median_time, sync  # bench/ is on sys.path when run as a script

import specnorm
from specnorm.config import EvalCfg
from specnorm.metrics import inception
from specnorm.metrics.digits_classifier import DigitsExtractor, load_classifier
from specnorm.metrics.evaluator import Evaluator, real_reference
from specnorm.metrics.fid import Stats, fid, kid
from specnorm.metrics.protocol import resolve
from specnorm.metrics.resize import resize_clean
from specnorm.models import build_models
from specnorm.nn import NormSpec


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


def arithmetic_times() -> dict:
    """clean-fid FID (2048-d sqrtm) and KID (2048-d, 100 × 1000 subsets) seconds, CPU."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4096, 2048)), rng.standard_normal((4096, 2048))
    sa = Stats(a.mean(0), np.cov(a, rowvar=False))
    sb = Stats(b.mean(0), np.cov(b, rowvar=False))
    t = time.perf_counter()
    fid(sa, sb)
    t_fid = time.perf_counter() - t
    t = time.perf_counter()
    kid(a[:2000].astype(np.float32), b[:2000].astype(np.float32), seed=0)
    return {"fid_sqrtm_s": t_fid, "kid_s": time.perf_counter() - t}


def evaluation_time(extractor, protocol_name: str, counts: dict, G: nn.Module, images: np.ndarray,
                    device: torch.device, batch: int, tmp: str) -> tuple[float, dict]:
    """Seconds of one evaluate() (reference statistics prepared beforehand, as in training)."""
    protocol = resolve(EvalCfg(protocol=protocol_name, batch_size=batch, **counts), len(images), seed=0)
    ref = real_reference(images, "bench", extractor, protocol, device, batch, tmp)
    ev = Evaluator(extractor, protocol, ref, "bench", G.z_dim, device, batch, "fid")
    if device.type == "cuda":
        ev.evaluate(G, 0, 0.0)  # warm-up (cuDNN autotuning, allocator)
        sync(device)
    t = time.perf_counter()
    ev.evaluate(G, 0, 0.0)
    _sync(device)
    return time.perf_counter() - t, {"n_gen": protocol.n_gen, "n_real": protocol.n_real, "n_is": protocol.n_is}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--inception", help="the real inception-2015-12-05.pt (default: architecture stand-in)")
    p.add_argument("--batch-size", type=int, default=None, help="default: 250 on CUDA, 16 on CPU")
    p.add_argument("--full", action="store_true", help="time Inception evaluations at full protocol counts")
    p.add_argument("--cpu-counts", type=int, default=32, help="Inception sample counts without --full")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args(argv)
    device = torch.device(a.device)
    batch = a.batch_size or (250 if device.type == "cuda" else 16)
    net, sha, net_name = _inception(a.inception, device)
    digits = DigitsExtractor(load_classifier(device))
    tmp = tempfile.mkdtemp(prefix="eval_speed_")
    res = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
           "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0], "torch": torch.__version__, "specnorm": specnorm.__version__,
           "inception": net_name, "batch": batch}
    res["images_per_s"] = extraction_rates(net, sha, digits, device, batch)
    res["arithmetic"] = arithmetic_times()

    g = torch.Generator().manual_seed(0)
    cifar_G = build_models("cnn", NormSpec("sn"), mg=4, generator=g)[0].to(device).eval()
    digits_G = build_models("cnn", NormSpec("sn"), mg=2, width=0.125, z_dim=32, generator=g)[0].to(device).eval()
    cifar_real = np.random.default_rng(0).integers(0, 256, (50_000, 3, 32, 32), dtype=np.uint8)
    from specnorm.data import load

    digits_real = load("digits")
    res["evaluation_s"] = {}
    for proto in ("paper", "standard"):
        ex = inception.InceptionExtractor(net, proto if proto == "paper" else "clean", sha)
        if a.full:
            counts, real = {}, cifar_real
        else:
            n = a.cpu_counts
            counts, real = {"n_gen": n, "n_is": n, "n_real": n, "is_splits": 2}, cifar_real[:4 * n]
        secs, used = evaluation_time(ex, proto, counts, cifar_G, real, device, batch, tmp)
        entry = {"seconds": secs, **used, "measured_at": "full" if a.full else "reduced counts"}
        if not a.full:
            rate = res["images_per_s"]["inception_paper" if proto == "paper" else "inception_clean"]
            n_fwd = 60_000 if proto == "paper" else 50_000
            entry["projected_full_s"] = n_fwd / rate + res["arithmetic"]["fid_sqrtm_s"] + (
                res["arithmetic"]["kid_s"] if proto == "standard" else 0.0)
        res["evaluation_s"][f"inception_{proto}"] = entry
        for label, counts in (("demo(1k)", {"n_gen": 1000, "n_real": 1000, "n_is": 1000}), ("full", {})):
            secs, used = evaluation_time(digits, proto, counts, digits_G, digits_real, device, batch * 4, tmp)
            res["evaluation_s"][f"digits_{proto}_{label}"] = {"seconds": secs, **used}

    print(f"device {res['device']} ({res['threads']} threads, load {res['load_avg_1min']:.1f}), "
          f"torch {res['torch']}, Inception: {net_name}, batch {batch}")
    print("\n| extraction path | images/s |\n|---|---|")
    for k, v in res["images_per_s"].items():
        print(f"| {k} | {v:,.0f} |")
    print(f"\nclean-fid FID (2048-d sqrtm): {res['arithmetic']['fid_sqrtm_s']:.2f} s; "
          f"KID: {res['arithmetic']['kid_s']:.2f} s")
    print("\n| evaluation | n_gen / n_real / n_is | seconds | projected full protocol (s) |\n|---|---|---|---|")
    for k, v in res["evaluation_s"].items():
        proj = f"{v['projected_full_s']:.0f}" if "projected_full_s" in v else ""
        print(f"| {k} | {v['n_gen']} / {v['n_real']} / {v['n_is']} | {v['seconds']:.2f} | {proj} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
