"""One protocol key and one score record (specnorm.scores): read back as written, grouped by the key
(never by the run seed), and a protocol field added in one place reaches every file and table."""

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from specnorm.scores import ProtocolKey, ScoreRecord

KEY = ProtocolKey("paper", "inception-2015-12-05", "f" * 64, 10000, 5000, "cifar10-train-subset(5000)",
                  "float->tf1-bilinear(in-network)")
TESTS = Path(__file__).parent


def test_a_record_reads_back_as_written_from_a_csv_row_and_from_json():
    record = ScoreRecord("fid", 31.4, KEY, seed=3, iteration=10000, wall_time=12.5)
    csv_row = {k: str(v) for k, v in record.row().items()}  # every cell a string, as a CSV gives it back
    assert ScoreRecord.from_row(csv_row) == record and ScoreRecord.from_row(record.json_row()) == record
    assert record.label == "FID" and replace(record, key=replace(KEY, extractor="digits")).label == "digits-FID"
    nan = ScoreRecord("is", math.nan, KEY, 0, which="final")
    assert nan.json_row()["value"] is None and math.isnan(ScoreRecord.from_row(nan.json_row()).value)
    assert json.loads(json.dumps(nan.json_row()))["which"] == "final"


def test_the_key_reads_counts_as_ints_defaults_precision_and_names_a_missing_field():
    row = {**KEY.row(), "n_gen": 10000.0, "n_real": "5000"}
    del row["precision"]  # a row that lacks it is fp32
    assert ProtocolKey.from_row(row) == KEY and ProtocolKey.from_row({**row, "precision": math.nan}) == KEY
    assert ProtocolKey.from_row({**row, "precision": "bf16"}) != KEY
    del row["n_gen"]
    with pytest.raises(ValueError, match="n_gen"):
        ProtocolKey.from_row(row)


def test_the_key_groups_and_sorts_and_leaves_the_seed_out():
    records = [ScoreRecord("fid", 30.0 + seed, KEY, seed) for seed in range(3)]
    assert len({r.key for r in records}) == 1 and "seed" not in KEY.row()
    assert sorted([replace(KEY, n_gen=50000), KEY]) == [KEY, replace(KEY, n_gen=50000)]
    text = KEY.describe()
    assert text.startswith("protocol paper · extractor inception-2015-12-05 · extractor_sha256 ffffffffffff ·")
    assert "n_real 5000" in text and "precision fp32" in text
    assert KEY.tag("fid") == "paper, 10000 vs 5000" and replace(KEY, n_gen=50000, n_real=0).tag("is") == \
        "paper, 50000 images"


DUMMY = r'''
import importlib.util, pathlib, sys

spec = importlib.util.find_spec("specnorm.scores")
source = pathlib.Path(spec.origin).read_text()
line = '    precision: str = "fp32"'
assert source.count(line) == 1, "the ProtocolKey field to add the dummy after"
module = importlib.util.module_from_spec(spec)
sys.modules["specnorm.scores"] = module  # the one place: one more line in ProtocolKey
exec(compile(source.replace(line, line + '\n    dummy: str = "dummy-7f3"'), spec.origin, "exec"), module.__dict__)

root, tests = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
sys.path[:0] = [str(tests / "report"), str(tests / "metrics")]
import specnorm.metrics  # noqa: F401  (the torchvision shim first)
import json
import torch
from metrics_helpers import digits_cfg
from report_fixtures import make_run
from specnorm.metrics import Evaluator
from specnorm.models import build_cell
from specnorm.report import Paths, build
from specnorm.rundir import METRIC_COLUMNS, RunDir
from specnorm.train.logs import CsvLog

runs = root / "runs"
for mode in ("sn", "bsn"):
    for seed in (0, 1):
        make_run(runs, f"{mode}-{seed}", mode=mode, seed=seed, analysis=False, samples=False, scores_json=True)
# run sn-0's in-training scores come from the evaluator, written as the trainer writes them
cfg = digits_cfg(n_gen=60, n_real=100, n_is=60, is_splits=2)
evaluator = Evaluator.from_config(cfg, torch.device("cpu"), root / "resources")
G, _ = build_cell(cfg)
run = RunDir(runs / "sn-0")
run.metrics.unlink()
CsvLog(run.metrics, list(METRIC_COLUMNS)).append(
    [{k: r.get(k) for k in METRIC_COLUMNS} for it in (500, 1000) for r in evaluator.evaluate(G, it, 1.0)])
# run bsn-1 was rescored under another value of the new field
scores = json.loads(RunDir(runs / "bsn-1").scores.read_text())
for entry in scores["scores"]:
    entry["dummy"] = "dummy-other"
RunDir(runs / "bsn-1").scores.write_text(json.dumps(scores))
build(Paths(runs=runs, cells=None, theory=None, tables=root / "tables", out=root / "report"))
'''


def test_a_protocol_field_added_in_one_place_reaches_the_csv_the_tables_and_the_report(tmp_path):
    """The done-test of issue 17: a dummy field added to ProtocolKey alone is written by the evaluator
    into metrics.csv and by the fixtures (score records) into scores.json, spread into the tidy tables,
    kept apart when it differs, and named in the rendered report."""
    res = subprocess.run([sys.executable, "-c", DUMMY, str(tmp_path), str(TESTS)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    metrics = pd.read_csv(tmp_path / "runs" / "sn-0" / "metrics.csv")
    assert set(metrics["dummy"]) == {"dummy-7f3"} and set(metrics["n_gen"]) == {60}  # the evaluator's rows
    entries = json.loads((tmp_path / "runs" / "sn-1" / "scores.json").read_text())["scores"]
    assert {e["dummy"] for e in entries} == {"dummy-7f3"}
    for table in ("scores", "group_scores", "table1", "curves", "hparams"):
        assert "dummy" in pd.read_csv(tmp_path / "tables" / f"{table}.csv").columns, table
    scores = pd.read_csv(tmp_path / "tables" / "scores.csv")
    assert set(scores[scores["run"] == "bsn-1"]["dummy"]) == {"dummy-7f3", "dummy-other"}  # metrics.csv, scores.json
    bsn = pd.read_csv(tmp_path / "tables" / "group_scores.csv").query("family == 'BSN' and which == 'best'")
    assert set(bsn[bsn["dummy"] == "dummy-other"]["n"]) == {1}  # another value of the field: another key
    html = (tmp_path / "report" / "index.html").read_text()
    assert "dummy dummy-7f3" in html and "dummy dummy-other" in html
