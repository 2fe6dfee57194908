"""Packs of the pipeline (specnorm.grid.packs, docs/pipeline.md#packs) and the plan's cadence costs
(specnorm.grid.plan, specnorm.grid.throughput): torch-free, seconds."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import specnorm.grid as grid
from specnorm.config import check_packable

REPO = Path(__file__).resolve().parents[2]


def experiments(**jobs) -> dict:
    exp = grid.load_experiments(REPO / "config.yaml")
    exp["jobs"] = {**exp["jobs"], **jobs}
    return exp


def demo() -> grid.Grid:
    return grid.expand(experiments(), "demo")


def test_packs_are_deterministic_and_at_most_pack_size():
    g = demo()
    packs = grid.pack_cells(g, 3)
    assert packs == grid.pack_cells(g, 3)  # same input, same packs
    reordered = dataclasses.replace(g, cells=dict(reversed(list(g.cells.items()))))
    assert grid.pack_cells(reordered, 3) == packs  # by cell name, not by listing order
    assert all(1 <= len(p.cells) <= 3 for p in packs)
    members = [c for p in packs for c in p.cells]
    assert sorted(members) == sorted(g.cells) and len(members) == len(set(members))  # a partition
    assert all(list(p.cells) == sorted(p.cells) for p in packs)
    assert len({p.name for p in packs}) == len(packs) and all(p.name == grid.pack_name(p.cells) for p in packs)


def test_pack_size_one_is_one_cell_per_job():
    g = demo()
    assert [p.cells for p in grid.pack_cells(g, 1)] == [(c,) for c in sorted(g.cells)]


def test_default_pack_by_groups_cells_that_differ_only_in_seed_and_scale():
    g = demo()
    for pack in grid.pack_cells(g, 8):
        cfgs = [g.cells[c].config.flat() for c in pack.cells]
        for cfg in cfgs[1:]:
            assert {k for k in cfg if cfg[k] != cfgs[0][k]} <= {"train.seed", "norm.scale"}
        assert len({g.cells[c].blocks[0] for c in pack.cells}) == 1
        check_packable([g.cells[c].config for c in pack.cells])
    # demo_sn: 6 seeds; demo_bsn: 3 seeds; demo_nosn: 6 seeds; demo_snconv: 2 scales × 3 seeds
    sizes = sorted(len(p.cells) for p in grid.pack_cells(g, 8))
    assert sizes == [3, 6, 6, 6]


def test_pack_by_never_mixes_pack_keys():
    g = demo()
    packs = grid.pack_cells(g, 16, ["train.seed", "norm.scale", "norm.mode", "norm.init"])
    for pack in packs:  # norm.mode and norm.init are PACK_KEYS: they still split
        check_packable([g.cells[c].config for c in pack.cells])
    assert len(packs) == 4
    # only seeds may differ: the demo_snconv cells split by scale too
    by_seed = grid.pack_cells(g, 16, ["train.seed"])
    for pack in by_seed:
        scales = {g.cells[c].config.norm.scale for c in pack.cells}
        assert len(scales) == 1
    assert sorted(len(p.cells) for p in by_seed) == [3, 3, 3, 6, 6]


def test_bad_pack_settings_name_their_key():
    g = demo()
    with pytest.raises(grid.GridError, match="jobs.pack_size"):
        grid.pack_cells(g, 0)
    with pytest.raises(grid.GridError, match="jobs.pack_by.*train.sede"):
        grid.pack_cells(g, 2, ["train.sede"])
    with pytest.raises(grid.GridError, match="jobs.pack_size"):
        grid.expand(experiments(pack_size=0), "demo")


def test_pack_sizes_follow_the_engine_model():
    g = grid.expand(experiments(), "cifar10_scale")
    tp = grid.Throughput.load()
    jobs = grid.job_settings(experiments(pack_size=4))
    pack = grid.pack_cells(g, 4)[0]
    cfgs = [g.cells[c].config for c in pack.cells]
    assert len(cfgs) == 4
    for engine in ("serial", "fused"):
        assert grid.pack_hours(cfgs, tp, {**jobs, "pack_engine": engine}) == pytest.approx(tp.pack_hours(cfgs, engine))
    hours = grid.pack_hours(cfgs, tp, jobs)  # auto: fused for a pack of several cells
    assert hours == pytest.approx(tp.pack_hours(cfgs, "fused"))
    assert grid.pack_mem_mb(cfgs, jobs) == 8000 + 3 * jobs["pack_mem_mb"]
    minutes = grid.pack_runtime_minutes(cfgs, jobs, tp)
    assert minutes == min(jobs["max_runtime"], max(jobs["min_runtime"], -(-hours * 60 * 1.5 // 1)))


def test_plan_cost_columns_add_up_and_follow_the_cadences():
    tp = grid.Throughput.load()
    for selection in ("demo", "paper"):
        g = grid.expand(experiments(), selection)
        rows, totals = grid.plan_rows(g, tp)
        for r in rows + totals:
            assert r.train_h + r.eval_h + r.analysis_h + r.samples_h == pytest.approx(r.gpu_hours)
            assert r.new == 0 or (r.train_h > 0 and r.eval_h > 0)
        assert totals[-1].gpu_hours == pytest.approx(sum(tp.gpu_hours(c.config) for c in g.cells.values()))
    cfg = next(iter(grid.expand(experiments(), "cifar10_nosn").cells.values())).config
    costs = tp.costs(cfg)
    it, an, sm = cfg.train.iterations, cfg.log.analysis_every, cfg.log.sample_every
    assert costs["analysis"] * 3600 == pytest.approx((1 + it // an) * tp.table["analysis_s"]["cifar10"])
    assert costs["samples"] * 3600 == pytest.approx(it // sm * tp.table["sample_s"]["cifar10"])
    assert costs["eval"] * 3600 == pytest.approx((it // cfg.eval.every + 2) * tp.table["eval_s"]["cifar10"])
    denser = dataclasses.replace(cfg, log=dataclasses.replace(cfg.log, analysis_every=an // 10, sample_every=0))
    assert tp.costs(denser)["analysis"] > costs["analysis"] and tp.costs(denser)["samples"] == 0


def test_the_paper_presets_have_sparse_cadences_and_the_plan_shows_them():
    g = grid.expand(experiments(), "paper")
    for cell in g.cells.values():
        log = cell.config.log
        if cell.config.dataset.name != "mnist":  # the MNIST MLP runs are short (Figs. 2-3 curves)
            assert log.analysis_every == 10000 and log.sample_every == 10000, cell.name
    text = grid.format_plan(g, grid.Throughput.load())
    for column in ("train-h", "eval-h", "analysis-h", "samples-h", "GPU-h (est.)", "packs", "pack GPU-h", "jobs"):
        assert column in text.splitlines()[0]


def test_the_plan_counts_packs_and_their_jobs():
    exp = experiments(pack_size=4)
    g = grid.expand(exp, "demo")
    jobs = grid.job_settings(exp)
    rows, totals = grid.plan_rows(g, grid.Throughput.load(), jobs)
    assert totals[-1].packs == totals[-1].jobs == len(grid.pack_cells(g, 4)) == 7
    assert [r.packs for r in rows] == [2, 1, 2, 2]  # 6 seeds → 4 + 2; 3 → 3; 6 → 4 + 2; 6 → 4 + 2
    single = grid.plan_rows(g, grid.Throughput.load())[1][-1]
    assert single.packs == single.jobs == 21 and single.pack_hours == pytest.approx(single.gpu_hours)
    assert totals[-1].pack_hours < single.pack_hours  # packing saves allocated hours
    csv = grid.format_plan(g, grid.Throughput.load(), "csv", jobs).splitlines()
    header = csv[0].split(",")
    last = dict(zip(header, csv[-1].replace('"digits"', "digits").split(",")))
    assert int(last["packs"]) == 7 and int(last["jobs"]) == 7


def test_the_plan_command_takes_a_pack_size(capsys):
    import csv
    import io

    args = ["--config", str(REPO / "config.yaml"), "--set", "cifar10_scale", "--format", "csv"]
    assert grid.plan_main(args + ["--pack-size", "4"]) == 0
    total = next(r for r in csv.DictReader(io.StringIO(capsys.readouterr().out)) if r["experiment"] == "total")
    assert int(total["new"]) == 190 and int(total["packs"]) == 2 * 24  # per mode 19 scales × 5 seeds = 95 cells → 24 packs
    assert float(total["pack GPU-h"]) < float(total["GPU-h (est.)"])
    assert grid.plan_main(args + ["--pack-size", "0"]) == 2
    assert "jobs.pack_size" in capsys.readouterr().err
