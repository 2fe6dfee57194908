"""``specnorm train --config CELL.yaml --out DIR``: train, resume, or recognise a finished cell.

Exit status: 0 finished (completed or diverged), 2 invalid config, 3 DIR holds another config,
4 DIR is in use by another process, 5 a data, file or disk problem (one line naming it), 75 (EX_TEMPFAIL) stopped by SIGTERM/SIGUSR1/SIGINT with the
current iteration checkpointed: run the same command again (``docs/pipeline.md``).
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from specnorm.config import ConfigError, load


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm train",
        description="Train one grid cell. Re-running the same command resumes from the latest valid "
        "checkpoint in DIR; a finished run is left as it is; a different config is refused. A diverging "
        "GAN ends with status 'diverged' in DIR/summary.json and exit code 0. SIGTERM, SIGUSR1 and SIGINT "
        "stop after the current iteration with a checkpoint of it and exit code 75 (rerun to resume); "
        "exit code 4: DIR is in use by another process.",
    )
    p.add_argument("--config", required=True, help="cell config (YAML), see configs/digits-sn.yaml")
    p.add_argument("--out", required=True, help="run directory (created if missing)")
    p.add_argument("--resources", default="resources", help="downloads, Inception weights, reference statistics")
    p.add_argument("--device", help="override the config's device (auto, cpu, cuda, cuda:N)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"specnorm train: --out {out} is a file, not a folder; pass a run directory", file=sys.stderr)
        return 2
    try:
        cfg = load(args.config)
        if args.device:
            from dataclasses import replace

            cfg = replace(cfg, device=args.device).validate()
    except ConfigError as e:
        print(f"specnorm train: invalid config: {e}", file=sys.stderr)
        return 2
    from specnorm.data import DataError
    from specnorm.rundir import RunDirBusy
    from specnorm.train.logs import CsvMismatch
    from specnorm.train.trainer import EXIT_STOPPED, ResumeRefused, Stopped, train

    existed = out.exists()
    try:
        train(cfg, args.out, resources=args.resources)
    except ConfigError as e:  # found while building the run (e.g. model size vs dataset, no CUDA)
        _remove_if_untouched(out, existed)
        print(f"specnorm train: invalid config: {e}", file=sys.stderr)
        return 2
    except (ResumeRefused, CsvMismatch) as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 3
    except DataError as e:
        _remove_if_untouched(out, existed)
        print(f"specnorm train: {e}", file=sys.stderr)
        return 5
    except OSError as e:
        print(f"specnorm train: {os_error_message(e)}", file=sys.stderr)
        return 5
    except RunDirBusy as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 4
    except Stopped as e:
        print(e, flush=True)
        return EXIT_STOPPED
    return 0


def os_error_message(e: OSError) -> str:
    """One line for a file-system error: disk full names the folder, others the file."""
    where = Path(e.filename) if e.filename else None
    if e.errno == errno.ENOSPC:
        return f"no space left on {where.parent if where else 'the device'}; free some space and rerun the same command"
    return f"{e.strerror or e} ({where}); fix it and rerun the same command" if where else str(e)


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
