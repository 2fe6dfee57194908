"""Training throughput, honestly compared: our engine vs the plain PyTorch loop, same process, same precision.

    python bench/train_speed.py --smoke                      # toy sizes, seconds (CI)
    python bench/train_speed.py                              # CPU-sized defaults
    python bench/train_speed.py --device cuda --preset gpu --compile none,compile,graph --pack 1,2,4,8,16

Rows (see docs/performance.md):

- per (architecture, mode, compile): our iteration (``specnorm.train.step.iteration`` run by the
  serial engine, ``specnorm.train.engine``: u updated once per D step, fused real/fake D forward, G's
  step differentiating G only, Adam and the random draws inside) against the plain eager loop (D with ``torch.nn.utils.parametrizations.spectral_norm``,
  u updated on every train-mode forward, separate real and fake forwards; only SN exists there, so for
  ``bsn``/``sn_conv`` the ratio is their cost relative to plain SN). The two are timed in alternating
  repeats (medians), with the same precision (fp32 with TF32 off, or ``--precision tf32`` for both),
  and their operations per iteration are counted with ``torch.profiler`` (CUDA: device kernels /
  host launch calls; CPU: top-level ATen ops).
- ``--pack K,...``: aggregate it/s of K cells as one pack on the serial engine (K cells stepped in
  turn) and on the fused engine (one batched computation; docs/design.md#packs), with their ops per
  cell-iteration (profiler), vs the same K cells in K concurrent processes on the same device (each
  one cell; total iterations / wall) vs K plain loops in turn.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys

import torch

from _trainbench import (OursPack, PlainPack, RecompileWatch, cell_config, count_ops, interleaved,  # bench/ is on sys.path
                         op_label, random_images, resolution, separate_processes, set_precision)

PRESETS = {
    # arch, mg, width, D batch — CPU: the paper's CIFAR CNN at full size is ~1 s/it on 2 cores
    "smoke": [("cnn", 2, 0.0625, 8)],
    "demo": [("cnn", 2, 0.125, 64)],
    "cpu": [("cnn", 4, 1.0, 64), ("cnn", 2, 0.125, 64), ("resnet", 1, 0.125, 16)],
    "gpu": [("cnn", 4, 1.0, 64), ("cnn", 6, 1.0, 64), ("cnn", 8, 1.0, 64), ("resnet", 4, 1.0, 16)],
}
PACK_CELL = {"smoke": ("cnn", 2, 0.0625, 8), "demo": ("cnn", 2, 0.125, 64), "cpu": ("cnn", 2, 0.125, 64), "gpu": ("cnn", 4, 1.0, 64)}


def _parse_cell(text: str) -> tuple:
    arch, mg, width, batch = text.split(":")
    return arch, int(mg), float(width), int(batch)


def _compile_modes(requested: list[str], device: torch.device) -> list[str]:
    modes = []
    for m in requested:
        if m == "graph" and device.type != "cuda":
            print("skipping compile=graph: CUDA graphs need a CUDA device", flush=True)
            continue
        modes.append(m)
    return modes


def _first_call(pack, mode: str, skipped: dict) -> bool:
    """Run the first (compiling) iteration; on a torch.compile failure, print why and skip the mode."""
    if mode == "none":
        return True
    try:
        pack()
        return True
    except Exception as e:  # noqa: BLE001  (torch.compile raises many kinds; we report and go on)
        skipped[mode] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        print(f"skipping compile={mode}: torch.compile failed ({skipped[mode]})", flush=True)
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None)
    p.add_argument("--smoke", action="store_true", help="toy sizes and counts (preset smoke, pack 1,2)")
    p.add_argument("--modes", default="sn,bsn,sn_conv")
    p.add_argument("--compile", default="none", help="comma-separated subset of none,compile,graph")
    p.add_argument("--precision", choices=("fp32", "tf32"), default="fp32", help="for both loops")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=4, help="iterations per timed block")
    p.add_argument("--repeats", type=int, default=5, help="alternating timed blocks per loop")
    p.add_argument("--ops-calls", type=int, default=2, help="iterations profiled to count operations (0: skip)")
    p.add_argument("--pack", default="", help="pack sizes, e.g. 1,2,4,8,16 (empty: no pack table)")
    p.add_argument("--pack-cell", default=None, help="arch:mg:width:batch of the pack table's cell")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    if a.smoke:
        a.preset = a.preset or "smoke"
        a.warmup, a.iters, a.repeats, a.ops_calls = 1, 2, 3, min(a.ops_calls, 1)
        a.pack = a.pack or "1,2"
        a.threads = a.threads or 1  # 2 OpenMP threads on shared cores spin-wait (docs/performance.md)
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    preset = a.preset or ("gpu" if device.type == "cuda" else "cpu")
    set_precision(a.precision)
    compile_modes = _compile_modes(a.compile.split(","), device)
    op_kind = ("CUDA kernels (device) / launch calls (host)" if device.type == "cuda"
               else "top-level ATen ops (CPU)")
    header = (f"{datetime.date.today()} | torch {torch.__version__} | device "
              f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or 'cpu'} "
              f"({torch.get_num_threads()} threads, load {os.getloadavg()[0]:.1f}) | precision {a.precision} "
              f"(both loops) | median of {a.repeats} alternating blocks of {a.iters} it | ops/it: {op_kind}")
    print(header, flush=True)
    results, pack_results, skipped = [], [], {}

    print("\n| arch | res | width | D batch | mode | compile | ours it/s | plain SN it/s | ratio | ours ops/it | plain ops/it |")
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|", flush=True)
    for arch, mg, width, batch in PRESETS[preset]:
        images = random_images(resolution(arch, mg))
        for mode in a.modes.split(","):
            for cmode in compile_modes:
                if cmode in skipped:
                    continue
                cfg = cell_config(arch, mg, width, batch, mode, a.device, compile=cmode, precision=a.precision)
                torch.manual_seed(0)
                with RecompileWatch() as watch:
                    ours = OursPack([cfg], device, images)
                    if not _first_call(ours, cmode, skipped):
                        continue
                    plain = PlainPack([cfg], device, images)
                    t = interleaved({"ours": ours, "plain": plain}, device, a.warmup, a.iters, a.repeats)
                    ops = ({"ours": count_ops(ours, device, a.ops_calls), "plain": count_ops(plain, device, a.ops_calls)}
                           if a.ops_calls else {"ours": None, "plain": None})
                row = {"arch": arch, "res": resolution(arch, mg), "width": width, "batch": batch, "mode": mode,
                       "compile": cmode, "ours_it_s": 1 / t["ours"], "plain_sn_it_s": 1 / t["plain"],
                       "ratio": t["plain"] / t["ours"], "ours_ops": ops["ours"], "plain_ops": ops["plain"],
                       "recompile_limit_hit": watch.hit}
                results.append(row)
                print(f"| {arch} | {row['res']} | {width} | {batch} | {mode} | {cmode} | {row['ours_it_s']:.2f} | "
                      f"{row['plain_sn_it_s']:.2f} | {row['ratio']:.2f} | {op_label(ops['ours'])} | "
                      f"{op_label(ops['plain'])} |", flush=True)
                del ours, plain

    packs = [int(k) for k in a.pack.split(",") if k]
    if packs:
        arch, mg, width, batch = _parse_cell(a.pack_cell) if a.pack_cell else PACK_CELL[preset]
        mode = a.modes.split(",")[0]
        images = random_images(resolution(arch, mg))
        threads = torch.get_num_threads()
        print(f"\npack: {arch} {resolution(arch, mg)}² width {width} D batch {batch}, mode {mode}; aggregate it/s "
              f"= cells × iterations / wall; separate processes: {'each ' + 'max(1, threads // K)' if device.type == 'cpu' else 'one per cell'} "
              f"CPU threads")
        print("\n| K cells | compile | serial pack it/s | fused pack it/s | K processes it/s | plain, K in turn it/s | "
              "ops per cell-it serial / fused | fused ms per cell-it | note |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|", flush=True)
        for cmode in compile_modes:
            if cmode in skipped:
                continue
            for k in packs:
                cfgs = [cell_config(arch, mg, width, batch, mode, a.device, compile=cmode, precision=a.precision, seed=i)
                        for i in range(k)]
                torch.manual_seed(0)
                with RecompileWatch() as watch:
                    serial, fused = OursPack(cfgs, device, images, "serial"), OursPack(cfgs, device, images, "fused")
                    if not (_first_call(serial, cmode, skipped) and _first_call(fused, cmode, skipped)):
                        break
                    plain = PlainPack(cfgs, device, images)
                    t = interleaved({"serial": serial, "fused": fused, "plain": plain}, device, a.warmup, a.iters,
                                    a.repeats)
                    ops = {name: count_ops(fn, device, 1) for name, fn in (("serial", serial), ("fused", fused))}
                del serial, fused, plain
                per_cell = {name: {k2: v / k if isinstance(v, float) else v for k2, v in o.items()}
                            for name, o in ops.items()}
                spec = {"arch": arch, "mg": mg, "width": width, "batch": batch, "mode": mode, "compile": cmode,
                        "precision": a.precision, "device": a.device, "warmup": a.warmup + 1,
                        "iters": a.iters * a.repeats, "threads": max(1, threads // k) if device.type == "cpu" else 0}
                try:
                    sep, sep_note = separate_processes(spec, k), ""
                except Exception as e:  # noqa: BLE001  (reported in the table)
                    sep, sep_note = None, f"separate processes failed: {e}"
                note = "; ".join(x for x in (sep_note, "dynamo recompile limit hit: later cells partly eager"
                                             if watch.hit else "") if x)
                row = {"k": k, "compile": cmode, "serial_it_s": k / t["serial"], "fused_it_s": k / t["fused"],
                       "processes_it_s": sep, "plain_it_s": k / t["plain"], "ops_per_cell_it": per_cell,
                       "fused_ms_per_cell_it": 1000 * t["fused"] / k, "note": note}
                pack_results.append(row)
                sep_s = f"{sep:.2f}" if sep is not None else "-"
                print(f"| {k} | {cmode} | {row['serial_it_s']:.2f} | {row['fused_it_s']:.2f} | {sep_s} | "
                      f"{row['plain_it_s']:.2f} | {op_label(per_cell['serial'])} / {op_label(per_cell['fused'])} | "
                      f"{row['fused_ms_per_cell_it']:.1f} | {note} |", flush=True)
    if skipped:
        print("\nskipped: " + "; ".join(f"compile={m}: {why}" for m, why in skipped.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"header": header, "results": results, "pack": pack_results, "skipped": skipped}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
