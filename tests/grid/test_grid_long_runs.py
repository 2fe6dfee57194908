"""A cell that would run for weeks is said so before it starts: ``specnorm train`` and ``specnorm
plan`` print the estimated GPU-hours of a cell above ``LONG_RUN_GPU_HOURS`` (issue 21, 7)."""

from __future__ import annotations

import yaml

from specnorm import config
from specnorm.grid import cli as grid_cli
from specnorm.grid.throughput import LONG_RUN_GPU_HOURS, Throughput, long_run_warning

TINY = {"dataset": {"name": "digits"}, "model": {"mg": 2, "width": 0.125}}


def test_a_billion_iterations_is_estimated_and_warned_about():
    cfg = config.from_dict({**TINY, "train": {"iterations": 1_000_000_000}})
    hours = Throughput.load().gpu_hours(cfg)
    assert hours > LONG_RUN_GPU_HOURS
    msg = long_run_warning(cfg)
    assert msg.startswith(f"warning: estimated {hours:,.0f} GPU-hours ({hours / 24:,.0f} days)")
    assert f"above {LONG_RUN_GPU_HOURS:g}" in msg and "train.iterations: 1,000,000,000" in msg and "\n" not in msg


def test_the_paper_cells_are_not_warned_about():
    assert long_run_warning(config.from_dict({})) is None  # the official CIFAR-10 CNN cell: 400k iterations


def test_specnorm_train_warns_before_it_starts(tmp_path, monkeypatch, capsys):
    import specnorm.train.pack as pack_mod
    from specnorm.train.cli import main

    started = []
    monkeypatch.setattr(pack_mod, "train_pack", lambda cfgs, outs, resources, **kw: started.append(cfgs))
    cell = tmp_path / "cell.yaml"
    cell.write_text(yaml.safe_dump({**TINY, "train": {"iterations": 1_000_000_000}, "device": "cpu"}))
    assert main(["--config", str(cell), "--out", str(tmp_path / "run")]) == 0 and started
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"specnorm train: {cell}: warning: estimated ")
    cell.write_text(yaml.safe_dump({**TINY, "train": {"iterations": 1000}, "device": "cpu"}))
    assert main(["--config", str(cell), "--out", str(tmp_path / "run2")]) == 0 and capsys.readouterr().err == ""


def test_specnorm_plan_names_each_long_cell(tmp_path, capsys):
    blocks = {"short": {"about": "x", "source": "new", "base": ["tiny"]},
              "long": {"about": "x", "source": "new", "base": ["tiny"], "grid": {"train.iterations": [1_000_000_000]}}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"set": "all", "blocks": blocks, "sets": {"all": list(blocks)}, "presets": {
        "tiny": {"dataset.name": "digits", "model.mg": 2, "model.width": 0.125, "train.iterations": 10}}}))
    assert grid_cli.plan_main(["--config", str(path)]) == 0
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert len(err) == 1 and err[0].startswith("specnorm plan: cell digits-") and "warning: estimated" in err[0]
