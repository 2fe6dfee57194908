"""The run-directory contract (specnorm.rundir): one name per file, safe reads, atomic writes."""

import threading

import pytest

from specnorm import rundir
from specnorm.rundir import RunDir, read_complete_csv, read_json


def test_partial_last_line_is_dropped(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("iteration,metric,value\n500,fid,12.5\n1000,fi")
    df, note = read_complete_csv(p)
    assert df["iteration"].tolist() == [500] and df["value"].tolist() == [12.5]
    assert "partial" in note


def test_header_only_being_written_gives_empty_frame(tmp_path):
    p = tmp_path / "train_log.csv"
    p.write_text("iteration,wall_ti")
    df, _ = read_complete_csv(p)
    assert df.empty


def test_numeric_columns_coerced_text_columns_kept(tmp_path):
    p = tmp_path / "analysis.csv"
    p.write_text("iteration,layer,kind,var_eff\n0,layer0,conv,0.5\n100,layer0,conv,oops\n")
    df, _ = read_complete_csv(p)
    assert df["layer"].tolist() == ["layer0", "layer0"]
    assert df["var_eff"].iloc[0] == 0.5 and df["var_eff"].isna().iloc[1]


def test_unknown_csv_keeps_text_columns(tmp_path):
    p = tmp_path / "theory.csv"
    p.write_text("check,ratio\nthm2,0.5\n")
    df, _ = read_complete_csv(p)
    assert df["check"].tolist() == ["thm2"] and df["ratio"].tolist() == [0.5]


def test_read_json_tolerates_missing_and_half_written(tmp_path):
    assert read_json(tmp_path / "none.json") == (None, None)
    p = tmp_path / "scores.json"
    p.write_text('{"scores": [{"which": "be')
    obj, note = read_json(p)
    assert obj is None and "not parseable" in note


def test_every_file_name_is_owned_by_rundir(tmp_path):
    rd = RunDir(tmp_path)
    assert [p.name for p in (rd.config, rd.summary, rd.scores, rd.metrics, rd.train_log, rd.analysis)] == [
        "config.yaml", "summary.json", "scores.json", "metrics.csv", "train_log.csv", "analysis.csv"]
    assert rd.generator("best_fid").name == "generator_best_fid.pt" and rd.generator("final").name == "generator_final.pt"
    assert rd.sample(1200) == tmp_path / "samples" / "iter_0001200.png"
    assert rd.checkpoints == tmp_path / "checkpoints"
    with pytest.raises(ValueError, match="unknown generator"):
        rd.generator("worst")
    with pytest.raises(ValueError, match="not a run CSV"):
        rd.read_csv("theory.csv")


def test_analysis_columns_are_the_layer_analysis_keys():
    from specnorm.analysis import ANALYSIS_COLUMNS

    assert tuple(ANALYSIS_COLUMNS) == rundir.ANALYSIS_LAYER_COLUMNS
    assert rundir.ANALYSIS_COLUMNS == ("iteration", *rundir.ANALYSIS_LAYER_COLUMNS)


def test_summary_and_scores_round_trip(tmp_path):
    rd = RunDir(tmp_path / "run")
    assert rd.read_summary() == (None, None) and rd.finished() is None
    rd.write_summary({"status": "running?"})
    assert rd.read_summary() == ({"status": "running?"}, None) and rd.finished() is None
    rd.write_summary({"status": "diverged", "diverged_at": 7})
    assert rd.finished() == {"status": "diverged", "diverged_at": 7}
    rd.write_scores({"scores": [1.5]})
    assert rd.read_scores() == ({"scores": [1.5]}, None)
    rd.write_config("dataset: {name: digits}\n")
    assert rd.config.read_text() == "dataset: {name: digits}\n"


def test_half_written_file_is_invisible(tmp_path):
    """While a writer is inside an atomic write, readers see the previous complete file (or none);
    the temp file has a name no reader looks for."""
    rd = RunDir(tmp_path)
    rd.write_summary({"status": "completed", "n": 1})
    from specnorm import io as sio

    entered, release = threading.Event(), threading.Event()

    def slow_write(f):
        f.write(b'{"status": "compl')
        f.flush()
        entered.set()
        release.wait(30)
        f.write(b'eted", "n": 2}')

    t = threading.Thread(target=sio.atomic_write, args=(rd.summary, slow_write))
    t.start()
    assert entered.wait(30)
    try:
        assert rd.read_summary() == ({"status": "completed", "n": 1}, None)
        temps = [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert temps and all(not t.endswith(".json") for t in temps)
    finally:
        release.set()
        t.join(30)
    assert rd.finished() == {"status": "completed", "n": 2}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_damaged_summary_is_reported_not_raised(tmp_path):
    rd = RunDir(tmp_path)
    rd.summary.write_text("")
    obj, note = rd.read_summary()
    assert obj is None and "not parseable" in note and rd.finished() is None


def test_metrics_csv_is_read_as_score_records_write_it(tmp_path):
    """Text fields of the protocol key stay text (``precision`` bf16 was once coerced to NaN, i.e. fp32)."""
    from specnorm.scores import ProtocolKey, ScoreRecord

    key = ProtocolKey("paper", "digits", "ab" * 32, 1000, 1000, "digits-train-subset(1000)", "none", "bf16")
    record = ScoreRecord("fid", 12.5, key, seed=0, iteration=500, wall_time=3.0)
    rd = RunDir(tmp_path)
    rd.metrics.write_text(",".join(rundir.METRIC_COLUMNS) + "\n"
                          + ",".join(str(record.row()[c]) for c in rundir.METRIC_COLUMNS) + "\n")
    df, _ = rd.read_csv(rundir.METRICS)
    assert ScoreRecord.from_row(df.iloc[0].to_dict()) == record and df["precision"].tolist() == ["bf16"]
