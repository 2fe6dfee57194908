"""specnorm.grid: block expansion, dedupe (official counts 450/75/75/24), cell identity, schema errors,
the plan and job sizes, the CLI, and the conda env's pins."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

import specnorm.grid as grid
from specnorm.config import RESUME_TOLERANT, CellConfig, from_dict, load
from specnorm.grid.schema import SCHEMA
from specnorm.grid.throughput import ESTIMATES
from specnorm.vocab import PACK_ENGINES

REPO = Path(__file__).resolve().parents[1]
NAME_RE = re.compile(r"^[a-z0-9_]+(-[a-z0-9_.]+)*-[0-9a-f]{8}$")  # the Snakefile's wildcard constraint


@pytest.fixture(scope="module")
def experiments() -> dict:
    return grid.load_experiments(REPO / "config.yaml")


@pytest.fixture(scope="module")
def paper(experiments) -> grid.Grid:
    return grid.expand(experiments, "paper")


def _new_by_source(g: grid.Grid) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in g.counts:
        out[c.block.source] = out.get(c.block.source, 0) + len(c.new)
    return out


def tiny(**blocks) -> dict:
    """A minimal pipeline config around the given blocks (tiny digits cells)."""
    return {
        "set": "all",
        "presets": {"tiny": {"dataset.name": "digits", "model.mg": 2, "model.width": 0.125, "train.iterations": 10}},
        "blocks": blocks,
        "sets": {"all": list(blocks)},
    }


# ---- the paper grid (docs/design.md#grid-dedup) ------------------------------------------------

def test_paper_dedupes_to_the_official_run_counts(paper):
    counts = _new_by_source(paper)
    assert counts["no_gamma-CNN"] == 450
    assert counts["same_gamma-CNN"] == 75
    assert counts["diff_gamma-CNN"] == 75
    assert counts["no_gamma-ResNet"] == 24
    assert len(paper.cells) == sum(counts.values()) == 624 + counts["new"]
    listed = sum(c.expanded for c in paper.counts if c.block.source == "no_gamma-CNN")
    assert listed == 480  # blocks 4-6 at lr (1e-4, 1e-4) repeat blocks 1-3 at scale 1.0


def test_official_iterations_and_d_steps_match_the_reference(paper):
    rows, totals = grid.plan_rows(paper, grid.Throughput.load())
    by_name = {r.name: r for r in totals}
    cnn = by_name["total no_gamma-CNN"]
    assert (cnn.g_iterations, cnn.d_steps) == (220_000_000, 268_000_000)
    for gamma in ("same_gamma-CNN", "diff_gamma-CNN"):
        assert (by_name[f"total {gamma}"].g_iterations, by_name[f"total {gamma}"].d_steps) == (38_000_000, 62_000_000)
    resnet = by_name["total no_gamma-ResNet"]
    assert (resnet.g_iterations, resnet.d_steps) == (12_000_000, 60_000_000)
    blocks = {r.name: r for r in rows}
    assert (blocks["cifar10_lr"].cells, blocks["cifar10_lr"].new) == (40, 30)
    assert blocks["cifar10_variance"].new == 0 and blocks["cifar10_fig4_5"].new == 0  # reuse, no new cells


def test_official_settings_are_resolved_per_block(paper):
    cfgs = [c.config for c in paper.cells.values()]
    stl_ndis5 = [c for c in cfgs if c.dataset.name == "stl10" and c.train.n_dis == 5]
    assert stl_ndis5 and all(c.train.iterations == 400_000 and c.optim.beta2 == 0.9 for c in stl_ndis5)  # docs/design.md#n-dis-and-batch-sizes
    stl = [c for c in cfgs if c.dataset.name == "stl10" and c.train.n_dis == 1]
    assert all(c.train.iterations == 800_000 and c.model.mg == 6 for c in stl)
    resnet = [c for c in cfgs if c.model.arch == "resnet"]
    assert len(resnet) == 24 and all(
        (c.train.d_batch, c.train.g_batch, c.optim.beta1, c.optim.g_lr, c.train.n_dis) == (16, 32, 0.0, 2e-4, 5)
        for c in resnet)
    gamma = [c for c in cfgs if c.norm.gamma != "none"]
    assert len(gamma) == 150 and all(c.loss.name == "wgan_gp" and c.loss.gp_weight == 10.0 for c in gamma)
    cifar_scales = sorted({c.norm.scale for c in cfgs if c.dataset.name == "cifar10" and c.norm.mode == "bsn"})
    assert len(cifar_scales) == 19 and cifar_scales[0] == 0.7 and cifar_scales[-1] == 4.0
    lecun = [c for c in cfgs if c.norm.init == "lecun"]
    assert lecun and all(c.norm.mode == "none" for c in lecun)


def test_selection_by_set_block_and_dataset(experiments):
    assert len(grid.expand(experiments, "table1").cells) == 354  # docs/design.md#grid-dedup
    assert len(grid.expand(experiments, "cifar10_scale").cells) == 190
    assert len(grid.expand(experiments, "cifar10_scale,stl10_scale").cells) == 260
    stl = grid.expand(experiments, "paper", datasets="stl10")
    assert {c.config.dataset.name for c in stl.cells.values()} == {"stl10"}
    assert _new_by_source(stl)["no_gamma-CNN"] == 110  # CIFAR 230, STL 110, CelebA 110
    demo = grid.expand(experiments)  # default set
    assert experiments["set"] == "demo" and {c.config.dataset.name for c in demo.cells.values()} == {"digits"}
    modes = {(c.config.norm.mode, c.config.norm.init) for c in demo.cells.values()}
    assert modes == {("sn", "official"), ("bsn", "official"), ("sn_conv", "official"), ("none", "official")}
    assert len(demo.cells) == 21


def test_demo_full_is_the_demo_plus_sweeps_the_two_modes_rules_can_judge(experiments):
    """set=demo_full: every demo cell, and SSN and LeCun×s sweeps that the modes rule can judge both ways
    (≥ MIN_SCALES scales with ≥ MIN_SEEDS seeds, covering the paper's range: docs/design.md#claim-rules)."""
    from specnorm.report.claims import MIN_SCALES
    from specnorm.report.paper import MODE_RANGES
    from specnorm.report.stats import MIN_SEEDS
    from specnorm.report.variants import family

    demo, full = grid.expand(experiments, "demo").cells, grid.expand(experiments, "demo_full").cells
    assert set(demo) < set(full) and len(full) == 51
    seeds: dict[str, dict[float, set[int]]] = {}  # the modes rule's grouping: family, then scale
    for c in full.values():
        seeds.setdefault(family(c.config.flat()), {}).setdefault(c.config.norm.scale, set()).add(c.config.train.seed)
    for fam, (lo, hi) in MODE_RANGES.items():
        judged = sorted(s for s, n in seeds[fam].items() if len(n) >= MIN_SEEDS)
        assert len(judged) >= MIN_SCALES and judged[0] <= lo and judged[-1] >= hi, fam


# ---- expansion and identity ----------------------------------------------------------------

def test_cross_product_union_and_override_order():
    exp = tiny(b={"about": "x", "source": "new", "base": ["tiny"], "override": {"train.iterations": 20},
                  "grid": [{"norm.mode": ["sn", "bsn"], "train.seed": [0, 1, 2]}, {"norm.mode": ["none"]}]})
    g = grid.expand(exp)
    assert len(g.cells) == 7 and g.counts[0].expanded == 7
    assert all(c.config.train.iterations == 20 and c.config.model.mg == 2 for c in g.cells.values())
    assert sorted(c.config.train.seed for c in g.cells.values() if c.config.norm.mode == "bsn") == [0, 1, 2]


def test_a_cell_listed_by_two_blocks_runs_once():
    exp = tiny(a={"about": "a", "source": "new", "base": ["tiny"], "grid": {"norm.scale": [1.0, 2.0]}},
               b={"about": "b", "source": "new", "base": ["tiny"], "override": {"norm.scale": 1},
                  "grid": {"train.seed": [0, 1]}})
    g = grid.expand(exp)
    assert [(c.block.name, c.expanded, len(c.new)) for c in g.counts] == [("a", 2, 2), ("b", 2, 1)]
    shared = [c for c in g.cells.values() if c.blocks == ("a", "b")]
    assert len(shared) == 1 and shared[0].config.norm.scale == 1.0 and shared[0].config.train.seed == 0


def cifar(**sections) -> CellConfig:
    """The official CIFAR10 CNN cell (CellConfig defaults) with some sections changed."""
    return from_dict({"dataset": {"name": "cifar10"}, **sections})


def test_cell_name_is_readable_and_carries_the_digest():
    cfg = cifar(norm={"scale": 1.75}, train={"seed": 3})
    name = grid.cell_name(cfg)
    assert NAME_RE.match(name)
    assert name == f"cifar10-sn-s1.75-seed3-{cfg.digest()[:8]}"
    gamma = grid.identity_config(grid.expand(tiny(b={"about": "g", "source": "new", "base": ["tiny"],
                                                        "override": {"norm.gamma": "diff"}})).cells.popitem()[1].config)
    assert grid.cell_name(gamma).startswith("digits-sn-gdiff-s1-seed0-")
    exp = tiny(b={"about": "l", "source": "new", "base": ["tiny"],
                  "override": {"norm.mode": "none", "norm.init": "lecun", "norm.scale": 0.2}})
    assert next(iter(grid.expand(exp).cells)).startswith("digits-lecun-s0.2-seed0-")


def test_execution_keys_do_not_change_identity_but_reach_the_cell_file(tmp_path):
    exp = tiny(b={"about": "x", "source": "new", "base": ["tiny"]})
    plain = grid.expand(exp)
    exp["execution"] = {"device": "cpu", "log.progress": "none", "dataset.root": "/elsewhere"}
    moved = grid.expand(exp)
    assert list(plain.cells) == list(moved.cells)
    name = next(iter(moved.cells))
    path = grid.write_cell(moved, name, tmp_path / f"{name}.yaml")
    written = load(path)
    assert (written.device, written.log.progress, written.dataset.root) == ("cpu", "none", "/elsewhere")
    assert grid.cell_name(written) == name  # the file's identity is the cell's
    other = tiny(b={"about": "x", "source": "new", "base": ["tiny"], "override": {"train.seed": 1}})
    assert list(grid.expand(other).cells) != list(plain.cells)


def test_schema_execution_keys_are_the_resume_tolerant_keys():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert set(schema["properties"]["execution"]["propertyNames"]["enum"]) == RESUME_TOLERANT


def test_schema_pack_engines_are_the_vocabulary():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert tuple(schema["properties"]["jobs"]["properties"]["pack_engine"]["enum"]) == PACK_ENGINES
    assert grid.job_settings({})["pack_engine"] == "auto"


@pytest.mark.parametrize("execution, key", [({"device": "tpu"}, "device"), ({"eval.batch_size": -5}, "eval.batch_size"),
                                            ({"train.compile": "jit"}, "train.compile")])
def test_bad_execution_values_fail_at_expansion(execution, key, experiments):
    exp = copy.deepcopy(experiments)
    exp["execution"] = {**(exp.get("execution") or {}), **execution}
    with pytest.raises(grid.GridError, match=rf"config key 'execution': config key '{key}'"):
        grid.expand(exp)


# ---- errors name the offending key -----------------------------------------------------------

@pytest.mark.parametrize("edit, key", [
    (lambda e: e.update(colour=1), "'colour'"),
    (lambda e: e["blocks"]["demo_bsn"].update(grids={}), "'blocks.demo_bsn.grids'"),
    (lambda e: e["blocks"]["demo_bsn"]["grid"].update({"norm.mdoe": ["sn"]}), "'norm.mdoe'"),
    (lambda e: e["blocks"]["demo_bsn"]["grid"].update({"norm.mode": ["snn"]}), "'norm.mode'"),
    (lambda e: e["blocks"]["demo_bsn"]["grid"].update({"train.seed": 3}), "'blocks.demo_bsn.grid.train.seed'"),
    (lambda e: e["blocks"]["demo_bsn"].update(base=["nope"]), "'blocks.demo_bsn.base.0'"),
    (lambda e: e["blocks"]["demo_bsn"].update(source="tf"), "'blocks.demo_bsn.source'"),
    (lambda e: e.update(set="nope"), "'set'"),
    (lambda e: e["sets"].update(demo=["demo", "demo_bsn"]), "'sets.demo'"),
    (lambda e: e["execution"].update({"norm.mode": "sn"}), "'execution.norm.mode'"),
    (lambda e: e["jobs"].update(runtime_factor=0), "'jobs.runtime_factor'"),
    (lambda e: e.update(datasets="cifar10"), "'datasets'"),
])
def test_errors_name_the_offending_key(experiments, edit, key):
    bad = copy.deepcopy(experiments)
    edit(bad)
    with pytest.raises(grid.GridError, match=re.escape(f"config key {key}")):
        grid.expand(bad)


# ---- plan, throughput and job sizes ----------------------------------------------------------

def test_plan_table_and_csv(experiments, tmp_path):
    g = grid.expand(experiments, "table1")
    est = grid.Throughput.load()
    text = grid.format_plan(g, est)
    assert "cifar10_scale" in text and "total no_gamma-ResNet" in text and "not a measurement" in text
    rows = list(csv_rows(grid.format_plan(g, est, "csv")))
    total = next(r for r in rows if r["experiment"] == "total")
    assert (int(total["cells"]), int(total["new"]), int(total["G-iterations"])) == (354, 354, 172_000_000)
    # a measured figure replaces the estimate
    measured = tmp_path / "measured.yaml"
    measured.write_text("label: measured\nit_per_s: {cifar10: {sn: [400.0, 112.0]}}\n")  # twice the estimate
    faster = grid.Throughput.load(measured)
    cifar_sn = next(c.config for c in g.cells.values()
                    if c.config.dataset.name == "cifar10" and c.config.norm.mode == "sn")
    assert faster.train_seconds(cifar_sn) == pytest.approx(est.train_seconds(cifar_sn) / 2)
    assert faster.label == "measured" and faster.table["it_per_s"]["stl10"] == ESTIMATES["it_per_s"]["stl10"]


def csv_rows(text: str):
    import csv
    import io

    return csv.DictReader(io.StringIO(text))


def test_gpu_hours_model():
    est = grid.Throughput.load()
    cfg = cifar()  # SN, 400k, n_dis 1, 40 evaluations + 2 scoring
    assert est.evaluations(cfg) == 42
    analyses, grids = 1 + 400_000 // cfg.log.analysis_every, 400_000 // cfg.log.sample_every
    assert (est.analyses(cfg), est.sample_grids(cfg)) == (analyses, grids)
    expected = (400_000 / ESTIMATES["it_per_s"]["cifar10"]["sn"][0] + 42 * 30.0
                + analyses * ESTIMATES["analysis_s"]["cifar10"] + grids * ESTIMATES["sample_s"]["cifar10"]) / 3600
    assert est.gpu_hours(cfg) == pytest.approx(expected) == pytest.approx(sum(est.costs(cfg).values()))
    ndis5 = cifar(train={"n_dis": 5})
    assert est.train_seconds(ndis5) == pytest.approx(400_000 / ESTIMATES["it_per_s"]["cifar10"]["sn"][1])


def test_job_runtime_grows_per_attempt_within_bounds(experiments):
    jobs = grid.job_settings(experiments)
    est = grid.Throughput.load()
    cfg = cifar()
    first, second = (grid.runtime_minutes(cfg, jobs, est, a) for a in (1, 2))
    assert first >= round(est.gpu_hours(cfg) * 60) and second > first
    assert grid.runtime_minutes(cfg, {**jobs, "max_runtime": 30}, est, 3) == 30
    tiny_cfg = next(iter(grid.expand(experiments).cells.values())).config
    assert grid.runtime_minutes(tiny_cfg, jobs, est) == jobs["min_runtime"]
    assert grid.mem_mb(cfg, jobs) == 8000
    imagenet = next(c.config for c in grid.expand(experiments, "imagenet_resnet").cells.values())
    assert grid.mem_mb(imagenet, jobs) == 32000


# ---- the commands ----------------------------------------------------------------------------

def test_cells_command_writes_loadable_cell_files(tmp_path, capsys):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny(b={"about": "x", "source": "new", "base": ["tiny"],
                                                  "grid": {"norm.mode": ["sn", "bsn"]}})))
    assert grid.cells_main(["--config", str(cfg_path), "--out", str(tmp_path / "cells")]) == 0
    names = capsys.readouterr().out.split()
    assert len(names) == 2
    for name in names:
        cfg = load(tmp_path / "cells" / f"{name}.yaml")
        assert grid.cell_name(cfg) == name
    assert grid.cells_main(["--config", str(cfg_path), "--cell", "nope-00000000"]) == 2
    assert "not in the selected grid" in capsys.readouterr().err


