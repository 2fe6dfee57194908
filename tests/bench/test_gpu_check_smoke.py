"""CI runs the benchmark scripts' smoke modes (docs/performance.md#gpu-check): they finish and write
the expected rows. No timing value is asserted, only that each row is there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODES = ("sn", "bsn", "sn_conv")
PACKS = (1, 4, 16)


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


def _config_rows(rows: dict) -> None:
    for compile_mode in ("none", "graph"):
        for mode in MODES:
            for k in PACKS:
                assert ("train ours", f"{mode} · pack {k} · {compile_mode}") in rows
    for k in PACKS:
        assert ("train plain", f"sn (PyTorch spectral_norm) · {k} in turn · eager") in rows
    assert ("equivalence", "sn · pack 4 vs each alone · 10 it · none") in rows
    assert ("eval", "paper protocol · CIFAR CNN G · toy counts") in rows
    assert ("summary", "peak GPU memory (whole check)") in rows
    assert {("env", "torch"), ("env", "device"), ("env", "python deps")} <= set(rows)


def test_gpu_check_smoke_writes_every_row(tmp_path):
    out = tmp_path / "check"
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--smoke", str(out)], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = _rows(out)
    _config_rows(rows)
    # on this (CPU) machine everything eager runs; graph is skipped with its reason
    for mode in MODES:
        for k in PACKS:
            assert rows[("train ours", f"{mode} · pack {k} · none")]["result"].endswith("per cell-it)")
            if rows[("env", "device")]["result"].startswith("cpu"):
                assert "needs a CUDA device" in rows[("train ours", f"{mode} · pack {k} · graph")]["note"]
    assert rows[("equivalence", "sn · pack 4 vs each alone · 10 it · none")]["result"] == "bitwise equal"


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
    assert rows[("train ours", "sn · pack 1 · none")]["result"].endswith("per cell-it)")
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
