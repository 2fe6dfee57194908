"""``specnorm train --config CELL.yaml --out DIR``: train, resume, or recognise a finished cell;
``--config A.yaml B.yaml … --out DIR_A DIR_B …`` trains a pack of cells in one process
(``specnorm.train.pack``, docs/design.md#packs).

Torch's CPU threads: ``--threads N``, else ``SPECNORM_THREADS``, else 1 (several OpenMP threads per
process on shared cores spin-wait for each other, docs/performance.md); a bad value exits 2.

Exit status: 0 finished (completed or diverged), 2 invalid config, 3 DIR holds another config,
4 DIR is in use by another process, 5 a data, file or disk problem (one line naming it), 75 (EX_TEMPFAIL) stopped by SIGTERM/SIGUSR1/SIGINT with the
current iteration checkpointed: run the same command again (``docs/pipeline.md``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from specnorm.config import ConfigError, load
from specnorm.io import describe_os_error
from specnorm.vocab import PACK_ENGINES


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm train",
        description="Train one grid cell. Re-running the same command resumes from the latest valid "
        "checkpoint in DIR; a finished run is left as it is; a different config is refused. A diverging "
        "GAN ends with status 'diverged' in DIR/summary.json and exit code 0. SIGTERM, SIGUSR1 and SIGINT "
        "stop after the current iteration with a checkpoint of it and exit code 75 (rerun to resume); "
        "exit code 4: DIR is in use by another process.",
    )
    p.add_argument("--config", required=True, nargs="+", metavar="CELL.yaml",
                   help="cell config (YAML), see configs/digits-sn.yaml; several: a pack trained together")
    p.add_argument("--out", required=True, nargs="+", metavar="DIR",
                   help="run directory (created if missing); one per --config, in the same order")
    p.add_argument("--resources", default="resources", help="downloads, Inception weights, reference statistics")
    p.add_argument("--device", help="override the config's device (auto, cpu, cuda, cuda:N)")
    p.add_argument("--engine", choices=PACK_ENGINES, default="auto",
                   help="how a pack's cells run: fused (one batched computation), serial (one after another, each "
                        "bit for bit as alone) or auto (fused for several cells); docs/design.md#packs")
    p.add_argument("--threads", metavar="N",
                   help="torch CPU threads (default: $SPECNORM_THREADS, else 1; more only on cores of its own: "
                        "docs/performance.md)")
    args = p.parse_args(argv)
    if len(args.config) != len(args.out):
        print(f"specnorm train: {len(args.config)} --config files but {len(args.out)} --out folders; "
              "give one run directory per cell config, in the same order", file=sys.stderr)
        return 2
    outs = [Path(o) for o in args.out]
    if len({o.resolve() for o in outs}) != len(outs):
        print("specnorm train: two cells of the pack have the same --out folder", file=sys.stderr)
        return 2
    for out in outs:
        if out.exists() and not out.is_dir():
            print(f"specnorm train: --out {out} is a file, not a folder; pass a run directory", file=sys.stderr)
            return 2
    try:
        cfgs = [load(c) for c in args.config]
        if args.device:
            from dataclasses import replace

            cfgs = [replace(cfg, device=args.device).validate() for cfg in cfgs]
        if len(cfgs) > 1:
            from specnorm.config import check_packable

            check_packable(cfgs)
    except ConfigError as e:
        print(f"specnorm train: invalid config: {e}", file=sys.stderr)
        return 2
    from specnorm.grid.throughput import long_run_warning

    for path, cfg in zip(args.config, cfgs):  # within every bound, a cell may still run for months
        if (warning := long_run_warning(cfg)) is not None:
            print(f"specnorm train: {path}: {warning}", file=sys.stderr)
    from specnorm.data import DataError
    from specnorm.rundir import RunDirBusy
    from specnorm.train.logs import CsvMismatch
    from specnorm.train.pack import EXIT_STOPPED, Stopped, train_pack
    from specnorm.train.trainer import ResumeRefused, cpu_threads

    try:
        threads = cpu_threads(args.threads)
    except ValueError as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 2
    os.environ["SPECNORM_THREADS"] = str(threads)  # what every cell's trainer applies (one setting per process)

    existed = [out.exists() for out in outs]
    try:
        train_pack(cfgs, outs, resources=args.resources, engine=args.engine)
    except ConfigError as e:  # found while building the run (e.g. model size vs dataset, no CUDA)
        for out, ex in zip(outs, existed):
            _remove_if_untouched(out, ex)
        print(f"specnorm train: invalid config: {e}", file=sys.stderr)
        return 2
    except (ResumeRefused, CsvMismatch) as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 3
    except DataError as e:
        for out, ex in zip(outs, existed):
            _remove_if_untouched(out, ex)
        print(f"specnorm train: {e}", file=sys.stderr)
        return 5
    except OSError as e:  # disk full, file-size limit (specnorm.io.WriteError), permissions
        print(f"specnorm train: {describe_os_error(e)}", file=sys.stderr)
        return 5
    except RunDirBusy as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 4
    except Stopped as e:
        print(e, flush=True)
        return EXIT_STOPPED
    return 0


def _remove_if_untouched(out: Path, existed: bool) -> None:
    """Remove a run directory this call created when nothing but the writer's lock is in it."""
    from specnorm.rundir import LOCK

    if existed or not out.is_dir():
        return
    try:
        if all(p.name == LOCK for p in out.iterdir()):
            (out / LOCK).unlink(missing_ok=True)
            out.rmdir()
    except OSError:
        pass
