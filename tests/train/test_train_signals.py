"""Preemption loses nothing: SIGTERM, SIGUSR1 or SIGINT stop a run after its current iteration with a
checkpoint of that iteration and exit code 75, no summary.json; rerunning the same command gives,
on CPU, bit for bit the run that was never interrupted (docs/pipeline.md)."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from specnorm import config
from specnorm.rundir import RunDir
from specnorm.train import checkpoint as ckpt
from specnorm.train.cli import main as train_cli
from specnorm.train.pack import EXIT_STOPPED, STOP_SIGNALS, StopFlag

from test_train_resume import CELL, _assert_same_tensors, _cmd, _env, _final_state, _rows, _write_cfg

# checkpoints at 25, 50, 60: a signal sent after the row of iteration 30 lands between two of them
SIGNAL_CELL = {**CELL, "checkpoint": {"every": 25, "keep": 5}}
TIMING = {"wall_time_s", "it_per_s", "git_commit"}  # timing; the tree may be committed meanwhile


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path]:
    """(config file, run directory) of the uninterrupted run."""
    tmp = tmp_path_factory.mktemp("signals")
    cfg = _write_cfg(tmp, SIGNAL_CELL)
    ref = tmp / "ref"
    subprocess.run(_cmd(cfg, ref), env=_env(), check=True, capture_output=True, timeout=600)
    return cfg, ref


def _assert_same_run(ref: Path, run: Path) -> None:
    _assert_same_tensors(_final_state(ref), _final_state(run))
    for name in ("train_log.csv", "analysis.csv"):
        assert _rows(ref / name) == _rows(run / name), name
    assert [int(r["iteration"]) for r in _rows(run / "train_log.csv")] == list(range(5, 61, 5))
    assert sorted(p.name for p in (run / "samples").iterdir()) == sorted(p.name for p in (ref / "samples").iterdir())
    for png in (ref / "samples").iterdir():
        assert png.read_bytes() == (run / "samples" / png.name).read_bytes(), png.name
    a, b = (json.loads((d / "summary.json").read_text()) for d in (ref, run))
    assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}


def _logged_past(path: Path, iteration: int) -> bool:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return False
    return any(ln.split(",", 1)[0].isdigit() and int(ln.split(",", 1)[0]) >= iteration for ln in lines[1:])


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGUSR1", "SIGINT"])
def test_signal_checkpoints_the_current_iteration_and_the_rerun_is_bitwise_identical(reference, tmp_path, sig):
    cfg, ref = reference
    run = tmp_path / "run"
    proc = subprocess.Popen(_cmd(cfg, run), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None and not _logged_past(run / "train_log.csv", 30):
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before the signal was sent"
        cadence = max(i for i, _ in ckpt.list_checkpoints(run / "checkpoints"))
        assert cadence == 25
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_STOPPED, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    m = re.search(rf"^stopped by {sig} at iteration (\d+); checkpoint written; rerun the same command to resume$",
                  out, re.M)
    assert m, out
    stopped_at = int(m.group(1))
    newest = max(i for i, _ in ckpt.list_checkpoints(run / "checkpoints"))
    assert newest == stopped_at and stopped_at > cadence  # the iteration it was at, not the last cadence one
    assert ckpt.load_latest(run / "checkpoints")["iteration"] == stopped_at
    assert not (run / "summary.json").exists()  # not finished: Snakemake retries, SLURM requeues
    logged = [int(r["iteration"]) for r in _rows(run / "train_log.csv")]
    assert logged == list(range(5, stopped_at + 1, 5))  # the outputs of every iteration ≤ the checkpoint

    done = subprocess.run(_cmd(cfg, run), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming from {ckpt.path_for(run / 'checkpoints', stopped_at)} at iteration {stopped_at}" in done.stdout
    _assert_same_run(ref, run)


def test_a_signal_between_cadences_checkpoints_that_iteration_in_process(reference, tmp_path, monkeypatch, capsys):
    """Deterministic: the signal arrives during iteration 17 (no cadence work due): checkpoint 17, the
    outputs of iterations ≤ 17 only; the resumed run equals the uninterrupted one."""
    import specnorm.train.engine as engine_mod

    cfg, ref = reference
    real_iteration = engine_mod.iteration

    def signalled(T, data, plan, log, real_batches=None):
        out = real_iteration(T, data, plan, log, real_batches)
        if int(T["iteration"]) == 17:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(engine_mod, "iteration", signalled)
    handlers = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    run = tmp_path / "run"
    assert train_cli(["--config", str(cfg), "--out", str(run)]) == EXIT_STOPPED
    assert "stopped by SIGTERM at iteration 17; checkpoint written" in capsys.readouterr().out
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == handlers  # the caller's handlers are back
    assert [i for i, _ in ckpt.list_checkpoints(run / "checkpoints")] == [17]
    assert [int(r["iteration"]) for r in _rows(run / "train_log.csv")] == [5, 10, 15]
    assert not (run / "summary.json").exists()
    monkeypatch.setattr(engine_mod, "iteration", real_iteration)
    assert train_cli(["--config", str(cfg), "--out", str(run)]) == 0
    _assert_same_run(ref, run)


def test_a_signal_in_the_last_iteration_lets_the_run_finish(tmp_path, monkeypatch):
    import specnorm.train.engine as engine_mod
    from specnorm.train import train

    cell = {**SIGNAL_CELL, "train": {**SIGNAL_CELL["train"], "iterations": 12}}
    real_iteration = engine_mod.iteration

    def signalled(T, data, plan, log, real_batches=None):
        out = real_iteration(T, data, plan, log, real_batches)
        if int(T["iteration"]) == 12:
            os.kill(os.getpid(), signal.SIGUSR1)
        return out

    monkeypatch.setattr(engine_mod, "iteration", signalled)
    summary = train(config.from_dict(cell), tmp_path / "run")
    assert summary["status"] == "completed" and RunDir(tmp_path / "run").finished() is not None


def test_stop_flag_only_records_the_first_signal_and_restores_handlers():
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    with StopFlag() as flag:
        assert flag.signum is None
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        assert flag.signum == signal.SIGINT
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
