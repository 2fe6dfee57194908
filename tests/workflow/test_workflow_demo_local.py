"""The demo pipeline end to end with profiles/local (minutes): every cell of the default set trained
and scored, the theory checks, the report — and a second run finds nothing to do.

The demo's cells and settings are the README command's, but for CI's time budget each trains 200
iterations instead of 3,000 (docs/performance.md#the-demo measures the real one), in the fused packs of
scripts/demo.sh's overlay (profiles/local/packs.yaml): the pipeline, not the science, is under test here."""

from __future__ import annotations

import pytest
import yaml

import specnorm.grid as grid
from pipeline_helpers import REPO, merged_grid, read_json, run_snakemake, write_config

pytestmark = pytest.mark.pipeline

SHORTER = {"presets": {"demo": {"train.iterations": 200, "eval.every": 100, "log.analysis_every": 100,
                                "log.sample_every": 200, "checkpoint.every": 200}}}
PACKS = REPO / "profiles" / "local" / "packs.yaml"  # the overlay scripts/demo.sh adds


def test_demo_pipeline_runs_to_the_report(tmp_path):
    cfg = write_config(tmp_path / "shorter.yaml", **SHORTER)
    assert "--configfile profiles/local/packs.yaml" in (REPO / "scripts" / "demo.sh").read_text()
    res = run_snakemake(tmp_path, "--configfile", str(PACKS), str(cfg), timeout=1500)
    assert res.returncode == 0, res.stdout[-5000:]
    g, default = merged_grid(SHORTER), merged_grid({}).cells
    what = lambda cells: [(c.config.norm.mode, c.config.norm.scale, c.config.train.seed) for c in cells.values()]  # noqa: E731
    assert what(g.cells) == what(default) and len(g.cells) == 21  # the default demo set, shorter
    cells = list(g.cells)
    pack_size = yaml.safe_load(PACKS.read_text())["jobs"]["pack_size"]
    packs = sorted(len(p.cells) for p in grid.pack_cells(g, pack_size))
    assert packs == [3, 6, 6, 6] and res.stdout.count("rule train_pack_") == 4
    for cell in cells:
        run = tmp_path / "results" / "runs" / cell
        summary = read_json(run / "summary.json")
        assert summary["status"] in ("completed", "diverged"), cell
        assert summary["iterations"] == 200 and summary["engine"] == "fused"
        scores = read_json(run / "scores.json")
        assert scores["status"] == summary["status"]
        assert (tmp_path / "results" / "cells" / f"{cell}.yaml").is_file()
    assert (tmp_path / "results" / "theory" / "theory-quick.csv").stat().st_size > 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<html" in html.lower() and len(html) > 1000
    assert "Recall" in html  # Table 1's recall column (issue 22)
    again = run_snakemake(tmp_path, "--configfile", str(PACKS), str(cfg), "-n", timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout
