"""``specnorm theory``: CSV, table, exit code, determinism (run in --quick mode)."""

import csv
import math

import pytest
import torch

import specnorm  # noqa: F401
from specnorm.analysis import theory
from specnorm.cli import main as cli_main

QUICK = ["--quick", "--samples", "4", "--inputs", "2"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("theory") / "theory.csv"
    code = theory.main([*QUICK, "--out", str(out)])
    with out.open() as f:
        rows = list(csv.DictReader(f))
    return code, out, rows


def test_quick_run_passes_and_writes_the_csv(quick_run, capsys):
    code, out, rows = quick_run
    assert code == 0
    assert list(rows[0]) == list(theory.THEORY_COLUMNS)
    assert {r["check"] for r in rows} == {"thm2", "thm3", "prop1"}
    assert {r["status"] for r in rows} <= {"PASS", "INFO"}
    for r in rows:
        assert float(r["ratio"]) == pytest.approx(float(r["estimate"]) / float(r["bound"]), rel=1e-8)
        if r["status"] == "PASS":
            assert float(r["ratio"]) <= 1 + theory.UPPER_TOL
        if r["lower_order"]:
            assert float(r["lower_order"]) >= theory.LOWER_FLOOR


def test_quick_run_covers_the_expected_shapes(quick_run):
    _, _, rows = quick_run
    thm2 = {(r["shape"], r["dist"]): r for r in rows if r["check"] == "thm2"}
    assert thm2[("64x27", "gaussian")]["layers"] == "cnn:conv0 resnet:b0.conv1"
    assert float(thm2[("1x8192", "uniform")]["ratio"]) == pytest.approx(1.0, rel=1e-9)  # vector: Var = 1/n
    assert thm2[("64x27", "uniform")]["lower_order"] == ""  # the lower bound is for Gaussian entries
    thm3 = {(r["shape"], r["dist"]): r for r in rows if r["check"] == "thm3"}
    assert thm3[("64x3x3x3", "gaussian")]["status"] == "INFO"  # 64/3 > 3·3: outside Thm. 3
    assert thm3[("64x64x4x4", "gaussian")]["status"] == "PASS"
    totals = [r for r in rows if r["check"] == "prop1" and r["layers"].endswith(":total")]
    assert [r["shape"] for r in totals] == ["L=5", "L=8"]
    assert float(totals[1]["bound"]) == pytest.approx(math.sqrt(8))


def test_same_seed_same_csv_and_other_seed_differs(quick_run, tmp_path):
    _, out, _ = quick_run
    again, other = tmp_path / "again.csv", tmp_path / "other.csv"
    assert theory.main([*QUICK, "--out", str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()
    assert theory.main([*QUICK, "--out", str(other), "--seed", "1"]) == 0
    assert other.read_bytes() != out.read_bytes()


def test_table_and_summary_are_printed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(theory, "QUICK_MAX_ENTRIES", 200)  # a handful of tiny shapes
    assert theory.main([*QUICK, "--out", str(tmp_path / "t.csv")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["check", "shape", "dist", "samples", "estimate", "bound", "ratio", "lower_order",
                                "status", "layers"]
    assert lines[-1].startswith("PASS: all ") and str(tmp_path / "t.csv") in lines[-1]
    assert len({line.index("PASS") for line in lines[1:-1] if " PASS " in line}) == 1  # aligned status column


def test_thread_setting_is_restored(tmp_path, monkeypatch):
    monkeypatch.setattr(theory, "QUICK_MAX_ENTRIES", 200)
    torch.set_num_threads(2)  # the conftest fixture restores its own setting afterwards
    assert theory.main([*QUICK, "--out", str(tmp_path / "t.csv")]) == 0  # runs with --threads 1
    assert torch.get_num_threads() == 2
    with pytest.raises(SystemExit):
        theory.main([*QUICK, "--threads", "0"])


def test_a_failed_bound_gives_exit_code_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(theory, "QUICK_MAX_ENTRIES", 200)
    monkeypatch.setattr(theory, "UPPER_TOL", -1.0)  # every ratio now exceeds its bound
    assert theory.main([*QUICK, "--out", str(tmp_path / "f.csv")]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("FAIL: ")


def test_status_rules():
    assert theory._status(0.5, math.nan) == "PASS"
    assert theory._status(1.0 + 1e-12, math.nan) == "PASS"
    assert theory._status(1.01, math.nan) == "FAIL"
    assert theory._status(0.5, theory.LOWER_FLOOR / 2) == "FAIL"
    assert theory._status(2.0, math.nan, applies=False) == "INFO"


def test_help_through_the_cli(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["theory", "--help"])
    assert e.value.code == 0
    assert "--quick" in capsys.readouterr().out
