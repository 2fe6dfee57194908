"""Nothing silently wrong (docs/outputs.md): checkpoint digests, pruning among verified
checkpoints, partial-write cleanup, finished-run recognition by identity, and per-metric best
generators (generator_best_is.pt, generator_best_fid.pt) that always match the checkpoint and
summary.best."""

import json
import os

import pytest
import torch

from specnorm import config
from specnorm.scores import ProtocolKey, ScoreRecord
from specnorm.train import checkpoint as ckpt
from train_helpers import die_at_checkpoint
from specnorm.train import trainer as trainer_mod
from specnorm.train import train

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "train": {"iterations": 20, "d_batch": 16, "g_batch": 16, "seed": 1},
    "log": {"every": 10, "analysis_every": 0, "analysis_batch": 8, "sample_every": 0, "n_samples": 4,
            "progress": "none"},
    "checkpoint": {"every": 10, "keep": 1},
    "eval": {"every": 0},
    "device": "cpu",
}


def _payload(it: int) -> dict:
    return {"format": ckpt.FORMAT, "iteration": it, "config": {}, "rng": {}, "run": {"w": torch.arange(4096.0) + it}}


def _flip_inside(path, where=0.6):
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_byte_inside_a_checkpoint_tensor_is_detected_and_skipped(tmp_path, capsys):
    ckpt.save(tmp_path, 10, _payload(10), keep=5)
    newest = ckpt.save(tmp_path, 20, _payload(20), keep=5)
    _flip_inside(newest)  # inside the tensor data: torch.load alone would read it happily
    with pytest.raises(ckpt.CheckpointError, match="corrupted"):
        ckpt.load(newest)
    data = ckpt.load_latest(tmp_path)
    assert data["iteration"] == 10 and torch.equal(data["run"]["w"], torch.arange(4096.0) + 10)
    assert "ckpt_0000020.pt" in capsys.readouterr().err


def test_pruning_keeps_the_newest_verified_and_moves_unreadable_ones_aside(tmp_path):
    for it in (500, 600):  # stale, unreadable, and newer than everything the restarted run writes
        ckpt.path_for(tmp_path, it).write_bytes(b"not a checkpoint")
    for it in (10, 20, 30):
        ckpt.save(tmp_path, it, _payload(it), keep=2)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt_0000020.pt", "ckpt_0000030.pt", "ckpt_0000500.pt.corrupt", "ckpt_0000600.pt.corrupt"]
    assert ckpt.load_latest(tmp_path)["iteration"] == 30


def test_training_over_unreadable_checkpoints_moves_them_aside_and_keeps_its_own(tmp_path, capsys):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    ckpt.path_for(out / "checkpoints", 900).write_bytes(b"\0" * 100)
    summary = train(config.from_dict(CELL), out)
    assert summary["status"] == "completed"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["ckpt_0000020.pt", "ckpt_0000900.pt.corrupt"]
    assert "moved it aside" in capsys.readouterr().err


def test_temp_files_of_interrupted_writes_are_removed_at_start(tmp_path):
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    stale = [out / ".summary.json.abc123.part", out / "checkpoints" / ".ckpt_0000010.pt.xyz.part"]
    kept = [out / "notes.part", out / "checkpoints" / "mine.txt"]
    for p in stale + kept:
        p.write_bytes(b"x")
    train(config.from_dict(CELL), out)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


@pytest.mark.parametrize("change", [{"device": "auto"}, {"log": {**CELL["log"], "progress": "lines"}}])
def test_a_finished_run_rerun_with_an_execution_setting_changed_is_left_alone(tmp_path, capsys, change):
    out = tmp_path / "run"
    s1 = train(config.from_dict(CELL), out)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "summary.json", out / "generator_final.pt")}
    s2 = train(config.from_dict({**CELL, **change}), out)
    assert s2 == s1 and "already finished" in capsys.readouterr().out
    assert {p: (out / p).stat().st_mtime_ns for p in stamps} == stamps
    assert s1["identity_digest"] == config.from_dict({**CELL, **change}).identity_digest()


class _FakeEvaluator:
    """Scores from a script: FID ``values[iteration]``, IS ``is_values[iteration]`` (default: constant)."""

    def __init__(self, values, is_values=None):
        self.values, self.is_values = values, is_values

    KEY = ProtocolKey("paper", "digits", "0" * 64, 100, 100, "digits-train-subset(100)", "float->none")

    def evaluate(self, G, it, wall):  # rows of real score records, as the evaluator's
        is_ = self.is_values[it] if self.is_values is not None else 1.0
        return [ScoreRecord(m, v, self.KEY, 0, it, wall).row()
                for m, v in (("fid", self.values[it]), ("is", is_), ("is_std", 0.0))]


