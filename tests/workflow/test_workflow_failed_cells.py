"""A pipeline run in which one cell fails still ends with report/index.html, the failed cell listed
and counted (keep-going, then the onerror report: docs/pipeline.md#partial-reports); report_now
rebuilds the report at any time. Two tiny cells on 2 CPU cores: about two minutes."""

from __future__ import annotations

import pytest

from pipeline_helpers import merged_grid, run_snakemake, write_config

pytestmark = pytest.mark.pipeline


def overrides(tmp_path) -> dict:
    """One digits cell that trains 30 iterations, one MNIST cell whose archive does not exist."""
    return {
        "set": "tiny_fail",
        "theory": "off",
        "sources": {"mnist": str(tmp_path / "missing" / "mnist.tar.gz")},
        "inception": str(tmp_path / "missing" / "inception.pt"),  # no download attempt either
        "presets": {"demo": {"train.iterations": 30, "checkpoint.every": 10, "eval.every": 0, "log.every": 10,
                             "log.analysis_every": 0, "log.sample_every": 0,
                             "eval.n_gen": 200, "eval.n_real": 200, "eval.n_is": 200}},
        "blocks": {"tiny_fail": {"about": "a cell that trains and one that cannot", "source": "new",
                                 "base": ["demo"], "grid": {"dataset.name": ["digits", "mnist"], "train.seed": [0]}}},
    }


def test_the_report_lists_a_failed_cell(tmp_path):
    over = overrides(tmp_path)
    cfg = write_config(tmp_path / "tiny.yaml", **over)
    cells = list(merged_grid(over).cells)
    good = next(c for c in cells if c.startswith("digits-"))
    bad = next(c for c in cells if c.startswith("mnist-"))
    res = run_snakemake(tmp_path, "--configfile", str(cfg), "--cores", "2", timeout=900)
    assert res.returncode != 0, res.stdout[-3000:]  # a job failed ...
    assert (tmp_path / "results" / "runs" / good / "scores.json").is_file()  # ... the other cell finished
    assert (tmp_path / "results" / "logs" / "failed-cells.txt").read_text().split() == [bad]
    html = (tmp_path / "report" / "index.html").read_text()  # ... and the report was built
    assert '<b class="bad">1</b> failed' in html
    listed = html.split('id="failed"', 1)[1].split("</ul>", 1)[0]
    assert bad in listed and good not in listed

    now = run_snakemake(tmp_path, "report_now", "--nolock", "--configfile", str(cfg), "--cores", "1", timeout=300)
    assert now.returncode == 0, now.stdout[-3000:]
    assert "1 completed" in (tmp_path / "results" / "logs" / "report_now.log").read_text()
