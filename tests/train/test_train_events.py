"""TensorBoard event files (specnorm.train.events): read back with TensorBoard's own readers, every
scalar equals its train_log.csv / analysis.csv / metrics.csv cell (at float32, TensorBoard's scalar
type), the sample grids are the run's PNGs, a killed and resumed run holds each step once on disk,
and without tensorboard the run trains and prints one note.

tensorboard is part of the pinned stack (scripts/setup.sh installs ``.[tensorboard]``, so CI's fresh
venv has it). A venv set up otherwise (e.g. a shared one) finds the same pins in ``.cache/tb``::

    grep -iE '^(tensorboard|tensorboard-data-server|grpcio|protobuf|absl-py|markdown|werkzeug)==' \\
        constraints.txt | xargs .venv/bin/python -m pip install --no-deps --target .cache/tb
"""

import csv
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from specnorm import config
from specnorm.rundir import RunDir
from specnorm.scores import ScoreRecord
from specnorm.train import checkpoint as ckpt
from train_helpers import die_at_checkpoint
from specnorm.train import events, train
from specnorm.train.pack import train_pack

ROOT = Path(__file__).resolve().parents[2]
TB_CACHE = ROOT / ".cache" / "tb"

CELL = {
    "dataset": {"name": "digits"},
    "model": {"arch": "cnn", "mg": 2, "width": 0.0625, "z_dim": 8},
    "norm": {"mode": "sn"},
    "train": {"iterations": 30, "d_batch": 16, "g_batch": 16, "seed": 1},
    "log": {"every": 5, "analysis_every": 10, "analysis_batch": 8, "sample_every": 10, "n_samples": 16,
            "progress": "lines"},
    "checkpoint": {"every": 10, "keep": 3},
    "eval": {"every": 10, "n_gen": 100, "n_real": 100, "n_is": 100, "is_splits": 2, "batch_size": 100},
    "device": "cpu",
}


@pytest.fixture(scope="module")
def tb():
    """TensorBoard's readers: from the venv (scripts/setup.sh), else from ``.cache/tb`` (module docstring)."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        if not TB_CACHE.is_dir():
            pytest.fail("tensorboard is not importable: run scripts/setup.sh (it installs .[tensorboard]) or "
                        "install the pins into .cache/tb (this file's docstring)")
        sys.path.append(str(TB_CACHE))  # appended: the venv's own packages win
    from tensorboard.backend.event_processing import event_file_loader, plugin_event_accumulator
    from tensorboard.util import tensor_util

    return plugin_event_accumulator, event_file_loader, tensor_util


def _csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def _served(tb, run: Path) -> dict:
    """tag → {step: value} as the TensorBoard server sees the run (legacy scalars migrated to tensors)."""
    pea, _, tensor_util = tb
    acc = pea.EventAccumulator(str(run / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        out[tag] = {e.step: tensor_util.make_ndarray(e.tensor_proto) for e in acc.Tensors(tag)}
    return out, acc


def _on_disk(tb, run: Path) -> Counter:
    """(tag, step) → how many times it is written in the event files themselves (no reader purging)."""
    _, loader, _ = tb
    seen = Counter()
    for path in sorted((run / "tensorboard").iterdir()):
        for event in loader.EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                seen[(value.tag, event.step)] += 1
    return seen


def _f32(text: str) -> float:
    return float(np.float32(float(text)))


def _expected(run: Path) -> dict:
    """tag → {step: value} from the run's CSVs, by the tag rules of docs/outputs.md."""
    want: dict = {}
    for r in _csv(run / "train_log.csv"):
        for col, v in r.items():
            if col not in ("iteration", "wall_time") and v != "":
                want.setdefault(col if "/" in col else f"train/{col}", {})[int(r["iteration"])] = _f32(v)
    for r in _csv(run / "analysis.csv"):
        for col in events.ANALYSIS_CURVES:
            if r[col] != "":
                want.setdefault(f"analysis/{col}/{r['layer']}", {})[int(r["iteration"])] = _f32(r[col])
    for r in _csv(run / "metrics.csv"):
        want.setdefault(f"eval/{ScoreRecord.from_row(r).label}", {})[int(r["iteration"])] = _f32(r["value"])
    return want


def _assert_scalars_equal_csvs(served: dict, run: Path) -> None:
    want = _expected(run)
    got = {tag: {s: float(v) for s, v in steps.items()} for tag, steps in served.items() if tag != events.SAMPLES_TAG}
    assert got.keys() == want.keys()
    for tag in want:
        assert got[tag].keys() == want[tag].keys(), tag
        for step, value in want[tag].items():
            assert got[tag][step] == value or (math.isnan(value) and math.isnan(got[tag][step])), (tag, step)


