"""Nothing silently wrong in the report (issue 21): a copied run directory is counted once (by the
run's identity) with a warning naming both directories; a run whose lock a live process holds says
so; a full disk while writing the report is one line and exit 5."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pandas as pd
from report_fixtures import make_run

from specnorm.report import Paths, build
from specnorm.report.runs import Unreadable, collect, read_run
from specnorm.rundir import LOCK, RunDir


def test_a_copied_run_directory_is_counted_once_with_a_warning_naming_both(tmp_path, capsys):
    runs = tmp_path / "results" / "runs"
    cell = make_run(runs, "digits-sn-s1-seed0-00000000", seed=0, scores_json=True)
    make_run(runs, "digits-sn-s1-seed1-11111111", seed=1, scores_json=True)
    copy = cell.with_name(cell.name + ".bak")
    shutil.copytree(cell, copy)  # cp -a results/runs/<cell>{,.bak}
    found, bad = collect(runs)
    assert sorted(r.name for r in found) == ["digits-sn-s1-seed0-00000000", "digits-sn-s1-seed1-11111111"]
    assert [b.path for b in bad] == [copy] and isinstance(bad[0], Unreadable)
    assert str(cell) in bad[0].reason and "counted once" in bad[0].reason
    err = capsys.readouterr().err
    assert f"{copy}" in err and f"{cell}" in err and "counted once" in err

    built = build(Paths(runs=runs, cells=None, theory=None, tables=tmp_path / "tables", out=tmp_path / "report"))
    assert built.counts["completed"] == 2
    gs = pd.read_csv(tmp_path / "tables" / "group_scores.csv")
    sn = gs[(gs["family"] == "SN") & (gs["scale"] == 1.0)] if "family" in gs else gs
    assert len(sn) and set(sn["n"]) == {2} and not any(str(s).count("0") > 1 for s in sn["seeds"])
    html = built.index.read_text()
    assert f"{copy}</code>: " in html and "counted once" in html.split(f"{copy}</code>: ", 1)[1][:600]


def test_the_copy_that_got_further_is_the_one_counted(tmp_path):
    runs = tmp_path / "runs"
    running = make_run(runs, "a-cell", state="running", seed=0)
    done = make_run(tmp_path / "elsewhere", "a-cell", seed=0)
    shutil.copytree(done, runs / "z-finished-copy")
    found, bad = collect(runs)
    assert [(r.name, r.state) for r in found] == [("z-finished-copy", "completed")] and [b.path for b in bad] == [running]


def _holder(run):
    """A process that holds ``run``'s lock as ``specnorm train`` does, until killed."""
    code = ("import sys, time; from specnorm.rundir import RunDir\n"
            "with RunDir(sys.argv[1]).exclusive():\n    print('held', flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_run_held_by_a_live_process_says_so(tmp_path):
    run = make_run(tmp_path, "digits-sn-s1-seed0-00000000", state="running", seed=0)
    proc = _holder(run)
    try:
        r = read_run(run)
        who = f"pid {proc.pid} on host {socket.gethostname()}"
        assert r.state == "running" and r.held_by == who
        assert any(n.startswith("held by a live process") and who in n for n in r.notes), r.notes
        assert RunDir(run).live_holder() == who
    finally:
        proc.kill()
        proc.wait(timeout=60)
    r = read_run(run)  # the lock file stays, naming a process that is gone
    assert (run / LOCK).read_text() == f"{socket.gethostname()} {proc.pid}\n"
    assert r.held_by is None and not any("held by" in n for n in r.notes)


def test_a_live_pid_that_does_not_hold_the_lock_is_not_a_holder(tmp_path):
    run = make_run(tmp_path, "r", state="running")
    (run / LOCK).write_text(f"{socket.gethostname()} {os.getpid()}\n")  # alive (this process), lock not taken
    assert RunDir(run).live_holder() is None and read_run(run).held_by is None
    (run / LOCK).write_text(f"another-host-{socket.gethostname()} {os.getpid()}\n")  # not checkable from here
    assert RunDir(run).live_holder() is None
    for text in ("", "garbage", f"{socket.gethostname()} 0\n", f"{socket.gethostname()} 99999999999999999999\n"):
        (run / LOCK).write_text(text)
        assert RunDir(run).live_holder() is None


def test_a_file_size_limit_while_writing_the_report_is_one_line_exit_5(tmp_path):
    script = ("import resource, signal, sys\n"
              "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
              "resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
              "from specnorm.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    res = subprocess.run([sys.executable, "-c", script, "report", "--results", str(tmp_path / "results"), "--out",
                          str(tmp_path / "report")], capture_output=True, text=True, timeout=600)
    index = tmp_path / "report" / "index.html"
    assert res.returncode == 5, res.stderr[-3000:]
    assert res.stderr.strip().splitlines() == [f"specnorm report: file too large: {index} (the file-size limit, "
                                               "ulimit -f, or the file system's); raise the limit or write "
                                               "elsewhere, then rerun the same command"]
    assert not index.exists()
