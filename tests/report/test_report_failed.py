"""Failed cells (the pipeline's list, docs/pipeline.md#partial-reports): counted in the header,
listed on the page, marked in the inventory; a cell that has finished since is not listed."""

from __future__ import annotations

from report_fixtures import make_run

from specnorm.report import Paths, build, main, read_failed


def test_failed_cells_are_counted_and_listed(tmp_path):
    runs = tmp_path / "results" / "runs"
    make_run(runs, "digits-sn-s1-seed0-00000000", seed=0)
    make_run(runs, "digits-sn-s1-seed1-11111111", state="running", seed=1)  # its job failed mid-run
    failed_list = tmp_path / "failed-cells.txt"
    failed_list.write_text("digits-sn-s1-seed1-11111111\ndigits-sn-s1-seed0-00000000\n\n# comment\n"
                           "mnist-sn-s1-seed0-22222222\n")  # done since; never started
    failed = read_failed(str(failed_list))
    assert failed == {"digits-sn-s1-seed1-11111111", "digits-sn-s1-seed0-00000000", "mnist-sn-s1-seed0-22222222"}
    built = build(Paths(runs=runs, cells=None, theory=None, tables=tmp_path / "tables", out=tmp_path / "report",
                        failed=failed))
    assert built.counts["failed"] == 2 and built.counts["running"] == 0 and built.counts["completed"] == 1
    html = built.index.read_text()
    assert '<b class="bad">2</b> failed' in html and 'id="failed"' in html
    listed = html.split('id="failed"', 1)[1].split("</ul>", 1)[0]
    assert "digits-sn-s1-seed1-11111111" in listed and "mnist-sn-s1-seed0-22222222" in listed
    assert "digits-sn-s1-seed0-00000000" not in listed
    assert 'class="state-failed">failed' in html


def test_no_failed_list_means_no_failed_cells(tmp_path, capsys):
    runs = tmp_path / "results" / "runs"
    make_run(runs, "digits-sn-s1-seed1-11111111", state="running", seed=1)
    assert read_failed(None) == frozenset() and read_failed(str(tmp_path / "absent.txt")) == frozenset()
    assert main(["--results", str(tmp_path / "results"), "--out", str(tmp_path / "report")]) == 0
    assert "1 running, 0 planned, 0 failed" in capsys.readouterr().out
    assert 'id="failed"' not in (tmp_path / "report" / "index.html").read_text()
