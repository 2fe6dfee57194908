"""Packs (docs/design.md#packs) on the serial engine: several cells in one process give, per cell,
exactly the outputs of the cell trained alone (CPU, bitwise); a diverging cell stops alone; kills and
signals lose nothing. The fused engine's equivalence, op counts and graphs: test_train_fused.py."""

import copy
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from specnorm import config
from specnorm.train import checkpoint as ckpt
from specnorm.train import engine as engine_mod
from specnorm.train import trainer as trainer_mod
from specnorm.train.cli import main as train_cli
from specnorm.train.pack import EXIT_STOPPED, train
from specnorm.train.pack import train_pack as _train_pack


def train_pack(cfgs, outs, **kw):
    """A pack on the serial engine: the exact reference these tests compare bit for bit."""
    return _train_pack(cfgs, outs, engine="serial", **kw)

BASE = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "train": {"iterations": 24, "d_batch": 8, "g_batch": 8, "seed": 0},
    "log": {"every": 4, "analysis_every": 12, "analysis_batch": 4, "sample_every": 12, "n_samples": 4,
            "progress": "none"},
    "checkpoint": {"every": 8, "keep": 2},
    "eval": {"every": 0},
    "device": "cpu",
}
TIMING = ("wall_time_s", "it_per_s", "git_commit")


def cell(**over) -> dict:
    c = copy.deepcopy(BASE)
    for section, values in over.items():
        if isinstance(values, dict):
            c.setdefault(section, {}).update(values)
        else:
            c[section] = values
    return c


def outputs(run: Path) -> dict:
    """Everything a run writes that must not depend on being packed (timing fields aside)."""
    out = {}
    for name in ("train_log.csv", "analysis.csv", "metrics.csv"):
        p = run / name
        if p.exists():  # wall_time is a timing column: drop it
            rows = [line.split(",") for line in p.read_text().splitlines()]
            keep = [i for i, h in enumerate(rows[0]) if h != "wall_time"]
            out[name] = [[r[i] for i in keep] for r in rows]
    summary = json.loads((run / "summary.json").read_text())
    out["summary"] = {k: v for k, v in summary.items() if k not in TIMING}
    for which in ("final", "best_is", "best_fid"):
        p = run / f"generator_{which}.pt"
        if p.exists():
            out[which] = {k: v.clone() for k, v in ckpt.load_generator(p)["state_dict"].items()}
    out["samples"] = {p.name: p.read_bytes() for p in sorted((run / "samples").glob("*.png"))}
    return out


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if k in ("final", "best_is", "best_fid"):
            assert a[k].keys() == b[k].keys()
            for name in a[k]:
                assert torch.equal(a[k][name], b[k][name]), (k, name)
        else:
            assert a[k] == b[k], k


@pytest.fixture
def images32(monkeypatch):
    """32×32 images for the tiny ResNet (mg 1), in place of the built-in 16×16 dataset."""
    rng = np.random.default_rng(0)
    fake = rng.integers(0, 256, size=(64, 3, 32, 32), dtype=np.uint8)
    monkeypatch.setattr("specnorm.train.state.load", lambda name, root, **kw: fake)


PACKS = {
    "cnn-sn-ndis1-hinge": ({}, {}),
    "cnn-bsn-ndis5-wgan": ({"norm": {"mode": "bsn"}, "train": {"n_dis": 5, "iterations": 10},
                            "loss": {"name": "wgan_gp"}, "checkpoint": {"every": 5, "keep": 2}}, {}),
    "cnn-snconv-ndis1-hinge": ({"norm": {"mode": "sn_conv"}}, {}),
    "resnet-sn-ndis5-hinge": ({"model": {"arch": "resnet", "mg": 1, "width": 1 / 64, "z_dim": 8},
                               "train": {"n_dis": 5, "iterations": 6, "d_batch": 4, "g_batch": 6},
                               "log": {"analysis_every": 0, "sample_every": 3}, "checkpoint": {"every": 3}}, {}),
}


