"""``specnorm train --config CELL.yaml --out DIR``: train, resume, or recognise a finished cell."""

from __future__ import annotations

import argparse
import sys

from specnorm.config import ConfigError, load


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="specnorm train",
        description="Train one grid cell. Re-running the same command resumes from the latest valid "
        "checkpoint in DIR; a finished run is left as it is; a different config is refused. A diverging "
        "GAN ends with status 'diverged' in DIR/summary.json and exit code 0.",
    )
    p.add_argument("--config", required=True, help="cell config (YAML), see configs/digits-sn.yaml")
    p.add_argument("--out", required=True, help="run directory (created if missing)")
    p.add_argument("--resources", default="resources", help="downloads, Inception weights, reference statistics")
    p.add_argument("--device", help="override the config's device (auto, cpu, cuda, cuda:N)")
    args = p.parse_args(argv)
    try:
        cfg = load(args.config)
        if args.device:
            from dataclasses import replace

            cfg = replace(cfg, device=args.device).validate()
    except ConfigError as e:
        print(f"specnorm train: invalid config: {e}", file=sys.stderr)
        return 2
    from specnorm.train.trainer import ResumeRefused, train

    try:
        train(cfg, args.out, resources=args.resources)
    except ResumeRefused as e:
        print(f"specnorm train: {e}", file=sys.stderr)
        return 3
    return 0
