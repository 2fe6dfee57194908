"""Helpers for the pipeline tests: run snakemake on the repository's Snakefile in a temporary
working directory (never the repository's results/), always under `timeout -s INT` (the SLURM
plugin ignores SIGTERM in some states: shared/reference/slurm-local-cluster.md, obstacle 2)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake_cmd(workdir: Path, *args: str, timeout: int = 600, profile: str = "local") -> list[str]:
    """The command line: snakemake on the repo's Snakefile, in ``workdir``, with a profile of the repo."""
    return ["timeout", "-s", "INT", "-k", "30", str(timeout), SNAKEMAKE, "-s", str(REPO / "Snakefile"),
            "--directory", str(workdir), "--profile", str(REPO / "profiles" / profile), *args]


def run_snakemake(workdir: Path, *args: str, timeout: int = 600, profile: str = "local",
                  env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run snakemake to its end; stdout and stderr together in ``.stdout``."""
    return subprocess.run(snakemake_cmd(workdir, *args, timeout=timeout, profile=profile), cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def write_config(path: Path, **overrides) -> Path:
    """A config file layered over the repository's config.yaml (Snakemake merges it in)."""
    path.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return path


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def merged_config(overrides: dict) -> dict:
    """The repository's config.yaml with ``overrides`` merged in (nested mappings merged key by
    key, as Snakemake merges --configfile)."""
    import specnorm.grid as grid

    def merge(base: dict, update: dict) -> dict:
        out = dict(base)
        for k, v in update.items():
            out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        return out

    return merge(grid.load_experiments(REPO / "config.yaml"), overrides)


def merged_grid(overrides: dict):
    """The grid Snakemake will build from the repository's config.yaml with ``overrides`` merged in."""
    import specnorm.grid as grid

    return grid.expand(merged_config(overrides))


def fake_sinfo(folder, output: str):
    """An `sinfo` on PATH that prints ``output`` for every partition (``-p P``: only P's lines)."""
    script = folder / "sinfo"
    script.write_text("#!/bin/sh\n"
                      f"out='{output}'\n"
                      'case "$*" in *"-p "*) p="${*##*-p }"; printf "%s\\n" "$out" | grep "^$p[* ]";; '
                      '*) printf "%s\\n" "$out";; esac\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def manual_sources(folder: Path) -> str:
    """``--config`` value giving every dataset that is never downloaded automatically (CelebA,
    ImageNet) a local source, as a paper run must (the paths need not exist for a dry run)."""
    from specnorm import catalog

    manual = sorted(name for name, info in catalog.DATASETS.items() if info.source_kind == "manual")
    return "sources={" + ", ".join(f"{name}: {folder / name}" for name in manual) + "}"

