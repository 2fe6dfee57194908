import json

import yaml
from report_fixtures import cell_config, make_run

from specnorm.report.runs import Run, Unreadable, collect, read_run


def test_states_from_summary(tmp_path):
    run = read_run(make_run(tmp_path, "a", state="running"))
    assert run.state == "running" and not run.done and run.iterations_done == 1000
    run = read_run(make_run(tmp_path, "b", state="diverged"))
    assert run.state == "diverged" and run.done
    run = read_run(make_run(tmp_path, "c"))
    assert run.state == "completed" and run.iterations_done == 2000
    assert (run.family, run.scale, run.seed, run.dataset) == ("SN", 1.0, 0, "digits")


def test_half_written_files_do_not_break_reading(tmp_path):
    path = make_run(tmp_path, "r", state="running")
    with open(path / "metrics.csv", "a") as f:
        f.write("1500,15.0,fid,3")
    (path / "scores.json").write_text('{"run": "r", "sco')
    run = read_run(path)
    assert isinstance(run, Run) and run.scores is None
    assert run.metrics["iteration"].max() == 1000
    assert any("partial" in n for n in run.notes) and any("scores.json" in n for n in run.notes)


def test_unreadable_config_is_reported_with_the_key(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.yaml").write_text(yaml.safe_dump({"norm": {"mode": "sn", "scael": 2.0}}))
    r = read_run(bad)
    assert isinstance(r, Unreadable) and "norm.scael" in r.reason


def test_newest_corrupt_sample_is_skipped(tmp_path):
    path = make_run(tmp_path, "s")
    (path / "samples" / "iter_0009999.png").write_bytes(b"\x89PNG\r\n\x1a\n trunc")
    run = read_run(path)
    assert run.latest_sample().name == "iter_0002000.png"


def test_collect_adds_planned_cells_once(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, "sn-seed0", seed=0)
    cells = tmp_path / "cells"
    cells.mkdir()
    for seed in (0, 1):  # seed 0 has started: it is not counted twice
        (cells / f"sn-seed{seed}.yaml").write_text(yaml.safe_dump(cell_config(seed=seed)))
    found, bad = collect(runs, cells)
    assert bad == []
    assert sorted((r.name, r.state) for r in found) == [("sn-seed0", "completed"), ("sn-seed1", "planned")]


def test_summary_with_unknown_status_counts_as_completed(tmp_path):
    path = make_run(tmp_path, "u")
    (path / "summary.json").write_text(json.dumps({"status": "weird"}))
    run = read_run(path)
    assert run.state == "completed" and any("unknown status" in n for n in run.notes)
