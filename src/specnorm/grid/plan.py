"""``specnorm plan``: the grid per experiment block — cells, new (deduplicated) cells, G iterations,
D steps, estimated GPU-hours by cadence (training, evaluation, analysis, sample grids), packs and
train jobs — with totals per official code folder (docs/design.md#grid-dedup, docs/pipeline.md#packs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from specnorm.grid.expand import Grid
from specnorm.grid.jobs import job_settings, pieces
from specnorm.grid.packs import pack_cells, pack_hours, pack_pieces
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
    gpu_hours: float  # train_h + eval_h + analysis_h + samples_h
    jobs: int = 0  # train jobs of the new cells' packs: one longer than jobs.max_runtime takes several
    train_h: float = 0.0  # training iterations
    eval_h: float = 0.0  # in-training and scoring evaluations
    analysis_h: float = 0.0  # analysis calls (log.analysis_every)
    samples_h: float = 0.0  # sample grids (log.sample_every)
    packs: int = 0  # packs of the new cells (= new cells with jobs.pack_size 1)
    pack_hours: float = 0.0  # allocated GPU-hours with packing, on the engine jobs.pack_engine names


def plan_rows(grid: Grid, throughput: Throughput,
              jobs: dict[str, Any] | None = None) -> tuple[list[PlanRow], list[PlanRow]]:
    """``(per-block rows, per-source totals + grand total)``; iterations, hours and jobs count new
    cells only; ``jobs``: config.yaml's ``jobs`` section (defaults if None)."""
    jobs = jobs or job_settings({})
    packs = pack_cells(grid, jobs["pack_size"], jobs["pack_by"])
    by_first = {p.cells[0]: p for p in packs}
    rows = []
    for count in grid.counts:
        cfgs = [grid.cells[n].config for n in count.new]
        listed = {grid.cells[n].config.dataset.name for n in grid.cells if count.block.name in grid.cells[n].blocks}
        costs = [throughput.costs(c) for c in cfgs]
        part = {k: sum(c[k] for c in costs) for k in ("train", "eval", "analysis", "samples")}
        mine = [[grid.cells[n].config for n in by_first[n].cells] for n in count.new if n in by_first]
        if jobs["pack_size"] == 1:
            n_jobs = sum(pieces(c, jobs, throughput) for c in cfgs)
        else:
            n_jobs = sum(pack_pieces(p, jobs, throughput) for p in mine)
        rows.append(PlanRow(
            count.block.name, count.block.source, ",".join(sorted(listed)), count.expanded, len(cfgs),
            sum(c.train.iterations for c in cfgs), sum(c.train.iterations * c.train.n_dis for c in cfgs),
            sum(part.values()), n_jobs, part["train"], part["eval"], part["analysis"], part["samples"],
            len(mine), sum(pack_hours(p, throughput, jobs) for p in mine)))
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
                   sum(r.g_iterations for r in rows), sum(r.d_steps for r in rows), sum(r.gpu_hours for r in rows),
                   sum(r.jobs for r in rows), sum(r.train_h for r in rows), sum(r.eval_h for r in rows),
                   sum(r.analysis_h for r in rows), sum(r.samples_h for r in rows), sum(r.packs for r in rows),
                   sum(r.pack_hours for r in rows))


def _count(n: int) -> str:
    """12000000 → 12.00M, 26000 → 26.0k, 800 → 800."""
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n / 1e3:.1f}k" if n >= 10_000 else str(n)


def format_plan(grid: Grid, throughput: Throughput, fmt: str = "table", jobs: dict[str, Any] | None = None) -> str:
    """The plan as an aligned text table (``table``) or CSV (``csv``); ``jobs`` as for :func:`plan_rows`."""
    jobs = jobs or job_settings({})
    rows, totals = plan_rows(grid, throughput, jobs)
    header = ["experiment", "source", "datasets", "cells", "new", "G-iterations", "D-steps", "train-h", "eval-h",
              "analysis-h", "samples-h", "GPU-h (est.)", "packs", "pack GPU-h", "jobs"]
    if fmt == "csv":
        lines = [",".join(header)]
        lines += [f"{r.name},{r.source},\"{r.datasets}\",{r.cells},{r.new},{r.g_iterations},{r.d_steps},"
                  f"{r.train_h:.3f},{r.eval_h:.3f},{r.analysis_h:.3f},{r.samples_h:.3f},{r.gpu_hours:.3f},"
                  f"{r.packs},{r.pack_hours:.3f},{r.jobs}" for r in rows + totals]
        return "\n".join(lines) + "\n"
    table = [header] + [[r.name, r.source, r.datasets, str(r.cells), str(r.new), _count(r.g_iterations),
                         _count(r.d_steps), f"{r.train_h:.1f}", f"{r.eval_h:.1f}", f"{r.analysis_h:.1f}",
                         f"{r.samples_h:.1f}", f"{r.gpu_hours:.1f}", str(r.packs), f"{r.pack_hours:.1f}", str(r.jobs)]
                        for r in rows + totals]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = set(range(3, len(header)))

    def fmt_line(line: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))

    rule = "-" * len(fmt_line(header))
    out = [fmt_line(header), rule] + [fmt_line(x) for x in table[1:len(rows) + 1]] + [rule]
    out += [fmt_line(x) for x in table[len(rows) + 1:]]
    out += ["", f"{len(grid.cells)} unique cells. 'new' counts cells no earlier block listed; "
                "iterations and hours count new cells only.",
            f"GPU-hours: {throughput.label}; GPU-h = train-h (iterations) + eval-h (evaluations in training "
            "and scoring) + analysis-h (log.analysis_every) + samples-h (log.sample_every).",
            f"packs: train jobs' cell groups (jobs.pack_size {jobs['pack_size']}, docs/pipeline.md#packs); pack GPU-h: "
            f"allocated hours on the {jobs.get('pack_engine', 'auto')} engine (fused: one batched iteration for a "
            "pack's cells saves launches, never FLOPs; evaluations add up per cell).",
            f"jobs: train jobs of the packs; a pack needing more than max_runtime {jobs['max_runtime']} min "
            f"(estimate × runtime_factor {jobs['runtime_factor']}) runs as several, each resuming from "
            "checkpoints (retries must allow as many)."]
    return "\n".join(out) + "\n"