def test_generator_best_always_matches_the_checkpoint_and_summary_best(tmp_path, monkeypatch):
    """A kill between a best improvement (it 20) and its checkpoint, then a resume whose evaluation
    differs (non-deterministic): generator_best.pt and summary.best must name the same weights."""
    cell = {**CELL, "train": {**CELL["train"], "iterations": 30}, "eval": {"every": 10},
            "checkpoint": {"every": 10, "keep": 5}}
    cfg, out = config.from_dict(cell), tmp_path / "run"
    values = {10: 5.0, 20: 4.0, 30: 7.0}
    monkeypatch.setattr(trainer_mod.Trainer, "_evaluator", lambda self, *a, **k: _FakeEvaluator(values))
    real_save = die_at_checkpoint(monkeypatch, 20)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out)
    assert ckpt.load_generator(out / "generator_best_fid.pt")["iteration"] == 10

    monkeypatch.setattr(ckpt, "save", real_save)
    values[20] = 6.0  # the resumed run scores iteration 20 differently: 10 stays the best
    summary = train(cfg, out)
    best = ckpt.load_generator(out / "generator_best_fid.pt")
    assert summary["best"]["fid"]["iteration"] == best["iteration"] == best["selection"]["iteration"] == 10
    g10 = ckpt.load(ckpt.path_for(out / "checkpoints", 10))["run"]["G"]
    assert all(torch.equal(best["state_dict"][k], g10[k]) for k in g10)
    assert json.loads((out / "summary.json").read_text())["best"]["fid"]["iteration"] == 10


def _same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_each_metric_keeps_its_own_best_generator_also_across_a_kill_and_resume(tmp_path, monkeypatch):
    """IS peaks at 30, FID at 20 (both improve at 20: one shared copy). A kill before checkpoint 30,
    then a resume: generator_best_is.pt is G at 30, generator_best_fid.pt G at 20, as summary.best says."""
    cell = {**CELL, "train": {**CELL["train"], "iterations": 40}, "eval": {"every": 10},
            "checkpoint": {"every": 10, "keep": 5}}
    cfg, out = config.from_dict(cell), tmp_path / "run"
    fid = {10: 5.0, 20: 4.0, 30: 6.0, 40: 4.5}
    is_ = {10: 1.0, 20: 1.1, 30: 1.3, 40: 1.2}
    monkeypatch.setattr(trainer_mod.Trainer, "_evaluator", lambda self, *a, **k: _FakeEvaluator(fid, is_))
    real_save = die_at_checkpoint(monkeypatch, 30)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out)
    load = lambda name: ckpt.load_generator(out / name)  # noqa: E731
    assert load("generator_best_is.pt")["iteration"] == load("generator_best_fid.pt")["iteration"] == 20
    run20 = ckpt.load(ckpt.path_for(out / "checkpoints", 20))["run"]
    assert run20["best"] == {"is": {"iteration": 20, "value": 1.1}, "fid": {"iteration": 20, "value": 4.0}}
    assert all(run20["best_G"]["is"][k].data_ptr() == run20["best_G"]["fid"][k].data_ptr()
               for k in run20["best_G"]["is"])  # one copy for both metrics

    monkeypatch.setattr(ckpt, "save", real_save)
    summary = train(cfg, out)
    assert summary["best"] == {"is": {"iteration": 30, "value": 1.3}, "fid": {"iteration": 20, "value": 4.0}}
    assert json.loads((out / "summary.json").read_text())["best"] == summary["best"]
    b_is, b_fid = load("generator_best_is.pt"), load("generator_best_fid.pt")
    assert (b_is["iteration"], b_is["selection"]) == (30, {"metric": "is", "iteration": 30, "value": 1.3})
    assert (b_fid["iteration"], b_fid["selection"]) == (20, {"metric": "fid", "iteration": 20, "value": 4.0})
    g = {it: ckpt.load(ckpt.path_for(out / "checkpoints", it))["run"]["G"] for it in (20, 30)}
    assert _same_weights(b_is["state_dict"], g[30]) and _same_weights(b_fid["state_dict"], g[20])
    assert not _same_weights(g[20], g[30])
    assert not (out / "generator_best.pt").exists()