def test_event_scalars_equal_the_csvs_and_grids_are_the_samples(tb, tmp_path):
    run = tmp_path / "run"
    train(config.from_dict(CELL), run, resources=tmp_path / "res")
    served, acc = _served(tb, run)
    _assert_scalars_equal_csvs(served, run)

    assert {"train/loss_d", "train/loss_g", "train/grad_x_real_mean", "analysis/grad_norm_raw/layer0",
            "eval/digits-FID", "eval/digits-IS"} <= served.keys()
    assert any(t.startswith("sigma/") for t in served)
    metrics = _csv(run / "metrics.csv")
    for r in metrics:  # each score carries its protocol, as metrics.csv does
        rec = ScoreRecord.from_row(r)
        meta = acc.SummaryMetadata(f"eval/{rec.label}")
        assert meta.summary_description == rec.key.describe() and meta.plugin_data.plugin_name == "scalars"
    grids = RunDir(run).sample_grids()
    assert sorted(served[events.SAMPLES_TAG]) == [RunDir.sample_iteration(p) for p in grids] == [10, 20, 30]
    for p in grids:  # the image plugin's tensor: width, height, the PNG bytes
        w, h, png = served[events.SAMPLES_TAG][RunDir.sample_iteration(p)]
        assert png == p.read_bytes() and (int(w), int(h)) == (74, 74)
    assert all(n == 1 for n in _on_disk(tb, run).values())


def test_a_killed_and_resumed_run_holds_each_step_once(tb, tmp_path, monkeypatch):
    """Killed while writing checkpoint 20, after the events of 11–20 were flushed: the resume from
    checkpoint 10 rewrites the event file from the rolled-back CSVs, so no reader sees 11–20 twice."""
    cfg, run = config.from_dict(CELL), tmp_path / "run"
    real_save = die_at_checkpoint(monkeypatch, 20)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, run, resources=tmp_path / "res")
    before = _on_disk(tb, run)
    assert before[("train/loss_d", 20)] == 1 and before[("eval/digits-FID", 20)] == 1  # flushed before the save
    assert ckpt.list_checkpoints(run / "checkpoints")[-1][0] == 10

    (first,) = (run / "tensorboard").iterdir()
    torn = run / "tensorboard" / (first.name + ".torn")  # a SIGKILL mid-record leaves a torn file
    torn.write_bytes(first.read_bytes()[:-7])

    monkeypatch.setattr(ckpt, "save", real_save)
    train(cfg, run, resources=tmp_path / "res")
    assert not first.exists() and not torn.exists()
    after = _on_disk(tb, run)
    assert all(n == 1 for n in after.values()), [k for k, n in after.items() if n > 1]
    assert {s for (t, s) in after if t == "train/loss_d"} == set(range(5, 31, 5))
    served, _ = _served(tb, run)
    _assert_scalars_equal_csvs(served, run)
    assert len(list((run / "tensorboard").iterdir())) == 1


def test_without_tensorboard_a_pack_trains_and_prints_one_note(tmp_path, monkeypatch, capsys):
    """The import fails (as in a venv without the extra): both cells train, the note is printed once,
    and event files an earlier session left (steps this run will rewrite differently) are removed."""
    import importlib

    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError):
        importlib.import_module("tensorboard.compat.proto.event_pb2")
    monkeypatch.setattr(events, "_noted", False)
    cell = {**CELL, "train": {**CELL["train"], "iterations": 10}, "eval": {"every": 0}}
    cfgs = [config.from_dict(cell), config.from_dict({**cell, "train": {**cell["train"], "seed": 2}})]
    outs = [tmp_path / "a", tmp_path / "b"]
    stale = outs[0] / "tensorboard" / "events.out.tfevents.0.old"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier session")

    summaries = train_pack(cfgs, outs, resources=tmp_path / "res", engine="serial")
    assert [s["status"] for s in summaries] == ["completed", "completed"]
    out = capsys.readouterr().out
    assert out.count(events.MISSING_NOTE) == 1
    for cell in ("a", "b"):  # a pack's console lines name their cell
        assert f"[specnorm {cell}] run completed at iteration 10; no evaluations configured" in out.splitlines()
    assert not (outs[0] / "tensorboard").exists() and not (outs[1] / "tensorboard").exists()
    assert all(len(_csv(o / "train_log.csv")) == 2 for o in outs)
