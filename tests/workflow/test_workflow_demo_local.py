"""The demo pipeline end to end with profiles/local (minutes): every cell trained and scored, the
theory checks, the report — and a second run finds nothing to do."""

from __future__ import annotations

import pytest

from pipeline_helpers import merged_grid, read_json, run_snakemake

pytestmark = pytest.mark.pipeline


def test_demo_pipeline_runs_to_the_report(tmp_path):
    res = run_snakemake(tmp_path, timeout=1500)
    assert res.returncode == 0, res.stdout[-5000:]
    cells = list(merged_grid({}).cells)
    assert len(cells) == 13
    for cell in cells:
        run = tmp_path / "results" / "runs" / cell
        summary = read_json(run / "summary.json")
        assert summary["status"] in ("completed", "diverged"), cell
        assert summary["iterations"] == 1000
        scores = read_json(run / "scores.json")
        assert scores["status"] == summary["status"]
        assert (tmp_path / "results" / "cells" / f"{cell}.yaml").is_file()
    assert (tmp_path / "results" / "theory" / "theory-quick.csv").stat().st_size > 0
    html = (tmp_path / "report" / "index.html").read_text()
    assert "<html" in html.lower() and len(html) > 1000
    again = run_snakemake(tmp_path, "-n", timeout=300)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout
