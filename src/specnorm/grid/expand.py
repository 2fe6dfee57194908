"""Expand the experiment blocks of ``config.yaml`` into grid cells (docs/design.md#grid-dedup).

A block is a cross product (``grid``: dotted cell-config keys → value lists; a list of such
mappings is the union of their products) over fixed settings (``base`` presets, then
``override``). Every expanded setting is resolved into a full :class:`CellConfig`; a cell is
identified by the digest of that resolved config, so a cell listed by two blocks runs once — the
official ``GPUTaskScheduler`` skipped a config whose work dir existed (480 → 450).

Keys that change how a run executes but not what it computes (``RESUME_TOLERANT``: device,
progress display, dataset root, Inception path, eval batch size) are reset to their defaults
before the digest, so where a pipeline keeps its files does not change a cell's identity; the
pipeline's ``execution`` section sets them in the cell file it writes.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specnorm.config import CellConfig, ConfigError, from_dict
from specnorm.grid.schema import GridError, validate_experiments
from specnorm.io import read_yaml, shown

DIGEST_CHARS = 8


@dataclass(frozen=True)
class Block:
    """One named experiment block: fixed settings plus the axes of its cross product."""

    name: str
    about: str
    source: str  # official code folder (no_gamma-CNN, ...) or "new" for experiments it lacks
    settings: dict[str, Any]  # dotted key → value, presets then override applied
    axes: tuple[dict[str, list[Any]], ...]  # union of cross products

    def settings_list(self) -> list[dict[str, Any]]:
        """Every expanded setting of the block (dotted keys), in product order."""
        out = []
        for axes in self.axes:
            keys = list(axes)
            for values in itertools.product(*(axes[k] for k in keys)):
                out.append({**self.settings, **dict(zip(keys, values))})
        return out


@dataclass(frozen=True)
class Cell:
    """One grid cell: its directory name, its identity config and the blocks that list it."""

    name: str
    config: CellConfig
    blocks: tuple[str, ...]


@dataclass(frozen=True)
class BlockCount:
    """How many cells a block expands to, and how many of them no earlier block listed."""

    block: Block
    expanded: int
    new: tuple[str, ...]  # names of the cells this block introduced


@dataclass(frozen=True)
class Grid:
    """The selected blocks, expanded and deduplicated (cells in first-listed order)."""

    counts: tuple[BlockCount, ...]
    cells: dict[str, Cell]
    execution: dict[str, Any]

    def run_config(self, name: str) -> CellConfig:
        """The config a cell's run is started with: its identity config plus ``execution`` keys."""
        cell = self.cells[name]
        return from_dict(_nest({**cell.config.flat(), **self.execution}))


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{'norm.mode': 'sn', 'device': 'cpu'}`` → ``{'norm': {'mode': 'sn'}, 'device': 'cpu'}``."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        section, _, leaf = key.partition(".")
        if leaf:
            sub = out.setdefault(section, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"config key '{key}': '{section}' is not a section")
            sub[leaf] = value
        else:
            out[key] = value
    return out


def identity_config(cfg: CellConfig) -> CellConfig:
    """``cfg`` with the execution-only keys reset to their defaults (:meth:`CellConfig.identity`)."""
    return cfg.identity()


def cell_name(cfg: CellConfig) -> str:
    """Readable, unique directory name: ``<dataset>-<mode>-s<scale>-seed<seed>-<digest8>``.

    The mode part is ``lecun`` for the scaled-LeCun baseline (Fig. 8) and carries ``-g<same|diff>``
    for a learned γ; the digest is that of the identity config, which makes the name unique.
    """
    ident = identity_config(cfg)
    n = ident.norm
    mode = "lecun" if n.init == "lecun" else n.mode
    if n.gamma != "none":
        mode += f"-g{n.gamma}"
    return f"{ident.dataset.name}-{mode}-s{n.scale:g}-seed{ident.train.seed}-{ident.digest()[:DIGEST_CHARS]}"


