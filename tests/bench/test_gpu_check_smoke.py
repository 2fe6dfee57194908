"""CI runs the benchmark scripts' smoke modes (docs/performance.md#gpu-check): they finish and write
the expected rows. No timing value is asserted, only that each row is there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from gpu_check import MODES, PRECISIONS, train_configs, train_label  # noqa: E402  (the check's own row names)

SMOKE_PACKS = (1, 4)


def _env(**extra: str) -> dict:
    env = dict(os.environ, PYTHON=sys.executable, **extra)
    env["PYTHONPATH"] = os.pathsep.join(x for x in (str(ROOT / "src"), extra.get("PYTHONPATH", "")) if x)
    return env


def _rows(outdir: Path) -> dict:
    table = (outdir / "gpu_check.md").read_text()
    rows = json.loads((outdir / "gpu_check.json").read_text())["rows"]
    for r in rows:  # the markdown and the JSON hold the same rows
        assert f"| {r['part']} | {r['config']} | {r['result']} |" in table
    return {(r["part"], r["config"]): r for r in rows}


def _train_labels() -> list[tuple[str, str]]:
    """``(label, compile mode)`` of every training row the smoke run writes."""
    return [(train_label(mode, engine, k, precision, compile_mode), compile_mode)
            for mode, engine, precision, compile_mode, k in train_configs(SMOKE_PACKS)]


def _config_rows(rows: dict) -> None:
    labels = _train_labels()
    configs = train_configs(SMOKE_PACKS)
    assert {c[0] for c in configs} == set(MODES) and {c[2] for c in configs} == set(PRECISIONS)
    assert {(c[1], c[4]) for c in configs if c[3] == "none"} == {("serial", 1), ("serial", 4), ("fused", 4)}
    assert {lab for lab, _ in labels} <= {c for part, c in rows if part == "train ours"}
    for k in (1, 4, 16):
        assert ("train plain", f"sn (PyTorch spectral_norm) · {k} in turn · eager") in rows
    for engine in ("serial", "fused"):
        assert ("equivalence", f"sn · {engine} pack 4 vs each alone · 10 it") in rows
    for precision in PRECISIONS:
        assert ("eval", f"paper protocol · CIFAR CNN G · toy counts · {precision}") in rows
    assert ("ops per iteration", "ours sn · fused pack 16 · none") in rows
    assert ("summary", "peak GPU memory (whole check)") in rows
    assert {("env", "torch"), ("env", "device"), ("env", "python deps")} <= set(rows)


def test_gpu_check_smoke_writes_every_row(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--smoke", str(out)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(out)
    _config_rows(rows)
    # on this (CPU) machine everything eager runs, fused packs and every precision included; graph is
    # skipped with its reason; the evaluation row runs in every precision
    cpu = rows[("env", "device")]["result"].startswith("cpu")
    for label, compile_mode in _train_labels():
        if compile_mode == "none":
            assert rows[("train ours", label)]["result"].endswith("per cell-it)"), label
            assert "% of an H100's" in rows[("train ours", label)]["note"]
        elif cpu:
            assert "needs a CUDA device" in rows[("train ours", label)]["note"]
    for precision in PRECISIONS:
        assert rows[("eval", f"paper protocol · CIFAR CNN G · toy counts · {precision}")]["result"].endswith(
            "per evaluation")
    assert rows[("equivalence", "sn · serial pack 4 vs each alone · 10 it")]["result"] == "bitwise equal"
    assert rows[("equivalence", "sn · fused pack 4 vs each alone · 10 it")]["result"].startswith(
        "relative weight distance")


def test_gpu_check_runs_without_pyyaml(tmp_path):
    """A bare GPU machine may lack PyYAML: the check says so and still measures (building a cell's
    config and training need no YAML; only reading or writing config files does)."""
    block = tmp_path / "block"
    block.mkdir()
    (block / "yaml.py").write_text('raise ImportError("No module named \'yaml\' (blocked by the test)")\n')
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--smoke", str(out)], cwd=ROOT,
                          env=_env(PYTHONPATH=str(block)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(out)
    _config_rows(rows)
    assert "yaml MISSING" in rows[("env", "python deps")]["result"]
    assert rows[("train ours", train_label("sn", "serial", 1, "fp32", "none"))]["result"].endswith("per cell-it)")
    assert rows[("train plain", "sn (PyTorch spectral_norm) · 1 in turn · eager")]["result"].endswith("per cell-it)")


def test_train_speed_smoke_table(tmp_path):
    out = tmp_path / "train_speed.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--smoke", "--device", "cpu",
                           "--json", str(out)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert [r["mode"] for r in res["results"]] == list(MODES)
    for r in res["results"]:
        assert r["ours_ops"]["kind"] == "cpu" and r["ours_ops"]["aten"] > 0 and r["plain_ops"]["aten"] > 0
    assert [(r["k"], r["compile"]) for r in res["pack"]] == [(1, "none"), (2, "none")]
    assert all(r["processes_it_s"] is not None for r in res["pack"])
    assert "| cnn | 16 | 0.0625 | 8 | sn | none |" in proc.stdout
