"""One writer per run directory: ``specnorm train`` and ``specnorm score`` hold an exclusive ``flock``
on ``RunDir.lock`` for their whole run; a second process gets a one-line error naming the holder's
host and pid and writes nothing; a SIGKILLed holder never blocks a restart (docs/outputs.md)."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from specnorm.cli import main as specnorm_main
from specnorm.rundir import LOCK, RunDir, RunDirBusy

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "train": {"iterations": 4, "d_batch": 8, "g_batch": 8, "seed": 1},
    "log": {"every": 2, "analysis_every": 0, "sample_every": 0, "n_samples": 4, "progress": "lines"},
    "checkpoint": {"every": 2, "keep": 1},
    "eval": {"every": 0},
    "device": "cpu",
}
HOLD = "import sys, time; from specnorm.rundir import RunDir\n" \
       "with RunDir(sys.argv[1]).exclusive():\n    print('held', flush=True); time.sleep(600)\n"


@pytest.fixture
def holder(tmp_path):
    """Start a process that holds the lock of ``tmp_path/run``; yields (run dir, process)."""
    run = tmp_path / "run"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        yield run, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def _cell(tmp_path: Path) -> Path:
    path = tmp_path / "cell.yaml"
    path.write_text(yaml.safe_dump(CELL))
    return path


def _one_line_naming(err: str, pid: int) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert f"pid {pid} on host {socket.gethostname()}" in lines[0] and "in use" in lines[0], err


def test_a_second_train_is_refused_naming_the_holder_and_writes_nothing(holder, tmp_path, capsys):
    run, proc = holder
    code = specnorm_main(["train", "--config", str(_cell(tmp_path)), "--out", str(run)])
    assert code == 4
    _one_line_naming(capsys.readouterr().err, proc.pid)
    assert sorted(p.name for p in run.iterdir()) == [LOCK]
    assert (run / LOCK).read_text() == f"{socket.gethostname()} {proc.pid}\n"  # the holder's text, untouched


def test_a_second_train_process_is_refused(holder, tmp_path):
    run, proc = holder
    res = subprocess.run([sys.executable, "-m", "specnorm.cli", "train", "--config", str(_cell(tmp_path)),
                          "--out", str(run)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 4, res.stdout + res.stderr
    _one_line_naming(res.stderr, proc.pid)
    assert sorted(p.name for p in run.iterdir()) == [LOCK]


def test_score_is_refused_while_the_run_is_held(holder, tmp_path, capsys):
    run, proc = holder
    (run / "config.yaml").write_text(yaml.safe_dump(CELL))
    (run / "summary.json").write_text(json.dumps({"status": "completed"}))
    assert specnorm_main(["score", "--run", str(run), "--device", "cpu"]) == 4
    _one_line_naming(capsys.readouterr().err, proc.pid)
    assert not (run / "scores.json").exists()


def test_a_sigkilled_holder_never_blocks_a_restart(holder, tmp_path, capsys):
    run, proc = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert (run / LOCK).read_text() == f"{socket.gethostname()} {proc.pid}\n"  # stale text stays
    assert specnorm_main(["train", "--config", str(_cell(tmp_path)), "--out", str(run)]) == 0
    assert json.loads((run / "summary.json").read_text())["status"] == "completed"
    assert (run / LOCK).read_text() == f"{socket.gethostname()} {os.getpid()}\n"  # overwritten by the new holder
    with RunDir(run).exclusive():  # released when the run ended
        pass


def test_the_lock_is_exclusive_between_open_files_and_released_on_exit(tmp_path):
    rd = RunDir(tmp_path)
    with rd.exclusive():
        with pytest.raises(RunDirBusy, match=f"pid {os.getpid()} on host"):
            with rd.exclusive():
                pass
    with rd.exclusive():
        pass
