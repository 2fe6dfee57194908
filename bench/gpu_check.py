"""The one-shot GPU check: one table of what this package does on this device (docs/performance.md#gpu-check).

    bash bench/gpu_check.sh OUTDIR                  # full, <= 8 min on one H100/H200
    bash bench/gpu_check.sh --smoke OUTDIR          # same code paths at toy sizes (CPU, < 1 min)

Rows: the environment (which optional dependencies import); training throughput of the CIFAR-shaped
CNN (random 32×32 images, or ``--data`` real ones: a folder, nested folders such as
``train/<class>/*.jpg``, a zip of them, or a uint8 ``.npy``) for SN / BSN / SN_Conv on the serial and
the fused pack engine × pack 1/4/16 (docs/design.md#packs) in fp32, and SN in tf32 and bf16, eager and
as CUDA graphs, each with its FLOP rate against the device's peak; the plain PyTorch-SN loop; ops per
iteration; the paper-protocol evaluation time of the Inception-shaped workload in fp32, tf32 and bf16
(``bench/eval_speed.py``; the real ``inception-2015-12-05.pt`` if present, else random weights of its
shapes); peak GPU memory per row; pack-vs-lone equivalence (serial: bitwise; fused: the drift). Every
part runs in its own guard: a part that cannot run (missing dependency, no CUDA, out of time) is a
row saying why. The table is rewritten after every row to OUTDIR/gpu_check.md (and .json), so a
killed run keeps what it measured. Imports: torch, numpy and PyYAML; torchvision only for the
evaluation row, an image decoder (PIL, else torchvision.io) only where ``--data`` images are decoded.
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
ENGINES = ("serial", "fused")
PRECISIONS = ("fp32", "tf32", "bf16")
PEAK_TFLOPS = {"fp32": 67.0, "tf32": 495.0, "bf16": 989.0}
"""H100 SXM dense peaks (the throughput table's ``peak_tflops``): the FLOP-rate column's reference."""


def train_configs(packs: tuple[int, ...] = PACKS) -> list[tuple[str, str, str, str, int]]:
    """``(mode, engine, precision, compile, cells)`` of the training rows, in the order they run: every
    mode in fp32 on both engines, then SN in tf32 and bf16, then the CUDA-graph rows, the most telling
    first (each compiles for minutes: the budget may end them). A pack of one is the lone run (serial)."""
    rows = []
    for mode, precision, compile_mode in [*((m, "fp32", "none") for m in MODES), ("sn", "tf32", "none"),
                                          ("sn", "bf16", "none")]:
        rows += [(mode, "serial" if k == 1 else engine, precision, compile_mode, k)
                 for engine in ENGINES for k in packs if not (k == 1 and engine == "fused")]
    rows += [("sn", "serial", "bf16", "graph", 1)] + [("sn", "fused", "bf16", "graph", k) for k in packs[1:]][::-1]
    rows += [("sn", "fused", "fp32", "graph", packs[-1]), ("sn", "serial", "fp32", "graph", 1)]
    return rows


def train_label(mode: str, engine: str, k: int, precision: str, compile_mode: str) -> str:
    return f"{mode} · {engine if k > 1 else 'lone'} pack {k} · {precision} · {compile_mode}"
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


def _image_files(path: str, limit: int) -> list:
    """``(name, opener)`` of up to ``limit`` JPEG/PNG files under ``path``: a folder searched
    recursively (``train/<class>/*.jpg``) or a zip of them, in sorted name order."""
    import zipfile

    exts = (".jpg", ".jpeg", ".png")
    if zipfile.is_zipfile(path):
        z = zipfile.ZipFile(path)
        names = sorted(n for n in z.namelist() if n.lower().endswith(exts))[:limit]
        return [(n, lambda n=n: z.open(n)) for n in names]
    found = sorted(os.path.join(d, n) for d, _, files in os.walk(path) for n in files if n.lower().endswith(exts))
    return [(f, lambda f=f: open(f, "rb")) for f in found[:limit]]


def load_images(path: str, res: int, limit: int = 50_000):
    """uint8 NCHW ``res``×``res`` images from ``path``: a ``*.npy`` uint8 array (NCHW or NHWC) in a
    folder, or JPEG/PNG files in a folder, its sub-folders or a zip (PIL, else ``torchvision.io``),
    centre-cropped and resized."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    if os.path.isdir(path):
        for n in sorted(os.listdir(path)):
            if n.endswith(".npy"):
                arr = np.load(os.path.join(path, n), mmap_mode="r")
                if arr.ndim == 4 and arr.dtype == np.uint8:
                    arr = np.asarray(arr[:limit])
                    arr = arr if arr.shape[1] in (1, 3) else arr.transpose(0, 3, 1, 2)
                    t = torch.from_numpy(np.ascontiguousarray(arr)).float()
                    if t.shape[-1] != res:
                        t = F.interpolate(t, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
                    return t.round().clamp(0, 255).to(torch.uint8).expand(-1, 3, -1, -1).contiguous().numpy()
    files = _image_files(path, limit)
    if not files:
        raise FileNotFoundError(f"{path} holds no *.npy, *.jpg, *.jpeg or *.png")
    out = np.empty((len(files), 3, res, res), dtype=np.uint8)
    try:
        from PIL import Image

        def read(opener):
            with opener() as f, Image.open(f) as im:
                return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)
    except ImportError:
        from torchvision.io import ImageReadMode, decode_image

        def read(opener):
            with opener() as f:
                return decode_image(torch.frombuffer(bytearray(f.read()), dtype=torch.uint8), ImageReadMode.RGB)
    for i, (_, opener) in enumerate(files):
        x = read(opener)
        s = min(x.shape[1:])
        top, left = (x.shape[1] - s) // 2, (x.shape[2] - s) // 2
        x = x[:, top:top + s, left:left + s].unsqueeze(0).float()
        if x.shape[-1] != res:
            x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True, align_corners=False)
        out[i] = x.round().clamp(0, 255).to(torch.uint8)[0].numpy()
    return out


def train_rows(tb, table: Table, torch, device, cell: tuple, images, a, deadline: float, graphs: bool) -> None:
    """Our engine, the rows of :func:`train_configs` (eager or the CUDA-graph ones) → aggregate it/s and
    the FLOP rate against the peak (each row in its own guard)."""
    from specnorm.train.flops import iteration_flops

    arch, mg, width, batch = cell
    flops: dict = {}
    for mode, engine, precision, cmode, k in train_configs(a.packs):
        if (cmode == "graph") != graphs:
            continue
        label = train_label(mode, engine, k, precision, cmode)
        if cmode == "graph" and device.type != "cuda":
            table.add("train ours", label, "skipped", note="graph = CUDA graphs: needs a CUDA device")
            continue
        left = deadline - time.time()
        if left < a.reserve_s:
            table.add("train ours", label, "skipped", note=f"time budget: {left:.0f} s left")
            continue
        try:
            cfgs = [tb.cell_config(arch, mg, width, batch, mode, str(device), compile=cmode, precision=precision,
                                   seed=i) for i in range(k)]
            tb.set_precision(precision)
            if mode not in flops:
                flops[mode] = iteration_flops(cfgs[0])
            torch.manual_seed(0)
            with Peak(torch, device) as peak:
                pack = tb.OursPack(cfgs, device, images, engine)
                t = time.time()
                pack()  # first iteration: compiles / captures for graph
                first = time.time() - t
                sec = tb.interleaved({"ours": pack}, device, a.warmup, a.iters, a.repeats)["ours"]
            del pack
            rate = k * flops[mode] / sec / 1e12
            note = (f"{rate:,.1f} TFLOP/s = {100 * rate / PEAK_TFLOPS[precision]:.1f} % of an H100's {precision} "
                    f"peak; first iteration {first:.1f} s")
            table.add("train ours", label, f"{k / sec:,.1f} it/s ({1000 * sec / k:.2f} ms per cell-it)", peak.mib,
                      note)
        except Exception as e:  # noqa: BLE001  (reported, the check goes on)
            table.add("train ours", label, "could not run", note=_why(e))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    tb.set_precision(a.precision)


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
    """Operations per iteration (profiler), eager: ours SN / BSN alone and as a fused pack of 16 (per
    pack iteration), the plain loop alone."""
    arch, mg, width, batch = cell
    kind = "CUDA kernels / host launch calls" if device.type == "cuda" else "top-level ATen ops"
    for name, k in (("ours sn", 1), ("ours bsn", 1), ("ours sn", 16), ("plain sn", 1)):
        label = f"{name} · {'fused pack' if k > 1 else 'lone'} {k} · none"
        try:
            if name.startswith("ours"):
                cfgs = [tb.cell_config(arch, mg, width, batch, name.split()[1], str(device), precision=a.precision,
                                       seed=i) for i in range(k)]
                fn = tb.OursPack(cfgs, device, images, "fused" if k > 1 else "serial")
            else:
                fn = tb.PlainPack([tb.plain_config(arch, mg, width, batch)], device, images)
            table.add("ops per iteration", label, tb.op_label(tb.count_ops(fn, device, 2)), note=kind)
        except Exception as e:  # noqa: BLE001
            table.add("ops per iteration", label, "could not run", note=_why(e))


def equivalence_rows(tb, table: Table, torch, device, cell: tuple, images, a, n_iter: int, k: int = 4) -> None:
    """``k`` cells trained ``n_iter`` iterations as one pack vs each alone, per engine: bitwise (the
    serial engine on a deterministic device), or the relative distance of the weights
    ‖θ_pack − θ_lone‖ / ‖θ_lone‖ (the fused engine: rounding amplified by training, docs/deviations.md T13)."""
    arch, mg, width, batch = cell
    cfgs = [tb.cell_config(arch, mg, width, batch, "sn", str(device), precision=a.precision, seed=i) for i in range(k)]

    def weights(st):
        return torch.cat([t.detach().float().flatten().cpu() for m in (st.G, st.D) for t in m.state_dict().values()])

    try:
        lone = []
        for cfg in cfgs:
            p = tb.OursPack([cfg], device, images)
            for _ in range(n_iter):
                p()
            lone.append(weights(p.states[0]))
            del p
    except Exception as e:  # noqa: BLE001
        for engine in ENGINES:
            table.add("equivalence", f"sn · {engine} pack {k} vs each alone · {n_iter} it", "could not run", note=_why(e))
        return
    det = (f"cudnn.deterministic={torch.backends.cudnn.deterministic}, benchmark={torch.backends.cudnn.benchmark}"
           if device.type == "cuda" else "CPU")
    for engine in ENGINES:
        label = f"sn · {engine} pack {k} vs each alone · {n_iter} it"
        try:
            pack = tb.OursPack(cfgs, device, images, engine)
            for _ in range(n_iter):
                pack()
            got = [weights(st) for st in pack.states]
            bitwise = all(torch.equal(x, y) for x, y in zip(got, lone))
            drift = max(float((x - y).norm() / y.norm()) for x, y in zip(got, lone))
            table.add("equivalence", label, "bitwise equal" if bitwise else f"relative weight distance {drift:.2e}",
                      note=det)
        except Exception as e:  # noqa: BLE001
            table.add("equivalence", label, "could not run", note=_why(e))


def eval_row(table: Table, torch, device, images, a, label: str, precision: str) -> None:
    """Seconds of one paper-protocol evaluation (10k FID vs 5k real + 50k IS) of the official CIFAR G,
    reference statistics prepared beforehand (``bench/eval_speed.py``'s ``evaluation_time``), the
    metric network at ``precision`` (``eval.precision``)."""
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
            secs, used = eval_speed.evaluation_time(ex, "paper", counts, G, real, device, batch, tmp, precision)
        table.add("eval", label, f"{secs:.1f} s per evaluation", peak.mib,
                  f"{net_name}; n_gen {used['n_gen']} / n_real {used['n_real']} / n_is {used['n_is']}; batch {batch}")
    except Exception as e:  # noqa: BLE001
        table.add("eval", label, "could not run", note=_why(e))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--smoke", action="store_true", help="toy sizes and counts (CPU CI)")
    p.add_argument("--data", help="real images instead of random 32×32: a folder (searched recursively, e.g. "
                                  "train/<class>/*.jpg) or a zip of JPEG/PNG files, or a folder with a uint8 .npy")
    p.add_argument("--inception", help="inception-2015-12-05.pt (default: resources/inception/…, else stand-in)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--precision", choices=("fp32", "tf32"), default="fp32",
                   help="the numerics of the plain loop, ops and equivalence rows (the training rows name their own)")
    p.add_argument("--budget", type=float, default=None, help="seconds for the whole check (default 420; smoke: none)")
    a = p.parse_args(argv)
    start = time.time()
    # the smoke run covers every row whatever the machine's load (CI): no budget unless one is given
    a.budget = a.budget or (float("inf") if a.smoke else 420.0)
    deadline = start + a.budget
    a.warmup, a.iters, a.repeats = (1, 2, 2) if a.smoke else (2, 5, 3)
    a.packs = PACKS[:2] if a.smoke else PACKS  # the smoke run: every code path, packs of 1 and 4
    a.reserve_s = 2.0 if a.smoke else 20.0
    a.eval_batch = 250
    header = [f"python {platform.python_version()} ({sys.executable}) on {platform.node()}",
              f"mode: {'smoke (toy sizes)' if a.smoke else 'full'}; precision {a.precision} (TF32 "
              f"{'on' if a.precision == 'tf32' else 'off'}); "
              + (f"budget {a.budget:.0f} s" if a.budget != float("inf") else "no time budget"),
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

    train_rows(tb, table, torch, device, cell, images, a, deadline, graphs=False)
    plain_rows(tb, table, torch, device, cell, images, a)
    ops_rows(tb, table, torch, device, cell, images, a)
    equivalence_rows(tb, table, torch, device, cell, images, a, 10 if a.smoke else 200)
    for precision in PRECISIONS:
        label = f"paper protocol · CIFAR CNN G · {'toy counts' if a.smoke else 'full counts'} · {precision}"
        if deadline - time.time() > (5 if a.smoke else 60):
            eval_row(table, torch, device, images, a, label, precision)
        else:
            table.add("eval", label, "skipped", note="time budget")
    train_rows(tb, table, torch, device, cell, images, a, deadline, graphs=True)
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