def _blocks(experiments: dict[str, Any]) -> dict[str, Block]:
    presets = experiments.get("presets") or {}
    blocks = {}
    for name, spec in experiments["blocks"].items():
        settings: dict[str, Any] = {}
        for preset in spec.get("base") or []:
            settings.update(presets[preset])
        settings.update(spec.get("override") or {})
        grid = spec.get("grid") or {}
        axes = tuple(grid) if isinstance(grid, list) else (grid,)
        blocks[name] = Block(name, spec["about"].strip(), spec["source"], settings, axes)
    return blocks


def resolve_selection(experiments: dict[str, Any], selection: str | list[str] | None = None) -> list[str]:
    """Block names of a selection: set names (recursively) and block names, comma lists allowed."""
    sets = experiments.get("sets") or {}
    wanted = experiments.get("set", "demo") if selection is None else selection
    items = [wanted] if isinstance(wanted, str) else list(wanted)
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    out: list[str] = []

    def add(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            raise GridError(f"config key 'sets.{trail[0]}': set {shown(name)} includes itself")
        if name in sets:
            for member in sets[name]:
                add(member, trail + (name,))
        elif name in experiments["blocks"]:
            if name not in out:
                out.append(name)
        else:
            where = f"sets.{trail[-1]}" if trail else "set"
            raise GridError(f"config key '{where}': {shown(name)} is neither a set nor a block "
                            f"(sets: {', '.join(sorted(sets))})")

    for name in names:
        add(name, ())
    return out


def _datasets(value: str | list[str] | None) -> set[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    return {part.strip() for item in items for part in str(item).split(",") if part.strip()} or None


def expand(experiments: dict[str, Any], selection: str | list[str] | None = None,
           datasets: str | list[str] | None = None) -> Grid:
    """Validate ``experiments`` (a loaded ``config.yaml``) and expand the selected blocks.

    ``selection`` defaults to the config's ``set`` key, ``datasets`` to its ``datasets`` key (None:
    every dataset). Raises :class:`GridError` naming the offending key.
    """
    validate_experiments(experiments)
    blocks = _blocks(experiments)
    selected = resolve_selection(experiments, selection)
    keep = _datasets(experiments.get("datasets") if datasets is None else datasets)
    execution = dict(experiments.get("execution") or {})
    cells: dict[str, Cell] = {}
    counts = []
    for name in selected:
        block = blocks[name]
        expanded, new = 0, []
        for setting in block.settings_list():
            try:
                cfg = identity_config(from_dict(_nest(setting)))
            except ConfigError as e:
                raise GridError(f"experiment block '{name}': {e}") from None
            if keep is not None and cfg.dataset.name not in keep:
                continue
            expanded += 1
            cname = cell_name(cfg)
            if cname in cells:
                if name not in cells[cname].blocks:
                    cells[cname] = dataclasses.replace(cells[cname], blocks=cells[cname].blocks + (name,))
            else:
                cells[cname] = Cell(cname, cfg, (name,))
                new.append(cname)
        if expanded:
            counts.append(BlockCount(block, expanded, tuple(new)))
    if keep is not None and not cells:
        raise GridError(f"config key 'datasets': no selected cell uses {sorted(keep)}")
    grid = Grid(tuple(counts), cells, execution)
    if cells:  # bad execution values (device: tpu, eval.batch_size: -5) fail here, not later in a job
        try:
            grid.run_config(next(iter(cells)))
        except ConfigError as e:
            raise GridError(f"config key 'execution': {e}") from None
    return grid


def load_experiments(path: str | Path) -> dict[str, Any]:
    """Read a pipeline config file (YAML mapping)."""
    data = read_yaml(path, "pipeline config", GridError)
    if not isinstance(data, dict):
        raise GridError(f"pipeline config {path}: top level must be a mapping")
    return data
