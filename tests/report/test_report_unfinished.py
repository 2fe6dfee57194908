"""Failed and not finished kept apart (docs/pipeline.md#partial-reports): a cell whose job ended in
error is "failed"; one a stopped run (Ctrl-C) left behind — interrupted or never started — is "not
finished", counted on its own in the header and marked in the inventory, never listed as failed."""

from __future__ import annotations

from report_fixtures import make_run

from specnorm.report import Paths, build, main

DONE, FAILED, INTERRUPTED, NEVER = ("digits-sn-s1-seed0-00000000", "digits-sn-s1-seed1-11111111",
                                    "digits-sn-s1-seed2-22222222", "mnist-sn-s1-seed0-33333333")


def test_failed_and_not_finished_cells_are_counted_apart(tmp_path):
    runs = tmp_path / "results" / "runs"
    make_run(runs, DONE, seed=0)
    make_run(runs, FAILED, state="running", seed=1)
    make_run(runs, INTERRUPTED, state="running", seed=2)
    built = build(Paths(runs=runs, cells=None, theory=None, tables=tmp_path / "tables", out=tmp_path / "report",
                        failed=frozenset({FAILED}), unfinished=frozenset({INTERRUPTED, NEVER, DONE})))
    c = built.counts
    assert (c["completed"], c["failed"], c["unfinished"], c["running"]) == (1, 1, 2, 0)  # DONE finished since
    html = built.index.read_text()
    assert '<b class="bad">1</b> failed' in html and "<b>2</b> not finished (never started or interrupted)" in html
    listed = html.split('id="failed"', 1)[1].split("</ul>", 1)[0]
    assert FAILED in listed and INTERRUPTED not in listed and NEVER not in listed
    assert 'class="state-unfinished">unfinished' in html and 'class="state-failed">failed' in html


def test_the_report_command_reads_both_lists(tmp_path, capsys):
    runs = tmp_path / "results" / "runs"
    make_run(runs, INTERRUPTED, state="running", seed=2)
    failed, unfinished = tmp_path / "failed-cells.txt", tmp_path / "unfinished-cells.txt"
    failed.write_text("")
    unfinished.write_text(f"{INTERRUPTED}\n{NEVER}\n")
    assert main(["--results", str(tmp_path / "results"), "--out", str(tmp_path / "report"),
                 "--failed", str(failed), "--unfinished", str(unfinished)]) == 0
    assert "0 running, 0 planned, 0 failed, 2 not finished" in capsys.readouterr().out
    html = (tmp_path / "report" / "index.html").read_text()
    assert 'id="failed"' not in html and "<b>2</b> not finished" in html
