"""Fixtures of the report tests: synthetic run directories (report_fixtures.py) and the demo report."""

from __future__ import annotations

import pytest
from report_fixtures import make_demo, make_run


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory: pytest.TempPathFactory):
    """The report of the synthetic demo grid (built once per session): ``(built, paths)``."""
    from specnorm.report import Paths, build

    root = tmp_path_factory.mktemp("demo")
    runs = make_demo(root / "results", seeds=(0, 1))
    make_run(runs, "digits-sn-running-seed9", state="running", seed=9)  # a cell still training
    theory = root / "results" / "theory" / "theory.csv"
    theory.parent.mkdir(parents=True)
    theory.write_text("check,shape,dist,samples,estimate,estimate_se,bound,ratio,lower_order,status,layers\n"
                      "thm2,64x27,gaussian,20,0.0064,7.2e-05,0.015625,0.41,1.34,PASS,cnn:conv0\n"
                      "thm3,64x64x3x3,uniform,20,0.0015,1e-05,0.0017,0.88,,PASS,cnn:conv1\n")
    paths = Paths(runs=runs, cells=root / "results" / "cells", theory=theory, tables=root / "results" / "tables",
                  out=root / "report")
    return build(paths), paths
