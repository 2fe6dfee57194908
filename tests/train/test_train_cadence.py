"""Work around the step (issue 13): bf16 precision, CSV durability tied to checkpoints, sample grids
without fsyncs, and a non-finite loss noticed within an iteration or two, without a per-step sync."""

import copy
import os

import pytest
import torch

from specnorm import config
from specnorm.train import logs as logs_mod
from specnorm.train import engine as engine_mod
from specnorm.train import trainer as trainer_mod
from specnorm.train import train

BASE = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "train": {"iterations": 6, "d_batch": 8, "g_batch": 8},
    "log": {"every": 1, "analysis_every": 0, "sample_every": 0, "n_samples": 4, "progress": "none"},
    "checkpoint": {"every": 3, "keep": 2},
    "eval": {"every": 0},
    "device": "cpu",
}


def cfg(**over):
    c = copy.deepcopy(BASE)
    for k, v in over.items():
        c[k] = {**c.get(k, {}), **v} if isinstance(v, dict) else v
    return config.from_dict(c)


def _log(run):
    lines = (run / "train_log.csv").read_text().splitlines()
    head = lines[0].split(",")
    return [dict(zip(head, ln.split(","))) for ln in lines[1:]]


def test_bf16_runs_and_stays_close_to_fp32(tmp_path):
    fp32, bf16 = cfg(), cfg(train={"precision": "bf16"})
    assert fp32.identity_digest() != bf16.identity_digest()  # precision is part of a cell's identity
    train(fp32, tmp_path / "fp32")
    s = train(bf16, tmp_path / "bf16")
    assert s["status"] == "completed"
    a, b = _log(tmp_path / "fp32"), _log(tmp_path / "bf16")
    assert a[0]["loss_d"] != b[0]["loss_d"]  # autocast really ran in bfloat16
    for ra, rb in zip(a[:3], b[:3]):  # bfloat16 has an 8-bit mantissa: ~0.4 % per rounding
        for k in ("loss_d", "d_real", "d_fake"):
            assert float(rb[k]) == pytest.approx(float(ra[k]), rel=5e-2, abs=5e-3), k
        sig = [k for k in ra if k.startswith("sigma/")]
        for k in sig:  # σ and the power iteration stay float32: only the weights' drift shows
            assert float(rb[k]) == pytest.approx(float(ra[k]), rel=1e-2), k


def test_csv_rows_are_fsynced_at_checkpoints_not_per_row(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(logs_mod.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                          real_fsync(fd))[1])
    log = logs_mod.CsvLog(tmp_path / "x.csv", ["iteration", "v"])
    for i in range(5):
        log.append([{"iteration": i, "v": 1.0}])
    assert synced == [] and len((tmp_path / "x.csv").read_text().splitlines()) == 6
    log.sync()
    assert synced == [str(tmp_path / "x.csv")]
    synced.clear()
    train(cfg(), tmp_path / "run")  # 6 iterations, checkpoints at 3 and 6: each syncs the CSVs it has
    assert [p for p in synced if p.endswith("train_log.csv")] == [str(tmp_path / "run" / "train_log.csv")] * 2


def test_a_non_finite_loss_ends_the_run_within_two_iterations(tmp_path, monkeypatch):
    """log/eval/checkpoint cadences far apart: the run still stops right after the bad iteration."""
    steps = []
    real = engine_mod.iteration

    def step(T, data, plan, log, real_batches=None):
        it = int(T["iteration"]) + 1
        steps.append(it)
        out = real(T, data, plan, log, real_batches)
        if it == 3:  # what a NaN loss does on the device
            T["first_nonfinite"].fill_(3)
        return out

    monkeypatch.setattr(engine_mod, "iteration", step)
    s = train(cfg(train={"iterations": 500}, log={"every": 100}, checkpoint={"every": 250}), tmp_path / "run")
    assert s["status"] == "diverged" and s["diverged_at"] == 3 and s["reason"] == "non-finite loss"
    assert max(steps) <= 5


def test_sample_grids_skip_fsync(tmp_path, monkeypatch):
    from specnorm import io as sio

    calls = []
    monkeypatch.setattr(sio.os, "fsync", lambda fd: calls.append(fd))
    G = torch.nn.Sequential(torch.nn.Linear(4, 3 * 4 * 4), torch.nn.Unflatten(1, (3, 4, 4)))
    trainer_mod.save_sample_grid(G, torch.randn(4, 4), tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 0 and calls == []


def test_sample_grids_follow_their_own_cadence(tmp_path):
    """A sample grid is written every log.sample_every iterations even when no other cadence falls there."""
    train(cfg(train={"iterations": 9}, log={"every": 0, "sample_every": 2}, checkpoint={"every": 9}), tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run" / "samples").glob("*.png")) == [
        f"iter_{i:07d}.png" for i in (2, 4, 6, 8, 9)]
