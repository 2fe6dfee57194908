"""Table 1's Real-data row filled from ``results/real/<dataset>-<protocol>.json`` (``specnorm score --real``)."""

import json
import math
from dataclasses import replace

from report_fixtures import fixture_key, make_run

from specnorm.report import aggregate as agg
from specnorm.report.runs import collect
from specnorm.report.scores import run_scores
from specnorm.report.views import _t1_cell
from specnorm.scores import ProtocolKey, ScoreRecord


def _real_file(real_dir, dataset="digits", protocol="paper"):
    """A Real-data file as ``specnorm score --real`` writes it, under the key of the runs' columns
    (300 real images scored for FID; IS on 1000 of the 1797, the columns' count)."""
    real_dir.mkdir(parents=True, exist_ok=True)
    key = replace(fixture_key(dataset), protocol=protocol)
    records = [ScoreRecord("is", 9.4, key, 0), ScoreRecord("is_std", 0.2, key, 0),
               ScoreRecord("fid", 0.53, replace(key, n_gen=300), 0)]
    data = {"dataset": dataset, "row": "Real data", "protocol": {**key.row(), "n_dataset": 1797},
            "scores": [{**r.json_row(), "images": "some real images", "column": key.row()} for r in records]}
    (real_dir / f"{dataset}-{protocol}.json").write_text(json.dumps(data))


def _table(tmp_path, real):
    for mode in ("sn", "bsn"):
        for seed in (0, 1):
            make_run(tmp_path / "runs", f"{mode}-{seed}", mode=mode, seed=seed, analysis=False, samples=False)
    runs, _ = collect(tmp_path / "runs", None)
    scores = run_scores(runs)
    gs = agg.group_scores(scores)
    return agg.table1(runs, scores, gs, agg.table1_settings(runs), real)


def test_real_data_row_shows_the_real_scores_of_the_columns_protocol(tmp_path):
    _real_file(tmp_path / "real")
    _real_file(tmp_path / "real", protocol="standard")  # another protocol: not this table's columns
    (tmp_path / "real" / "broken.json").write_text("{")
    t1, cols = _table(tmp_path, agg.real_scores(tmp_path / "real"))
    for metric, value in (("is", 9.4), ("fid", 0.53)):
        row = t1[(t1["metric"] == metric) & (t1["row"] == "Real data") & (t1["which"] == "best")].iloc[0]
        assert row["mean"] == value and row["n"] == 1
        col = next(c for c in cols if c.metric == metric)
        assert _t1_cell(row, col, t1, "best")["ours"].startswith(f"{value:g}"[:3])


def test_real_data_row_without_a_file_says_not_computed(tmp_path):
    t1, cols = _table(tmp_path, agg.real_scores(tmp_path / "real"))
    row = t1[(t1["metric"] == "fid") & (t1["row"] == "Real data") & (t1["which"] == "best")].iloc[0]
    assert math.isnan(row["mean"])
    assert _t1_cell(row, next(c for c in cols if c.metric == "fid"), t1, "best")["ours"] == "not computed"


def test_a_real_score_fills_only_the_column_it_was_recorded_for():
    """The match is the recorded column key, not a display string: a 500-image column gets only a
    score recorded for it; an older file without columns is not read (its FID could be self-against-self)."""
    def key(n_gen, n_real):
        return ProtocolKey("paper", "digits", "x", n_gen, n_real, "r", "x")

    def col(metric, g, r):
        return agg.Column("digits", metric, f"digits-{metric.upper()}", key(g, r), "")

    real = [agg.RealScore("digits", 1797, ScoreRecord("fid", 0.5, key(898, 899), 0), key(10000, 1797)),
            agg.RealScore("digits", 1797, ScoreRecord("fid", 0.9, key(500, 500), 0), key(500, 500)),
            agg.RealScore("digits", 1797, ScoreRecord("is", 9.7, key(1797, 0), 0), key(50000, 0))]
    assert agg.real_score(real, col("fid", 10000, 1797)).record.value == 0.5
    assert agg.real_score(real, col("fid", 500, 500)).record.value == 0.9
    assert agg.real_score(real, col("is", 50000, 0)).record.value == 9.7
    assert agg.real_score(real, col("is", 500, 0)) is None


def test_an_old_real_file_without_columns_is_not_read(tmp_path):
    key = fixture_key("digits")
    data = {"dataset": "digits", "protocol": {"n_dataset": 1797},
            "scores": [ScoreRecord("fid", 4e-13, key, 0).json_row()]}
    (tmp_path / "digits-paper.json").write_text(json.dumps(data))
    assert agg.real_scores(tmp_path) == []