def test_plan_command(capsys, tmp_path):
    cfg_path = tmp_path / "config.yaml"  # ILSVRC2012 has a source (docs/pipeline.md#before-anything-runs)
    cfg_path.write_text(yaml.safe_dump({**grid.load_experiments(REPO / "config.yaml"),
                                        "sources": {"imagenet": str(tmp_path / "train")}}))
    assert grid.plan_main(["--config", str(cfg_path), "--set", "imagenet_resnet", "--format", "csv"]) == 0
    rows = list(csv_rows(capsys.readouterr().out))
    assert rows[0]["experiment"] == "imagenet_resnet" and int(rows[0]["new"]) == 24
    assert grid.plan_main(["--config", str(REPO / "config.yaml"), "--set", "nothing"]) == 2
    assert "config key 'set'" in capsys.readouterr().err


# ---- the conda environment mirrors the pins -------------------------------------------------

def test_conda_env_mirrors_pyproject_pins():
    import tomllib

    pins = dict(d.split("==") for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
                if "==" in d)
    env = yaml.safe_load((REPO / "envs" / "specnorm.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = dict(p.split("==") for p in pip)
    driver_only = {"snakemake", "snakemake-executor-plugin-slurm"}  # the driver's env, not the jobs'
    assert env_pins == {k: v for k, v in pins.items() if k not in driver_only}
    assert "python=3.11" in env["dependencies"]