@pytest.mark.parametrize("name", list(PACKS))
def test_a_pack_writes_what_each_cell_writes_alone(name, tmp_path, request):
    over, _ = PACKS[name]
    if name.startswith("resnet"):
        request.getfixturevalue("images32")
    a = config.from_dict(cell(**over))
    b_dict = cell(**over)
    b_dict["train"]["seed"] = 5
    b_dict["norm"]["scale"] = 1.5
    b_dict["optim"] = {"d_lr": 2e-4, "beta1": 0.0}
    b = config.from_dict(b_dict)
    lone_a, lone_b = train(a, tmp_path / "lone_a"), train(b, tmp_path / "lone_b")
    packed = train_pack([a, b], [tmp_path / "pack_a", tmp_path / "pack_b"])
    assert [s["status"] for s in packed] == [lone_a["status"], lone_b["status"]] == ["completed"] * 2
    assert_same(outputs(tmp_path / "pack_a"), outputs(tmp_path / "lone_a"))
    assert_same(outputs(tmp_path / "pack_b"), outputs(tmp_path / "lone_b"))
    assert outputs(tmp_path / "pack_a")["final"].keys()  # non-trivial: the two cells really differ
    assert not all(torch.equal(v, outputs(tmp_path / "pack_b")["final"][k])
                   for k, v in outputs(tmp_path / "pack_a")["final"].items())


def test_cells_of_different_lengths_and_a_finished_cell(tmp_path):
    short = config.from_dict(cell(train={"iterations": 8}))
    long = config.from_dict(cell(train={"iterations": 24, "seed": 2}))
    train(short, tmp_path / "short")
    before = (tmp_path / "short" / "summary.json").stat().st_mtime_ns
    train(long, tmp_path / "lone_long")
    res = train_pack([short, long], [tmp_path / "short", tmp_path / "long"])
    assert [r["iterations_done"] for r in res] == [8, 24]
    assert (tmp_path / "short" / "summary.json").stat().st_mtime_ns == before  # left alone
    assert_same(outputs(tmp_path / "long"), outputs(tmp_path / "lone_long"))


def test_a_diverging_cell_stops_alone(tmp_path, monkeypatch):
    a = config.from_dict(cell())
    b = config.from_dict(cell(train={"seed": 1}))
    train(b, tmp_path / "lone_b")
    real = trainer_mod.Trainer._divergence

    def diverge_a(self, st):  # cell a "diverges" at its sync point of iteration 12
        if self.out.name == "pack_a" and st.iteration >= 12:
            return st.iteration, "non-finite loss"
        return real(self, st)

    monkeypatch.setattr(trainer_mod.Trainer, "_divergence", diverge_a)
    res = train_pack([a, b], [tmp_path / "pack_a", tmp_path / "pack_b"])
    assert res[0]["status"] == "diverged" and res[0]["diverged_at"] == 12
    assert res[1]["status"] == "completed" and res[1]["iterations_done"] == 24
    assert_same(outputs(tmp_path / "pack_b"), outputs(tmp_path / "lone_b"))


