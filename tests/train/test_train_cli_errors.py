"""Bad input to ``specnorm train`` / ``specnorm score`` ends in one line naming the problem and the
fix, a non-zero exit code, no traceback, and nothing written."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from specnorm import config

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "train": {"iterations": 10, "d_batch": 16, "g_batch": 16},
    "log": {"every": 5, "analysis_every": 0, "analysis_batch": 8, "sample_every": 0, "n_samples": 4,
            "progress": "none"},
    "checkpoint": {"every": 10, "keep": 1},
    "eval": {"every": 0},
    "device": "cpu",
}


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPECNORM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "specnorm.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _cell(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cell.yaml"
    p.write_text(text)
    return p


def _case_empty(tmp):
    return ["--config", str(_cell(tmp, "")), "--out", str(tmp / "run")], "no settings"


def _case_device_name(tmp):
    return ["--config", str(_cell(tmp, yaml.safe_dump({**CELL, "device": "cudaXYZ"}))), "--out", str(tmp / "run")], \
        "'device'"


def _case_no_cuda(tmp):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    return ["--config", str(_cell(tmp, yaml.safe_dump({**CELL, "device": "cuda"}))), "--out", str(tmp / "run")], \
        "device: cpu"


def _case_not_prepared(tmp):
    cell = {**CELL, "dataset": {"name": "cifar10", "root": str(tmp / "data")}, "model": {**CELL["model"], "mg": 4}}
    return ["--config", str(_cell(tmp, yaml.safe_dump(cell))), "--out", str(tmp / "run")], \
        f"specnorm prepare --dataset cifar10 --root {tmp / 'data'}"


def _case_out_is_file(tmp):
    (tmp / "run").write_text("a file")
    return ["--config", str(_cell(tmp, yaml.safe_dump(CELL))), "--out", str(tmp / "run")], "is a file"


def _case_config_is_folder(tmp):
    (tmp / "cfgdir").mkdir()
    return ["--config", str(tmp / "cfgdir"), "--out", str(tmp / "run")], "is a folder"


def _case_duplicate_key(tmp):
    return ["--config", str(_cell(tmp, "device: cpu\ndevice: cuda\n")), "--out", str(tmp / "run")], \
        "duplicate key 'device'"


def _case_infinite(tmp):
    return ["--config", str(_cell(tmp, "norm:\n  scale: .inf\n")), "--out", str(tmp / "run")], "finite"


def _case_csv_header(tmp):
    run = tmp / "run"
    run.mkdir()
    (run / "config.yaml").write_text(config.from_dict(CELL).to_yaml())
    (run / "train_log.csv").write_text("iteration,wall_time,loss_x\n")
    return ["--config", str(_cell(tmp, yaml.safe_dump(CELL))), "--out", str(run)], "unexpected ['loss_x']"


TRAIN_CASES = {"empty config": _case_empty, "device cudaXYZ": _case_device_name, "cuda without CUDA": _case_no_cuda,
               "dataset not prepared": _case_not_prepared, "--out is a file": _case_out_is_file,
               "--config is a folder": _case_config_is_folder, "duplicate key": _case_duplicate_key,
               "infinite number": _case_infinite, "CSV header mismatch": _case_csv_header}


def _listing(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _assert_one_line_error(res, expected: str) -> None:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], res.stderr


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_fails_in_one_line_and_writes_nothing(tmp_path, case):
    args, expected = TRAIN_CASES[case](tmp_path)
    before = _listing(tmp_path)
    existed = (tmp_path / "run").exists()
    res = _run(["train", *args], tmp_path)
    _assert_one_line_error(res, expected)
    assert (tmp_path / "run").exists() == existed
    after = {k: v for k, v in _listing(tmp_path).items() if not k.endswith(".lock")}
    assert after == before


def _finished_run(tmp: Path) -> Path:
    run = tmp / "run"
    run.mkdir()
    cfg = config.from_dict(CELL)
    (run / "config.yaml").write_text(cfg.to_yaml())
    (run / "summary.json").write_text(json.dumps({"status": "completed", "config_digest": cfg.digest()}))
    return run


def _score_empty_summary(tmp):
    run = _finished_run(tmp)
    (run / "summary.json").write_text("")
    return run, "summary.json"


def _score_truncated_generator(tmp):
    run = _finished_run(tmp)
    (run / "generator_final.pt").write_bytes(b"PK\x03\x04 truncated")
    return run, "generator_final.pt cannot be read"


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _score_malicious_generator(tmp):
    run = _finished_run(tmp)
    torch.save({"state_dict": Evil(), "iteration": 1, "config": {}}, run / "generator_final.pt")
    return run, "generator_final.pt cannot be read"


SCORE_CASES = {"empty summary.json": _score_empty_summary, "truncated generator": _score_truncated_generator,
               "malicious generator": _score_malicious_generator}


@pytest.mark.parametrize("case", list(SCORE_CASES))
def test_score_fails_in_one_line_and_writes_nothing(tmp_path, case):
    run, expected = SCORE_CASES[case](tmp_path)
    before = _listing(tmp_path)
    res = _run(["score", "--run", str(run), "--device", "cpu", "--n-gen", "20", "--n-real", "20", "--n-is", "20",
                "--is-splits", "1", "--resources", str(tmp_path / "resources")], tmp_path)
    _assert_one_line_error(res, expected)
    assert "pwned" not in res.stdout
    after = {k: v for k, v in _listing(tmp_path).items() if not k.endswith(".lock")}
    assert after == before and not (run / "scores.json").exists()


def test_disk_full_names_the_folder(tmp_path, monkeypatch, capsys):
    import specnorm.train.pack as pack_mod
    from specnorm.train.cli import main

    def full(cfgs, outs, resources, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(outs[0]) / ".summary.json.x1.part"))

    monkeypatch.setattr(pack_mod, "train_pack", full)
    code = main(["--config", str(_cell(tmp_path, yaml.safe_dump(CELL))), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code != 0 and f"no space left on {tmp_path / 'run'}" in err and len(err.strip().splitlines()) == 1


# -- a full disk / file-size limit while saving a checkpoint (issue 21, 3) --------------------------
LIMIT_AFTER_FIRST_CHECKPOINT = """
import resource, signal, sys
from specnorm.train import checkpoint as ckpt
from specnorm.train.cli import main

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # as a batch job under `ulimit -f`: write() returns EFBIG
save = ckpt.save