def test_a_fresh_start_removes_a_best_generator_without_checkpoint(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    stale = ["generator_best_is.pt", "generator_best_fid.pt"]
    for name in stale:
        (out / name).write_bytes(b"left by a killed run before its first checkpoint")
    summary = train(config.from_dict(CELL), out)  # eval off: no best in this run
    assert not any((out / name).exists() for name in stale) and summary["best"] == {}
    assert os.listdir(out / "checkpoints") == ["ckpt_0000020.pt"]


# -- generator files carry a digest, verified before scoring (issue 21, 5) ------------------------
def test_a_generator_file_carries_a_digest_and_a_flipped_byte_is_detected(tmp_path):
    path = ckpt.save_generator(tmp_path / "generator_final.pt", {"state_dict": {"w": torch.arange(4096.0)},
                                                                 "iteration": 7, "selection": None, "config": {}})
    outer = torch.load(path, weights_only=True)
    assert set(outer) == {"format", "sha256", "payload"}
    payload = ckpt.load_generator(path)
    assert payload["iteration"] == 7 and torch.equal(payload["state_dict"]["w"], torch.arange(4096.0))
    assert payload["sha256"] == outer["sha256"]  # the digest that was verified
    _flip_inside(path)
    with pytest.raises(ckpt.CheckpointError, match=f"generator {path} is corrupted"):
        ckpt.load_generator(path)


def test_a_generator_without_a_seal_is_refused_naming_it(tmp_path):
    path = tmp_path / "generator_best_fid.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "iteration": 3, "selection": None, "config": {}}, path)
    with pytest.raises(ckpt.CheckpointError, match=f"generator {path} is not a sealed"):
        ckpt.load_generator(path)
    ckpt.save_generator(path, {"something": "else"})
    with pytest.raises(ckpt.CheckpointError, match="not a specnorm generator"):
        ckpt.load_generator(path)


def test_a_flipped_byte_in_a_trained_generator_stops_scoring_in_one_line(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    train(config.from_dict(CELL), out)
    gen = out / "generator_final.pt"
    assert set(torch.load(gen, weights_only=True)) == {"format", "sha256", "payload"}
    _flip_inside(gen)
    res = subprocess.run([sys.executable, "-m", "specnorm.cli", "score", "--run", str(out), "--device", "cpu",
                          "--n-gen", "20", "--n-real", "20", "--n-is", "20", "--is-splits", "1", "--resources",
                          str(tmp_path / "resources")], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, SPECNORM_THREADS="1"))
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr[-3000:]
    assert f"generator {gen} is corrupted" in lines[0] and "summary.json" in lines[0]
    assert not (out / "scores.json").exists()


# -- the CPU thread count is recorded; a resume with another one warns (issue 21, 8) ----------------
def test_the_thread_count_is_recorded_and_a_resume_with_another_warns(tmp_path, monkeypatch, capsys):
    cell = {**CELL, "checkpoint": {"every": 10, "keep": 5}}
    cfg, out = config.from_dict(cell), tmp_path / "run"
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("SPECNORM_THREADS", "1")
        real_save = die_at_checkpoint(monkeypatch, 20)
        with pytest.raises(KeyboardInterrupt):
            train(cfg, out)
        assert ckpt.load(ckpt.path_for(out / "checkpoints", 10))["threads"] == [1]
        capsys.readouterr()

        monkeypatch.setattr(ckpt, "save", real_save)
        monkeypatch.setenv("SPECNORM_THREADS", "2")
        summary = train(cfg, out)
    finally:
        torch.set_num_threads(before)
    err = capsys.readouterr().err
    assert "warning: resuming with 2 CPU threads; the run trained with 1 until now" in err
    assert summary["threads"] == [1, 2] == json.loads((out / "summary.json").read_text())["threads"]
    assert ckpt.load(ckpt.path_for(out / "checkpoints", 20))["threads"] == [1, 2]


def test_a_resume_with_the_same_thread_count_is_silent(tmp_path, capsys):
    out = tmp_path / "run"
    cfg = config.from_dict({**CELL, "train": {**CELL["train"], "iterations": 10}})
    train(cfg, out)
    (out / "summary.json").unlink()  # finish again from the last checkpoint
    summary = train(cfg, out)
    assert summary["threads"] == [torch.get_num_threads()] and "CPU threads" not in capsys.readouterr().err