def test_a_pack_of_incompatible_cells_is_refused_naming_the_key(tmp_path, capsys):
    paths = []
    for i, mode in enumerate(("sn", "bsn")):
        p = tmp_path / f"c{i}.yaml"
        p.write_text(yaml.safe_dump(cell(norm={"mode": mode})))
        paths.append(str(p))
    code = train_cli(["--config", *paths, "--out", str(tmp_path / "a"), str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "config key 'norm.mode'" in err and "differ" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    code = train_cli(["--config", *paths, "--out", str(tmp_path / "a")])
    assert code == 2 and "one run directory per cell config" in capsys.readouterr().err


def test_the_iteration_never_touches_the_process_wide_rng(tmp_path, monkeypatch):
    """Training draws only from each cell's own counter stream: whatever else draws from the global
    RNG between iterations changes nothing, so a pack needs no per-cell RNG swapping."""
    real_after = trainer_mod.Trainer.after_iteration

    def noisy_after(self, logged):
        torch.rand(7)  # someone else using the process-wide RNG
        np.random.rand(3)
        random.random()
        real_after(self, logged)

    a, b = config.from_dict(cell(train={"iterations": 6})), config.from_dict(cell(train={"iterations": 6, "seed": 4}))
    train(a, tmp_path / "lone_a")
    train(b, tmp_path / "lone_b")
    monkeypatch.setattr(trainer_mod.Trainer, "after_iteration", noisy_after)
    state = torch.get_rng_state()
    train_pack([a, b], [tmp_path / "pack_a", tmp_path / "pack_b"])
    assert not torch.equal(state, torch.get_rng_state())  # the noise did draw
    for name in ("a", "b"):
        assert_same(outputs(tmp_path / f"pack_{name}"), outputs(tmp_path / f"lone_{name}"))


# -- kills and signals ------------------------------------------------------------------------------
def _pack_cmd(tmp_path: Path, cells: list[dict], outs: list[Path]) -> list[str]:
    paths = []
    for i, c in enumerate(cells):
        p = tmp_path / f"cell{i}.yaml"
        p.write_text(yaml.safe_dump(c))
        paths.append(str(p))
    return [sys.executable, "-m", "specnorm.cli", "train", "--engine", "serial", "--config", *paths, "--out",
            *map(str, outs)]


def _env() -> dict:
    return {**os.environ, "SPECNORM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _wait_for_rows(path: Path, proc: subprocess.Popen, n: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) > n:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended early with {proc.returncode}")
        time.sleep(0.05)
    pytest.fail("no progress")


LONG = [cell(train={"iterations": 60}, checkpoint={"every": 10, "keep": 2}, log={"every": 2}),
        cell(train={"iterations": 60, "seed": 7}, norm={"scale": 1.3}, checkpoint={"every": 10, "keep": 2},
             log={"every": 2})]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    base = tmp_path_factory.mktemp("uninterrupted")
    outs = [base / "a", base / "b"]
    res = subprocess.run(_pack_cmd(base, LONG, outs), env=_env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return [outputs(o) for o in outs]


def test_sigkill_of_a_pack_then_rerun_is_bitwise_an_uninterrupted_pack(tmp_path, uninterrupted):
    outs = [tmp_path / "a", tmp_path / "b"]
    cmd = _pack_cmd(tmp_path, LONG, outs)
    rng = random.Random(11)
    for target in (rng.randint(6, 12), rng.randint(16, 24)):  # log rows (every 2 it) past checkpoints
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_rows(outs[1] / "train_log.csv", proc, target)
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    for out, ref in zip(outs, uninterrupted):
        assert_same(outputs(out), ref)


def test_sigterm_checkpoints_every_cell_of_the_pack(tmp_path, uninterrupted):
    outs = [tmp_path / "a", tmp_path / "b"]
    cmd = _pack_cmd(tmp_path, LONG, outs)
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_rows(outs[1] / "train_log.csv", proc, 7)  # past iteration 12: after the first checkpoint
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_STOPPED, stderr[-2000:]
    assert "stopped by SIGTERM; checkpoints written:" in stdout and "Traceback" not in stderr
    for out in outs:
        assert not (out / "summary.json").exists()
        its = sorted(int(p.stem.split("_")[-1]) for p in (out / "checkpoints").glob("*.pt"))
        last = max(int(r.split(",")[0]) for r in (out / "train_log.csv").read_text().splitlines()[1:])
        assert its[-1] >= last  # the iteration the cell was at, not the last cadence checkpoint
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    for out, ref in zip(outs, uninterrupted):
        assert_same(outputs(out), ref)


# -- compile modes -------------------------------------------------------------------------------------
def test_compile_mode_matches_eager(tmp_path, monkeypatch):
    """train.compile: compile runs the same iteration through torch.compile (CPU test: the
    aot_eager backend, which runs the traced ATen graph without code generation)."""
    monkeypatch.setattr(engine_mod, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    c = cell(train={"iterations": 3}, log={"every": 1, "analysis_every": 0, "sample_every": 0},
             checkpoint={"every": 3})
    eager = train(config.from_dict(c), tmp_path / "eager")
    c["train"]["compile"] = "compile"
    compiled = train(config.from_dict(c), tmp_path / "compiled")
    assert eager["identity_digest"] == compiled["identity_digest"]  # an execution setting, not identity
    oe, oc = outputs(tmp_path / "eager"), outputs(tmp_path / "compiled")
    cols = oe["train_log.csv"][0]
    for re_, rc in zip(oe["train_log.csv"][1:], oc["train_log.csv"][1:]):  # same losses, σ's, slopes
        for name, x, y in zip(cols, re_, rc):
            if x and name != "loss_g":  # loss_g ≈ 1e-5 here: its rounding is relatively large
                assert float(x) == pytest.approx(float(y), rel=1e-4, abs=1e-7), name
    lr, iters = 1e-4, 3
    for k, a in oe["final"].items():
        b = oc["final"][k]
        if a.is_floating_point() and a.ndim > 1:  # weights: rounding-level differences only
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), k
        elif a.is_floating_point():  # near-zero-gradient biases: Adam turns rounding into up to ±lr per step
            assert (a - b).abs().max() <= 2 * lr * iters, k
        else:
            assert torch.equal(a, b), k


def test_graph_mode_needs_cuda(tmp_path):
    c = cell(train={"iterations": 2, "compile": "graph"})
    with pytest.raises(config.ConfigError, match="graph .*needs a CUDA device"):
        train(config.from_dict(c), tmp_path / "g")


def test_a_pack_evaluates_each_cell_as_alone_and_loads_the_extractor_once(tmp_path, monkeypatch):
    from specnorm.metrics import evaluator as ev_mod

    ev = {"every": 12, "n_gen": 40, "n_real": 60, "n_is": 40, "is_splits": 2, "batch_size": 20}
    a = config.from_dict(cell(eval=ev))
    b = config.from_dict(cell(eval=ev, train={"seed": 3}))
    res = tmp_path / "resources"
    train(a, tmp_path / "lone_a", resources=res)
    train(b, tmp_path / "lone_b", resources=res)
    built = []
    real = ev_mod.build_extractor
    monkeypatch.setattr(ev_mod, "build_extractor", lambda *a, **k: (built.append(a[0]), real(*a, **k))[1])
    train_pack([a, b], [tmp_path / "pack_a", tmp_path / "pack_b"], resources=res)
    assert len(built) == 1
    for name in ("a", "b"):
        pa, la = outputs(tmp_path / f"pack_{name}"), outputs(tmp_path / f"lone_{name}")
        assert pa["metrics.csv"] and len(pa["metrics.csv"]) > 1
        assert_same(pa, la)


def test_a_compiled_pack_traces_one_graph_for_all_its_cells(tmp_path, monkeypatch):
    """Every cell of a pack runs on one template of modules (functional_call), so torch.compile traces
    the iteration once per logging flag, however many cells the pack has (dynamo's recompile limit of 8
    can never send later cells to eager)."""
    from torch._dynamo.utils import counters

    monkeypatch.setattr(engine_mod, "COMPILE_BACKEND", "aot_eager")
    torch._dynamo.reset()
    counters.clear()
    cfgs = [config.from_dict(cell(train={"iterations": 2, "seed": s, "compile": "compile"},
                                  log={"every": 2, "analysis_every": 0, "sample_every": 0}, checkpoint={"every": 2}))
            for s in range(3)]
    res = train_pack(cfgs, [tmp_path / f"c{i}" for i in range(3)])
    assert [r["status"] for r in res] == ["completed"] * 3
    assert counters["stats"]["unique_graphs"] == 2  # log off, log on: not 2 × 3