def save_then_limit(*args, **kw):  # the first checkpoint fits; every later file may not exceed 64 kB
    path = save(*args, **kw)
    resource.setrlimit(resource.RLIMIT_FSIZE, (65536, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    return path


ckpt.save = save_then_limit
sys.exit(main(sys.argv[1:]))
"""


def _same(a, b) -> bool:
    """Equal tensors and values, wall-clock times aside."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a if k != "wall_time")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_a_file_size_limit_while_checkpointing_is_one_line_exit_5_and_resume_stays_exact(tmp_path):
    from specnorm.train import checkpoint as ckpt

    cell = {**CELL, "train": {**CELL["train"], "iterations": 20}}
    cfg = _cell(tmp_path, yaml.safe_dump(cell))
    env = dict(os.environ, SPECNORM_THREADS="1")
    run, ref = tmp_path / "run", tmp_path / "ref"
    res = subprocess.run([sys.executable, "-c", LIMIT_AFTER_FIRST_CHECKPOINT, "--config", str(cfg), "--out", str(run)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 5, res.stderr[-3000:]
    ckpt20 = run / "checkpoints" / "ckpt_0000020.pt"
    assert res.stderr.strip() == (f"specnorm train: file too large: {ckpt20} (the file-size limit, ulimit -f, or the "
                                  "file system's); raise the limit or write elsewhere, then rerun the same command")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt_0000010.pt"]  # no temp file left
    assert not (run / "summary.json").exists()

    resumed = _run(["train", "--config", str(cfg), "--out", str(run)], tmp_path)
    assert resumed.returncode == 0 and "resuming from" in resumed.stdout, resumed.stderr
    assert _run(["train", "--config", str(cfg), "--out", str(ref)], tmp_path).returncode == 0
    got, want = ckpt.load_latest(run / "checkpoints"), ckpt.load_latest(ref / "checkpoints")
    assert got["iteration"] == want["iteration"] == 20
    assert _same(got["run"], want["run"]) and torch.equal(got["rng"], want["rng"])  # the stream: [key, counter]
    rows = [ln.split(",", 2)[::2] for ln in (run / "train_log.csv").read_text().splitlines()]  # without wall_time
    assert len(rows) == 5 and rows == [ln.split(",", 2)[::2] for ln in (ref / "train_log.csv").read_text().splitlines()]


WITH_FILE_SIZE_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from specnorm.cli import main
sys.exit(main(sys.argv[2:]))
"""
"""``python -c WITH_FILE_SIZE_LIMIT BYTES specnorm-args…``: a specnorm command under ``ulimit -f``."""


def test_score_under_a_file_size_limit_is_one_line_exit_5(tmp_path):
    run = _finished_run(tmp_path)
    (run / "summary.json").write_text(json.dumps({"status": "diverged"}))  # no generators: only scores.json to write
    res = subprocess.run([sys.executable, "-c", WITH_FILE_SIZE_LIMIT, "200", "score", "--run", str(run), "--device",
                          "cpu"], cwd=tmp_path, env=dict(os.environ, SPECNORM_THREADS="1"), capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 5, res.stderr[-3000:]
    assert res.stderr.strip().splitlines() == [f"specnorm score: file too large: {run / 'scores.json'} (the file-size "
                                               "limit, ulimit -f, or the file system's); raise the limit or write "
                                               "elsewhere, then rerun the same command"]
    assert sorted(p.name for p in run.iterdir()) == [".lock", "config.yaml", "summary.json"]
