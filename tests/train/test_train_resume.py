"""Nothing lost: SIGKILL at any moment + resume == an uninterrupted run, bit for bit (CPU).

Also: a different config refuses to resume, invalid configs fail before anything runs, and a
diverging GAN is a recorded result (status diverged, exit code 0).
"""

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from specnorm import config
from specnorm.train import checkpoint as ckpt
from specnorm.train.cli import main as train_cli
from specnorm.train import ResumeRefused, train

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "bsn", "scale": 1.2},
    "train": {"iterations": 60, "d_batch": 16, "g_batch": 16, "seed": 3},
    "log": {"every": 5, "analysis_every": 20, "analysis_batch": 8, "sample_every": 20, "n_samples": 16,
            "progress": "lines"},
    "checkpoint": {"every": 10, "keep": 2},
    "eval": {"every": 0},
    "device": "cpu",
}


def _write_cfg(tmp_path: Path, cell: dict, name: str = "cell.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(cell))
    return p


def _env() -> dict:
    env = dict(os.environ, SPECNORM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _cmd(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "specnorm.cli", "train", "--config", str(cfg), "--out", str(out)]


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in r.items() if k != "wall_time"} for r in csv.DictReader(f)]


def _final_state(out: Path) -> dict:
    data = ckpt.load_latest(out / "checkpoints")
    return {"G": ckpt.load_generator(out / "generator_final.pt")["state_dict"], "run": data["run"]}


def _assert_same_tensors(a, b, where="") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and where.endswith("wall_time"):
        return
    else:
        assert a == b, where


def test_sigkill_at_any_moment_then_resume_is_bitwise_identical(tmp_path):
    cfg = _write_cfg(tmp_path, CELL)
    ref, run = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_cmd(cfg, ref), env=_env(), check=True, capture_output=True, timeout=300)

    rng = random.Random(1234)
    resumed_msgs = []
    # Kill 1: shortly after the first checkpoint lands (mid-way through later outputs);
    # kill 2: at a random moment of the resumed process. Then let it finish.
    for attempt in range(2):
        before = max([i for i, _ in ckpt.list_checkpoints(run / "checkpoints")], default=0)
        proc = subprocess.Popen(_cmd(cfg, run), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        deadline = time.time() + 120
        target = before + 10  # a checkpoint this process wrote itself (after it printed "resuming")
        while time.time() < deadline and proc.poll() is None:
            its = [i for i, _ in ckpt.list_checkpoints(run / "checkpoints")]
            if its and max(its) >= target:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
        resumed_msgs.append(out)
    assert not (run / "summary.json").exists(), "the run must have been killed before finishing"
    done = subprocess.run(_cmd(cfg, run), env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming from" in done.stdout
    assert "resuming from" in resumed_msgs[1]

    _assert_same_tensors(_final_state(ref), _final_state(run))
    for name in ("train_log.csv", "analysis.csv"):
        assert _rows(ref / name) == _rows(run / name), name
    its = [int(r["iteration"]) for r in _rows(run / "train_log.csv")]
    assert its == list(range(5, 61, 5))  # no duplicated or missing rows
    for png in sorted((ref / "samples").iterdir()):
        assert png.read_bytes() == (run / "samples" / png.name).read_bytes(), png.name
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["iterations_done"] == 60


def test_rerun_of_a_finished_run_does_nothing(tmp_path, capsys):
    cell = {**CELL, "train": {**CELL["train"], "iterations": 10}}
    cfg = config.from_dict(cell)
    s1 = train(cfg, tmp_path / "run")
    mtime = (tmp_path / "run" / "summary.json").stat().st_mtime_ns
    s2 = train(cfg, tmp_path / "run")
    assert s1 == s2 and (tmp_path / "run" / "summary.json").stat().st_mtime_ns == mtime
    assert "already finished" in capsys.readouterr().out


def test_a_different_config_refuses_to_resume_and_names_the_keys(tmp_path, capsys):
    cell = {**CELL, "train": {**CELL["train"], "iterations": 10}}
    train(config.from_dict(cell), tmp_path / "run")
    other = {**cell, "optim": {"d_lr": 3e-4}, "norm": {"mode": "sn"}}
    with pytest.raises(ResumeRefused) as e:
        train(config.from_dict(other), tmp_path / "run")
    assert "optim.d_lr" in str(e.value) and "norm.mode" in str(e.value)
    # the CLI says so and exits non-zero; an execution-only key (device) may change
    code = train_cli(["--config", str(_write_cfg(tmp_path, other)), "--out", str(tmp_path / "run")])
    assert code == 3 and "optim.d_lr" in capsys.readouterr().err
    assert not config.diff_for_resume(config.from_dict(cell), config.from_dict({**cell, "device": "auto"}))


@pytest.mark.parametrize("bad,key", [
    ({"norm": {"mode": "ssn"}}, "norm.mode"),
    ({"optim": {"lr": 1e-4}}, "optim.lr"),
    ({"train": {"n_dis": "five"}}, "train.n_dis"),
    ({"dataset": {"name": "cifar100"}}, "dataset.name"),
    ({"norm": {"init": "lecun", "mode": "sn"}}, "norm.init"),
    ({"model": {"arch": "cnn"}, "train": {"d_batch": 64, "g_batch": 32}}, "train.g_batch"),
    ({"nromalization": {}}, "nromalization"),
])
def test_invalid_config_fails_before_anything_runs(tmp_path, capsys, bad, key):
    path = _write_cfg(tmp_path, bad)
    code = train_cli(["--config", str(path), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"'{key}'" in err and str(path) in err
    assert not (tmp_path / "run").exists()


def test_divergence_is_a_recorded_result_not_a_crash(tmp_path, monkeypatch, capsys):
    import specnorm.train.engine as engine_mod

    real_iteration = engine_mod.iteration

    def poisoned(T, data, plan, log, real_batches=None):
        if int(T["iteration"]) + 1 == 7:
            next(iter(T["D"].values())).fill_(float("nan"))
        return real_iteration(T, data, plan, log, real_batches)

    monkeypatch.setattr(engine_mod, "iteration", poisoned)
    path = _write_cfg(tmp_path, CELL)
    assert train_cli(["--config", str(path), "--out", str(tmp_path / "run")]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["diverged_at"] == 7
    assert summary["reason"] == "non-finite loss"
    assert not (tmp_path / "run" / "generator_final.pt").exists()
    assert "run diverged at iteration 7" in capsys.readouterr().out
    # a diverged run is final: re-running does nothing
    assert train_cli(["--config", str(path), "--out", str(tmp_path / "run")]) == 0
