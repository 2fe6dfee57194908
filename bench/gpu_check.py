"""The one-shot GPU check: one table of what this package does on this device (docs/performance.md#gpu-check).

    bash bench/gpu_check.sh OUTDIR                  # full, <= 8 min on one H100/H200
    bash bench/gpu_check.sh --smoke OUTDIR          # same code paths at toy sizes (CPU, < 1 min)

Rows: the environment (which optional dependencies import); training throughput of the CIFAR-shaped
CNN (random 32×32 images, or ``--data DIR``) for SN / BSN / SN_Conv × pack 1/4/16 × compile
none/graph (our engine, cells stepped as ``specnorm.train.pack.run_pack`` does; docs/design.md#packs)
and the plain PyTorch-SN loop; the paper-protocol evaluation time of the Inception-shaped workload
(``bench/eval_speed.py``; the real ``inception-2015-12-05.pt`` if present, else random weights of its
shapes); peak GPU memory per row; a pack-vs-lone equivalence check. Every part runs in its own
guard: a part that cannot run (missing dependency, no CUDA, out of time) is a row saying why.
The table is rewritten after every row to OUTDIR/gpu_check.md (and .json), so a killed run keeps
what it measured.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import tempfile
import time
import traceback

MODES = ("sn", "bsn", "sn_conv")
PACKS = (1, 4, 16)
COMPILES = ("none", "graph")
OPTIONAL = ("numpy", "yaml", "PIL", "scipy", "torchvision", "cleanfid", "jinja2")


class Table:
    """Rows of the check, written to ``outdir`` after every addition."""

    def __init__(self, outdir: str, header: list[str]) -> None:
        self.outdir, self.header, self.rows = outdir, header, []
        os.makedirs(outdir, exist_ok=True)

    def add(self, part: str, config: str, result: str, peak_mib: float | None = None, note: str = "") -> None:
        row = {"part": part, "config": config, "result": result,
               "peak_gpu_mib": None if peak_mib is None else round(peak_mib, 1), "note": note}
        self.rows.append(row)
        peak = "-" if peak_mib is None else f"{peak_mib:,.0f}"
        print(f"| {part} | {config} | {result} | {peak} | {note} |", flush=True)
        self.write()

    def write(self) -> None:
        lines = [f"# GPU check, {datetime.datetime.now().isoformat(timespec='seconds')}", ""]
        lines += [f"- {h}" for h in self.header] + [""]
        lines += ["| part | configuration | result | peak GPU MiB | note |", "|---|---|---|---:|---|"]
        for r in self.rows:
            peak = "-" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:,.0f}"
            lines.append(f"| {r['part']} | {r['config']} | {r['result']} | {peak} | {r['note']} |")
        with open(os.path.join(self.outdir, "gpu_check.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.outdir, "gpu_check.json"), "w") as f:
            json.dump({"header": self.header, "rows": self.rows}, f, indent=2)


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:160] if text else ''}".rstrip(": ")


class Peak:
    """Peak GPU memory (MiB) allocated while entered; None on the CPU."""

    def __init__(self, torch, device) -> None:
        self.torch, self.device, self.mib = torch, device, None

    def __enter__(self) -> Peak:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
            self.torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)
            self.mib = self.torch.cuda.max_memory_allocated(self.device) / 2**20


def load_images(folder: str, res: int, limit: int = 50_000):
    """uint8 NCHW ``res``×``res`` images from ``folder``: a ``*.npy`` uint8 array (NCHW or NHWC), or
    JPEG/PNG files (PIL, else ``torchvision.io``), centre-cropped and resized."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    names = sorted(os.listdir(folder))
    for n in names:
        if n.endswith(".npy"):
            arr = np.load(os.path.join(folder, n), mmap_mode="r")
            if arr.ndim == 4 and arr.dtype == np.uint8:
                arr = np.asarray(arr[:limit])
                arr = arr if arr.shape[1] in (1, 3) else arr.transpose(0, 3, 1, 2)
                t = torch.from_numpy(np.ascontiguousarray(arr)).float()
                if t.shape[-1] != res:
                    t = F.interpolate(t, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
                return t.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous().numpy()
    files = [os.path.join(folder, n) for n in names if n.lower().endswith((".jpg", ".jpeg", ".png"))][:limit]
    if not files:
        raise FileNotFoundError(f"{folder} holds no *.npy, *.jpg, *.jpeg or *.png")
    out = np.empty((len(files), 3, res, res), dtype=np.uint8)
    try:
        from PIL import Image

        def read(path):
            with Image.open(path) as im:
                return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    except ImportError:
        from torchvision.io import ImageReadMode, read_image

        def read(path):
            return read_image(path, ImageReadMode.RGB)
    for i, path in enumerate(files):
        x = read(path)
        s = min(x.shape[1:])
        top, left = (x.shape[1] - s) // 2, (x.shape[2] - s) // 2
        x = x[:, top:top + s, left:left + s].unsqueeze(0).float()
        x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
        out[i] = x.round().clamp(0, 255).to(torch.uint8)[0].numpy()
    return out


def train_rows(tb, table: Table, torch, device, cell: tuple, images, a, deadline: float, compiles: tuple) -> None:
    """Our engine: MODES × PACKS × ``compiles`` → aggregate it/s (each in its own guard)."""
    arch, mg, width, batch = cell
    compile_s: dict = {}
    for cmode in compiles:
        for k in PACKS:  # every mode at pack 1 first: a short budget then still covers all modes
            for mode in MODES:
                label = f"{mode} · pack {k} · {cmode}"
                if cmode == "graph" and device.type != "cuda":
                    table.add("train ours", label, "skipped", note="graph = CUDA graphs: needs a CUDA device")
                    continue
                left = deadline - time.time()
                # compiling: one trace per cell (the pack raises dynamo's recompile limit to fit them)
                need = a.reserve_s + (compile_s.get(mode, 0.0) * k if cmode != "none" else 0.0)
                if left < need:
                    table.add("train ours", label, "skipped", note=f"time budget: {left:.0f} s left, ~{need:.0f} s needed")
                    continue
                try:
                    cfgs = [tb.cell_config(arch, mg, width, batch, mode, str(device), compile=cmode,
                                           precision=a.precision, seed=i) for i in range(k)]
                    torch.manual_seed(0)
                    with tb.RecompileWatch() as watch, Peak(torch, device) as peak:
                        pack = tb.OursPack(cfgs, device, images)
                        t = time.time()
                        pack()  # first iteration: compiles / captures for graph
                        first = time.time() - t
                        if cmode != "none" and k == 1:
                            compile_s[mode] = first
                        sec = tb.interleaved({"ours": pack}, device, a.warmup, a.iters, a.repeats)["ours"]
                    del pack
                    note = f"first iteration {first:.1f} s"
                    if watch.hit:
                        note += "; torch._dynamo recompile limit hit: later cells ran partly eager"
                    table.add("train ours", label, f"{k / sec:,.1f} it/s ({1000 * sec / k:.2f} ms per cell-it)",
                              peak.mib, note)
                except Exception as e:  # noqa: BLE001  (reported, the check goes on)
                    table.add("train ours", label, "could not run", note=_why(e))
                    if device.type == "cuda":
                        torch.cuda.empty_cache()


def plain_rows(tb, table: Table, torch, device, cell: tuple, images, a) -> None:
    arch, mg, width, batch = cell
    for k in PACKS:
        label = f"sn (PyTorch spectral_norm) · {k} in turn · eager"
        try:
            try:
                cfgs = [tb.cell_config(arch, mg, width, batch, "sn", str(device), precision=a.precision, seed=i)
                        for i in range(k)]
                note = ""
            except ImportError as e:  # specnorm.config needs PyYAML; the plain loop does not
                cfgs, note = [tb.plain_config(arch, mg, width, batch)] * k, f"official Adam/batch values ({_why(e)})"
            with Peak(torch, device) as peak:
                plain = tb.PlainPack(cfgs, device, images)
                sec = tb.interleaved({"plain": plain}, device, a.warmup, a.iters, a.repeats)["plain"]
            del plain
            table.add("train plain", label, f"{k / sec:,.1f} it/s ({1000 * sec / k:.2f} ms per cell-it)", peak.mib,
                      note)
        except Exception as e:  # noqa: BLE001
            table.add("train plain", label, "could not run", note=_why(e))


def ops_rows(tb, table: Table, torch, device, cell: tuple, images, a) -> None:
    """Operations per iteration (profiler): ours SN / BSN vs the plain loop, eager, pack of one."""
    arch, mg, width, batch = cell
    kind = "CUDA kernels / host launch calls" if device.type == "cuda" else "top-level ATen ops"
    for name in ("ours sn", "ours bsn", "plain sn"):
        try:
            if name.startswith("ours"):
                cfg = tb.cell_config(arch, mg, width, batch, name.split()[1], str(device), precision=a.precision)
                fn = tb.OursPack([cfg], device, images)
            else:
                fn = tb.PlainPack([tb.plain_config(arch, mg, width, batch)], device, images)
            table.add("ops per iteration", f"{name} · pack 1 · none", tb.op_label(tb.count_ops(fn, device, 2)),
                      note=kind)
        except Exception as e:  # noqa: BLE001
            table.add("ops per iteration", f"{name} · pack 1 · none", "could not run", note=_why(e))


def equivalence_row(tb, table: Table, torch, device, cell: tuple, images, a, n_iter: int, k: int = 4) -> None:
    """``k`` cells trained ``n_iter`` iterations as one pack vs each alone: bitwise, or the max |Δ|
    over every G and D parameter and buffer."""
    arch, mg, width, batch = cell
    label = f"sn · pack {k} vs each alone · {n_iter} it · none"
    try:
        cfgs = [tb.cell_config(arch, mg, width, batch, "sn", str(device), precision=a.precision, seed=i)
                for i in range(k)]

        def weights(st):
            return [t.detach().float().cpu().clone() for m in (st.G, st.D) for t in m.state_dict().values()]

        lone = []
        for cfg in cfgs:
            p = tb.OursPack([cfg], device, images)
            for _ in range(n_iter):
                p()
            lone.append(weights(p.states[0]))
            del p
        pack = tb.OursPack(cfgs, device, images)
        for _ in range(n_iter):
            pack()
        diff, bitwise = 0.0, True
        for st, ref in zip(pack.states, lone):
            for x, y in zip(weights(st), ref):
                bitwise &= torch.equal(x, y)
                diff = max(diff, (x - y).abs().max().item() if x.numel() else 0.0)
        det = (f"cudnn.deterministic={torch.backends.cudnn.deterministic}, benchmark={torch.backends.cudnn.benchmark}"
               if device.type == "cuda" else "CPU")
        table.add("equivalence", label, "bitwise equal" if bitwise else f"max abs diff {diff:.3e}", note=det)
    except Exception as e:  # noqa: BLE001
        table.add("equivalence", label, "could not run", note=_why(e))


def eval_row(table: Table, torch, device, images, a, label: str) -> None:
    """Seconds of one paper-protocol evaluation (10k FID vs 5k real + 50k IS) of the official CIFAR G,
    reference statistics prepared beforehand (``bench/eval_speed.py``'s ``evaluation_time``)."""
    try:
        import numpy as np

        import eval_speed
        from specnorm.metrics import inception
        from specnorm.models import build_models
        from specnorm.config import NormCfg

        path = a.inception or ("resources/inception/inception-2015-12-05.pt"
                               if os.path.exists("resources/inception/inception-2015-12-05.pt") else None)
        if path is None:
            import torchvision  # noqa: F401  (the stand-in is torchvision's Inception-v3)
        net, sha, net_name = eval_speed._inception(path, device)
        g = torch.Generator().manual_seed(0)
        G = build_models("cnn", NormCfg("sn"), mg=4, generator=g)[0].to(device).eval()
        if a.smoke:
            counts, batch, real = {"n_gen": 8, "n_is": 8, "n_real": 8, "is_splits": 2}, 8, images[:32]
        else:
            real = images if len(images) >= 5000 else np.random.default_rng(0).integers(
                0, 256, (50_000, 3, 32, 32), dtype=np.uint8)
            counts, batch = {}, a.eval_batch
        ex = inception.InceptionExtractor(net, "paper", sha)
        with Peak(torch, device) as peak, tempfile.TemporaryDirectory() as tmp:
            secs, used = eval_speed.evaluation_time(ex, "paper", counts, G, real, device, batch, tmp)
        table.add("eval", label, f"{secs:.1f} s per evaluation", peak.mib,
                  f"{net_name}; n_gen {used['n_gen']} / n_real {used['n_real']} / n_is {used['n_is']}; batch {batch}")
    except Exception as e:  # noqa: BLE001
        table.add("eval", label, "could not run", note=_why(e))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--smoke", action="store_true", help="toy sizes and counts (CPU CI)")
    p.add_argument("--data", help="a folder of real images (JPEG/PNG, or a uint8 .npy) instead of random 32×32")
    p.add_argument("--inception", help="inception-2015-12-05.pt (default: resources/inception/…, else stand-in)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--precision", choices=("fp32", "tf32"), default="fp32")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 420; smoke 50)")
    a = p.parse_args(argv)
    start = time.time()
    a.budget = a.budget or (50.0 if a.smoke else 420.0)
    deadline = start + a.budget
    a.warmup, a.iters, a.repeats = (1, 2, 2) if a.smoke else (2, 5, 3)
    a.reserve_s = 2.0 if a.smoke else 20.0
    a.eval_batch = 250
    header = [f"python {platform.python_version()} ({sys.executable}) on {platform.node()}",
              f"mode: {'smoke (toy sizes)' if a.smoke else 'full'}; precision {a.precision} (TF32 "
              f"{'on' if a.precision == 'tf32' else 'off'}); budget {a.budget:.0f} s",
              "it/s: aggregate over the cells of a pack (cells × iterations / wall), median of "
              "timed blocks after warm-up"]
    try:
        import torch
    except ImportError as e:
        table = Table(a.outdir, header)
        table.add("env", "torch", "missing", note=_why(e))
        return 1
    table = Table(a.outdir, header)
    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if a.smoke and device.type == "cpu":
        torch.set_num_threads(1)  # 2 OpenMP threads on shared cores spin-wait (docs/performance.md)
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or "cpu")
    table.add("env", "torch", torch.__version__, note=f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build")
    table.add("env", "device", f"{device} · {dev_name}", note=f"{torch.get_num_threads()} CPU threads")
    try:  # CPU torch: the PyPI torchvision wheel imports only after this shim (specnorm.metrics does the same)
        from specnorm.metrics._tvcompat import ensure_torchvision_importable

        ensure_torchvision_importable()
    except Exception:  # noqa: BLE001  (then torchvision is reported as it imports)
        pass
    deps = []
    for name in OPTIONAL:
        try:
            mod = importlib.import_module(name)
            deps.append(f"{name} {getattr(mod, '__version__', 'ok')}")
        except Exception as e:  # noqa: BLE001  (any import failure is "missing" for this check)
            deps.append(f"{name} MISSING ({type(e).__name__})")
    table.add("env", "python deps", "; ".join(deps))
    try:
        import _trainbench as tb  # bench/ is on sys.path when run as a script

        tb.set_precision(a.precision)
    except Exception as e:  # noqa: BLE001
        table.add("train ours", "all", "could not run", note=_why(e))
        return 1

    cell = ("cnn", 2, 0.0625, 8) if a.smoke else ("cnn", 4, 1.0, 64)  # CIFAR CNN: mg 4 → 32², official width
    res = tb.resolution(cell[0], cell[1])
    try:
        if a.data:
            images, source = load_images(a.data, res), f"real images from {a.data}"
        else:
            images, source = tb.random_images(res, 512 if a.smoke else 5000), "random uint8"
        table.add("env", "data", f"{images.shape[0]} × {images.shape[1]}×{res}×{res}", note=source)
    except Exception as e:  # noqa: BLE001
        table.add("env", "data", "could not load", note=_why(e))
        try:
            images = tb.random_images(res)
        except Exception as e2:  # noqa: BLE001  (numpy missing)
            table.add("train ours", "all", "could not run", note=_why(e2))
            return 1
    table.add("env", "cell", f"{cell[0]} {res}² width {cell[2]} D/G batch {cell[3]}, n_dis 1")

    train_rows(tb, table, torch, device, cell, images, a, deadline, ("none",))
    plain_rows(tb, table, torch, device, cell, images, a)
    ops_rows(tb, table, torch, device, cell, images, a)
    equivalence_row(tb, table, torch, device, cell, images, a, 10 if a.smoke else 200)
    label = "paper protocol · CIFAR CNN G · " + ("toy counts" if a.smoke else "full counts")
    if deadline - time.time() > (5 if a.smoke else 90):
        eval_row(table, torch, device, images, a, label)
    else:
        table.add("eval", label, "skipped", note="time budget")
    train_rows(tb, table, torch, device, cell, images, a, deadline, ("graph",))
    peaks = [r["peak_gpu_mib"] for r in table.rows if r["peak_gpu_mib"] is not None]
    whole = max(peaks) if peaks else None  # each row resets the peak counter: the whole check's is their max
    table.add("summary", "peak GPU memory (whole check)", "-" if whole is None else f"{whole:,.0f} MiB",
              whole, f"wall {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001  (last resort: the traceback, not silence)
        traceback.print_exc()
        sys.exit(1)
