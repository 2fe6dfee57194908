"""The trainer's console (specnorm.train.progress): a line per evaluation with its scores under their
records' labels, a line per checkpoint, the run's best IS/FID (digits stand-ins here) in the last
line; and the CPU thread count of `specnorm train`: --threads, else SPECNORM_THREADS, else 1."""

import csv
import re

import pytest
import torch
import yaml

from specnorm.scores import ScoreRecord
from specnorm.train import checkpoint as ckpt
from specnorm.train.cli import main as train_cli
from specnorm.train.trainer import DEFAULT_THREADS, cpu_threads

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "train": {"iterations": 20, "d_batch": 16, "g_batch": 16, "seed": 4},
    "log": {"every": 5, "analysis_every": 0, "sample_every": 0, "progress": "lines"},
    "checkpoint": {"every": 10, "keep": 2},
    "eval": {"every": 10, "n_gen": 100, "n_real": 100, "n_is": 100, "is_splits": 2, "batch_size": 100},
    "device": "cpu",
}


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_console_tells_evaluations_checkpoints_and_the_best_scores_last(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SPECNORM_THREADS", raising=False)  # the default applies (restored after the test)
    cfg, out = tmp_path / "cell.yaml", tmp_path / "run"
    cfg.write_text(yaml.safe_dump(CELL))
    try:
        assert train_cli(["--config", str(cfg), "--out", str(out), "--resources", str(tmp_path / "res")]) == 0
    finally:
        torch.set_num_threads(1)
    lines = capsys.readouterr().out.splitlines()

    records = [ScoreRecord.from_row(r) for r in _rows(out / "metrics.csv")]
    for it in (10, 20):
        mine = [r for r in records if r.iteration == it]
        want = "[specnorm] evaluation at iteration %d: " % it + ", ".join(f"{r.label} {r.value:.4g}" for r in mine)
        assert want in lines
        assert {r.label for r in mine} >= {"digits-FID", "digits-IS"}  # the records' labels, not Inception's
        assert f"[specnorm] checkpoint at iteration {it}: {ckpt.path_for(out / 'checkpoints', it)}" in lines
    assert lines.index(f"[specnorm] checkpoint at iteration 10: {ckpt.path_for(out / 'checkpoints', 10)}") > \
        next(i for i, ln in enumerate(lines) if ln.startswith("[specnorm] evaluation at iteration 10:"))

    summary = yaml.safe_load((out / "summary.json").read_text())
    best = summary["best"]
    m = re.fullmatch(r"\[specnorm\] run completed at iteration 20; best digits-IS (\S+) \(iteration (\d+)\), "
                     r"digits-FID (\S+) \(iteration (\d+)\)", lines[-1])
    assert m, lines[-1]
    assert (float(m[1]), int(m[2])) == (pytest.approx(best["is"]["value"], rel=1e-3), best["is"]["iteration"])
    assert (float(m[3]), int(m[4])) == (pytest.approx(best["fid"]["value"], rel=1e-3), best["fid"]["iteration"])
    assert summary["threads"] == [DEFAULT_THREADS] == [1]


def test_thread_count_flag_over_environment_over_default(monkeypatch):
    monkeypatch.delenv("SPECNORM_THREADS", raising=False)
    assert cpu_threads() == 1 and cpu_threads("3") == 3
    monkeypatch.setenv("SPECNORM_THREADS", "2")
    assert cpu_threads() == 2 and cpu_threads("3") == 3 and cpu_threads(None) == 2
    monkeypatch.setenv("SPECNORM_THREADS", "")
    assert cpu_threads() == 1


@pytest.mark.parametrize("flag, env, source", [("0", None, "--threads"), ("two", "2", "--threads"),
                                               (None, "-1", "SPECNORM_THREADS"), (None, "2.5", "SPECNORM_THREADS")])
def test_a_bad_thread_count_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, flag, env, source):
    if env is None:
        monkeypatch.delenv("SPECNORM_THREADS", raising=False)
    else:
        monkeypatch.setenv("SPECNORM_THREADS", env)
    cfg = tmp_path / "cell.yaml"
    cfg.write_text(yaml.safe_dump(CELL))
    args = ["--config", str(cfg), "--out", str(tmp_path / "run")] + (["--threads", flag] if flag else [])
    assert train_cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"specnorm train: {source} must be a positive whole number")
    assert not (tmp_path / "run").exists()
