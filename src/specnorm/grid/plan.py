"""``specnorm plan``: the grid per experiment block — cells, new (deduplicated) cells, G iterations,
D steps and estimated GPU-hours — with totals per official code folder (docs/design.md#grid-dedup)."""

from __future__ import annotations

from dataclasses import dataclass

from specnorm.grid.expand import Grid
from specnorm.grid.throughput import Throughput


@dataclass(frozen=True)
class PlanRow:
    """One line of the plan: a block, or a total over blocks (counts over its new cells)."""

    name: str
    source: str
    datasets: str
    cells: int  # expanded (listed) cells
    new: int  # cells no earlier block listed: the jobs this block adds
    g_iterations: int
    d_steps: int
    gpu_hours: float


def plan_rows(grid: Grid, throughput: Throughput) -> tuple[list[PlanRow], list[PlanRow]]:
    """``(per-block rows, per-source totals + grand total)``; iterations and hours count new cells only."""
    rows = []
    for count in grid.counts:
        cfgs = [grid.cells[n].config for n in count.new]
        listed = {grid.cells[n].config.dataset.name for n in grid.cells if count.block.name in grid.cells[n].blocks}
        rows.append(PlanRow(
            count.block.name, count.block.source, ",".join(sorted(listed)), count.expanded, len(cfgs),
            sum(c.train.iterations for c in cfgs), sum(c.train.iterations * c.train.n_dis for c in cfgs),
            sum(throughput.gpu_hours(c) for c in cfgs)))
    totals = []
    for source in dict.fromkeys(r.source for r in rows):
        part = [r for r in rows if r.source == source]
        totals.append(_total(f"total {source}", source, part))
    totals.append(_total("total", "", rows))
    return rows, totals


def summary(grid: Grid) -> str:
    """One line: unique cells in all, and per official code folder (``new`` for the extra experiments)."""
    per_source: dict[str, int] = {}
    for count in grid.counts:
        per_source[count.block.source] = per_source.get(count.block.source, 0) + len(count.new)
    parts = ", ".join(f"{source} {n}" for source, n in per_source.items())
    return f"{len(grid.cells)} cells ({parts})"


def _total(name: str, source: str, rows: list[PlanRow]) -> PlanRow:
    datasets = sorted({d for r in rows for d in r.datasets.split(",") if d})
    return PlanRow(name, source, ",".join(datasets), sum(r.cells for r in rows), sum(r.new for r in rows),
                   sum(r.g_iterations for r in rows), sum(r.d_steps for r in rows), sum(r.gpu_hours for r in rows))


def _count(n: int) -> str:
    """12000000 → 12.00M, 26000 → 26.0k, 800 → 800."""
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n / 1e3:.1f}k" if n >= 10_000 else str(n)


def format_plan(grid: Grid, throughput: Throughput, fmt: str = "table") -> str:
    """The plan as an aligned text table (``table``) or CSV (``csv``)."""
    rows, totals = plan_rows(grid, throughput)
    header = ["experiment", "source", "datasets", "cells", "new", "G-iterations", "D-steps", "GPU-h (est.)"]
    if fmt == "csv":
        lines = [",".join(header)]
        lines += [f"{r.name},{r.source},\"{r.datasets}\",{r.cells},{r.new},{r.g_iterations},{r.d_steps},"
                  f"{r.gpu_hours:.3f}" for r in rows + totals]
        return "\n".join(lines) + "\n"
    table = [header] + [[r.name, r.source, r.datasets, str(r.cells), str(r.new), _count(r.g_iterations),
                         _count(r.d_steps), f"{r.gpu_hours:.1f}"] for r in rows + totals]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = {3, 4, 5, 6, 7}

    def fmt_line(line: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))

    rule = "-" * len(fmt_line(header))
    out = [fmt_line(header), rule] + [fmt_line(x) for x in table[1:len(rows) + 1]] + [rule]
    out += [fmt_line(x) for x in table[len(rows) + 1:]]
    out += ["", f"{len(grid.cells)} unique cells (jobs). 'new' counts cells no earlier block listed; "
                "iterations and hours count new cells only.",
            f"GPU-hours: {throughput.label}; training plus evaluations (in-training and scoring)."]
    return "\n".join(out) + "\n"
