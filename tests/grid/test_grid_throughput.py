"""The throughput model behind ``specnorm plan`` (issue 19 item 6): FLOPs counted from the code, no
estimate above 60 % of the device's peak, and pack speed-ups only from the mechanism that has them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from specnorm import config, grid
from specnorm.grid.throughput import ESTIMATES, Throughput

ROOT = Path(__file__).resolve().parents[2]
PRESETS = yaml.safe_load((ROOT / "config.yaml").read_text())["presets"]
DATASET_PRESETS = {"cifar10": ["official_cnn", "cifar10"], "stl10": ["official_cnn", "stl10"],
                   "celeba": ["official_cnn", "celeba"], "imagenet": ["official_resnet"], "mnist": ["mnist_mlp"],
                   "digits": ["demo"]}
FAMILY_MODE = {"sn": "sn", "bsn": "bsn"}


def preset_cell(dataset: str, n_dis: int = 1, mode: str = "sn", **over) -> config.CellConfig:
    flat = {}
    for name in DATASET_PRESETS[dataset]:
        flat.update(PRESETS[name])
    flat.update({"train.n_dis": n_dis, "norm.mode": mode, "eval.every": 0, **over})
    nested: dict = {"device": "cpu"}
    for key, value in flat.items():
        section, _, leaf = key.partition(".")
        nested.setdefault(section, {})[leaf] = value
    return config.from_dict(nested)


@pytest.mark.parametrize("dataset", list(DATASET_PRESETS))
def test_the_table_holds_the_flops_the_code_counts(dataset):
    from specnorm.train.flops import iteration_flops

    for family, per_ndis in ESTIMATES["gflop_per_it"][dataset].items():
        for n_dis, gflop in zip((1, 5), per_ndis):
            counted = iteration_flops(preset_cell(dataset, n_dis, FAMILY_MODE[family])) / 1e9
            assert gflop == pytest.approx(counted, rel=1e-3), (dataset, family, n_dis, counted)


def test_no_estimate_exceeds_60_percent_of_the_peak():
    """it/s × FLOPs per iteration ≤ 0.6 × peak, for every entry, at fp32 (the estimates' precision)."""
    peak = ESTIMATES["peak_tflops"]["fp32"] * 1e12
    for dataset, families in ESTIMATES["it_per_s"].items():
        for family, rates in families.items():
            for rate, gflop in zip(rates, ESTIMATES["gflop_per_it"][dataset][family]):
                assert rate * gflop * 1e9 <= 0.6 * peak, (dataset, family, rate, gflop)
    # and the model itself never plans faster than its compute: bf16 lowers the FLOP time only
    tp = Throughput.load()
    for precision in ("fp32", "tf32", "bf16"):
        cfg = preset_cell("celeba", 1, "sn", **{"train.precision": precision})
        per_it = tp.train_seconds(cfg) / cfg.train.iterations
        assert ESTIMATES["gflop_per_it"]["celeba"]["sn"][0] * 1e9 / per_it <= 0.6 * ESTIMATES["peak_tflops"][precision] * 1e12


def test_a_pack_speeds_up_only_by_the_mechanism_it_has():
    tp = Throughput.load()
    cells = [preset_cell("digits", **{"train.seed": s}) for s in range(8)]  # launch-bound: fusing pays
    lone = tp.train_seconds(cells[0])
    assert tp.pack_train_seconds(cells, "serial") == pytest.approx(8 * lone)  # one after another
    fused = tp.pack_train_seconds(cells, "fused")
    assert fused == pytest.approx(lone)  # K × 1.2 MFLOP stays under one launch-bound iteration
    big = [preset_cell("celeba", **{"train.seed": s}) for s in range(4)]  # compute-bound in fp32: no gain
    assert tp.pack_train_seconds(big, "fused") >= 0.99 * 4 * tp.train_seconds(big[0])
    bf16 = [preset_cell("celeba", **{"train.seed": s, "train.precision": "bf16"}) for s in range(4)]
    assert tp.pack_train_seconds(bf16, "fused") < 0.5 * tp.pack_train_seconds(bf16, "serial")
    # evaluations, analysis calls and sample grids are per cell: never divided by the pack
    rest = sum(sum(v for k, v in tp.costs(c).items() if k != "train") for c in cells)
    assert tp.pack_hours(cells, "fused") == pytest.approx(fused / 3600 + rest)
    assert rest > 0


def test_cells_of_different_lengths_share_the_fused_iterations_they_overlap():
    tp = Throughput.load()
    short, long_ = (preset_cell("celeba", **{"train.iterations": n, "train.precision": "bf16"}) for n in (1000, 3000))
    lone, compute = tp.iteration_seconds(short), tp.compute_seconds(short)
    assert compute < lone  # bf16: launch-bound
    expected = 1000 * max(lone, 2 * compute) + 2000 * lone
    assert tp.pack_train_seconds([short, long_], "fused") == pytest.approx(expected)


def test_the_plan_uses_the_pack_engine_of_the_jobs():
    experiments = yaml.safe_load((ROOT / "config.yaml").read_text())
    experiments = copy.deepcopy(experiments)
    experiments["jobs"]["pack_size"] = 4
    g = grid.expand(experiments, "demo")
    jobs = grid.job_settings(experiments)
    tp = Throughput.load()
    packs = grid.pack_cells(g, 4, jobs["pack_by"])
    cfgs = [[g.cells[c].config for c in p.cells] for p in packs]
    serial = sum(grid.pack_hours(c, tp, {**jobs, "pack_engine": "serial"}) for c in cfgs)
    fused = sum(grid.pack_hours(c, tp, {**jobs, "pack_engine": "fused"}) for c in cfgs)
    assert serial == pytest.approx(sum(tp.gpu_hours(c.config) for c in g.cells.values()))
    assert fused < serial
